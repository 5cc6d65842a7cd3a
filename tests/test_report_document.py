"""The report document model and its renderers (HTML self-contained, Markdown, JSON, CSV, LaTeX)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from psychoml.report.document import Figure, Report, Table, Text
from psychoml.report.plots import (
    circumplex_plot,
    curves_plot,
    interval_plot,
    scree_plot,
    variance_components_plot,
    variant_scores_plot,
)


def make_report() -> Report:
    rep = Report("A & B <report>", metadata={"package": "psychoml 0.1.0"})
    sec = rep.section("Reliability")
    frame = pd.DataFrame({"alpha": [0.81234, np.nan], "ok": [True, False]}, index=pd.Index(["care", "fair_ness"], name="scale"))
    sec.add(Text("Alpha >= .70 is acceptable.", kind="note"), Table(frame, "Internal consistency", note="threshold .70"))
    sec.add(Figure(scree_plot([3.0, 1.2, 0.5], [1.3, 1.1, 1.0], n_factors=1), "Scree", alt="scree plot"))
    return rep


def test_html_is_self_contained_and_escaped():
    text = make_report().to_html()
    assert "<title>A &amp; B &lt;report&gt;</title>" in text
    assert "0.812" in text and "<svg" in text and "<?xml" not in text
    assert not re.search(r"(src|href)=\"https?://", text)  # nothing fetched from the network
    assert "<td class=\"num\">0.812</td>" in text and "<td class=\"txt\">yes</td>" in text


def test_markdown_and_json():
    rep = make_report()
    md = rep.to_markdown()
    assert "| scale | alpha | ok |" in md and "| care | 0.812 | yes |" in md and "*threshold .70*" in md
    doc = json.loads(rep.to_json())
    table = doc["sections"][0]["blocks"][1]
    assert table["type"] == "table" and table["rows"][0]["alpha"] == 0.81234 and table["rows"][1]["alpha"] is None


def test_latex_escapes_and_write_outputs(tmp_path):
    rep = make_report()
    tex = rep.sections[0].tables()[0].to_latex()
    assert "fair\\_ness" in tex and "\\begin{tabular}{lrr}" in tex
    written = rep.write(tmp_path / "out" / "report.html")
    assert set(written) == {"html", "md", "json", "tables"}
    files = sorted(p.name for p in written["tables"].glob("*"))
    assert "reliability--internal-consistency.csv" in files and "reliability--internal-consistency.tex" in files
    assert (written["tables"] / "figures" / "scree.svg").exists()


def test_plots_are_labelled_svg():
    coords = pd.DataFrame({"dim1": [1.0, 0, -1, 0], "dim2": [0.0, 1, 0, -1]}, index=["a", "b", "c", "d"])
    svgs = [
        circumplex_plot(coords),
        variance_components_plot(pd.DataFrame({"percent": [60.0, 30, 10]}, index=["model", "item", "residual"])),
        interval_plot(pd.DataFrame({"m": [1.0, 2], "lo": [0.5, 1.5], "hi": [1.5, 2.5], "g": ["x", "y"]}, index=["s1", "s2"]),
                      estimate="m", lower="lo", upper="hi", group="g"),
        variant_scores_plot(pd.DataFrame({"scale": ["a", "a", "b"], "variant": ["v1", "v2", "v1"], "score": [1.0, 2, 3]})),
        curves_plot(np.linspace(-3, 3, 5), pd.DataFrame({"i1": np.arange(5.0)}), ylabel="P(correct)", title="ICC"),
    ]
    for svg in svgs:
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "Dimension 1" in svgs[0] and "Share of total variance" in svgs[1] and "P(correct)" in svgs[4]
