"""psychoml: measure language models the way psychometricians measure people.

The public API is grouped by subpackage (``psychoml.instruments``,
``psychoml.prompts``, ``psychoml.store``, ``psychoml.administer``,
``psychoml.stats``, ``psychoml.irt``, ``psychoml.report``); the most used names
are re-exported here and imported lazily, so ``import psychoml`` stays fast and
needs none of the optional dependencies (PyMC, transformers, the API SDKs).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

try:
    __version__ = _version("psychoml")
except PackageNotFoundError:  # a source checkout that is not installed
    __version__ = "0.1.0"

#: name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load_instrument": "psychoml.instruments",
    "Instrument": "psychoml.instruments",
    "PsychomlError": "psychoml.errors",
    "DataError": "psychoml.errors",
    "InstrumentError": "psychoml.errors",
}

__all__ = ["DataError", "Instrument", "InstrumentError", "PsychomlError", "__version__", "load_instrument"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        attr = "load" if name == "load_instrument" else name
        return getattr(module, attr)
    raise AttributeError(f"module 'psychoml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
