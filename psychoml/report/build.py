"""Lay a :class:`~psychoml.study.StudyResult` out as a report (tables, figures, notes); computes nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from psychoml.report import plots
from psychoml.report.document import Figure, Report, Table, Text
from psychoml.study.analyse import StudyResult

__all__ = ["SECTIONS", "build_report"]

#: Section ids every study report has, in order.
SECTIONS = ("provenance", "response-quality", "scale-scores", "reliability", "generalizability",
            "factor-structure", "circumplex", "human-norms", "irt", "not-computed")


def _frame_or_note(frame: pd.DataFrame, caption: str, empty: str, **kw: Any) -> Table | Text:
    return Table(frame, caption, **kw) if frame is not None and len(frame) else Text(empty, kind="note")


def _runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One line per run: what ran, when, and how it ended (nested settings go to their own tables)."""
    if runs is None or not len(runs):
        return runs
    out = pd.DataFrame({
        "run": runs["run_id"],
        "model": runs["model"],
        "instrument": runs["instrument"] + " " + runs["instrument_version"].astype(str),
        "design": [d.get("name", "") if isinstance(d, dict) else "" for d in runs.get("design", [None] * len(runs))],
        "mode": runs["mode"],
        "samples": runs["samples"],
        "requests": runs["n_requests"],
        "answered": runs["answered"],
        "from_store": [d.get("from_store") if isinstance(d, dict) else None
                       for d in runs.get("summary", [None] * len(runs))],
        "status": runs["status"],
        "started": runs["started_at"].astype(str).str.slice(0, 16).str.replace("T", " "),
        "finished": runs["finished_at"].fillna("").astype(str).str.slice(0, 16).str.replace("T", " "),
        "psychoml": runs["package_version"],
    })
    return out


def _settings_table(runs: pd.DataFrame, column: str, *, key: str = "model") -> pd.DataFrame:
    """The distinct settings dictionaries of ``column`` as a long (owner, setting, value) table."""
    rows, seen = [], set()
    for _, run in runs.iterrows():
        settings = run[column] if isinstance(run[column], dict) else {}
        owner = settings.get("name", "") if key == "design_name" else run["model"]
        if (owner, str(sorted(settings.items()))) in seen:
            continue
        seen.add((owner, str(sorted(settings.items()))))
        for name, value in sorted(settings.items()):
            if key == "design_name" and name == "name":
                continue
            if isinstance(value, (list, tuple)):
                value = ", ".join("none" if v is None else str(v) for v in value)
            rows.append({"design" if key == "design_name" else "model": owner, "setting": name,
                         "value": "" if value is None else str(value)})
    return pd.DataFrame(rows)


def build_report(result: StudyResult, *, title: str | None = None) -> Report:
    """Build the study report: every section in :data:`SECTIONS`, in that order."""
    rep = Report(title or f"psychoml report: {result.name}", metadata=dict(result.provenance))
    th = result.thresholds

    sec = rep.section("Provenance", id="provenance")
    sec.add(Text("Models, backends, prompt variants, dates and versions of the package and the instruments, as "
                 "recorded in the response store. Simulated respondents are labelled as such."))
    runs = result.runs
    sec.add(_frame_or_note(_runs_table(runs), "Runs", "No run metadata was recorded.", index=False))
    if len(runs) and "backend" in runs:
        sec.add(Table(_settings_table(runs, "backend"), "Backend settings per model", index=False,
                      note="As each backend reported them (library versions, weights, decoding); no secrets."))
    if len(runs) and "design" in runs:
        sec.add(Table(_settings_table(runs, "design", key="design_name"), "Prompt designs", index=False,
                      note="Facet levels of each design; every combination (or the seeded fraction) is a variant."))

    sec = rep.section("Response quality", id="response-quality")
    sec.add(Text("Refusals and unparseable answers are recorded as missing with a reason, never guessed. "
                 "'mass_outside_mean' is the probability the model put outside the response options before "
                 "renormalisation (log-probability scoring)."))
    q = result.quality.set_index(["model", "instrument"]) if len(result.quality) else result.quality
    sec.add(_frame_or_note(q, "Answers by status", "No answers."))
    if len(result.position_bias):
        sec.add(Table(result.position_bias.set_index(["model", "instrument"]),
                      "Position bias from option-order reversal",
                      note="shift = mean(value | reversed order) - mean(value | published order), averaged over items; "
                           "a CI excluding 0 means the answer depends on where an option is presented."))

    sec = rep.section("Scale scores", id="scale-scores")
    if len(result.scores):
        s = result.scores.set_index(["model", "instrument", "scale"])
        sec.add(Table(s, "Scale scores per model (mean over administrations)",
                      note="CI: t interval over administrations (variant x sample x persona). variant_range: "
                           "largest minus smallest variant mean, i.e. how far the score moves across prompts."))
        for iid, part in result.scores.groupby("instrument"):
            frame = part.set_index("scale")
            if frame["ci_lower"].notna().any():
                sec.add(Figure(plots.interval_plot(frame, estimate="mean", lower="ci_lower", upper="ci_upper",
                                                   group="model", xlabel="Score", title=f"{iid}: scale scores"),
                               f"{iid}: scale scores with confidence intervals", alt=f"forest plot of {iid} scores",
                               id=f"scores-{iid}"))
        for iid, part in result.scores_by_variant.groupby("instrument"):
            if part["score"].isna().all():
                continue
            label = "variant_label" if "variant_label" in part else "variant"
            sec.add(Figure(plots.variant_scores_plot(part, variant=label,
                                                     title=f"{iid}: scores across prompt variants"),
                           f"{iid}: scale scores across prompt variants", alt=f"dot plot of {iid} scores by variant",
                           id=f"variants-{iid}"))
    else:
        sec.add(Text("No scores could be computed.", kind="warning"))

    sec = rep.section("Reliability", id="reliability")
    sec.add(Text(f"Thresholds used: alpha and omega >= {th['alpha']:.2f} acceptable; ICC >= {th['icc']:.2f} good "
                 "(Koo & Li, 2016). Administrations (prompt variant x sample x persona) act as respondents."))
    if len(result.reliability):
        sec.add(Table(result.reliability.set_index(["model", "instrument", "scale"]), "Internal consistency",
                      note="alpha: Cronbach (CI: Feldt); split-half: min/mean/max over splits (Spearman-Brown); "
                           "omega_total from a one-factor model."))
    else:
        sec.add(Text("Internal consistency could not be computed (see 'Not computed').", kind="note"))
    sec.add(_frame_or_note(result.inter_variant.set_index(["model", "instrument", "form"]) if len(result.inter_variant)
                           else result.inter_variant, "Inter-variant consistency of the scale profile",
                           "Inter-variant consistency needs two or more prompt variants.",
                           note="targets = scales, raters = prompt variants (Shrout-Fleiss ICCs)."))

    sec = rep.section("Generalizability", id="generalizability")
    any_g = False
    for iid, g in result.gstudy.items():
        if not g:
            continue
        any_g = True
        res = g["result"]
        comps = res.to_frame() if hasattr(res, "to_frame") else pd.DataFrame()
        sec.add(Text(f"{iid}: object of measurement = {g['object']}; facets = {', '.join(g['facets'])}. "
                     f"G (relative) = {res.g:.3f}, Phi (absolute) = {res.phi:.3f}."))
        if len(comps):
            sec.add(Table(comps, f"{iid}: variance components", id=f"g-{iid}"))
            pct_col = next((c for c in ("percent", "pct", "proportion") if c in comps.columns), None)
            if pct_col:
                frame = comps[[pct_col]].rename(columns={pct_col: "percent"})
                if pct_col == "proportion":
                    frame = frame * 100
                sec.add(Figure(plots.variance_components_plot(frame), f"{iid}: variance components",
                               alt="bar chart of variance shares", id=f"gplot-{iid}"))
        if g.get("d_study") is not None:
            grid = g["d_study"].copy()
            for col in [c for c in grid.columns if c.startswith("n_")]:
                if (grid[col] == grid[col].round()).all():
                    grid[col] = grid[col].astype(int)  # numbers of conditions read as counts
            sec.add(Table(grid, f"{iid}: D study (projected coefficients)", id=f"d-{iid}", index=False,
                          note=", ".join(c for c in g["d_study"].columns if c.startswith("n_"))
                               + ": numbers of conditions averaged over; other facets at their observed sizes."))
        if g.get("advice"):
            sec.add(Text(f"{iid}: D-study advice for G >= {th['g']:.2f}: " + "; ".join(g["advice"].values()) + "."))
    if not any_g:
        sec.add(Text("No G study could be run (see 'Not computed').", kind="note"))

    sec = rep.section("Factor structure", id="factor-structure")
    any_f = False
    for iid, f in result.factor.items():
        if not f:
            continue
        any_f = True
        pa, efa = f["parallel"], f["efa"]
        table = pa.table
        obs_col = next(c for c in table.columns if "observed" in c.lower() or "fa_obs" in c.lower() or c == "observed")
        sim_col = next((c for c in table.columns if ("sim" in c.lower() or "random" in c.lower()) and c != obs_col), None)
        sec.add(Figure(plots.scree_plot(table[obs_col].to_numpy(), table[sim_col].to_numpy() if sim_col else None,
                                        n_factors=pa.n_factors, title=f"{iid}: scree with parallel analysis"),
                       f"{iid}: scree plot with parallel analysis", alt="scree plot", id=f"scree-{iid}"))
        sec.add(Table(efa.loadings, f"{iid}: EFA loadings ({f['n_factors']} factor(s))", id=f"loadings-{iid}"))
    if not any_f:
        sec.add(Text("Factor analysis needs more complete administrations than items (see 'Not computed').",
                     kind="note"))

    sec = rep.section("Circumplex", id="circumplex")
    if result.circumplex:
        for iid, c in result.circumplex.items():
            sec.add(Text(f"{iid}: correspondence index = {c.correspondence_index:.3f} (RTHOR p = {c.p_value:.4f}); "
                         f"recovered order: {', '.join(c.recovered_order)}; order agreement = {c.order_agreement:.2f}; "
                         f"stress = {c.stress:.3f}. Circumplex {'supported' if c.fits else 'not supported'}."))
            sec.add(Figure(plots.circumplex_plot(c.coordinates), f"{iid}: MDS of value intercorrelations",
                           alt="circumplex plot", id=f"circ-{iid}"))
    else:
        sec.add(Text("No circumplex analysis (SVS/PVQ with more administrations than values is needed).", kind="note"))

    sec = rep.section("Human norms", id="human-norms")
    if result.norms:
        for iid, frame in result.norms.items():
            sec.add(Table(frame.set_index(["model", "score"]), f"{iid}: model scores against human norms",
                          id=f"norms-{iid}",
                          note="human_mean / human_sd: over the norm table's groups; z = (model_value - human_mean) "
                               "/ human_sd; percentile: share of groups scoring lower; nearest_group: the group "
                               "with the smallest mean absolute difference (mad_to_nearest) over all shared scores."))
            if iid.startswith("vsm"):
                sec.add(Text(f"{iid}: Hofstede's indices contain additive constants that the VSM 2013 manual asks "
                             "users to choose so that scores fall between 0 and 100 (left at 0 here): until they are set, the "
                             "levels, z and percentiles above are not comparable with the published scores; "
                             "differences between models and prompt variants are.",
                             kind="note"))
    else:
        sec.add(Text("No human norm table was bundled or supplied for these instruments.", kind="note"))

    sec = rep.section("Item response theory", id="irt")
    any_irt = False
    for iid, r in result.irt.items():
        if not r:
            continue
        any_irt = True
        res = r["result"]
        sec.add(Table(res.items, f"{iid}: item parameters", id=f"irt-items-{iid}"))
        theta = np.linspace(-4, 4, 81)
        expected = res.expected_score(theta).drop(columns="total")
        sec.add(Figure(plots.curves_plot(theta, expected, ylabel="Expected item score",
                                         title=f"{iid}: item characteristic curves"),
                       f"{iid}: item characteristic (expected score) curves", alt="item characteristic curves",
                       id=f"irt-icc-{iid}"))
        info = res.information(theta)
        sec.add(Figure(plots.curves_plot(theta, info.drop(columns=["test", "se"]), ylabel="Item information",
                                         title=f"{iid}: item information"),
                       f"{iid}: item information curves", alt="item information curves", id=f"irt-info-{iid}"))
        sec.add(Figure(plots.curves_plot(theta, info[["test"]], ylabel="Test information",
                                         title=f"{iid}: test information (SE = 1 / sqrt(information))"),
                       f"{iid}: test information curve", alt="test information curve", id=f"irt-test-info-{iid}"))
    if not any_irt:
        sec.add(Text("IRT was not fitted in this study (enable analyses.irt).", kind="note"))

    sec = rep.section("Not computed", id="not-computed")
    if result.skipped:
        sec.add(Table(pd.DataFrame(result.skipped, columns=["analysis", "reason"]), "Analyses not computed",
                      index=False))
    else:
        sec.add(Text("Every analysis was computed."))
    return rep
