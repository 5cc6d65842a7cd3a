"""Human norms in a study: norm files named in the study file, compared with the models' scores in the report."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from psychoml.cli import main
from psychoml.instruments import load
from psychoml.instruments.norms import HOFSTEDE_DIMENSIONS, load_hofstede, load_mfq2
from psychoml.store import open as open_store

NORMS = Path(__file__).parent / "data" / "norms"

STUDY = """\
name: norms
store: study.db
instruments: [vsm2013, mfq2]
models: ["simulated:grm?seed=1"]
design:
  instructions: [official, plain]
samples: 3
analyses:
  norms:
    vsm2013: {{file: hofstede_6d.csv, format: hofstede}}
    mfq2: {{file: {mfq2}, format: mfq2}}
  reliability: {{enabled: false}}
  gtheory: {{enabled: false}}
  factor: {{enabled: false}}
report:
  out: out/report.html
  formats: [json]
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("norms")
    shutil.copy(NORMS / "hofstede_6d.csv", root / "hofstede_6d.csv")
    (root / "study.yaml").write_text(STUDY.format(mfq2=NORMS / "mfq2_country.csv"))
    assert main(["run", str(root / "study.yaml"), "--no-progress"]) == 0
    return root


def norms_table(root: Path, iid: str) -> pd.DataFrame:
    report = json.loads((root / "out" / "report.json").read_text())
    sec = next(s for s in report["sections"] if s["id"] == "human-norms")
    block = next(b for b in sec["blocks"] if b.get("id") == f"norms-{iid}")
    return pd.DataFrame(block["rows"]).set_index("score")


def test_disabled_analyses_are_not_run(study):
    report = json.loads((study / "out" / "report.json").read_text())
    blocks = {s["id"]: [b.get("id") for b in s["blocks"]] for s in report["sections"]}
    assert "internal-consistency" not in blocks["reliability"]
    assert not any(str(b).startswith("g-") for b in blocks["generalizability"])
    assert not any(str(b).startswith("loadings-") for b in blocks["factor-structure"])


def wide(root: Path, iid: str) -> pd.DataFrame:
    with open_store(root / "study.db") as s:
        long = s.responses()
    ok = long[(long["instrument"] == iid) & (long["status"] == "ok")]
    return ok.pivot_table(index=["model", "persona", "variant", "sample"], columns="item", values="value")


def test_vsm_indices_against_hofstede_equal_the_api(study):
    got = norms_table(study, "vsm2013")
    assert set(got.index) == set(HOFSTEDE_DIMENSIONS.values())
    w = wide(study, "vsm2013")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load("vsm2013").score_groups(w.reset_index(drop=True), group=list(w.index.get_level_values("model")))
    human = load_hofstede(study / "hofstede_6d.csv").set_index("country")
    for dim in HOFSTEDE_DIMENSIONS.values():
        value = float(model[dim].iloc[0])
        groups = human[dim].dropna()
        row = got.loc[dim]
        assert row["model_value"] == pytest.approx(value, abs=1e-9)
        assert row["human_mean"] == pytest.approx(groups.mean(), abs=1e-9)
        assert row["z"] == pytest.approx((value - groups.mean()) / groups.std(ddof=1), abs=1e-9)
        assert row["percentile"] == pytest.approx(100 * (groups < value).mean(), abs=1e-9)
    mad = human[list(HOFSTEDE_DIMENSIONS.values())].sub(model[list(HOFSTEDE_DIMENSIONS.values())].iloc[0]).abs()
    mad = mad.mean(axis=1)
    assert set(got["nearest_group"]) == {mad.idxmin()}
    assert got["mad_to_nearest"].iloc[0] == pytest.approx(mad.min(), abs=1e-9)


def test_mfq2_foundations_against_country_means(study):
    got = norms_table(study, "mfq2")
    human = load_mfq2(NORMS / "mfq2_country.csv").groupby("country").mean(numeric_only=True)
    assert set(got.index) == {"care", "equality", "proportionality", "loyalty", "authority", "purity"}
    for f, row in got.iterrows():
        assert row["human_mean"] == pytest.approx(human[f].mean(), abs=1e-9)
        assert row["groups"] == len(human)


def write(root: Path, text: str) -> Path:
    (root / "study.yaml").write_text(text)
    return root / "study.yaml"


@pytest.mark.parametrize("norms, where, what", [
    ("{mfq30: {file: x.csv}}", "analyses.norms.mfq30", "not one of the study's instruments"),
    ("{vsm2013: {file: missing.csv, format: hofstede}}", "analyses.norms.vsm2013.file", "not found"),
    ("{vsm2013: {file: h.csv, format: spss}}", "analyses.norms.vsm2013.format", "hofstede"),
])
def test_bad_norms_entries_are_located_and_touch_no_store(tmp_path, capsys, norms, where, what):
    (tmp_path / "h.csv").write_text("ctr;country;pdi;idv;mas;uai;ltowvs;ivr\n")
    path = write(tmp_path, f"name: n\nstore: s.db\ninstruments: [vsm2013]\nmodels: ['simulated:grm']\n"
                           f"analyses:\n  norms: {norms}\n")
    code = main(["run", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and where in err and what in err and "Traceback" not in err
    assert not (tmp_path / "s.db").exists()
