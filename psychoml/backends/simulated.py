"""``simulated:SPEC``: synthetic respondents with a known generative model, labelled as simulated everywhere.

Spec syntax::

    simulated:MODEL[?OPTION=VALUE&OPTION=VALUE...]

``MODEL`` is ``grm`` (graded response model) or ``factor`` (ordinal factor
model); see :mod:`psychoml.backends._simulation` for both models and the
response styles.  Options (also accepted as keyword arguments of
:func:`psychoml.backends.get_backend`, which override the spec):

================  ===========  ==========================================================================
option            default      meaning
================  ===========  ==========================================================================
seed              0            population seed: which synthetic people exist
acquiescence      0            mean shift toward the "agree" (high) end, in latent-response SDs
extreme           0            probability that an answer is an end point
position          0            probability that an answer is the first option presented
random            0            probability that an answer is uniformly random
n_factors         (scales)     k latent factors, items assigned cyclically (1: one general factor)
circumplex        0.6 / 0      circumplex correlation strength among value scales (Schwartz family: 0.6)
corr              0            uniform correlation added between all latent factors
persona_effect    0.5          SD of the deterministic latent-mean shift a persona causes
params            (none)       YAML/JSON file of item / latent parameters (see ``read_parameter_file``)
================  ===========  ==========================================================================

Example: ``simulated:grm?seed=1&acquiescence=0.3&extreme=0.2&position=0.1&random=0.05``.
An unknown option or model is a :class:`~psychoml.errors.ModelSpecError` naming it.

A request's respondent is ``(persona, sample)`` under the spec's population:
instruction wording, system prompt and layout do not change who answers;
option order, scale direction and label format change only how the answer is
mapped onto the presented options (and where position bias points).  In
``logprobs`` mode the answer is the model-implied distribution over the
presented options; in ``generate`` mode one option is drawn (seeded by the
request key; ``temperature`` sharpens or flattens the distribution, 0 takes the
argmax) and answered as its label.  Every answer's ``backend`` mapping carries
``simulated: True``.

Note: the request key contains the spec string, not the content of a
``params`` file; ``parameters_from_spec`` records the file's SHA-256 so a
changed file is visible in the store.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psychoml.backends._simulation import (
    MODELS,
    STYLE_NAMES,
    SimulationModel,
    SimulationTruth,
    Styles,
    build_model,
    check_styles,
    make_truth,
    read_parameter_file,
    resolve_instrument,
    simulate_responses,
    text_hash,
    uniforms,
)
from psychoml.errors import BackendError, DataError, InstrumentError, ModelSpecError
from psychoml.instruments import Instrument
from psychoml.records import Answer, Request, ResponseStatus

__all__ = [
    "OPTIONS",
    "SimulatedBackend",
    "SimulatedSpec",
    "SimulationTruth",
    "from_spec",
    "parameters_from_spec",
    "parse_simulated_spec",
    "simulate_responses",
]

#: Options of a simulated spec, with their defaults.
OPTIONS: dict[str, Any] = {
    "seed": 0,
    "acquiescence": 0.0,
    "extreme": 0.0,
    "position": 0.0,
    "random": 0.0,
    "n_factors": None,
    "circumplex": None,
    "corr": 0.0,
    "persona_effect": 0.5,
    "params": None,
}

# Bound on each per-backend cache (people, option mappings): memory stays small in long runs.
_CACHE_SIZE = 50_000

# Generic options a runner may pass to every backend; meaningless here, so ignored.
_GENERIC = frozenset({"timeout", "batch_size", "max_retries", "api_key_env"})


@dataclass(frozen=True)
class SimulatedSpec:
    """A parsed ``simulated:`` spec."""

    spec: str
    model: str
    seed: int = 0
    styles: Styles = field(default_factory=Styles)
    n_factors: int | None = None
    circumplex: float | None = None
    corr: float = 0.0
    persona_effect: float = 0.5
    params: str | None = None


def _int(name: str, value: Any, spec: str, *, minimum: int | None = None) -> int:
    try:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise TypeError(value)
        out = int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        raise ModelSpecError(f"model spec {spec!r}: option {name!r} must be an integer, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ModelSpecError(f"model spec {spec!r}: option {name!r} must be at least {minimum}, got {out}")
    return out


def _float(name: str, value: Any, spec: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ModelSpecError(f"model spec {spec!r}: option {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(out) or (lo is not None and out < lo) or (hi is not None and out >= hi):
        rng = (
            f" in [{lo:g}, {hi:g})" if lo is not None and hi is not None else (f" >= {lo:g}" if lo is not None else "")
        )
        raise ModelSpecError(f"model spec {spec!r}: option {name!r} must be a finite number{rng}, got {value!r}")
    return out


def parse_simulated_spec(spec: str, **options: Any) -> SimulatedSpec:
    """Parse ``simulated:MODEL?opt=value&...``; keyword ``options`` override the spec's.

    Raises
    ------
    ModelSpecError
        Not a simulated spec, an unknown model, an unknown or repeated option,
        or a value of the wrong type or range (the message names the option).
    """
    if not isinstance(spec, str) or not spec.startswith("simulated:"):
        raise ModelSpecError(f"model spec {spec!r}: expected 'simulated:MODEL[?options]', e.g. 'simulated:grm?seed=1'")
    rest = spec[len("simulated:") :]
    model, _, query = rest.partition("?")
    model = model.strip()
    if model not in MODELS:
        raise ModelSpecError(
            f"model spec {spec!r}: unknown simulated model {model!r}; known: {', '.join(MODELS)} "
            "(e.g. simulated:grm?seed=1&acquiescence=0.3)"
        )
    raw: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq:
            raise ModelSpecError(f"model spec {spec!r}: option {name!r} needs a value ({name}=...)")
        if name not in OPTIONS:
            raise ModelSpecError(f"model spec {spec!r}: unknown option {name!r}; known: {', '.join(OPTIONS)}")
        if name in raw:
            raise ModelSpecError(f"model spec {spec!r}: option {name!r} is given twice")
        raw[name] = value.strip()
    for name, value in options.items():
        if name in _GENERIC or value is None:
            continue
        if name not in OPTIONS:
            raise ModelSpecError(f"simulated backend: unknown option {name!r}; known: {', '.join(OPTIONS)}")
        raw[name] = value
    seed = _int("seed", raw.get("seed", 0), spec)
    styles = check_styles({k: raw[k] for k in STYLE_NAMES if k in raw}, where=f"model spec {spec!r}")
    n_factors = _int("n_factors", raw["n_factors"], spec, minimum=1) if "n_factors" in raw else None
    circumplex = _float("circumplex", raw["circumplex"], spec, 0.0, 1.0) if "circumplex" in raw else None
    corr = _float("corr", raw.get("corr", 0.0), spec, 0.0, 1.0)
    persona_effect = _float("persona_effect", raw.get("persona_effect", 0.5), spec, 0.0)
    params = str(raw["params"]) if raw.get("params") not in (None, "") else None
    return SimulatedSpec(
        spec=spec,
        model=model,
        seed=seed,
        styles=styles,
        n_factors=n_factors,
        circumplex=circumplex,
        corr=corr,
        persona_effect=persona_effect,
        params=params,
    )


def parameters_from_spec(spec: str, **options: Any) -> dict[str, Any]:
    """The parameters a simulated backend runs with (no file is read beyond hashing ``params``)."""
    parsed = parse_simulated_spec(spec, **options)
    out: dict[str, Any] = {
        "backend": "simulated",
        "simulated": True,
        "spec": spec,
        "model": parsed.model,
        "seed": parsed.seed,
        **parsed.styles.as_dict(),
        "n_factors": parsed.n_factors,
        "circumplex": parsed.circumplex,
        "corr": parsed.corr,
        "persona_effect": parsed.persona_effect,
        "params": parsed.params,
    }
    if parsed.params is not None:
        try:
            out["params_sha256"] = hashlib.sha256(Path(parsed.params).read_bytes()).hexdigest()
        except OSError:
            raise ModelSpecError(
                f"model spec {spec!r}: parameter file {parsed.params!r} not found or unreadable"
            ) from None
    return out


class SimulatedBackend:
    """A population of synthetic respondents answering :class:`~psychoml.records.Request` objects.

    Build it with :func:`from_spec` (or ``get_backend("simulated:grm?seed=1")``).
    Parameters per instrument are built once and cached, so answering is a
    few vectorised numpy operations per request.
    """

    capabilities = frozenset({"logprobs", "generate"})

    def __init__(self, spec: SimulatedSpec) -> None:
        self.spec = spec.spec
        self._spec = spec
        self._parameters = parameters_from_spec(spec.spec, **_spec_overrides(spec))
        self._file: dict[str, Any] | None = None
        if spec.params is not None:
            self._file = read_parameter_file(spec.params)
            file_model = self._file.get("model")
            if file_model is not None and file_model != spec.model:
                raise ModelSpecError(
                    f"model spec {spec.spec!r}: parameter file {spec.params!r} is for model {file_model!r}, "
                    f"not {spec.model!r}"
                )
        self._models: dict[str, SimulationModel] = {}
        self._people: dict[tuple[str, str | None, int], tuple[np.ndarray, np.ndarray]] = {}
        self._categories: dict[tuple[str, tuple[str, ...], tuple[float, ...]], np.ndarray] = {}

    @property
    def parameters(self) -> Mapping[str, Any]:
        return dict(self._parameters)

    # --- parameters ------------------------------------------------------------------------------------------
    def model_for(self, instrument: Instrument | str) -> SimulationModel:
        """The (cached) generating model of ``instrument`` under this spec."""
        key = instrument.id if isinstance(instrument, Instrument) else str(instrument)
        sim = self._models.get(key)
        if sim is None:
            try:
                ins = resolve_instrument(instrument)
            except (DataError, InstrumentError) as exc:
                raise BackendError(f"{self.spec}: cannot load instrument {key!r}: {exc}") from None
            params = None
            if self._file is not None and self._file.get("instrument") in (None, ins.id):
                params = self._file
            s = self._spec
            sim = build_model(
                ins,
                model=s.model,
                seed=s.seed,
                styles=s.styles,
                n_factors=s.n_factors,
                circumplex=s.circumplex,
                corr=s.corr,
                persona_effect=s.persona_effect,
                params=params,
                params_source=s.params or "params",
            )
            self._models[key] = sim
        return sim

    def truth(
        self, instrument: Instrument | str, *, persona: str | None = None, option_order: str = "published"
    ) -> SimulationTruth:
        """The generating parameters for ``instrument`` (population of ``persona``; option order for position bias)."""
        if option_order not in ("published", "reversed"):
            raise DataError(f"option_order: expected 'published' or 'reversed', got {option_order!r}")
        return make_truth(self.model_for(instrument), persona=persona, option_order=option_order)

    def latent(self, instrument: Instrument | str, *, persona: str | None = None, sample: int = 0) -> pd.Series:
        """The latent traits of respondent ``(persona, sample)`` on ``instrument``'s factors."""
        sim = self.model_for(instrument)
        theta, _ = sim.people(persona, [sample])
        return pd.Series(theta[0], index=sim.factor_names, name=sample)

    # --- answering -------------------------------------------------------------------------------------------
    async def answer(self, request: Request) -> Answer:
        return self.answer_now(request)

    async def aclose(self) -> None:
        return None

    def distributions(self, request: Request) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Per item, the model's probability of every presented option (renormalised) and the mass outside them."""
        sim = self.model_for(request.instrument)
        missing = [i for i in request.item_ids if i not in sim.row]
        if missing:
            raise BackendError(f"{self.spec}: instrument {request.instrument!r} has no item(s) {', '.join(missing)}")
        rows = np.array([sim.row[i] for i in request.item_ids])
        values = tuple(float(o.value) for o in request.options)
        ckey = (request.instrument, request.item_ids, values)
        cat = self._categories.get(ckey)
        if cat is None:
            cat = np.array([[sim.category[j].get(v, -1) for v in values] for j in rows])
            if len(self._categories) < _CACHE_SIZE:
                self._categories[ckey] = cat
        # position bias points at the first presented option that is a category of the item
        has = cat >= 0
        first_pos = np.where(has.any(axis=1), has.argmax(axis=1), 0)
        first = np.where(has.any(axis=1), cat[np.arange(len(rows)), first_pos], 0)
        pkey = (request.instrument, request.persona, int(request.sample))
        person = self._people.get(pkey)
        if person is None:
            person = sim.people(request.persona, [request.sample])
            if len(self._people) < _CACHE_SIZE:
                self._people[pkey] = person
        theta, s = person
        p = sim.probabilities(theta, s, rows, first)[0]  # (J, Kmax)
        po = np.where(has, np.take_along_axis(p, np.maximum(cat, 0), axis=1), 0.0)
        covered = po.sum(axis=1)
        dists: dict[str, dict[str, float]] = {}
        outside: dict[str, float] = {}
        for i, item in enumerate(request.item_ids):
            if covered[i] <= 0:
                dists[item] = {}
                outside[item] = 1.0
                continue
            dists[item] = {o.label: float(po[i, k] / covered[i]) for k, o in enumerate(request.options)}
            outside[item] = float(max(0.0, 1.0 - covered[i]))
        return dists, outside

    def answer_now(self, request: Request) -> Answer:
        """Answer ``request`` synchronously (what :meth:`answer` awaits)."""
        if request.mode not in self.capabilities:
            raise BackendError(f"{self.spec}: mode {request.mode!r} is not supported")
        dists, outside = self.distributions(request)
        by_label = {o.label: float(o.value) for o in request.options}
        labels = [o.label for o in request.options]
        key = request.key()
        backend = {**self._parameters, "mode": request.mode}
        values: dict[str, float | None] = {}
        argmax: dict[str, float | None] = {}
        chosen: dict[str, str | None] = {}
        empty = [item for item, dist in dists.items() if not dist]
        if request.mode == "generate":
            temperature = request.params.get("temperature")
            temperature = 1.0 if temperature is None else float(temperature)
            backend["temperature"] = temperature
            u = uniforms(self._spec.seed, None, [text_hash(key)], np.arange(len(request.item_ids)))[0]
        for i, item in enumerate(request.item_ids):
            dist = dists[item]
            if not dist:
                values[item] = argmax[item] = None
                chosen[item] = None
                continue
            probs = np.array([dist[lab] for lab in labels])
            best = int(np.argmax(probs))  # first of equal maxima
            argmax[item] = by_label[labels[best]]
            if request.mode == "logprobs":
                values[item] = float(sum(p * by_label[lab] for lab, p in zip(labels, probs)))
                chosen[item] = labels[best]
            else:
                if temperature <= 0:
                    pick = best
                else:
                    with np.errstate(divide="ignore"):
                        logits = np.where(probs > 0, np.log(probs), -np.inf) / temperature
                    w = np.exp(logits - logits.max())
                    cum = np.cumsum(w / w.sum())
                    pick = min(int((u[i] > cum).sum()), len(labels) - 1)
                    while probs[pick] <= 0:  # never land on a zero-probability option through rounding
                        pick -= 1
                chosen[item] = labels[pick]
                values[item] = by_label[labels[pick]]
        if len(request.item_ids) == 1:
            raw = chosen[request.item_ids[0]]
        else:
            # the whole-scale answer format the prompts ask for: "<item number>: <answer>" per line
            raw = "\n".join(
                f"{pos}: {chosen[item]}"
                for pos, item in enumerate(request.item_ids, start=1)
                if chosen[item] is not None
            )
        status, reason = ResponseStatus.OK, None
        if empty:
            status = ResponseStatus.UNPARSEABLE
            reason = "no presented option is a value of the response scale of item(s) " + ", ".join(empty)
        return Answer(
            request_key=key,
            status=status,
            values=values,
            raw=raw or None,
            distributions={k: v for k, v in dists.items() if v},
            mass_outside=outside,
            argmax=argmax,
            reason=reason,
            tokens_in=max(1, len(request.prompt_text) // 4),
            tokens_out=len(request.item_ids),
            latency_s=0.0,
            backend=backend,
        )


def _spec_overrides(spec: SimulatedSpec) -> dict[str, Any]:
    """The parsed settings as keyword overrides (so parameters reflect get_backend(**options) too)."""
    return {
        "seed": spec.seed,
        **spec.styles.as_dict(),
        "n_factors": spec.n_factors,
        "circumplex": spec.circumplex,
        "corr": spec.corr,
        "persona_effect": spec.persona_effect,
        "params": spec.params,
    }


def from_spec(spec: str, **options: Any) -> SimulatedBackend:
    """A :class:`SimulatedBackend` for ``simulated:MODEL?options`` (keyword ``options`` override the spec's)."""
    return SimulatedBackend(parse_simulated_spec(spec, **options))
