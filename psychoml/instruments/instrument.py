"""The :class:`Instrument`: a validated definition that scores response tables."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from psychoml.errors import DataError, InstrumentError
from psychoml.instruments.expr import Expression
from psychoml.instruments.loader import read_yaml, shipped_files, validate_model
from psychoml.instruments.schema import (
    Check,
    Index,
    InstrumentSpec,
    Item,
    NormTable,
    ResponseScale,
    Scale,
)

__all__ = ["GroupLevelWarning", "Instrument", "available", "load", "load_string", "validate_file"]


class GroupLevelWarning(UserWarning):
    """An index defined on sample means was computed with every row as one sample."""


class Instrument:
    """A validated instrument: its items, scales, indices, and the scoring rules.

    Build it with :func:`load` (a shipped id such as ``"mfq30"``, or a path to
    your own YAML file).  ``score`` turns a wide table of answers into scale and
    index scores.
    """

    def __init__(self, spec: InstrumentSpec, *, source: str | None = None, base_id: str | None = None) -> None:
        try:
            spec.check_references()
        except InstrumentError as exc:
            raise InstrumentError(exc.message, file=source, path=exc.path) from None
        self.spec = spec
        self.source = source
        self.base_id = base_id or spec.id
        self._items = {it.id: it for it in spec.items}
        self._scales = {rs.id: rs for rs in spec.response_scales}
        parts = {p.id: p for p in spec.parts}
        self._item_scale: dict[str, ResponseScale] = {}
        for it in spec.items:
            sid = it.scale or (parts[it.part].scale if it.part else None)
            self._item_scale[it.id] = self._scales[sid]  # type: ignore[index]  # check_references guarantees

    # --- description -------------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def items(self) -> list[Item]:
        return list(self.spec.items)

    @property
    def item_ids(self) -> list[str]:
        return [it.id for it in self.spec.items]

    @property
    def scales(self) -> list[Scale]:
        return list(self.spec.scales)

    @property
    def indices(self) -> list[Index]:
        return list(self.spec.indices)

    @property
    def checks(self) -> list[Check]:
        return list(self.spec.checks)

    @property
    def editions(self) -> list[str]:
        return [e.id for e in self.spec.editions]

    def item(self, item_id: str) -> Item:
        try:
            return self._items[item_id]
        except KeyError:
            raise DataError(f"instrument {self.id!r} has no item {item_id!r}") from None

    def response_scale(self, item_id: str) -> ResponseScale:
        """The response scale an item is answered on."""
        self.item(item_id)
        return self._item_scale[item_id]

    def norms(self, table_id: str | None = None) -> pd.DataFrame:
        """A bundled norm table as a DataFrame (rows = groups, columns = scores)."""
        tables: dict[str, NormTable] = {t.id: t for t in self.spec.norms}
        if not tables:
            raise DataError(f"instrument {self.id!r} bundles no norm table")
        if table_id is None:
            table_id = next(iter(tables))
        if table_id not in tables:
            raise DataError(f"instrument {self.id!r} has no norm table {table_id!r} (has {', '.join(tables)})")
        t = tables[table_id]
        frame = pd.DataFrame([{"group": r.group, "n": r.n, **r.values} for r in t.rows]).set_index("group")
        return frame

    def to_frame(self) -> pd.DataFrame:
        """One row per item: number, text, scale, keying, part, code and tags."""
        rows = []
        for it in self.spec.items:
            scale = self._item_scale[it.id]
            rows.append(
                {"item": it.id, "number": it.number, "code": it.code, "part": it.part, "text": it.text,
                 "response_scale": scale.id, "range": scale.describe(), "keying": it.keying, **it.tags}
            )
        return pd.DataFrame(rows).set_index("item")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "version": self.version, "items": len(self.spec.items),
            "scales": len(self.spec.scales), "indices": len(self.spec.indices), "checks": len(self.spec.checks),
            "editions": ", ".join(self.editions), "licence": self.spec.terms.licence,
        }

    def __repr__(self) -> str:
        return (f"Instrument(id={self.id!r}, name={self.name!r}, items={len(self.spec.items)}, "
                f"scales={len(self.spec.scales)}, indices={len(self.spec.indices)})")

    # --- editions ----------------------------------------------------------------------------------------------
    def edition(self, edition_id: str) -> Instrument:
        """Another published version of this instrument (e.g. ``svs57`` of ``svs56``)."""
        for i, ed in enumerate(self.spec.editions):
            if ed.id == edition_id:
                break
        else:
            raise DataError(f"instrument {self.id!r} has no edition {edition_id!r} (has {', '.join(self.editions) or 'none'})")
        removed = set(ed.remove_items)
        unknown = removed - set(self._items)
        if unknown:
            raise InstrumentError(f"edition removes unknown item(s) {sorted(unknown)}", file=self.source,
                                  path=("editions", i, "remove_items"))
        items = [it for it in self.spec.items if it.id not in removed] + list(ed.add_items)
        if all(it.number is not None for it in items):
            items.sort(key=lambda it: it.number)  # type: ignore[arg-type, return-value]
        overrides = {s.id: s for s in ed.scales}
        scales = [overrides.pop(s.id, s) for s in self.spec.scales] + list(overrides.values())
        data = self.spec.model_dump()
        data.update(
            id=ed.id, name=ed.name, version=ed.version or self.spec.version,
            items=[it.model_dump() for it in items], scales=[s.model_dump() for s in scales], editions=[],
        )
        if ed.citation is not None:
            data["citation"] = ed.citation.model_dump()
        spec = InstrumentSpec.model_validate(data)
        return Instrument(spec, source=self.source, base_id=self.id)

    # --- responses ---------------------------------------------------------------------------------------------
    def check_responses(self, responses: pd.DataFrame, *, source: str = "responses", strict: bool = False) -> pd.DataFrame:
        """Validate a wide response table and return its item columns as floats.

        Missing codes of each item's response scale become NaN.  A value outside
        the scale's range (or, with ``strict=True``, not one of its values)
        raises :class:`DataError` naming ``source``, the row and the column.
        Items absent from the table are returned as all-missing columns.
        """
        if not isinstance(responses, pd.DataFrame):
            raise DataError(f"{source}: expected a DataFrame with one column per item id")
        present = [c for c in self.item_ids if c in responses.columns]
        if not present:
            raise DataError(
                f"{source}: no column matches an item id of {self.id!r} (expected e.g. {', '.join(self.item_ids[:4])})"
            )
        # Columns are collected first and joined once: inserting ~200 columns (WVS-7) one by one fragments the frame.
        columns: dict[str, pd.Series] = {}
        for pos, col in enumerate(self.item_ids):
            if col not in responses.columns:
                columns[col] = pd.Series(np.nan, index=responses.index, dtype=float)
                continue
            raw = responses[col]
            values = pd.to_numeric(raw, errors="coerce")
            bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
            if bad.any():
                row = bad.idxmax()
                raise DataError(f"{source}: row {_row_label(responses, row)}, column {col!r}: "
                                f"value {raw.loc[row]!r} is not a number")
            scale = self._item_scale[col]
            values = values.astype(float)
            if scale.missing:
                values = values.mask(values.isin(list(scale.missing)))
            valid = values.isna() | values.between(scale.low, scale.high)
            if strict:
                valid &= values.isna() | values.isin(scale.values)
            if not valid.all():
                row = (~valid).idxmax()
                allowed = scale.describe() + (" (whole values only)" if strict else "")
                raise DataError(f"{source}: row {_row_label(responses, row)}, column {col!r}: value "
                                f"{values.loc[row]:g} is outside the response scale {scale.id!r} ({allowed})")
            columns[col] = values
        return pd.DataFrame(columns, index=responses.index)

    def keyed(self, answers: pd.DataFrame) -> pd.DataFrame:
        """Apply reverse keys: an item keyed -1 becomes ``low + high - x`` on its response scale."""
        keyed = answers.copy()
        for it in self.spec.items:
            if it.keying == -1 and it.id in keyed:
                keyed[it.id] = self._item_scale[it.id].reverse(keyed[it.id])
        return keyed

    # --- scoring -----------------------------------------------------------------------------------------------
    def score(
        self,
        responses: pd.DataFrame,
        *,
        group: str | Sequence[Any] | pd.Series | None = None,
        constants: Mapping[str, float] | None = None,
        exclude: bool = True,
        strict: bool = False,
        source: str = "responses",
    ) -> pd.DataFrame:
        """Score a wide response table.

        Parameters
        ----------
        responses
            Rows = respondents or administrations, columns = item ids, NaN = missing.
            Other columns are ignored.
        group
            Column name (or one label per row) defining samples for indices the
            authors define on sample means (``level: group``, e.g. Hofstede's
            PDI).  Without it every row is one sample, with a
            :class:`GroupLevelWarning`.
        constants
            Overrides of the instrument's named constants (e.g. ``{"C_pd": 20}``).
        exclude
            Apply the catch-item rules: excluded rows get missing scores and are
            left out of group means.  The columns ``excluded`` and
            ``exclusion_reason`` always report the rule's verdict.
        strict
            Require every answer to be one of the scale's values (default:
            anything within its range, as expected values from log-probabilities are).

        Returns
        -------
        DataFrame
            Same index as ``responses``: one column per scale (and
            ``<scale>_centred`` where the scale is centred), per respondent mean
            (e.g. ``MRAT``) and per index; the group column when ``group`` is given;
            ``excluded`` / ``exclusion_reason`` when the instrument has checks.

        Notes
        -----
        Missing-data rule: a scale score is the mean of the answered (keyed)
        items when at least ``min_items`` are answered (default: half of them,
        rounded up), otherwise missing; ``sum`` scales are prorated
        (mean x number of items).
        """
        answers = self.check_responses(responses, source=source, strict=strict)
        consts = self._constants(constants)
        out = pd.DataFrame(index=answers.index)
        groups = self._groups(responses, group, source)
        if groups is not None:
            out[groups.name] = groups.to_numpy()

        excluded, reasons = self._apply_checks(answers)
        keyed = self.keyed(answers)
        usable = ~excluded if exclude else pd.Series(True, index=answers.index)

        means: dict[str, pd.Series] = {}
        for m in self.spec.respondent_means:
            cols = self.item_ids if m.items == "all" else list(m.items)
            means[m.id] = answers[cols].mean(axis=1, skipna=True)
        scores: dict[str, pd.Series] = {}
        for s in self.spec.scales:
            comp = keyed[s.items] if s.items else pd.DataFrame({c: scores[c] for c in s.scales})
            answered = comp.notna().sum(axis=1)
            value = comp.mean(axis=1, skipna=True).where(answered >= s.required)
            if s.scoring == "sum":
                value = value * comp.shape[1]
            scores[s.id] = value
            out[s.id] = value
            if s.centre is not None:
                out[f"{s.id}_centred"] = value - means[s.centre]
        for mid, series in means.items():
            out[mid] = series

        resp_env: dict[str, Any] = {**{c: answers[c].to_numpy() for c in self.item_ids},
                                    **{k: v.to_numpy() for k, v in scores.items()},
                                    **{k: v.to_numpy() for k, v in means.items()}, **consts}
        group_indices = [ix for ix in self.spec.indices if ix.level == "group"]
        for ix in self.spec.indices:
            if ix.level == "respondent":
                out[ix.id] = ix.expression.evaluate(resp_env)
        if group_indices:
            if groups is None:
                warnings.warn(
                    f"{self.id}: indices {', '.join(ix.id for ix in group_indices)} are defined on sample means; "
                    "with no `group` every row was treated as one sample", GroupLevelWarning, stacklevel=2)
                key = pd.Series("all", index=answers.index, name="group")
            else:
                key = groups
            table = self._group_table(answers[usable], pd.DataFrame(scores, index=answers.index)[usable],
                                      pd.DataFrame(means, index=answers.index)[usable], key[usable], consts, group_indices)
            for ix in group_indices:
                out[ix.id] = key.map(table[ix.id]).astype(float).to_numpy()

        if self.spec.checks:
            if exclude:
                score_cols = [c for c in out.columns if groups is None or c != groups.name]
                out.loc[excluded, score_cols] = np.nan
            out["excluded"] = excluded.to_numpy()
            out["exclusion_reason"] = reasons.to_numpy()
            n_ex = int(excluded.sum())
            if n_ex:
                warnings.warn(f"{self.id}: {n_ex} of {len(excluded)} row(s) failed an attention check "
                              f"({'scores set to missing' if exclude else 'kept, exclude=False'}); "
                              "see the 'excluded' and 'exclusion_reason' columns", UserWarning, stacklevel=2)
        return out

    def score_groups(
        self,
        responses: pd.DataFrame,
        *,
        group: str | Sequence[Any] | pd.Series | None = None,
        constants: Mapping[str, float] | None = None,
        exclude: bool = True,
        strict: bool = False,
        source: str = "responses",
    ) -> pd.DataFrame:
        """One row per group: its size, mean scale scores and every index (group-level ones on item means)."""
        scored = self.score(responses, group=group, constants=constants, exclude=exclude, strict=strict, source=source)
        groups = self._groups(responses, group, source)
        key = groups if groups is not None else pd.Series("all", index=scored.index, name="group")
        keep = ~scored["excluded"].astype(bool) if ("excluded" in scored and exclude) else pd.Series(True, index=scored.index)
        value_cols = [c for c in scored.columns if c not in {key.name, "excluded", "exclusion_reason"}]
        grouped = scored.loc[keep, value_cols].groupby(key[keep].to_numpy(), sort=True)
        table = grouped.mean()
        table.insert(0, "n", grouped.size())
        table.index.name = key.name
        return table

    # --- helpers -----------------------------------------------------------------------------------------------
    def _constants(self, overrides: Mapping[str, float] | None) -> dict[str, float]:
        consts = dict(self.spec.constants)
        for k, v in (overrides or {}).items():
            if k not in consts:
                raise DataError(f"constants: {self.id!r} has no constant {k!r} (has {', '.join(consts) or 'none'})")
            consts[k] = float(v)
        return consts

    @staticmethod
    def _groups(responses: pd.DataFrame, group: Any, source: str) -> pd.Series | None:
        if group is None:
            return None
        if isinstance(group, str):
            if group not in responses.columns:
                raise DataError(f"group: {source} has no column {group!r}")
            series = responses[group]
        else:
            series = pd.Series(list(group), index=responses.index, name="group")
            if len(series) != len(responses):
                raise DataError(f"group: expected {len(responses)} labels, one per row, got {len(series)}")
        if series.isna().any():
            raise DataError(f"group: {series.isna().sum()} row(s) have no group label")
        return series.rename(series.name or "group")

    def _apply_checks(self, answers: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        excluded = pd.Series(False, index=answers.index)
        reasons = pd.Series("", index=answers.index, dtype=object)
        env = {c: answers[c].to_numpy() for c in self.item_ids}
        for c in self.spec.checks:
            hit = Expression(c.exclude_if).evaluate(env)
            flag = pd.Series(np.nan_to_num(hit, nan=0.0) != 0, index=answers.index)
            reasons[flag] = [f"{r}; {c.id}" if r else f"{c.id}: {c.exclude_if}" for r in reasons[flag]]
            excluded |= flag
        return excluded, reasons

    def _group_table(self, answers: pd.DataFrame, scores: pd.DataFrame, means: pd.DataFrame, key: pd.Series,
                     consts: Mapping[str, float], indices: list[Index]) -> pd.DataFrame:
        both = pd.concat([answers, scores.add_prefix("\0s"), means.add_prefix("\0m")], axis=1)
        gm = both.groupby(key.to_numpy(), sort=True).mean()
        env: dict[str, Any] = {c: gm[c].to_numpy() for c in answers.columns}
        env.update({c: gm["\0s" + c].to_numpy() for c in scores.columns})
        env.update({c: gm["\0m" + c].to_numpy() for c in means.columns})
        env.update(consts)
        return pd.DataFrame({ix.id: ix.expression.evaluate(env) for ix in indices}, index=gm.index)


def _row_label(frame: pd.DataFrame, row: Any) -> str:
    pos = frame.index.get_loc(row)
    return f"{pos + 2} (index {row!r})" if isinstance(pos, int) else repr(row)


# --- loading --------------------------------------------------------------------------------------------------------
def load_string(text: str, *, source: str = "<string>") -> Instrument:
    """Load an instrument from YAML text (errors name ``source``)."""
    doc = read_yaml(text=text, source=source)
    spec = validate_model(InstrumentSpec, doc)
    try:
        return Instrument(spec, source=source)
    except InstrumentError as exc:
        raise doc.error(exc.message, exc.path or ()) from None


def validate_file(path: str | Path) -> Instrument:
    """Load and fully validate an instrument file; raise :class:`InstrumentError` located by file, path and line."""
    p = Path(path)
    doc = read_yaml(p, source=str(path))
    spec = validate_model(InstrumentSpec, doc)
    try:
        inst = Instrument(spec, source=str(path))
    except InstrumentError as exc:
        raise doc.error(exc.message, exc.path or ()) from None
    for ed in spec.editions:
        try:
            inst.edition(ed.id)
        except InstrumentError as exc:
            raise doc.error(exc.message, exc.path or ("editions",)) from None
        except pydantic.ValidationError as exc:  # re-validation of the derived edition's spec
            idx = [e.id for e in spec.editions].index(ed.id)
            raise doc.error(f"edition {ed.id!r} does not validate: {exc}", ("editions", idx)) from None
    return inst


@functools.lru_cache(maxsize=1)
def _catalogue() -> dict[str, tuple[Path, str | None]]:
    """Map every shipped id (and edition id) to its file."""
    out: dict[str, tuple[Path, str | None]] = {}
    for f in shipped_files():
        doc = read_yaml(f, source=f.name)
        iid = doc.data.get("id", f.stem)
        out[iid] = (f, None)
        for ed in doc.data.get("editions", []) or []:
            if isinstance(ed, dict) and "id" in ed:
                out[ed["id"]] = (f, ed["id"])
    return out


def available() -> list[str]:
    """Ids of every shipped instrument and edition."""
    return sorted(_catalogue())


@functools.lru_cache(maxsize=64)
def _load_shipped(instrument_id: str) -> Instrument:
    path, edition = _catalogue()[instrument_id]
    inst = validate_file(path)
    return inst.edition(edition) if edition else inst


def load(id_or_path: str | Path) -> Instrument:
    """Load a shipped instrument by id (``"svs56"``, ``"svs57"``, ``"mfq30"`` ...) or a YAML file by path."""
    key = str(id_or_path)
    if key in _catalogue():
        return _load_shipped(key)
    p = Path(key)
    if p.suffix in {".yaml", ".yml"} or p.exists():
        return validate_file(p)
    raise DataError(f"unknown instrument {key!r}: not a shipped id ({', '.join(available())}) nor a YAML file")
