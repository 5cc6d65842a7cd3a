"""``psychoml reliability``: per-scale table from a response table or a store, checked against psych."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import psychoml.store
from psychoml.cli import main

REF_DIR = Path(__file__).parent / "reference" / "reliability"
BFI_KEYS = {"A1": -1, "C4": -1, "C5": -1, "E1": -1, "E2": -1, "O2": -1, "O5": -1}


def _bfi_instrument(tmp_path: Path) -> Path:
    """psych's bfi items as an instrument, keyed as psych's bfi.keys (the reference's keys)."""
    items = "\n".join(
        f"  - {{id: {t}{j}, text: '{t}{j}', scale: six{', keying: -1' if BFI_KEYS.get(f'{t}{j}') else ''}}}"
        for t in "ACENO" for j in range(1, 6)
    )
    scales = "\n".join(f"  - {{id: {name}, items: [{', '.join(f'{t}{j}' for j in range(1, 6))}]}}"
                       for t, name in zip("ACENO", ["agree", "consc", "extra", "neuro", "open"]))
    text = textwrap.dedent(
        """
        id: bfi25
        name: psych bfi items
        version: "1"
        citation: {text: "Revelle, psych::bfi"}
        terms: {licence: "test fixture", redistribution: allowed}
        instructions: {text: "Rate."}
        response_scales:
          - {id: six, values: [1, 2, 3, 4, 5, 6]}
        """
    ) + "items:\n" + items + "\nscales:\n" + scales + "\n"
    path = tmp_path / "bfi25.yaml"
    path.write_text(text)
    return path


def _reference() -> dict:
    return json.loads((REF_DIR / "reference.json").read_text())["scales"]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # Captured output is 80 columns wide by default; the table needs about 120.
    from psychoml.cli.app import console

    monkeypatch.setattr(console, "width", 160)


def test_reliability_of_a_response_table_matches_psych(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inst = _bfi_instrument(tmp_path)
    out = tmp_path / "rel.csv"
    code = main(["reliability", str(REF_DIR / "bfi.csv"), "--instrument", str(inst), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    # psych::alpha raw_alpha of the agreeableness items and its Feldt interval.
    assert "bfi25/agree" in printed and "0.703" in printed and "[0.685, 0.720]" in printed
    table = pd.read_csv(out).set_index("scale")
    assert list(table.index) == ["agree", "consc", "extra", "neuro", "open"]
    for scale in table.index:
        ref = _reference()[f"bfi_{scale}"]
        row = table.loc[scale]
        # Closed-form statistics: R's arithmetic, written to CSV at full precision.
        assert row["alpha"] == pytest.approx(ref["alpha"]["raw"], abs=1e-9)
        assert row["std_alpha"] == pytest.approx(ref["alpha"]["std"], abs=1e-9)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(
            (ref["alpha"]["feldt_lower"], ref["alpha"]["feldt_upper"]), abs=1e-9)
        assert row["lambda6"] == pytest.approx(ref["alpha"]["G6"], abs=1e-9)
        assert row["n"] == ref["n_rows"] and row["items"] == 5
        # Five items cannot identify three group factors: omega comes from the one-factor model
        # (iterative fit; R's optimiser stops ~1e-5 from the optimum).
        assert row["omega_model"] == "1 factor"
        assert row["omega_total"] == pytest.approx(ref["omega_1f"]["omega_tot"], abs=1e-4)
        assert row["omega_h"] == pytest.approx(ref["omega_1f"]["omega_h"], abs=1e-4)
        # All 10 splits of 5 items include the 5 psych visits.
        assert row["split_min"] <= ref["split_half"]["min"] + 1e-9
        assert row["split_max"] >= ref["split_half"]["max"] - 1e-9


def test_reliability_options_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inst = _bfi_instrument(tmp_path)
    data = str(REF_DIR / "bfi.csv")
    assert main(["reliability", data, "-i", str(inst), "--scale", "neuro", "--missing", "listwise",
                 "--bootstrap", "200", "--ci", "0.9"]) == 0
    printed = capsys.readouterr().out
    assert "neuro" in printed and "agree" not in printed and "90% bootstrap" in printed
    assert main(["reliability", data]) == 1
    assert "--instrument: required" in capsys.readouterr().err
    assert main(["reliability", data, "-i", str(inst), "--missing", "mean"]) == 1
    assert "--missing" in capsys.readouterr().err
    assert main(["reliability", data, "-i", str(inst), "--by-model"]) == 1
    assert "--by-model" in capsys.readouterr().err


def _store_responses(instrument: str, seed: int = 0) -> pd.DataFrame:
    """A long table shaped like ``Store.responses()`` for two models x 3 variants x 40 samples."""
    rng = np.random.default_rng(seed)
    x = pd.read_csv(REF_DIR / "bfi.csv").dropna().iloc[:240].reset_index(drop=True)
    rows = []
    for r, (_, answers) in enumerate(x.iterrows()):
        model, variant, sample = f"model-{r % 2}", f"v{(r // 2) % 3}", r // 6
        for item, value in answers.items():
            status = "ok" if rng.random() > 0.01 else "refused"
            rows.append({"run_id": "run1", "model": model, "instrument": instrument, "item": item,
                         "variant": variant, "sample": sample, "persona": "none",
                         "value": float(value) if status == "ok" else None, "status": status})
    return pd.DataFrame(rows)


class _FakeStore:
    def __init__(self, responses: pd.DataFrame) -> None:
        self._responses = responses

    def responses(self) -> pd.DataFrame:
        return self._responses.copy()


def test_reliability_of_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture) -> None:
    inst = _bfi_instrument(tmp_path)
    responses = _store_responses(str(inst))
    db = tmp_path / "study.db"
    db.write_bytes(b"")

    @contextlib.contextmanager
    def fake_open(path: Path) -> Iterator[_FakeStore]:
        assert Path(path) == db
        yield _FakeStore(responses)

    # The store is another engineer's module; its documented interface (open(path) -> context manager
    # with .responses() -> long table) is what the command relies on.
    monkeypatch.setattr(psychoml.store, "open", fake_open, raising=False)
    out = tmp_path / "by_model.csv"
    assert main(["reliability", str(db), "--by-model", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 10 and set(table["model"]) == {"model-0", "model-1"}
    # Each model's rows are its 120 administrations (variants x samples); refused answers are missing.
    assert (table["n"] == 120).all()
    from psychoml.instruments import load
    from psychoml.stats import cronbach_alpha

    ok = responses[(responses["status"] == "ok") & (responses["model"] == "model-0")]
    wide = ok.pivot_table(index=["variant", "sample"], columns="item", values="value")
    agree = wide[[f"A{j}" for j in range(1, 6)]]
    expected = cronbach_alpha(agree, keys=load(inst)).alpha
    got = table[(table["model"] == "model-0") & (table["scale"] == "agree")]["alpha"].item()
    assert got == pytest.approx(expected, abs=1e-12)
    assert "agree" in capsys.readouterr().out


def test_a_scale_whose_omega_fails_keeps_its_other_statistics() -> None:
    from psychoml.cli.reliability_commands import scale_reliability
    from psychoml.stats import cronbach_alpha

    rng = np.random.default_rng(3)
    x = rng.integers(1, 4, size=(40, 2)).astype(float)
    block = pd.DataFrame({"i1": x[:, 0], "i2": x[:, 1], "i3": x[:, 0] + x[:, 1]})  # singular correlation matrix
    row = scale_reliability(block)
    assert row["alpha"] == pytest.approx(cronbach_alpha(block).alpha, abs=1e-12)
    assert np.isnan(row["omega_total"]) and row["omega_model"].startswith("not computed (")
    assert "not positive definite" in row["omega_model"]
