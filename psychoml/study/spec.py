"""Study files: which instruments go to which models under which prompt design, and what to analyse.

A study file is YAML validated like an instrument: unknown fields are errors, and
every error names the file, the YAML path and the line.  Paths inside a study
file (the store, the report) are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from psychoml.errors import ValidationError
from psychoml.instruments import read_yaml, validate_model

__all__ = ["AnalysesSpec", "NormsFile", "ReportSpec", "StudySpec", "load_study"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReliabilitySpec(_Model):
    enabled: bool = True
    ci: float = Field(0.95, gt=0, lt=1)
    min_alpha: float = Field(0.70, description="Threshold stated in the report for acceptable alpha/omega.")


class GTheorySpec(_Model):
    enabled: bool = True
    facets: list[Literal["item", "variant", "sample"]] = Field(default_factory=lambda: ["item", "variant", "sample"])
    target_g: float = Field(0.8, gt=0, lt=1)


class FactorSpec(_Model):
    enabled: bool = True
    n_factors: int | Literal["parallel"] = "parallel"
    rotation: Literal["oblimin", "varimax", "promax", "geomin", "none"] = "oblimin"


class IRTSpec(_Model):
    enabled: bool = False
    model: Literal["grm", "gpcm", "2pl", "1pl"] = "grm"
    method: Literal["map", "nuts", "advi", "pathfinder"] = "map"


class NormsFile(_Model):
    """A human norm table for one instrument, read from the user's own copy (psychoml redistributes none).

    ``hofstede``: Hofstede's 6-D country table (:func:`psychoml.instruments.norms.load_hofstede`), compared with
    the VSM 2013 indices; ``mfq2``: Atari et al.'s MFQ-2 data, respondent- or country-level
    (:func:`~psychoml.instruments.norms.load_mfq2`), averaged per country; ``table``: any CSV with one row per
    group, a ``group`` column naming it and one column per scale or index id of the instrument.
    """

    file: str = Field(description="Path of the norm table, relative to the study file.")
    format: Literal["hofstede", "mfq2", "table"] = "table"
    group: str = Field("group", description="'table' format: the column that names each group.")


class AnalysesSpec(_Model):
    reliability: ReliabilitySpec = Field(default_factory=ReliabilitySpec)
    gtheory: GTheorySpec = Field(default_factory=GTheorySpec)
    factor: FactorSpec = Field(default_factory=FactorSpec)
    circumplex: bool = True
    norms: bool | dict[str, NormsFile] = Field(
        True, description="Compare scores with human norms: bundled ones (true), none (false), or a norm file "
                          "per instrument id.")
    irt: IRTSpec = Field(default_factory=IRTSpec)


class ReportSpec(_Model):
    out: str = "report.html"
    formats: list[Literal["html", "md", "json"]] = Field(default_factory=lambda: ["html", "md", "json"])
    tables: bool = True


class StudySpec(_Model):
    """A study: instruments x models x prompt design x samples, its analyses and its report."""

    name: str
    description: str | None = None
    store: str = Field(description="SQLite response store, relative to the study file.")
    instruments: list[str] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    design: str | dict[str, Any] = "quick"
    samples: int = Field(1, ge=1)
    mode: Literal["logprobs", "generate"] = "logprobs"
    temperature: float = Field(1.0, ge=0)
    concurrency: int = Field(4, ge=1)
    items: int | None = Field(None, ge=1, description="Administer only the first N items of each instrument (quick looks).")
    analyses: AnalysesSpec = Field(default_factory=AnalysesSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        for m in v:
            if ":" not in m:
                raise ValueError(f"model spec {m!r} needs a backend prefix such as 'local:', 'openai:', 'simulated:'")
        return v


def load_study(path: str | Path) -> tuple[StudySpec, Path]:
    """Read and validate a study file; returns the spec and the folder its relative paths start from.

    Raises :class:`ValidationError` naming the file, YAML path and line; unknown instrument ids are
    reported at ``instruments[i]``.
    """
    from psychoml.instruments import available

    p = Path(path)
    doc = read_yaml(p, source=str(path), error_cls=ValidationError)
    spec = validate_model(StudySpec, doc, error_cls=ValidationError)
    from psychoml.backends import known_prefixes

    prefixes = known_prefixes()
    for i, m in enumerate(spec.models):
        if m.split(":", 1)[0] not in prefixes:
            raise doc.error(f"unknown backend {m.split(':', 1)[0]!r} in model spec {m!r} (known: {', '.join(prefixes)})",
                            ("models", i), ValidationError)
    known = set(available())
    for i, inst in enumerate(spec.instruments):
        if inst not in known and not (inst.endswith((".yaml", ".yml")) and (p.parent / inst).exists()):
            raise doc.error(f"unknown instrument {inst!r} (shipped: {', '.join(sorted(known))})",
                            ("instruments", i), ValidationError)
    study_ids = {Path(i).stem if i.endswith((".yaml", ".yml")) else i for i in spec.instruments}
    if isinstance(spec.analyses.norms, dict):
        for iid, norm in spec.analyses.norms.items():
            if iid not in study_ids:
                raise doc.error(f"norms for {iid!r}, which is not one of the study's instruments "
                                f"({', '.join(spec.instruments)})", ("analyses", "norms", iid), ValidationError)
            file = Path(norm.file) if Path(norm.file).is_absolute() else p.parent / norm.file
            if not file.is_file():
                raise doc.error(f"norm file {norm.file!r} not found (relative paths start at the study file)",
                                ("analyses", "norms", iid, "file"), ValidationError)
    return spec, p.parent.resolve()
