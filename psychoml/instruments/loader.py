"""Reading instrument YAML files safely, with errors located by file, YAML path and line."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml

from psychoml.errors import InstrumentError

__all__ = ["data_dir", "read_yaml", "shipped_files", "validate_model"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # let the base class report unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _line_map(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], int]]:
    if node is None:
        return
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            yield (*path, key), key_node.start_mark.line + 1
            yield from _line_map(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            yield from _line_map(child, (*path, i))


class YamlDocument:
    """A parsed YAML mapping plus the line of every node, to locate errors."""

    def __init__(self, data: Any, lines: dict[tuple[str, ...], int], source: str) -> None:
        self.data = data
        self._lines = lines
        self.source = source

    def line_of(self, path: Sequence[Any]) -> int | None:
        """The line of the deepest node on ``path`` that exists in the document."""
        parts = tuple(str(p) for p in path)
        for n in range(len(parts), -1, -1):
            if parts[:n] in self._lines:
                return self._lines[parts[:n]]
        return None

    def error(self, message: str, path: Sequence[str | int], cls: type[InstrumentError] = InstrumentError) -> InstrumentError:
        return cls(message, file=self.source, path=path, line=self.line_of(path))


def read_yaml(path: str | Path | None = None, *, text: str | None = None, source: str | None = None,
              error_cls: type[InstrumentError] = InstrumentError) -> YamlDocument:
    """Parse a YAML file (or ``text``) with the safe loader, refusing duplicate keys.

    Errors name the file and line: ``svs56.yaml:12: could not parse YAML: ...``.
    """
    if text is None:
        if path is None:
            raise TypeError("read_yaml needs a path or text")
        p = Path(path)
        source = source or str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error_cls("file not found", file=source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise error_cls(f"cannot read file ({exc})", file=source) from None
    source = source or "<string>"
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # safe: a SafeLoader subclass
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise error_cls(f"could not parse YAML: {problem}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise error_cls(f"could not parse YAML: {exc}", file=source) from None
    if not isinstance(data, dict):
        raise error_cls("the file must hold a YAML mapping at the top level", file=source, line=1)
    lines: dict[tuple[str, ...], int] = {}
    for p_, line in _line_map(node):
        lines.setdefault(tuple(str(x) for x in p_), line)
    return YamlDocument(data, lines, source)


def validate_model(model: type[pydantic.BaseModel], doc: YamlDocument,
                   error_cls: type[InstrumentError] = InstrumentError) -> Any:
    """Validate ``doc`` against ``model``; one error becomes one located message.

    Of several errors the one reaching deepest into the document is reported: for a field that accepts
    several shapes (``bool | dict``), that is the shape the author was writing.
    """
    try:
        return model.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        paths = [_document_path(doc.data, e["loc"]) for e in errors]
        best = max(range(len(errors)), key=lambda i: len(paths[i]))
        err, loc = errors[best], paths[best]
        if err["type"] == "missing":
            loc = [*loc, err["loc"][-1]]
        msg = err["msg"]
        msg = msg.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}" if loc else "unknown field"
        elif err["type"] == "missing":
            msg = f"required field {loc[-1]!r} is missing" if loc else msg
            loc = loc[:-1] if loc else loc
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more error{'s' if more > 1 else ''})"
        raise doc.error(msg, loc, error_cls) from None


def _document_path(data: Any, loc: Sequence[str | int]) -> list[str | int]:
    """The part of a pydantic error location that names places in the document (not union tags or validators)."""
    node, out = data, []
    for p in loc:
        if (isinstance(node, dict) and p in node) or (isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node)):
            node = node[p]
        else:
            continue
        out.append(p)
    return out


def data_dir() -> Path:
    """Folder of the shipped instrument files (inside the wheel, or ``instruments/`` of a checkout)."""
    try:
        res = importlib.resources.files("psychoml._instrument_data")
        path = Path(str(res))
        if path.is_dir() and any(path.glob("*.yaml")):
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    # A source checkout run without installation: the repo-level folder.
    return Path(__file__).resolve().parents[2] / "instruments"


def shipped_files() -> list[Path]:
    """Every shipped instrument file, sorted by name."""
    return sorted(data_dir().glob("*.yaml"))
