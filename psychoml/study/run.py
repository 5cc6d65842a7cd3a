"""Run a study end to end: administer (resuming from the store), score, analyse."""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from psychoml.errors import DataError
from psychoml.instruments import Instrument, load
from psychoml.study.analyse import StudyResult, analyse
from psychoml.study.spec import StudySpec, load_study

__all__ = ["analyse_store", "resolve_path", "run_study", "study_instruments", "study_norms"]


def resolve_path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def study_instruments(spec: StudySpec, base: Path) -> dict[str, Instrument]:
    """The study's instruments by id, in the study file's order (paths relative to the study file)."""
    out = {}
    for ref in spec.instruments:
        inst = load(resolve_path(base, ref)) if ref.endswith((".yaml", ".yml")) else load(ref)
        out[inst.id] = inst
    return out


def study_norms(spec: StudySpec, base: Path, instruments: dict[str, Instrument]) -> dict[str, pd.DataFrame]:
    """The study file's human norm tables by instrument id: one row per group, one column per score id."""
    from psychoml.instruments import norms as nm

    if not isinstance(spec.analyses.norms, dict):
        return {}
    out = {}
    for key, norm in spec.analyses.norms.items():
        path = resolve_path(base, norm.file)
        inst = instruments.get(key) or next(i for ref, i in zip(spec.instruments, instruments.values())
                                             if Path(ref).stem == key)
        if norm.format == "hofstede":
            table = nm.load_hofstede(path).set_index("country")[list(nm.HOFSTEDE_DIMENSIONS.values())]
        elif norm.format == "mfq2":
            raw = nm.load_mfq2(path)
            if "mfq2_01" in raw:  # respondent-level items: score with the official key, then average per country
                scored = load("mfq2").score(raw.drop(columns=["iso3", "country"]))
                raw = pd.concat([raw[["country"]], scored[list(nm.MFQ2_FOUNDATIONS)]], axis=1)
            table = raw.groupby("country")[list(nm.MFQ2_FOUNDATIONS)].mean()
        else:
            frame = pd.read_csv(path)
            if norm.group not in frame:
                raise DataError(f"{path}: no column {norm.group!r} naming the groups (set analyses.norms.{key}.group)")
            ids = {s.id for s in inst.scales} | {ix.id for ix in inst.indices}
            cols = [c for c in frame.columns if c in ids]
            if not cols:
                raise DataError(f"{path}: no column is a score of {inst.id} ({', '.join(sorted(ids))})")
            table = frame.set_index(norm.group)[cols].apply(pd.to_numeric, errors="coerce")
        out[inst.id] = table
    return out


def _provenance(store_path: Path, runs: pd.DataFrame, instruments: dict[str, Instrument]) -> dict[str, Any]:
    from psychoml import __version__

    prov: dict[str, Any] = {
        "store": str(store_path),
        "psychoml version": __version__,
        "python": platform.python_version(),
        "report generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "instruments": ", ".join(f"{i.id} {i.version}" for i in instruments.values()),
    }
    if len(runs) and "model" in runs:
        prov["models"] = ", ".join(sorted(map(str, runs["model"].unique())))
        if any("simulated" in str(m) for m in runs["model"]):
            prov["note"] = "includes SIMULATED respondents (synthetic data with known truth)"
    return prov


def analyse_store(
    store_path: str | Path,
    *,
    spec: StudySpec | None = None,
    instruments: dict[str, Instrument] | None = None,
    norms: dict[str, pd.DataFrame] | None = None,
) -> StudyResult:
    """Analyse every response in a store (the report of ``psychoml report``)."""
    path = Path(store_path)
    if not path.exists():
        raise DataError(f"{path}: store not found")
    from psychoml.store import open as open_store

    with open_store(path) as store:
        responses = store.responses()
        runs = store.runs()
    if responses.empty:
        raise DataError(f"{path}: the store holds no responses")
    if instruments is None:
        instruments = {iid: load(iid) for iid in sorted(responses["instrument"].unique())}
    return analyse(
        responses,
        instruments=instruments,
        analyses=spec.analyses if spec else None,
        runs=runs,
        name=spec.name if spec else path.stem,
        provenance=_provenance(path, runs, instruments),
        norms=norms,
    )


def run_study(
    path: str | Path,
    *,
    progress: bool = True,
    on_run: Callable[[str, Any], None] | None = None,
) -> tuple[StudySpec, Path, StudyResult]:
    """Validate a study file, administer everything it asks for (resuming), and analyse the store.

    The study file is validated before anything else, so an invalid file touches no store.  Returns the
    spec, the store path and the analysis result.
    """
    from psychoml.administer import administer
    from psychoml.prompts import load_design

    spec, base = load_study(path)
    instruments = study_instruments(spec, base)
    design = load_design(spec.design)
    store_path = resolve_path(base, spec.store)
    # The study file names its store; its folder (e.g. out/) is created only once the whole file has validated.
    store_path.parent.mkdir(parents=True, exist_ok=True)
    for model in spec.models:
        for inst in instruments.values():
            summary = administer(
                inst, model, design=design, samples=spec.samples, out=store_path, mode=spec.mode,
                temperature=spec.temperature, concurrency=spec.concurrency, progress=progress,
                max_items=spec.items,
            )
            if on_run is not None:
                on_run(f"{model} / {inst.id}", summary)
    result = analyse_store(store_path, spec=spec, instruments=instruments, norms=study_norms(spec, base, instruments))
    return spec, store_path, result
