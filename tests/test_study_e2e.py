"""A study end to end through the CLI on the simulated respondent: store, analyses, report (HTML/MD/JSON/CSV/LaTeX).

The report's numbers are checked against the statistics API called directly on the store's responses, and the
HTML page is opened in headless Chromium.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psychoml.cli import main
from psychoml.instruments import load
from psychoml.report import SECTIONS
from psychoml.stats import circumplex, cronbach_alpha, generalizability, split_half
from psychoml.store import open as open_store

pytestmark = pytest.mark.slow

STUDY = """\
name: e2e
store: study.db
instruments: [svs56, mfq30]
models: ["simulated:grm?seed=1", "simulated:grm?seed=2&acquiescence=0.3&position=0.1"]
design:
  instructions: [official, plain, brief]
  option_order: [published, reversed]
  personas:
    - template: country
      values: {country: [Japan, Brazil]}
samples: 3
mode: logprobs
analyses:
  irt: {enabled: true, model: grm, method: map}
report:
  out: out/report.html
  formats: [html, md, json]
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    (root / "study.yaml").write_text(STUDY)
    code = main(["run", str(root / "study.yaml"), "--no-progress"])
    assert code == 0
    return root


def table(report: dict, section: str, table_id: str) -> pd.DataFrame:
    sec = next(s for s in report["sections"] if s["id"] == section)
    block = next(b for b in sec["blocks"] if b["type"] == "table" and b["id"] == table_id)
    return pd.DataFrame(block["rows"])


def texts(report: dict, section: str) -> str:
    sec = next(s for s in report["sections"] if s["id"] == section)
    return "\n".join(b["text"] for b in sec["blocks"] if b["type"] == "text")


@pytest.fixture(scope="module")
def report(study) -> dict:
    return json.loads((study / "out" / "report.json").read_text())


@pytest.fixture(scope="module")
def responses(study) -> pd.DataFrame:
    with open_store(study / "study.db") as store:
        return store.responses()


def keyed_wide(responses: pd.DataFrame, iid: str) -> pd.DataFrame:
    inst = load(iid)
    ok = responses[(responses["instrument"] == iid) & (responses["status"] == "ok")]
    wide = ok.pivot_table(index=["model", "persona", "variant", "sample"], columns="item", values="value")
    return inst.keyed(wide[[c for c in inst.item_ids if c in wide.columns]])


def scored_wide(responses: pd.DataFrame, iid: str) -> pd.DataFrame:
    """The instrument's official scores of every administration, indexed like the store's wide table."""
    ok = responses[(responses["instrument"] == iid) & (responses["status"] == "ok")]
    wide = ok.pivot_table(index=["model", "persona", "variant", "sample"], columns="item", values="value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = load(iid).score(wide.reset_index(drop=True))
    scored.index = wide.index
    return scored


def test_store_holds_one_answer_per_cell(responses):
    # 2 models x (56 + 32 items) x 12 variants x 3 samples, each exactly once
    assert len(responses) == 2 * (56 + 32) * 12 * 3
    assert not responses.duplicated(["model", "instrument", "item", "variant", "sample"]).any()
    assert set(responses["status"]) == {"ok"}


def test_every_section_is_present_in_every_format(study, report):
    assert [s["id"] for s in report["sections"]] == list(SECTIONS)
    md = (study / "out" / "report.md").read_text()
    html = (study / "out" / "report.html").read_text()
    for s in report["sections"]:
        assert f"## {s['title']}" in md
        assert f'<section id="{s["id"]}">' in html
    assert "SIMULATED" in html  # simulated respondents are labelled as such
    tables = study / "out" / "report_tables"
    assert len(list(tables.glob("*.csv"))) == len(list(tables.glob("*.tex"))) >= 10


def test_reliability_table_equals_the_api(report, responses):
    rel = table(report, "reliability", "internal-consistency")
    assert set(rel["instrument"]) == {"svs56", "mfq30"} and rel["model"].nunique() == 2
    checked = 0
    for iid in ("svs56", "mfq30"):
        inst = load(iid)
        keyed = keyed_wide(responses, iid)
        for model, block in keyed.groupby(level="model"):
            for s in inst.scales:
                if not s.items:
                    continue
                row = rel[(rel["model"] == model) & (rel["instrument"] == iid) & (rel["scale"] == s.id)]
                if row.empty:
                    continue
                data = block[s.items]
                a = cronbach_alpha(data, ci=0.95)
                sh = split_half(data)
                # the JSON keeps 10 significant digits
                assert row["alpha"].iloc[0] == pytest.approx(a.alpha, abs=1e-9)
                assert row["std_alpha"].iloc[0] == pytest.approx(a.std_alpha, abs=1e-9)
                assert row["alpha_ci_lower"].iloc[0] == pytest.approx(a.ci[0], abs=1e-9)
                assert row["split_half_mean"].iloc[0] == pytest.approx(sh.mean, abs=1e-9)
                checked += 1
    assert checked == len(rel)


def test_scale_scores_equal_the_api(report, responses):
    scores = table(report, "scale-scores", "scale-scores-per-model-mean-over-administrations")
    for iid in ("svs56", "mfq30"):
        scored = scored_wide(responses, iid)
        for model, block in scored.groupby(level="model"):
            for sc in ("benevolence", "self_transcendence") if iid == "svs56" else ("harm", "purity"):
                row = scores[(scores["model"] == model) & (scores["scale"] == sc)]
                assert row["mean"].iloc[0] == pytest.approx(block[sc].mean(), abs=1e-9)
                by_variant = block[sc].groupby(level="variant").mean()
                assert row["variant_range"].iloc[0] == pytest.approx(by_variant.max() - by_variant.min(), abs=1e-9)


def test_g_study_equals_the_api(report, responses):
    inst = load("mfq30")
    ok = responses[(responses["instrument"] == "mfq30") & (responses["status"] == "ok")].copy()
    for it in inst.items:
        if it.keying == -1:
            m = ok["item"] == it.id
            ok.loc[m, "value"] = inst.response_scale(it.id).reverse(ok.loc[m, "value"])
    ok["prompt"] = ok["instruction"].astype(str) + "|" + ok["option_order"].astype(str)
    g = generalizability(ok, object="model", facets=["item", "prompt", "sample", "persona"], score="value")
    comps = table(report, "generalizability", "g-mfq30").set_index("component")
    assert np.allclose(comps.loc[g.components.index, "variance"].to_numpy(), g.components["variance"].to_numpy(),
                       atol=1e-9)
    assert f"G (relative) = {g.g:.3f}, Phi (absolute) = {g.phi:.3f}" in texts(report, "generalizability")


def test_circumplex_equals_the_api(report, responses):
    scored = scored_wide(responses, "svs56")
    from psychoml.stats import SCHWARTZ_ORDER

    data = scored[[f"{v}_centred" for v in SCHWARTZ_ORDER]].dropna()
    data.columns = list(SCHWARTZ_ORDER)
    c = circumplex(data, n_permutations=1000)
    assert f"correspondence index = {c.correspondence_index:.3f}" in texts(report, "circumplex")


def test_response_quality_and_position_bias_equal_the_api(report, responses):
    from psychoml.stats import position_bias

    quality = table(report, "response-quality", "answers-by-status")
    counts = responses.groupby(["model", "instrument"]).size()
    for _, row in quality.iterrows():
        assert row["answers"] == counts[(row["model"], row["instrument"])] and row["ok"] == row["answers"]
    bias = table(report, "response-quality", "position-bias-from-option-order-reversal")
    assert len(bias) == 4
    for _, row in bias.iterrows():
        sub = responses[(responses["model"] == row["model"]) & (responses["instrument"] == row["instrument"])]
        pb = position_bias(sub[sub["status"] == "ok"], order="option_order")
        assert row["shift"] == pytest.approx(pb.shift, abs=1e-9)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(pb.ci, abs=1e-9)


def test_omega_and_inter_variant_icc_equal_the_api(report, responses):
    from psychoml.stats import icc, omega

    rel = table(report, "reliability", "internal-consistency")
    with_omega = rel[rel["omega_total"].notna()]
    assert len(with_omega) >= 5
    for _, row in with_omega.iterrows():
        items = next(s for s in load(row["instrument"]).scales if s.id == row["scale"]).items
        block = keyed_wide(responses, row["instrument"]).xs(row["model"], level="model")[items]
        assert row["omega_total"] == pytest.approx(omega(block, n_factors=1).omega_total, abs=1e-9)
    iv = table(report, "reliability", "inter-variant-consistency-of-the-scale-profile")
    inst = load("svs56")
    scored = scored_wide(responses, "svs56")
    model = iv[iv["instrument"] == "svs56"]["model"].iloc[0]
    prof = scored.xs(model, level="model")[[s.id for s in inst.scales if s.items]]
    expected = icc(prof.groupby(level="variant").mean().T).to_frame()
    got = iv[(iv["model"] == model) & (iv["instrument"] == "svs56")].set_index("form")["icc"]
    for form, value in got.items():
        assert value == pytest.approx(float(expected.loc[form, "icc"]), abs=1e-9)


def test_factor_section_equals_the_api(report, responses):
    from psychoml.stats import efa, parallel_analysis

    data = keyed_wide(responses, "mfq30").dropna(axis=1, how="all")
    data = data.loc[:, data.std() > 0].dropna()
    pa = parallel_analysis(data, seed=0)
    k = max(1, min(pa.n_factors, data.shape[1] - 1))
    fit = efa(data, k, rotation="oblimin" if k > 1 else None)
    loadings = table(report, "factor-structure", "loadings-mfq30")
    loadings = loadings.set_index(loadings.columns[0])
    assert loadings.shape == fit.loadings.shape
    assert np.allclose(loadings.loc[fit.loadings.index, fit.loadings.columns].to_numpy(), fit.loadings.to_numpy(),
                       atol=1e-9)


def test_irt_section_equals_the_api(report, responses):
    from psychoml import irt

    inst = load("mfq30")
    data = keyed_wide(responses, "mfq30").dropna(axis=1, how="all")
    lows = pd.Series({c: inst.response_scale(c).low for c in data.columns})
    data = data.round().sub(lows).astype(float).reset_index(drop=True)
    res = irt.fit(data, model="grm", method="map")
    items = table(report, "irt", "irt-items-mfq30")
    key = items.columns[0]
    items = items.set_index(key)
    numeric = [c for c in res.items.columns if pd.api.types.is_numeric_dtype(res.items[c]) and c in items.columns]
    assert numeric
    assert np.allclose(items.loc[res.items.index, numeric].to_numpy(float), res.items[numeric].to_numpy(float),
                       atol=1e-6, equal_nan=True)  # MAP optimiser: same data, same start, same answer
    irt_sec = next(s for s in report["sections"] if s["id"] == "irt")
    figures = {b["id"] for b in irt_sec["blocks"] if b["type"] == "figure"}
    assert {"irt-icc-mfq30", "irt-info-mfq30", "irt-test-info-mfq30"} <= figures


def test_rerun_is_served_from_the_store(study):
    before = sqlite3.connect(study / "study.db").execute("select count(*) from responses").fetchone()[0]
    code = main(["run", str(study / "study.yaml"), "--no-progress", "--formats", "json"])
    assert code == 0
    after = sqlite3.connect(study / "study.db").execute("select count(*) from responses").fetchone()[0]
    assert after == before


def test_report_command_writes_the_same_report(study, tmp_path, report):
    code = main(["report", str(study / "study.db"), "-o", str(tmp_path / "r.json"), "--study",
                 str(study / "study.yaml")])
    assert code == 0
    again = json.loads((tmp_path / "r.json").read_text())
    rel_a = table(report, "reliability", "internal-consistency")
    rel_b = table(again, "reliability", "internal-consistency")
    pd.testing.assert_frame_equal(rel_a, rel_b)


def test_report_opens_in_headless_chromium(study, tmp_path):
    from browser import check_page

    page = check_page(study / "out" / "report.html", tmp_path / "report.png")
    assert page.errors == [] and page.console == []
    assert page.bad_images == [] and page.bad_figures == 0
    assert page.figures >= 8 and page.sections == len(SECTIONS)
    assert page.text_length > 2000
    assert page.screenshot.exists() and page.screenshot_std > 0.02  # not a blank page
