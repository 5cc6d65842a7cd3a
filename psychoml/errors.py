"""Typed errors raised at psychoml's public boundary.

Every error carries enough location to act on without a traceback: the file,
the YAML path or line, the argument or column that was wrong.  The CLI prints
``str(error)`` as one line and exits 1 (tracebacks only with ``--debug``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BackendError",
    "ConfigurationError",
    "DataError",
    "InstrumentError",
    "ModelSpecError",
    "PsychomlError",
    "StoreError",
    "TransientBackendError",
    "ValidationError",
    "format_yaml_path",
]


def format_yaml_path(path: Sequence[str | int]) -> str:
    """Render a YAML path such as ``items[3].keying`` from its parts.

    >>> format_yaml_path(["items", 3, "keying"])
    'items[3].keying'
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


class PsychomlError(Exception):
    """Base class of every error psychoml raises on purpose."""


class InstrumentError(PsychomlError):
    """An instrument definition is malformed.

    Parameters
    ----------
    message
        What is wrong, in words a questionnaire author understands.
    file
        The YAML file (or ``<string>``) the definition came from.
    path
        The YAML path of the offending node, e.g. ``("items", 3, "keying")``.
    line
        1-based line number in ``file`` where known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: Sequence[str | int] | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.path = tuple(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.path is not None:
            where.append(format_yaml_path(self.path))
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ValidationError(InstrumentError):
    """A study, design or other YAML/config file failed validation (same location format)."""


class DataError(PsychomlError, ValueError):
    """Data handed to a public function is unusable (names the argument/column/row)."""


class ConfigurationError(PsychomlError):
    """The environment is missing something: an optional dependency, an API key, a file."""


class ModelSpecError(ConfigurationError):
    """A model spec string (``openai:gpt-4o``, ``local:smollm2`` ...) cannot be resolved."""


class BackendError(PsychomlError):
    """A model backend failed in a way retries did not fix."""


class TransientBackendError(BackendError):
    """A failure worth retrying (HTTP 429, 5xx, timeouts, connection resets).

    ``retry_after`` carries the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)


class StoreError(PsychomlError):
    """The response store cannot be opened or written without risking stored data."""
