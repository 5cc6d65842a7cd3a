"""Validity and factor structure on a study store, end to end.

A small store is administered to the simulated respondent backend (whose generative model is known: persona
shifts of the latent means, acquiescence, a pull toward the first-presented option) through the runner, then
``psychoml validity study.db`` and ``psychoml factor study.db`` are run on it.  Every number the commands
print (and write with ``--out``) is recomputed here from ``Store.responses()`` with the statistics API, by
independent pandas code (no CLI helper), and must agree; the recovered effects must also point the way the
simulation put them.
"""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from psychoml import stats
from psychoml.administer import administer
from psychoml.cli import main
from psychoml.instruments import load
from psychoml.instruments.norms import HOFSTEDE_DIMENSIONS
from psychoml.store import open as open_store

# ``psychoml.cli.app`` is the Typer object on the package (it hides the module of that name): fetch the modules
CLI_MODULES = [importlib.import_module(m) for m in ("psychoml.cli.app", "psychoml.cli.stats_commands")]
COUNTRIES = ["Argentina", "Brazil", "Japan", "South Korea", "United States"]
ISO3 = {"Argentina": "ARG", "Brazil": "BRA", "Japan": "JPN", "South Korea": "KOR", "United States": "USA"}
HARM = "harm =~ emotionally + weak + cruel + animal + kill + compassion"
# simulated truth: acquiescence and a 10% pull toward the first-presented option; personas shift latent means
# by 1.5 SD-scaled deterministic amounts
SPEC = "simulated:grm?seed=1&acquiescence=0.3&position=0.1&persona_effect=1.5"
OTHER_MODEL = "simulated:grm?seed=5&position=0.1&persona_effect=1.5"
# numbers are printed to 3 decimals: a printed value is off by at most half a unit in the last place
PRINTED = 5e-4 + 1e-9


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("study") / "study.db"
    personas = [None, {"template": "country", "values": {"country": COUNTRIES[:3]}}]
    design = {"instructions": ["official"], "option_order": ["published", "reversed"], "layout": ["scale"],
              "personas": personas}
    # MFQ-30 answered by drawing options (generate mode): item-level noise, so factor analysis is meaningful
    for spec in (SPEC, OTHER_MODEL):
        administer("mfq30", spec, design=design, samples=20 if spec == SPEC else 12, out=path, mode="generate",
                   temperature=1.0, progress=False)
    vsm_design = {**design, "personas": [None, {"template": "country", "values": {"country": COUNTRIES}}]}
    administer("vsm2013", SPEC, design=vsm_design, samples=3, out=path, mode="logprobs", progress=False)
    # the same model without persona: its respondents (model x persona x sample) also answered the MFQ-30
    administer("svs56", SPEC, design={"instructions": ["official"], "layout": ["scale"]},
               samples=40, out=path, mode="logprobs", progress=False)
    return path


def use_plain_console(monkeypatch: pytest.MonkeyPatch) -> Console:
    """Print through a wide console without colours, whatever the terminal.

    The shared console follows the environment: it wraps prose and tables to COLUMNS (80 when captured, CI may
    be narrower), truncates cells with an ellipsis, and with FORCE_COLOR highlights numbers with ANSI codes;
    the tests read whole, plain rows.
    """
    plain = Console(width=250, color_system=None, highlight=False, force_terminal=False)
    for module in CLI_MODULES:
        monkeypatch.setattr(module, "console", plain)
    return plain


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    use_plain_console(monkeypatch)


@pytest.fixture(scope="module")
def mfq_validity(study: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """``psychoml validity study.db -i mfq30 --out DIR`` run once: its printed text and the folder of tables."""
    folder = tmp_path_factory.mktemp("mfq_validity")
    with pytest.MonkeyPatch.context() as mp:
        plain = use_plain_console(mp)
        with plain.capture() as captured:
            code = main(["validity", str(study), "-i", "mfq30", "--out", str(folder)])
    assert code == 0
    return captured.get(), folder


def run(capsys: pytest.CaptureFixture, *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def long_ok(study: Path, instrument: str) -> pd.DataFrame:
    with open_store(study) as store:
        long = store.responses(instrument=instrument, status="ok")
    # independent persona label: the country named in the persona text, "(none)" without a persona
    long["persona_label"] = long["persona"].map(
        lambda t: re.search(r"from (.+)\.$", t).group(1) if t else "(none)")
    return long


def wide_items(long: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    return long.pivot_table(index=index, columns="item", values="value", aggfunc="mean")


def scale_scores(instrument: str, wide: pd.DataFrame) -> pd.DataFrame:
    inst = load(instrument)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = inst.score(wide.reset_index(drop=True))
    scored.index = wide.index
    return scored[[s.id for s in inst.scales if s.items]]


def printed_row(out: str, *cells: str) -> list[float]:
    """The numbers of the printed table row whose leading cells are ``cells``."""
    for line in out.splitlines():
        parts = [p.strip() for p in re.split(r"[│┃]", line) if p.strip()]
        if parts[: len(cells)] == list(cells):
            return [float(p) for p in parts[len(cells):] if re.fullmatch(r"-?\d+\.\d+", p)]
    raise AssertionError(f"no printed row {cells}")


# --- validity ---------------------------------------------------------------------------------------------------
def test_position_bias_from_option_order_reversal(study: Path, mfq_validity: tuple[str, Path]) -> None:
    out, tmp_path = mfq_validity
    long = long_ok(study, "mfq30")
    api = stats.position_bias(long)
    shift = re.search(r"mfq30 position bias: shift = (-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]", out)
    assert shift is not None
    assert [float(g) for g in shift.groups()] == pytest.approx([api.shift, *api.ci], abs=PRINTED)
    saved = pd.read_csv(tmp_path / "mfq30_position_bias.csv", index_col=0)
    pd.testing.assert_frame_equal(saved, api.table, check_names=False, atol=1e-12, rtol=0)
    # the simulated pull toward the first option (lowest when published, highest when reversed) shows up as a
    # positive shift whose CI excludes 0
    assert api.ci[0] > 0
    assert printed_row(out, "kill")[:3] == pytest.approx(api.table.loc["kill", ["published", "reversed", "shift"]],
                                                         abs=PRINTED)
    # scale scores corrected for position: each respondent's answers averaged over both orders, then scored
    corrected = stats.position_bias(long, respondent=["model", "persona", "sample"]).corrected_answers
    fixed = scale_scores("mfq30", corrected.dropna(how="all"))
    saved_fixed = pd.read_csv(tmp_path / "mfq30_position_corrected_scores.csv", index_col=[0, 1, 2])
    np.testing.assert_allclose(saved_fixed.to_numpy(), fixed.to_numpy(), atol=1e-12)
    assert printed_row(out, "harm")[1] == pytest.approx(fixed["harm"].mean(), abs=PRINTED)


def test_position_corrected_answers_cancel_the_simulated_position_pull(study: Path) -> None:
    long = long_ok(study, "vsm2013")  # logprobs mode: answers are expected values, no sampling noise
    res = stats.position_bias(long, respondent=["model", "persona", "sample"])
    corrected = res.corrected_answers
    # every respondent answered every item under both orders: nothing missing, one row per respondent
    assert corrected.notna().all().all() and len(corrected) == long.groupby(["persona", "sample"]).ngroups
    by_order = wide_items(long, ["model", "persona", "sample", "option_order"])
    mean_both = (by_order.xs("published", level="option_order") + by_order.xs("reversed", level="option_order")) / 2
    pd.testing.assert_frame_equal(corrected.sort_index(), mean_both.sort_index(), check_names=False, atol=1e-12)
    assert res.shift > 0.1  # the simulated pull is visible before the correction


def test_mtmm_across_prompt_variants(study: Path, mfq_validity: tuple[str, Path]) -> None:
    out, tmp_path = mfq_validity
    long = long_ok(study, "mfq30")
    scores = scale_scores("mfq30", wide_items(long, ["model", "persona", "sample", "option_order"]))
    table = scores.stack().rename("score").reset_index()
    table.columns = ["model", "persona", "sample", "option_order", "scale", "score"]
    piv = table.pivot_table(index=["model", "persona", "sample"], columns=["scale", "option_order"], values="score")
    piv.columns = [f"{s}@{m}" for s, m in piv.columns]
    api = stats.mtmm(piv, traits={c: c.split("@")[0] for c in piv.columns},
                     methods={c: c.split("@")[1] for c in piv.columns})
    saved = pd.read_csv(tmp_path / "mfq30_mtmm.csv", index_col=0)
    np.testing.assert_allclose(saved["proportion"], api.criteria["proportion"], atol=1e-12)
    line = re.search(r"mean convergent r = (-?\d+\.\d+), heterotrait-monomethod = (-?\d+\.\d+), "
                     r"heterotrait-heteromethod = (-?\d+\.\d+)", out)
    assert [float(g) for g in line.groups()] == pytest.approx(
        [api.mean_convergent, api.mean_heterotrait_monomethod, api.mean_heterotrait_heteromethod], abs=PRINTED)
    # the same synthetic respondent answers both orders: the validity diagonal dominates its heterotrait
    # neighbours (Campbell-Fiske 2 and 3; criterion 1's significance needs more respondents than here)
    assert (api.criteria["proportion"].iloc[1:3] > 0.8).all()
    assert api.mean_convergent > 0.5 > abs(api.mean_heterotrait_heteromethod)


def test_known_groups_across_personas(study: Path, mfq_validity: tuple[str, Path]) -> None:
    out, tmp_path = mfq_validity
    long = long_ok(study, "mfq30")
    scores = scale_scores("mfq30", wide_items(long, ["model", "persona_label", "variant", "sample"]))
    # one row per respondent: scores averaged over the two option orders
    per = scores.groupby(level=["model", "persona_label", "sample"]).mean().dropna(how="all").reset_index()
    api = stats.known_groups(per.drop(columns=["model", "sample"]), group="persona_label", reference="(none)")
    saved = pd.read_csv(tmp_path / "mfq30_known_groups.csv")
    cols = ["mean", "mean_reference", "hedges_g", "ci_lower", "ci_upper", "p"]
    np.testing.assert_allclose(saved[cols], api.table[cols], atol=1e-10)
    assert list(saved["group"]) == list(api.table["group"])
    row = api.table.iloc[0]
    assert printed_row(out, row["score"], row["group"])[:7] == pytest.approx(
        [row["mean"], row["mean_reference"], row["hedges_g"], row["ci_lower"], row["ci_upper"], row["p"]], abs=PRINTED)
    # personas shift latent means in the simulation: some persona differs from no persona with a CI excluding 0
    assert ((api.table["ci_lower"] > 0) | (api.table["ci_upper"] < 0)).any()
    saved_aov = pd.read_csv(tmp_path / "mfq30_known_groups_anova.csv", index_col=0)
    np.testing.assert_allclose(saved_aov["eta_squared"], api.anova["eta_squared"], atol=1e-12)


def vsm_country_scores(study: Path) -> pd.DataFrame:
    long = long_ok(study, "vsm2013")
    long = long[long["persona_label"] != "(none)"]
    wide = wide_items(long, ["model", "persona_label", "variant", "sample"])
    iso = [ISO3[c] for c in wide.index.get_level_values("persona_label")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load("vsm2013").score_groups(wide.reset_index(drop=True), group=iso)


def write_hofstede(path: Path, scores: pd.DataFrame, *, affine: bool) -> pd.DataFrame:
    """A file in Hofstede's published layout; values are an affine map of ``scores`` or made up."""
    names = {"ARG": "Argentina", "BRA": "Brazil", "JPN": "Japan", "KOR": "Korea South", "USA": "U.S.A."}
    rows, rng = [], np.random.default_rng(7)
    human = pd.DataFrame(index=list(names), columns=list(HOFSTEDE_DIMENSIONS.values()), dtype=float)
    for dim in human.columns:
        x = scores.loc[list(names), dim].to_numpy(dtype=float)
        human[dim] = 10 + 80 * (x - x.min()) / (x.max() - x.min()) if affine else rng.integers(5, 100, len(x))
    human["LTO"] = human["LTO"].round(6)
    for iso, name in names.items():
        v = human.loc[iso]
        rows.append(f"{iso};{name};" + ";".join(f"{v[d]:.10g}" for d in HOFSTEDE_DIMENSIONS.values()))
    rows.append("ARA;Arab countries;70;30;50;65;#NULL!;#NULL!")  # a regional sample: mapped to no country
    path.write_text("ctr;country;pdi;idv;mas;uai;ltowvs;ivr\n" + "\n".join(rows) + "\n")
    return human


@pytest.mark.parametrize("affine", [True, False])
def test_criterion_validity_of_country_personas_against_hofstede(
    study: Path, capsys: pytest.CaptureFixture, tmp_path: Path, affine: bool
) -> None:
    model = vsm_country_scores(study)
    norms = tmp_path / "6-dimensions.csv"
    human = write_hofstede(norms, model, affine=affine)
    out = run(capsys, "validity", str(study), "-i", "vsm2013", "--norms", str(norms), "--out", str(tmp_path))
    dims = list(HOFSTEDE_DIMENSIONS.values())
    api = stats.criterion_validity(model[dims], human, columns=dims)
    saved = pd.read_csv(tmp_path / "vsm2013_criterion.csv", index_col=0)
    cols = ["r", "ci_lower", "ci_upper", "mad", "rmse", "mean_difference", "n_groups"]
    # with r = 1 up to rounding the Fisher interval is undefined (NaN) or degenerate: compare it only otherwise
    check = [c for c in cols if not (affine and c.startswith("ci_"))]
    np.testing.assert_allclose(saved[check], api.table[check], atol=1e-8)
    assert (api.table["n_groups"] == 5).all()
    if not affine:
        assert printed_row(out, "PDI")[:6] == pytest.approx(api.table.loc["PDI", cols[:6]].to_numpy(dtype=float),
                                                            abs=PRINTED)
    if affine:
        # norms that are an exact linear image of the personas' scores: r = 1 only if every country persona
        # was joined to its own country's row
        np.testing.assert_allclose(api.table["r"], 1.0, atol=1e-9)


def test_criterion_validity_needs_country_personas(study: Path, capsys: pytest.CaptureFixture,
                                                   tmp_path: Path) -> None:
    norms = Path(__file__).parent / "data" / "norms" / "hofstede_6d.csv"
    # SVS has no Hofstede indices: criterion validity does not apply there, and nothing fails
    code = main(["validity", str(study), "-i", "svs56", "--norms", str(norms), "--permutations", "50"])
    out, err = capsys.readouterr()
    assert code == 0 and "criterion validity" not in out, err
    plain = tmp_path / "plain.db"
    administer("vsm2013", SPEC, design="minimal", samples=2, out=plain, mode="logprobs", progress=False)
    code = main(["validity", str(plain), "--norms", str(norms)])
    _, err = capsys.readouterr()
    assert code == 1 and "no country personas" in err and "{country}" in err


def test_convergent_validity_between_instruments(study: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    out = run(capsys, "validity", str(study), "--permutations", "50", "--out", str(tmp_path))
    per = {}
    for iid in ("svs56", "mfq30"):
        long = long_ok(study, iid)
        scores = scale_scores(iid, wide_items(long, ["model", "persona", "variant", "sample"]))
        per[iid] = scores.groupby(level=["model", "persona", "sample"]).mean().dropna(how="all")
    joined = pd.DataFrame({"svs56:benevolence": per["svs56"]["benevolence"], "mfq30:harm": per["mfq30"]["harm"],
                           "svs56:tradition": per["svs56"]["tradition"], "mfq30:purity": per["mfq30"]["purity"]})
    pairs = [("svs56:benevolence", "mfq30:harm"), ("svs56:tradition", "mfq30:purity")]
    api = stats.convergent_validity(joined, pairs=pairs).table.set_index(["measure_1", "measure_2"])
    saved = pd.read_csv(tmp_path / "convergent_validity.csv").set_index(["measure_1", "measure_2"])
    assert len(saved) == 4  # benevolence-harm, universalism-fairness, conformity-authority, tradition-purity
    cols = ["r", "ci_lower", "ci_upper", "n", "p"]
    np.testing.assert_allclose(saved.loc[api.index, cols], api[cols], atol=1e-10)
    # respondents who answered both: the persona-free respondents of the one model given both instruments
    # (20 samples, less those the MFQ's catch items exclude)
    assert (api["n"] >= 5).all() and (api["n"] <= 20).all()
    first = api.iloc[0]
    assert printed_row(out, "svs56:benevolence", "mfq30:harm")[:3] == pytest.approx(
        [first["r"], first["ci_lower"], first["ci_upper"]], abs=PRINTED)


def test_svs_circumplex_on_a_store(study: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(capsys, "validity", str(study), "-i", "svs56", "--permutations", "200")
    long = long_ok(study, "svs56")
    inst = load("svs56")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = inst.score(wide_items(long, ["model", "persona", "variant", "sample"]).reset_index(drop=True))
    centred = scored[[f"{v}_centred" for v in stats.SCHWARTZ_ORDER]].dropna()
    centred.columns = list(stats.SCHWARTZ_ORDER)
    api = stats.circumplex(centred, n_permutations=200)
    m = re.search(r"svs56 circumplex: CI = (-?\d+\.\d+), p = (\d+\.\d+), order agreement = (\d+\.\d+), "
                  r"stress = (\d+\.\d+)", out)
    assert [float(g) for g in m.groups()] == pytest.approx(
        [api.correspondence_index, api.p_value, api.order_agreement, api.stress], abs=PRINTED)
    # the simulator draws Schwartz values on a circumplex: the theoretical order comes back
    assert "recovered order: " + ", ".join(stats.SCHWARTZ_ORDER) in out and api.fits


# --- factor structure --------------------------------------------------------------------------------------------
def test_factor_efa_of_one_scale_on_a_store(study: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    out = run(capsys, "factor", str(study), "-i", "mfq30", "--scale", "harm", "--out", str(tmp_path))
    long = long_ok(study, "mfq30")
    items = wide_items(long, ["model", "persona", "variant", "sample"])[load("mfq30").scales[0].items].dropna()
    pa = stats.parallel_analysis(items, seed=0)
    vm = stats.velicer_map(items)
    assert f"parallel analysis suggests {pa.n_factors} factor(s); Velicer's MAP suggests {vm.n_factors}" in out
    assert f"KMO = {stats.kmo(items).msa:.3f}" in out
    api = stats.efa(items, max(pa.n_factors, 1))
    saved = pd.read_csv(tmp_path / "mfq30_loadings.csv", index_col=0)
    pd.testing.assert_frame_equal(saved, api.loadings, check_names=False, atol=1e-12, rtol=0)
    assert pa.n_factors == 1  # six items of one simulated factor


@pytest.mark.parametrize("group", ["persona", "option_order", "model"])
def test_invariance_across_personas_and_prompt_variants(
    study: Path, capsys: pytest.CaptureFixture, tmp_path: Path, group: str
) -> None:
    out = run(capsys, "factor", str(study), "-i", "mfq30", "--model", HARM, "--group", group, "--out", str(tmp_path))
    long = long_ok(study, "mfq30")
    column = "persona_label" if group == "persona" else group
    wide = wide_items(long, list(dict.fromkeys(["model", column, "variant", "sample"]))).reset_index()
    api = stats.invariance(HARM, wide, group=column)
    assert len(api.groups) == {"persona": 4, "option_order": 2, "model": 2}[group]
    saved = pd.read_csv(tmp_path / "mfq30_invariance.csv", index_col=0)
    cols = ["chisq", "df", "cfi", "tli", "rmsea", "srmr", "chisq_diff", "df_diff", "p_diff", "delta_cfi"]
    np.testing.assert_allclose(saved[cols], api.table[cols], atol=1e-8)
    assert printed_row(out, "metric")[:5] == pytest.approx(
        api.table.loc["metric", ["chisq", "df", "cfi", "rmsea", "srmr"]].to_numpy(dtype=float), abs=PRINTED)
    # configural, metric, scalar: each step adds equality constraints
    assert list(api.table.index) == ["configural", "metric", "scalar"]
    assert api.table["df"].is_monotonic_increasing


def test_store_errors_are_one_line(study: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["factor", str(study), "-i", "mfq30", "--model", HARM, "--group", "colour"])
    _, err = capsys.readouterr()
    assert code == 1 and "--group" in err and "'colour'" in err and "persona" in err and "Traceback" not in err
    code = main(["factor", str(study), "-i", "bfi10"])
    _, err = capsys.readouterr()
    assert code == 1 and "no responses to 'bfi10'" in err and "mfq30" in err
    code = main(["factor", str(study), "-i", "mfq30", "--model", "harm =~ emotionally + weak + nothere"])
    _, err = capsys.readouterr()
    assert code == 1 and "nothere" in err and "Traceback" not in err
