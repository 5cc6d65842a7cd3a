"""Turn a study's stored responses into the results its report draws.

Input is the store's tidy response table (one row per request x item: model,
instrument, item, variant, sample, persona, value, status, ... plus the
variant's facet columns).  A *respondent* is one administration: model x persona
x variant x sample.  Every number in the report comes from a public statistic
in :mod:`psychoml.stats` (or :mod:`psychoml.irt`) called here, so the report and
the API agree by construction; analyses that the data cannot support are
skipped with the reason recorded, never silently.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from psychoml.errors import DataError, PsychomlError
from psychoml.instruments import Instrument
from psychoml.prompts import FACETS
from psychoml.study.spec import AnalysesSpec

__all__ = ["RESPONDENT", "StudyResult", "analyse"]

#: Columns that identify one administration (a "respondent").
RESPONDENT = ["model", "persona", "variant", "sample"]

#: Variant facets that describe the prompt itself (everything but the persona): the facet columns of the
#: response table that name what a prompt variant changed.
PROMPT_FACETS = tuple(name for _, name in FACETS if name != "persona")


@dataclasses.dataclass(frozen=True)
class StudyResult:
    """Everything a study report shows; each table is also available on its own.

    ``skipped`` lists analyses that were not run, with the reason (too few administrations, a single
    variant, ...), so a report states what it could not compute.
    """

    name: str
    provenance: dict[str, Any]
    runs: pd.DataFrame
    quality: pd.DataFrame
    position_bias: pd.DataFrame
    scores: pd.DataFrame
    scores_by_variant: pd.DataFrame
    reliability: pd.DataFrame
    inter_variant: pd.DataFrame
    gstudy: dict[str, Any]
    factor: dict[str, Any]
    circumplex: dict[str, Any]
    norms: dict[str, pd.DataFrame]
    irt: dict[str, Any]
    skipped: list[tuple[str, str]]
    thresholds: dict[str, float]


def _respondent_matrix(resp: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    ok = resp[resp["status"] == "ok"]
    wide = ok.pivot_table(index=RESPONDENT, columns="item", values="value", aggfunc="mean")
    cols = [c for c in instrument.item_ids if c in wide.columns]
    return wide.reindex(columns=cols)


def _t_interval(x: pd.Series, level: float) -> tuple[float, float, float, float, int]:
    x = x.dropna()
    n = len(x)
    if n == 0:
        return (np.nan,) * 4 + (0,)  # type: ignore[return-value]
    m, s = float(x.mean()), float(x.std(ddof=1)) if n > 1 else np.nan
    if n < 2 or not np.isfinite(s):
        return m, s, np.nan, np.nan, n
    half = sps.t.ppf(0.5 + level / 2, n - 1) * s / math.sqrt(n)
    return m, s, m - half, m + half, n


def analyse(
    responses: pd.DataFrame,
    *,
    instruments: Mapping[str, Instrument],
    analyses: AnalysesSpec | None = None,
    runs: pd.DataFrame | None = None,
    name: str = "study",
    provenance: Mapping[str, Any] | None = None,
    norms: Mapping[str, pd.DataFrame] | None = None,
) -> StudyResult:
    """Compute every analysis of a study from its tidy response table.

    Parameters
    ----------
    responses
        The store's ``responses()`` table.
    instruments
        The instruments by id (their keys score the scales).
    analyses
        Which analyses to run and their options (defaults: all but IRT).
    norms
        Human norm tables by instrument id (rows = groups, columns = score ids), e.g. a Hofstede table
        read with :mod:`psychoml.instruments.norms`; bundled norms are used when absent.
    """
    from psychoml.stats import reliability as rel
    from psychoml.stats import validity as val

    spec = analyses or AnalysesSpec()
    need = {"model", "instrument", "item", "variant", "sample", "value", "status"}
    missing = need - set(responses.columns)
    if missing:
        raise DataError(f"responses: missing column(s) {sorted(missing)}")
    resp = responses.copy()
    if "persona" not in resp:
        resp["persona"] = ""
    resp["persona"] = resp["persona"].fillna("")
    skipped: list[tuple[str, str]] = []
    level = spec.reliability.ci

    # --- response quality -------------------------------------------------------------------------------------
    counts = resp.groupby(["model", "instrument", "status"]).size().unstack("status", fill_value=0)
    for st in ("ok", "refused", "unparseable", "failed"):
        if st not in counts:
            counts[st] = 0
    quality = counts[["ok", "refused", "unparseable", "failed"]].copy()
    quality["answers"] = quality.sum(axis=1)
    quality["valid_rate"] = quality["ok"] / quality["answers"]
    if "mass_outside" in resp:
        quality["mass_outside_mean"] = resp.groupby(["model", "instrument"])["mass_outside"].mean()
    pos_rows = []
    if "option_order" in resp.columns and resp["option_order"].nunique() > 1:
        for (model, iid), sub in resp[resp["status"] == "ok"].groupby(["model", "instrument"]):
            try:
                pb = val.position_bias(sub, order="option_order")
            except DataError as exc:
                skipped.append((f"position bias {model} / {iid}", str(exc)))
                continue
            pos_rows.append({"model": model, "instrument": iid, "shift": pb.shift, "ci_lower": pb.ci[0],
                             "ci_upper": pb.ci[1], "items": len(pb.table)})
    else:
        skipped.append(("position bias", "the design has a single option order; reverse it to measure position bias"))
    position = pd.DataFrame(pos_rows)

    # --- scores -------------------------------------------------------------------------------------------------
    score_rows, variant_rows, rel_rows, iv_rows = [], [], [], []
    gstudy: dict[str, Any] = {}
    factor: dict[str, Any] = {}
    circ: dict[str, Any] = {}
    norm_out: dict[str, pd.DataFrame] = {}
    irt_out: dict[str, Any] = {}
    for iid, inst in instruments.items():
        sub = resp[resp["instrument"] == iid]
        if sub.empty:
            skipped.append((f"instrument {iid}", "no responses stored"))
            continue
        wide = _respondent_matrix(sub, inst)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scored = inst.score(wide.reset_index(drop=True))
        scored.index = wide.index
        scale_ids = [s.id for s in inst.scales] + [ix.id for ix in inst.indices if ix.level == "respondent"]
        scale_ids = [c for c in scale_ids if c in scored.columns]
        for model, ms in scored.groupby(level="model"):
            if "excluded" in ms and ms["excluded"].any():
                reasons = ms.loc[ms["excluded"], "exclusion_reason"].dropna().astype(str)
                skipped.append((f"scores {model} / {iid}",
                                (f"{int(ms['excluded'].sum())} of {len(ms)} administration(s) failed the instrument's "
                                f"attention check ({reasons.iloc[0] if len(reasons) else 'see the instrument'}) and "
                                "are left out of its scores, as its scoring rule says")))
            for sc in scale_ids:
                m, s, lo, hi, n = _t_interval(ms[sc], level)
                by_var = ms[sc].groupby(level="variant").mean()
                score_rows.append({"model": model, "instrument": iid, "scale": sc, "mean": m, "sd": s,
                                   "ci_lower": lo, "ci_upper": hi, "n": n,
                                   "variant_range": float(by_var.max() - by_var.min()) if len(by_var) else np.nan})
                for v, x in by_var.items():
                    variant_rows.append({"model": model, "instrument": iid, "scale": sc, "variant": v, "score": x})
        # Indices defined on sample means (Hofstede's VSM): a model's administrations are its sample.
        group_ix = [ix.id for ix in inst.indices if ix.level == "group"]
        if group_ix:
            flat = wide.reset_index(drop=True)
            models = wide.index.get_level_values("model")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                per_model = inst.score_groups(flat, group=list(models))
                per_variant = inst.score_groups(
                    flat, group=[f"{m}\x1f{v}" for m, v in zip(models, wide.index.get_level_values("variant"))])
            per_variant.index = pd.MultiIndex.from_tuples([tuple(k.split("\x1f")) for k in per_variant.index],
                                                          names=["model", "variant"])
            for model, row in per_model.iterrows():
                for ix in group_ix:
                    by_var = per_variant.loc[model, ix] if model in per_variant.index.get_level_values(0) else None
                    score_rows.append({"model": model, "instrument": iid, "scale": ix, "mean": float(row[ix]),
                                       "sd": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "n": int(row["n"]),
                                       "variant_range": float(by_var.max() - by_var.min())
                                       if by_var is not None and len(by_var) else np.nan})
                    for v, x in (by_var.items() if by_var is not None else ()):
                        variant_rows.append({"model": model, "instrument": iid, "scale": ix, "variant": v,
                                             "score": float(x)})
        # --- reliability per model x scale (administrations as respondents) ----------------------------------
        keyed = inst.keyed(wide)
        for model, mk in keyed.groupby(level="model") if spec.reliability.enabled else ():
            for s in inst.scales:
                if not s.items:
                    continue
                block = mk[s.items].dropna(axis=1, how="all")
                row: dict[str, Any] = {"model": model, "instrument": iid, "scale": s.id, "items": block.shape[1],
                                       "respondents": block.dropna().shape[0]}
                if block.shape[1] < 2 or block.dropna().shape[0] < 3:
                    skipped.append((f"reliability {model} / {iid} / {s.id}",
                                    f"{block.shape[1]} item(s) x {block.dropna().shape[0]} complete administration(s)"))
                    continue
                try:
                    a = rel.cronbach_alpha(block, ci=level)
                    row.update(alpha=a.alpha, std_alpha=a.std_alpha, alpha_ci_lower=a.ci[0], alpha_ci_upper=a.ci[1])
                    sh = rel.split_half(block)
                    row.update(split_half_min=sh.min, split_half_mean=sh.mean, split_half_max=sh.max)
                except PsychomlError as exc:
                    skipped.append((f"reliability {model} / {iid} / {s.id}", str(exc)))
                    continue
                if block.shape[1] >= 3:
                    try:
                        om = rel.omega(block, n_factors=1)
                        row.update(omega_total=om.omega_total)
                    except Exception as exc:  # noqa: BLE001 -- omega (factor_analyzer, numpy) fails on tiny or degenerate blocks in many ways: say so, keep the row
                        skipped.append((f"omega {model} / {iid} / {s.id}", str(exc).splitlines()[0]))
                rel_rows.append(row)
            # inter-variant consistency: scale profile (targets = scales) rated by variants
            prof = scored.xs(model, level="model")[[s.id for s in inst.scales if s.items]]
            prof = prof.groupby(level="variant").mean().T.dropna(axis=1, how="any")
            if prof.shape[1] >= 2 and prof.shape[0] >= 3:
                try:
                    tab = rel.icc(prof).to_frame()
                    for form in ("ICC2", "ICC3", "ICC3k"):
                        r_ = tab.loc[form] if form in tab.index else tab[tab.iloc[:, 0] == form].iloc[0]
                        iv_rows.append({"model": model, "instrument": iid, "form": form, "icc": float(r_["icc"]),
                                        "targets": prof.shape[0], "variants": prof.shape[1]})
                except PsychomlError as exc:
                    skipped.append((f"inter-variant ICC {model} / {iid}", str(exc)))
            else:
                skipped.append((f"inter-variant ICC {model} / {iid}",
                                f"needs >= 2 variants and >= 3 scales (has {prof.shape[1]} and {prof.shape[0]})"))
        # --- G study ------------------------------------------------------------------------------------------
        if spec.gtheory.enabled:
            gstudy[iid] = _gstudy(sub, inst, spec, skipped)
        # --- factor structure ---------------------------------------------------------------------------------
        if spec.factor.enabled:
            factor[iid] = _factor(keyed, iid, spec, skipped)
        # --- circumplex ---------------------------------------------------------------------------------------
        if spec.circumplex and inst.base_id.startswith(("svs", "pvq")):
            values = [c for c in val.SCHWARTZ_ORDER if c in scored.columns]
            centred = [f"{c}_centred" for c in values if f"{c}_centred" in scored.columns]
            cols = centred if len(centred) == len(values) else values
            data = scored[cols].dropna()
            data.columns = [c.removesuffix("_centred") for c in cols]
            if len(values) == len(val.SCHWARTZ_ORDER) and len(data) > len(values):
                try:
                    circ[iid] = val.circumplex(data, n_permutations=1000)
                except PsychomlError as exc:
                    skipped.append((f"circumplex {iid}", str(exc)))
            else:
                skipped.append((f"circumplex {iid}", f"needs more administrations ({len(data)}) than values (10)"))
        # --- norms ------------------------------------------------------------------------------------------------
        if spec.norms:
            table = (norms or {}).get(iid)
            if table is None and inst.spec.norms:
                table = inst.norms()
            if table is not None:
                model_means = pd.DataFrame(score_rows)
                model_means = model_means[model_means["instrument"] == iid].pivot_table(
                    index="model", columns="scale", values="mean")
                shared = [c for c in model_means.columns if c in table.columns]
                if shared:
                    rows = []
                    for model, mrow in model_means.iterrows():
                        human = table[shared].dropna(how="all")
                        mad = human.sub(mrow[shared], axis=1).abs().mean(axis=1)
                        nearest = mad.idxmin()
                        for sc in shared:
                            groups = human[sc].dropna()
                            value = float(mrow[sc])
                            sd = float(groups.std(ddof=1)) if len(groups) > 1 else np.nan
                            rows.append({"model": model, "score": sc, "model_value": value,
                                         "human_mean": float(groups.mean()), "human_sd": sd,
                                         "z": (value - float(groups.mean())) / sd if sd and sd > 0 else np.nan,
                                         "percentile": 100.0 * float((groups < value).mean()),
                                         "groups": len(groups), "nearest_group": str(nearest),
                                         "nearest_value": float(human.loc[nearest, sc]),
                                         "mad_to_nearest": float(mad.min())})
                    norm_out[iid] = pd.DataFrame(rows)
                else:
                    skipped.append((f"norms {iid}", (f"the norm table shares no score with {iid} (its columns: "
                                                    f"{', '.join(map(str, table.columns))})")))
            else:
                skipped.append((f"norms {iid}", "no human norm table bundled or supplied"))
        # --- IRT -------------------------------------------------------------------------------------------------
        if spec.irt.enabled:
            irt_out[iid] = _irt(keyed, inst, spec, skipped)

    thresholds = {"alpha": spec.reliability.min_alpha, "omega": spec.reliability.min_alpha, "icc": 0.75,
                  "g": spec.gtheory.target_g}
    return StudyResult(
        name=name,
        provenance=dict(provenance or {}),
        runs=runs if runs is not None else pd.DataFrame(),
        quality=quality.reset_index(),
        position_bias=position,
        scores=pd.DataFrame(score_rows),
        scores_by_variant=_label_variants(pd.DataFrame(variant_rows), resp),
        reliability=pd.DataFrame(rel_rows),
        inter_variant=pd.DataFrame(iv_rows),
        gstudy=gstudy,
        factor=factor,
        circumplex=circ,
        norms=norm_out,
        irt=irt_out,
        skipped=skipped,
        thresholds=thresholds,
    )


def _label_variants(by_variant: pd.DataFrame, resp: pd.DataFrame) -> pd.DataFrame:
    """Add ``variant_label``: the facet levels that vary in the study (``"plain / reversed"``), for readers."""
    if by_variant.empty:
        return by_variant
    facets = [f for f in PROMPT_FACETS if f in resp and resp[f].nunique(dropna=False) > 1]
    if not facets:
        by_variant["variant_label"] = by_variant["variant"].astype(str)
        return by_variant
    levels = resp.drop_duplicates("variant").set_index("variant")[facets].astype(str)
    labels = levels.apply(lambda row: " / ".join(row), axis=1)
    by_variant["variant_label"] = by_variant["variant"].map(labels).fillna(by_variant["variant"].astype(str))
    return by_variant


def _gstudy(sub: pd.DataFrame, inst: Instrument, spec: AnalysesSpec, skipped: list[tuple[str, str]]) -> dict[str, Any]:
    from psychoml.stats import gtheory

    ok = sub[sub["status"] == "ok"].copy()
    keyed_vals = []
    for it in inst.items:
        m = ok["item"] == it.id
        if it.keying == -1:
            keyed_vals.append((m, inst.response_scale(it.id).reverse(ok.loc[m, "value"])))
    for m, v in keyed_vals:
        ok.loc[m, "value"] = v
    # The prompt facet is the variant without its persona (personas are objects of measurement or a facet of
    # their own, never hidden inside the prompt facet).
    prompt_cols = [c for c in PROMPT_FACETS if c in ok.columns]
    ok["prompt"] = (ok[prompt_cols].astype(object).where(ok[prompt_cols].notna(), "-").astype(str).agg("|".join, axis=1)
                    if prompt_cols else ok["variant"])
    if ok["model"].nunique() >= 2:
        obj = "model"
    elif ok["persona"].nunique() >= 2:
        obj = "persona"
    else:
        obj = "item"
    wanted = ["prompt" if f == "variant" else f for f in spec.gtheory.facets]
    if obj != "persona" and ok["persona"].nunique() >= 2:
        wanted.append("persona")
    facets = [f for f in wanted if f != obj and ok[f].nunique() >= 2]
    if not facets:
        skipped.append((f"G study {inst.id}", "no facet with two or more levels besides the object of measurement"))
        return {}
    try:
        g = gtheory.generalizability(ok, object=obj, facets=facets, score="value")
    except PsychomlError as exc:
        skipped.append((f"G study {inst.id}", str(exc)))
        return {}
    # D study: the prompt facets a researcher can add cheaply (variants, samples) at 1, 2, 5, 10, 20 levels
    target = spec.gtheory.target_g
    grid_facets = [f for f in ("prompt", "sample") if f in g.sizes]
    d_grid = g.d_study_grid({f: [1, 2, 5, 10, 20] for f in grid_facets}) if grid_facets else None
    advice: dict[str, str] = {}
    for f in grid_facets:
        try:
            n = g.required_size(f, target=target, coefficient="g")
            advice[f] = f"{n} {f} condition(s) reach G >= {target:.2f} (other facets as observed)"
        except PsychomlError as exc:
            advice[f] = str(exc).removeprefix("target: ")
    return {"object": obj, "facets": facets, "result": g, "d_study": d_grid, "advice": advice}


def _factor(keyed: pd.DataFrame, iid: str, spec: AnalysesSpec, skipped: list[tuple[str, str]]) -> dict[str, Any]:
    from psychoml.stats import factor as fa

    data = keyed.dropna(axis=1, how="all")
    data = data.loc[:, data.std() > 0].dropna()
    if data.shape[0] <= data.shape[1] or data.shape[1] < 3:
        skipped.append((f"factor structure {iid}",
                        f"needs more complete administrations ({data.shape[0]}) than items ({data.shape[1]})"))
        return {}
    try:
        pa = fa.parallel_analysis(data, seed=0)
        k = pa.n_factors if spec.factor.n_factors == "parallel" else int(spec.factor.n_factors)
        k = max(1, min(k, data.shape[1] - 1))
        rotation = None if spec.factor.rotation == "none" else spec.factor.rotation
        efa = fa.efa(data, k, rotation=rotation if k > 1 else None)
    except PsychomlError as exc:
        skipped.append((f"factor structure {iid}", str(exc)))
        return {}
    return {"parallel": pa, "efa": efa, "n_factors": k}


def _irt(keyed: pd.DataFrame, inst: Instrument, spec: AnalysesSpec, skipped: list[tuple[str, str]]) -> dict[str, Any]:
    try:
        from psychoml import irt
    except ImportError as exc:  # pragma: no cover - optional extra
        skipped.append((f"IRT {inst.id}", f"{exc}; pip install 'psychoml[irt]'"))
        return {}
    data = keyed.dropna(axis=1, how="all")
    # ordered categories start at 0 for the polytomous models; use whole answers only
    lows = {c: inst.response_scale(c).low for c in data.columns}
    data = data.round().sub(pd.Series(lows)).astype(float)
    try:
        res = irt.fit(data.reset_index(drop=True), model=spec.irt.model, method=spec.irt.method)
    except PsychomlError as exc:
        skipped.append((f"IRT {inst.id}", str(exc)))
        return {}
    return {"result": res}
