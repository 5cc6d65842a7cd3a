"""Statistics commands: factor structure and validity over a study store or a wide response table.

A store (``.db``) is read through :meth:`psychoml.store.Store.responses`; its respondents are model x persona x
prompt variant x sample, and the variant facets (instruction, option order, ...) and persona fields (the
values a persona template was filled with, e.g. ``country``) describe each one.  That is what lets
``psychoml validity study.db`` compare prompt variants (MTMM, position bias), personas (known groups) and
country personas with human norms (criterion validity), and ``psychoml factor study.db --model ... --group
persona`` test measurement invariance across personas, models or prompt variants.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from psychoml.cli.app import app, console, print_frame, read_table, write_table
from psychoml.errors import DataError

DataArg = Annotated[Path, typer.Argument(help="A study store (.db) or a wide response table (CSV/TSV/Parquet).")]
InstrumentOpt = Annotated[str | None, typer.Option("--instrument", "-i",
                                                   help="Instrument id or YAML (required for tables; a store's "
                                                        "instruments are used when omitted).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Also write every table printed as CSV into this folder.")]

#: Respondent columns of a store's wide tables (the row index of :func:`load_wide`).
RESPONDENT = ("model", "persona", "variant", "sample")
#: Label of the "no persona" group.
NO_PERSONA = "(none)"


def _is_store(path: Path) -> bool:
    return path.suffix.lower() in (".db", ".sqlite", ".sqlite3")


def _instrument_id(instrument: str) -> str:
    """The id a store records for ``instrument`` (an id, or a YAML file whose ``id`` it reads)."""
    if Path(instrument).suffix.lower() in (".yaml", ".yml") and Path(instrument).exists():
        from psychoml.instruments import load

        return load(instrument).id
    return instrument


def _store_long(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A store's OK answers (long) and its variants: facets, ``persona_label`` and persona fields.

    ``persona_label`` names the persona by the values its template was filled with (``"Japan"``), by its text
    when it had no template, and ``"(none)"`` when there was no persona.
    """
    from psychoml.store import open as open_store

    if not path.exists():
        raise DataError(f"{path}: store not found")
    with open_store(path) as store:
        long = store.responses()
        variants = store.variants()
        fields = store.persona_fields()  # the placeholder values of templated personas (e.g. {"country": "Japan"})
    if long.empty:
        raise DataError(f"{path}: the store holds no responses")
    if variants.empty:
        variants = pd.DataFrame({"variant": long["variant"].unique()})
    variants = variants.set_index("variant")
    field_frame = pd.DataFrame.from_dict(fields, orient="index") if fields else pd.DataFrame(index=variants.index)
    variants = variants.join(field_frame.add_prefix("persona_"), how="left")
    persona_text = variants["persona"] if "persona" in variants.columns else pd.Series(None, index=variants.index)
    labels = []
    for vid, text in persona_text.items():
        if vid in fields:
            labels.append(", ".join(str(v) for v in fields[vid].values()))
        elif text is None or (isinstance(text, float) and np.isnan(text)) or text == "":
            labels.append(NO_PERSONA)
        else:
            labels.append(str(text))
    variants["persona_label"] = labels
    return long, variants


def _facets(variants: pd.DataFrame) -> list[str]:
    """The prompt-variant facets that vary in the store (persona excluded: it is a respondent attribute)."""
    skip = {"persona", "persona_label"}
    return [c for c in variants.columns
            if c not in skip and not c.startswith("persona_") and variants[c].astype(str).nunique() > 1]


def load_wide(path: Path, instrument: str | None, *, long: pd.DataFrame | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Respondent x item tables per instrument, from a store or a file.

    A store gives one table per instrument (rows indexed by model x persona x variant x sample; refused,
    unparseable and failed answers are missing); a file gives one table for ``instrument``.  ``long`` is the
    store's :meth:`~psychoml.store.Store.responses` when the caller has already read it.
    """
    if _is_store(path):
        from psychoml.store import open as open_store

        if long is None:
            if not path.exists():
                raise DataError(f"{path}: store not found")
            with open_store(path) as store:
                long = store.responses()
        if long.empty:
            raise DataError(f"{path}: the store holds no responses")
        if instrument:
            iid = _instrument_id(instrument)
            if iid not in set(long["instrument"]):
                raise DataError(f"--instrument: {path} holds no responses to {iid!r} "
                                f"(it holds {', '.join(sorted(long['instrument'].unique()))})")
            pairs = [(instrument, iid)]
        else:
            pairs = [(i, i) for i in sorted(long["instrument"].unique())]
        out = []
        for ref, iid in pairs:
            sub = long[(long["instrument"] == iid) & (long["status"] == "ok")]
            if sub.empty:
                raise DataError(f"{path}: no valid responses for instrument {iid!r}")
            # groupby, not pivot_table(dropna=False): that would add every model x persona x variant x sample
            # combination, including ones never asked (variant ids already encode the persona)
            wide = sub.groupby([*RESPONDENT, "item"], sort=True)["value"].mean().unstack("item")
            wide = wide[list(dict.fromkeys(sub["item"]))]  # the store's (instrument's) item order
            out.append((ref, wide))
        return out
    if instrument is None:
        raise DataError("--instrument: required when DATA is a table (which instrument's items are the columns?)")
    return [(instrument, read_table(path))]


def _instrument_items(iid: str, frame: pd.DataFrame, scale: str | None, keyed: bool = True,
                      source: str | None = None) -> tuple[pd.DataFrame, list]:
    from psychoml.instruments import load

    inst = load(iid)
    answers = inst.check_responses(frame.reset_index(drop=True), source=source or iid)
    answers.index = frame.index
    if keyed:
        answers = inst.keyed(answers)
    if scale is None:
        return answers.dropna(axis=1, how="all"), [s for s in inst.scales if s.items]
    match = [s for s in inst.scales if s.id == scale]
    if not match:
        raise DataError(f"--scale: {iid} has no scale {scale!r} (has {', '.join(s.id for s in inst.scales)})")
    if not match[0].items:
        raise DataError(f"--scale: {scale!r} is a composite of scales, not of items")
    return answers[match[0].items], match


def _respondent_columns(frame: pd.DataFrame, variants: pd.DataFrame | None) -> pd.DataFrame:
    """Describe each row of a store's wide table: model, persona label, variant, sample and the varying facets."""
    if variants is None or not isinstance(frame.index, pd.MultiIndex):
        return pd.DataFrame(index=frame.index)
    info = frame.index.to_frame(index=False)
    info["persona"] = info["variant"].map(variants["persona_label"])
    for c in variants.columns:
        if c not in ("persona", "persona_label"):
            info[c] = info["variant"].map(variants[c])
    info.index = frame.index
    return info


def _save(out: Path | None, frame: pd.DataFrame, name: str) -> None:
    if out is not None:
        write_table(frame, out / f"{name}.csv")


def _group_labels(path: Path, frame: pd.DataFrame, group: str, variants: pd.DataFrame | None) -> pd.Series:
    if variants is not None:
        info = _respondent_columns(frame, variants)
        if group not in info.columns:
            raise DataError(f"--group: {path} has no respondent column {group!r}; choose one of "
                            f"{', '.join(c for c in info.columns if info[c].astype(str).nunique() > 1)}")
        return info[group].astype(str)
    if group not in frame.columns:
        raise DataError(f"--group: {path} has no column {group!r}")
    return frame[group].astype(str)


@app.command("factor")
def factor(
    data: DataArg,
    instrument: InstrumentOpt = None,
    scale: Annotated[str | None, typer.Option(help="Analyse one scale's items (default: every item).")] = None,
    n_factors: Annotated[str, typer.Option(help="Number of factors, or 'parallel' for Horn's parallel analysis.")] = "parallel",
    method: Annotated[str, typer.Option(help="minres | ml | pa")] = "minres",
    rotation: Annotated[str, typer.Option(help="oblimin | varimax | promax | geomin | none")] = "oblimin",
    model: Annotated[str | None, typer.Option(help="lavaan-style CFA model (text or a file) to fit instead of EFA.")] = None,
    group: Annotated[str | None, typer.Option(
        help="With --model: test measurement invariance (configural, metric, scalar) across this respondent "
             "column: model, persona, variant or a facet such as option_order or instruction (a table's column "
             "for tables).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of parallel analysis.")] = 0,
    out: OutOpt = None,
) -> None:
    """Factor structure: KMO, the number of factors (parallel analysis, MAP) and EFA loadings, or a CFA with
    lavaan's fit indices, or measurement invariance across groups."""
    from psychoml import stats

    if group is not None and model is None:
        raise DataError("--group: measurement invariance needs a CFA model (--model)")
    long, variants = _store_long(data) if _is_store(data) else (None, None)
    for iid, frame in load_wide(data, instrument, long=long):
        labels = _group_labels(data, frame, group, variants) if group else None
        if variants is None and group:
            frame = frame.drop(columns=[group])
        items, _ = _instrument_items(iid, frame, scale, source=str(data))
        name = Path(iid).stem
        if model is not None:
            text = Path(model).read_text() if Path(model).is_file() else model
            if labels is not None:
                table = items.assign(group=labels.to_numpy()).reset_index(drop=True)
                res = stats.invariance(text, table, group="group")
                cols = ["chisq", "df", "cfi", "rmsea", "srmr", "chisq_diff", "df_diff", "p_diff", "delta_cfi",
                        "delta_rmsea"]
                console.print(f"[bold]{name}[/bold]: measurement invariance across {group} "
                              f"({', '.join(res.groups)})")
                print_frame(res.table[cols], title=f"{name}: invariance across {group}")
                _save(out, res.table, f"{name}_invariance")
                continue
            res = stats.cfa(text, items.reset_index(drop=True))
            fit = pd.DataFrame([dict(res.fit)]).T.rename(columns={0: "value"})
            print_frame(fit, title=f"{name}: CFA fit")
            print_frame(res.standardized_loadings, title=f"{name}: standardised loadings")
            _save(out, fit, f"{name}_cfa_fit")
            _save(out, res.standardized_loadings, f"{name}_cfa_loadings")
            continue
        items = items.dropna()
        k = stats.kmo(items)
        console.print(f"[bold]{name}[/bold]: {items.shape[0]} complete administrations x {items.shape[1]} items; "
                      f"KMO = {k.msa:.3f}")
        if n_factors == "parallel":
            pa = stats.parallel_analysis(items, seed=seed)
            vm = stats.velicer_map(items) if items.shape[1] >= 3 else None
            nf = max(pa.n_factors, 1)
            console.print(f"parallel analysis suggests {pa.n_factors} factor(s)"
                          + (f"; Velicer's MAP suggests {vm.n_factors}" if vm is not None else ""))
            _save(out, pa.to_frame(), f"{name}_parallel")
        else:
            try:
                nf = int(n_factors)
            except ValueError:
                raise DataError(f"--n-factors: expected a number or 'parallel', got {n_factors!r}") from None
        res = stats.efa(items, nf, method=method, rotation=None if rotation == "none" else rotation)  # type: ignore[arg-type]
        print_frame(res.loadings, title=f"{name}: {method} loadings ({rotation})")
        _save(out, res.loadings, f"{name}_loadings")


def _scale_scores(inst: Any, frame: pd.DataFrame, scales: list) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = inst.score(frame.reset_index(drop=True))
    scored.index = frame.index
    return scored[[s.id for s in scales]]


@app.command("validity")
def validity(
    data: DataArg,
    instrument: InstrumentOpt = None,
    norms: Annotated[Path | None, typer.Option(
        help="Hofstede's 6-D country table (as downloaded from geerthofstede.com): criterion validity of the "
             "VSM indices of country personas against it.")] = None,
    permutations: Annotated[int, typer.Option(help="Permutations of the circumplex RTHOR test.")] = 2000,
    out: OutOpt = None,
) -> None:
    """Validity diagnostics: response styles, position bias from option-order reversal, MTMM across prompt
    variants, known groups across personas, the SVS circumplex and criterion validity against human norms."""
    from psychoml import stats
    from psychoml.instruments import load

    long, variants = _store_long(data) if _is_store(data) else (None, None)
    respondent_scores: dict[str, pd.DataFrame] = {}
    human = None
    if norms is not None:
        from psychoml.instruments.norms import HOFSTEDE_DIMENSIONS, load_hofstede

        human = load_hofstede(norms).dropna(subset=["iso3"]).drop_duplicates("iso3").set_index("iso3")
    for iid, frame in load_wide(data, instrument, long=long):
        inst = load(iid)
        name = inst.id
        answers, scales = _instrument_items(iid, frame, None, keyed=False, source=str(data))
        values = [v for it in inst.items for v in inst.response_scale(it.id).values]
        keys = {it.id: it.keying for it in inst.items if it.id in answers.columns}
        both = {1, -1} <= set(keys.values())
        styles = stats.response_styles(answers, scale_min=min(values), scale_max=max(values),
                                       keys=keys if both else None)
        print_frame(styles.table.describe().T[["mean", "std", "min", "max"]], title=f"{name}: response styles")
        _save(out, styles.table, f"{name}_response_styles")
        scores_all = _scale_scores(inst, frame, scales) if scales else None
        if styles.balanced and scales:
            # Soto & John's correction needs items keyed in both directions (a balanced key): remove each
            # respondent's acquiescence from the raw answers, then reverse-key and average each scale's items
            # (corrected answers leave the response scale, so the instrument's range-checked scoring is not used)
            keyed = inst.keyed(styles.corrected)
            fixed = pd.DataFrame({sc.id: keyed[sc.items].mean(axis=1) for sc in scales}, index=frame.index)
            table = pd.DataFrame({"observed": scores_all.mean(), "acquiescence_corrected": fixed.mean()})
            print_frame(table, title=f"{name}: scale means, observed and corrected for acquiescence")
            _save(out, fixed, f"{name}_acquiescence_corrected_scores")
        info = _respondent_columns(frame, variants)
        # the facets that vary among this instrument's variants (another instrument may use other designs)
        facets = _facets(variants.loc[variants.index.isin(info["variant"])]) if variants is not None else []

        # position bias from option-order reversal (needs both orders in the design)
        if long is not None and "option_order" in long.columns:
            sub = long[(long["instrument"] == inst.id) & (long["status"] == "ok")].copy()
            if {"published", "reversed"} <= set(sub["option_order"].dropna()):
                respondent = ["model", "persona", *[f for f in facets if f != "option_order"], "sample"]
                pb = stats.position_bias(sub, respondent=respondent)
                console.print(f"{name} position bias: shift = {pb.shift:.3f} "
                              f"[{pb.ci[0]:.3f}, {pb.ci[1]:.3f}] (reversed - published, mean over items)")
                print_frame(pb.table, title=f"{name}: position bias per item (corrected = mean of both orders)")
                _save(out, pb.table, f"{name}_position_bias")
                if scales:
                    # scale scores of each respondent's counterbalanced answers: free of a constant position pull
                    fixed = _scale_scores(inst, pb.corrected_answers.dropna(how="all"), scales)
                    table = pd.DataFrame({"observed": scores_all.mean(), "position_corrected": fixed.mean()})
                    print_frame(table, title=f"{name}: scale means, observed and corrected for position bias")
                    _save(out, fixed, f"{name}_position_corrected_scores")

        scores = scores_all
        if scores is not None and variants is not None:
            respondent_scores[inst.base_id] = _per_respondent(scores, info)
        # MTMM: traits = scales, methods = prompt variants (persona excluded), respondents = model x persona x sample
        methods = [f for f in facets]
        if scores is not None and len(scales) >= 2 and methods:
            long_scores = scores.copy()
            long_scores.index = pd.MultiIndex.from_frame(info[["model", "persona", "sample", *methods]])
            method_label = long_scores.index.to_frame(index=False)[methods].astype(str).agg("/".join, axis=1)
            long_scores.index = pd.MultiIndex.from_arrays(
                [info["model"].to_numpy(), info["persona"].to_numpy(), info["sample"].to_numpy(),
                 method_label.to_numpy()], names=["model", "persona", "sample", "method"])
            piv = long_scores.stack().rename("score").reset_index()
            piv.columns = ["model", "persona", "sample", "method", "scale", "score"]
            piv = piv.pivot_table(index=["model", "persona", "sample"], columns=["scale", "method"], values="score")
            piv.columns = [f"{s}@{m}" for s, m in piv.columns]
            try:
                res = stats.mtmm(piv, traits={c: c.split("@")[0] for c in piv.columns},
                                 methods={c: c.split("@")[1] for c in piv.columns})
                print_frame(res.criteria, title=f"{name}: MTMM (traits = scales, methods = {'/'.join(methods)})")
                console.print(f"{name} MTMM: mean convergent r = {res.mean_convergent:.3f}, heterotrait-monomethod "
                              f"= {res.mean_heterotrait_monomethod:.3f}, heterotrait-heteromethod = "
                              f"{res.mean_heterotrait_heteromethod:.3f}")
                _save(out, res.criteria, f"{name}_mtmm")
            except DataError as exc:
                console.print(f"[yellow]MTMM skipped:[/yellow] {exc}")

        # known groups: do personas differ on the scale scores?
        if scores is not None and "persona" in info.columns and info["persona"].nunique() >= 2:
            table = _per_respondent(scores, info).reset_index()
            ref = NO_PERSONA if NO_PERSONA in set(table["persona"]) else None
            try:
                kg = stats.known_groups(table, group="persona", scores=[s.id for s in scales], reference=ref)
                print_frame(kg.table[["score", "group", "n", "mean", "mean_reference", "hedges_g", "ci_lower",
                                      "ci_upper", "p"]], index=False,
                    title=f"{name}: known groups across personas (Hedges' g vs {kg.table['reference'].iloc[0]})")
                print_frame(kg.anova, title=f"{name}: one-way ANOVA across personas")
                _save(out, kg.table, f"{name}_known_groups")
                _save(out, kg.anova, f"{name}_known_groups_anova")
            except DataError as exc:
                console.print(f"[yellow]known groups skipped:[/yellow] {exc}")

        if inst.base_id.startswith(("svs", "pvq")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scored = inst.score(frame.reset_index(drop=True))
            cols = [c for c in stats.SCHWARTZ_ORDER if f"{c}_centred" in scored.columns]
            if len(cols) == len(stats.SCHWARTZ_ORDER):
                circ_data = scored[[f"{c}_centred" for c in cols]].dropna()
                circ_data.columns = cols
                res = stats.circumplex(circ_data, n_permutations=permutations)
                console.print(f"{name} circumplex: CI = {res.correspondence_index:.3f}, p = {res.p_value:.4f}, "
                              f"order agreement = {res.order_agreement:.2f}, stress = {res.stress:.3f}, "
                              f"{'supported' if res.fits else 'not supported'}")
                console.print("recovered order: " + ", ".join(res.recovered_order))
                _save(out, res.coordinates, f"{name}_circumplex")

        if human is not None:
            dims = [d for d in HOFSTEDE_DIMENSIONS.values() if d in {ix.id for ix in inst.indices}]
            if not dims:
                continue
            countries = info["persona_country"] if "persona_country" in info.columns else None
            if countries is None or countries.dropna().empty:
                raise DataError(f"--norms: {data} has no country personas for {name} (use a persona template "
                                "with a {country} placeholder)")
            from psychoml.instruments.norms import country_to_iso3

            mask = countries.notna().to_numpy()
            iso = country_to_iso3(countries[mask].astype(str), source=str(data), column="persona country")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model_scores = inst.score_groups(frame[mask].reset_index(drop=True), group=list(iso))
            crit = stats.criterion_validity(model_scores[dims], human, columns=dims)
            print_frame(crit.table, title=f"{name}: criterion validity vs {norms.name} (country personas)")
            _save(out, crit.table, f"{name}_criterion")
    _convergent(respondent_scores, out)


#: Scale pairs of related constructs in two instruments (Schwartz values vs moral foundations; Feldman, 2021,
#: "Personal values and moral foundations", and Kivikangas et al., 2021, meta-analysis): instrument family
#: prefix and scale of each side.
CONVERGENT_PAIRS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (("svs", "benevolence"), ("mfq30", "harm")), (("svs", "benevolence"), ("mfq2", "care")),
    (("svs", "universalism"), ("mfq30", "fairness")), (("svs", "universalism"), ("mfq2", "equality")),
    (("svs", "conformity"), ("mfq30", "authority")), (("svs", "conformity"), ("mfq2", "authority")),
    (("svs", "tradition"), ("mfq30", "purity")), (("svs", "tradition"), ("mfq2", "purity")),
    (("pvq", "benevolence"), ("mfq30", "harm")), (("pvq", "benevolence"), ("mfq2", "care")),
    (("pvq", "universalism"), ("mfq30", "fairness")), (("pvq", "universalism"), ("mfq2", "equality")),
    (("pvq", "conformity"), ("mfq30", "authority")), (("pvq", "conformity"), ("mfq2", "authority")),
    (("pvq", "tradition"), ("mfq30", "purity")), (("pvq", "tradition"), ("mfq2", "purity")),
)


def _per_respondent(scores: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Scale scores per respondent (model x persona x sample), averaged over the prompt variants.

    One row per respondent, so a design with several variants neither replicates respondents nor lets one
    option order dominate (both orders weigh equally: position bias cancels).  Respondents the instrument's own
    checks excluded (e.g. MFQ's catch items) have no scores and are dropped.
    """
    table = scores.reset_index(drop=True).assign(
        model=info["model"].to_numpy(), persona=info["persona"].to_numpy(), sample=info["sample"].to_numpy())
    return table.groupby(["model", "persona", "sample"], sort=True)[list(scores.columns)].mean().dropna(how="all")


def _convergent(respondent_scores: dict[str, pd.DataFrame], out: Path | None) -> None:
    """Convergent validity between instruments of a store, over respondents who answered both."""
    from psychoml import stats

    pairs, frames = [], {}
    for (fam_a, scale_a), (fam_b, scale_b) in CONVERGENT_PAIRS:
        for ia in (i for i in respondent_scores if i.startswith(fam_a)):
            if fam_b in respondent_scores and scale_a in respondent_scores[ia] and scale_b in respondent_scores[fam_b]:
                a, b = f"{ia}:{scale_a}", f"{fam_b}:{scale_b}"
                frames[a] = respondent_scores[ia][scale_a]
                frames[b] = respondent_scores[fam_b][scale_b]
                pairs.append((a, b))
    if not pairs:
        return
    joined = pd.DataFrame(frames)
    try:
        res = stats.convergent_validity(joined, pairs=pairs)
    except DataError as exc:
        console.print(f"[yellow]convergent validity skipped:[/yellow] {exc}")
        return
    print_frame(res.table, index=False, title="convergent validity between instruments (same respondents)")
    _save(out, res.table, "convergent_validity")
