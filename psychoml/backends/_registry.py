"""Model specs -> backends: a lazy registry keyed by the spec prefix.

A backend module is imported only when a spec asks for it, so ``import
psychoml`` never pulls in torch, transformers or an API SDK; a missing
optional dependency becomes a :class:`~psychoml.errors.ConfigurationError`
that names the ``pip install`` to run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psychoml.errors import ConfigurationError, ModelSpecError

__all__ = ["backend_parameters", "get_backend", "known_prefixes", "register_backend", "split_spec"]


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:attribute" of the factory, imported lazily
    extra: str  # the pip extra that provides its dependencies
    packages: tuple[str, ...]  # top-level modules it needs
    example: str


_REGISTRY: dict[str, _Entry | Callable[..., Any]] = {
    "openai": _Entry("psychoml.backends.openai_backend:from_spec", "api", ("openai", "httpx"), "openai:gpt-4o-mini"),
    "openai-compatible": _Entry(
        "psychoml.backends.openai_backend:from_spec", "api", ("openai", "httpx"),
        "openai-compatible:http://127.0.0.1:8000/v1#my-model",
    ),
    "anthropic": _Entry(
        "psychoml.backends.anthropic_backend:from_spec", "api", ("anthropic", "httpx"), "anthropic:claude-3-5-haiku-latest"
    ),
    "hf": _Entry(
        "psychoml.backends.hf:from_spec", "local", ("torch", "transformers"), "hf:HuggingFaceTB/SmolLM2-135M-Instruct"
    ),
    "local": _Entry("psychoml.backends.hf:from_spec", "local", ("torch", "transformers", "gguf"), "local:smollm2"),
    "simulated": _Entry("psychoml.backends.simulated:from_spec", "", (), "simulated:grm?seed=1&acquiescence=0.3"),
}

_PARAMETERS: dict[str, str] = {
    "openai": "psychoml.backends.openai_backend:parameters_from_spec",
    "openai-compatible": "psychoml.backends.openai_backend:parameters_from_spec",
    "anthropic": "psychoml.backends.anthropic_backend:parameters_from_spec",
    "hf": "psychoml.backends.hf:parameters_from_spec",
    "local": "psychoml.backends.hf:parameters_from_spec",
    "simulated": "psychoml.backends.simulated:parameters_from_spec",
}


def known_prefixes() -> list[str]:
    """The spec prefixes get_backend understands, in registration order."""
    return list(_REGISTRY)


def register_backend(prefix: str, factory: Callable[..., Any]) -> None:
    """Register ``factory(spec, **options) -> Backend`` for specs ``"<prefix>:..."`` (replaces an existing one)."""
    if not prefix or ":" in prefix:
        raise ModelSpecError(f"register_backend: prefix must be a non-empty name without ':', got {prefix!r}")
    _REGISTRY[prefix] = factory


def split_spec(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4o"`` -> ``("openai", "gpt-4o")``; raise ModelSpecError for an unknown or empty spec."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ModelSpecError(
            f"model spec {spec!r}: expected '<backend>:<model>', with backend one of {', '.join(known_prefixes())} "
            f"(e.g. {_examples()})"
        )
    prefix, rest = spec.split(":", 1)
    if prefix not in _REGISTRY:
        raise ModelSpecError(
            f"model spec {spec!r}: unknown backend {prefix!r}; known: {', '.join(known_prefixes())} (e.g. {_examples()})"
        )
    if not rest.strip():
        raise ModelSpecError(f"model spec {spec!r}: nothing after '{prefix}:' (e.g. {_example(prefix)})")
    return prefix, rest


def _examples() -> str:
    return ", ".join(e.example for e in _REGISTRY.values() if isinstance(e, _Entry))


def _example(prefix: str) -> str:
    entry = _REGISTRY.get(prefix)
    return entry.example if isinstance(entry, _Entry) else f"{prefix}:..."


def _resolve(target: str, entry: _Entry | None, spec: str) -> Callable[..., Any]:
    module_name, attr = target.split(":")
    if entry is not None:
        for pkg in entry.packages:
            try:
                importlib.import_module(pkg)
            except ImportError as exc:
                extra = f"'psychoml[{entry.extra}]'" if entry.extra else pkg
                raise ConfigurationError(
                    f"model spec {spec!r} needs the Python package {pkg!r}, which is not installed ({exc}); "
                    f"install it with: pip install {extra}"
                ) from None
    module = importlib.import_module(module_name)
    return getattr(module, attr)  # type: ignore[no-any-return]


def get_backend(spec: str, **options: Any) -> Any:
    """The backend for a model spec.

    Parameters
    ----------
    spec
        ``openai:MODEL``, ``openai-compatible:BASE_URL#MODEL``,
        ``anthropic:MODEL``, ``hf:PATH_OR_ID[#gguf=FILE]``, ``local:smollm2``
        or ``simulated:SPEC`` (see each backend for its options).
    **options
        Backend options, e.g. ``timeout=30`` for API backends, ``batch_size=16``
        for local models, ``seed=3`` for simulated respondents.

    Raises
    ------
    ModelSpecError
        Unknown prefix (the message lists the known ones) or a malformed spec.
    ConfigurationError
        A missing optional dependency (names the ``pip install``) or a missing
        API key (names the environment variable).
    """
    prefix, _ = split_spec(spec)
    entry = _REGISTRY[prefix]
    if isinstance(entry, _Entry):
        factory = _resolve(entry.target, entry, spec)
    else:
        factory = entry
    return factory(spec, **options)


def backend_parameters(spec: str, **options: Any) -> Mapping[str, Any]:
    """The parameters a backend for ``spec`` would run with (no secrets, no model loading, no network).

    The same mapping is copied into :attr:`~psychoml.records.Answer.backend`,
    together with the per-request settings (temperature, max tokens ...).
    """
    prefix, _ = split_spec(spec)
    target = _PARAMETERS.get(prefix)
    if target is None:
        return {"backend": prefix, "spec": spec}
    module_name, attr = target.split(":")
    func = getattr(importlib.import_module(module_name), attr)
    return dict(func(spec, **options))
