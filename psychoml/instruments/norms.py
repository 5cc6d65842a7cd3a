"""Human norm tables: loaders for the user's own downloaded copies, with country codes mapped to ISO 3166-1.

psychoml bundles no country data whose terms forbid redistribution.  For each source a loader reads the file
the user downloaded from its publisher, checks its layout (every problem is one :class:`DataError` naming the
file, the column and, where it applies, the line) and maps the country names or codes to ISO 3166-1 alpha-3
codes (column ``iso3``), so human and model scores can be joined:

* :func:`load_hofstede` — Hofstede's 6-D country scores (``6-dimensions-for-website-2015-08-16.csv`` from
  geerthofstede.com: ``ctr;country;pdi;idv;mas;uai;ltowvs;ivr``, ``#NULL!`` = missing).  Copyright Geert
  Hofstede BV; not redistributed.
* :func:`load_wvs7` — the WVS wave-7 respondent file (``WVS_Cross-National_Wave_7_csv_v*.csv``: ``B_COUNTRY``
  ISO numeric, ``B_COUNTRY_ALPHA`` ISO alpha-3, ``Q1`` ... ``Q290``, ``W_WEIGHT``).  WVS data terms: non-profit
  use, no redistribution.  Score it with ``load("wvs7").score(data)`` / ``score_groups(data, group="iso3")``.
* :func:`load_mfq2` — MFQ-2 data (Atari et al., 2023, OSF project srtxn) at respondent or country level: a
  country column and either the 36 item columns ``mfq2_01`` ... ``mfq2_36`` or the six foundation columns
  (``care`` ... ``purity``, also spelt ``CARE_tot`` ... as in the authors' files).
* :func:`load_inglehart_welzel` — the Inglehart-Welzel cultural-map country scores (traditional vs
  secular-rational, survival vs self-expression), e.g. the CC-BY-4.0 Gapminder/open-numbers
  ``ddf--open_numbers--integrated_values_surveys_indicators`` files (``geo,year,tradagg`` and
  ``geo,year,survsagg``) or a single CSV with both columns.

:func:`country_to_iso3` is the mapping the loaders use: ISO alpha-2/alpha-3/numeric codes, ISO names
(``countries.csv``, from Debian iso-codes via pycountry) and the aliases in ``country_aliases.csv`` (Hofstede's
and the WVS's spellings).  Regional or sub-national samples (``Arab countries``, ``Belgium French``) map to
missing, never to a wrong country.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from psychoml.errors import DataError

__all__ = [
    "HOFSTEDE_DIMENSIONS",
    "MFQ2_FOUNDATIONS",
    "country_table",
    "country_to_iso3",
    "load_hofstede",
    "load_inglehart_welzel",
    "load_mfq2",
    "load_wvs7",
]

_DATA = Path(__file__).resolve().parent / "data"

#: Hofstede's file columns -> psychoml's index ids (the VSM 2013 index names).
HOFSTEDE_DIMENSIONS: dict[str, str] = {"pdi": "PDI", "idv": "IDV", "mas": "MAS", "uai": "UAI", "ltowvs": "LTO", "ivr": "IVR"}
#: The six MFQ-2 foundations (scale ids of the ``mfq2`` instrument).
MFQ2_FOUNDATIONS: tuple[str, ...] = ("care", "equality", "proportionality", "loyalty", "authority", "purity")
_MISSING_TOKENS = ("#NULL!", "#N/A", "NA", "N/A", "")


# --- countries --------------------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    """Case-, accent- and punctuation-insensitive key: ``"Côte d'Ivoire"`` -> ``"cote divoire"``."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[._'’()]", "", text.replace("_", " "))
    text = re.sub(r"[-,/&]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@functools.lru_cache(maxsize=1)
def country_table() -> pd.DataFrame:
    """The ISO 3166-1 table shipped with psychoml (alpha_2, alpha_3, numeric, name, official_name, common_name)."""
    return pd.read_csv(_DATA / "countries.csv", dtype=str, keep_default_na=False)


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    """Normalised name or code -> alpha-3 ('' for known samples that are not one ISO country)."""
    table = country_table()
    out: dict[str, str] = {}
    for row in table.itertuples(index=False):
        for key in (row.alpha_2, row.alpha_3, row.name, row.official_name, row.common_name):
            if key:
                out.setdefault(_norm(key), row.alpha_3)
        out.setdefault(str(int(row.numeric)), row.alpha_3)
    aliases = pd.read_csv(_DATA / "country_aliases.csv", dtype=str, keep_default_na=False)
    for row in aliases.itertuples(index=False):
        out[_norm(row.alias)] = row.iso3  # aliases win over ISO-derived keys
    return out


def country_to_iso3(
    values: Iterable[object] | pd.Series,
    *,
    source: str = "countries",
    column: str = "country",
    first_line: int = 2,
) -> pd.Series:
    """Map country names or ISO codes to ISO 3166-1 alpha-3 codes.

    Accepts ISO alpha-2, alpha-3 and numeric codes, ISO short, official and common names and the aliases in
    ``psychoml/instruments/data/country_aliases.csv`` (Hofstede's and the WVS's spellings), ignoring case,
    accents and punctuation.  Known multi-country or sub-national samples (``Arab countries``,
    ``Belgium French``) map to missing.

    Raises
    ------
    DataError
        For the first value that is neither, naming ``source``, ``column`` and the line
        (``first_line`` is the file line of the first value; 2 for a CSV with a header).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values))
    lookup = _lookup()
    out = []
    for pos, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise DataError(f"{source}: line {first_line + pos}, column {column!r}: missing country")
        key = _norm(str(int(value)) if isinstance(value, (int, np.integer)) else str(value))
        if re.fullmatch(r"0*\d+", key):
            key = str(int(key))
        if key not in lookup:
            raise DataError(
                f"{source}: line {first_line + pos}, column {column!r}: unknown country {value!r} "
                "(not an ISO 3166-1 code or name, nor an alias in country_aliases.csv)"
            )
        out.append(lookup[key] or np.nan)
    return pd.Series(out, index=series.index, name="iso3", dtype=object)


# --- helpers ----------------------------------------------------------------------------------------------------
def _read(path: str | Path, *, sep: str | None = None, usecols: Callable[[str], bool] | None = None,
          ) -> tuple[pd.DataFrame, str]:
    """Read a CSV as strings (the loaders check every value themselves, to locate problems).

    The separator is taken from the header line (``,`` ``;`` or tab) unless given; UTF-8 is tried first, then
    Latin-1 (older downloads).  ``usecols`` selects columns by name, so a large file (the WVS-7 file has ~600
    columns) is parsed only for what is needed.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    last: Exception | None = None
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with p.open(encoding=encoding) as fh:
                header = fh.readline()
            delimiter = sep or max([",", ";", "\t"], key=header.count)
            frame = pd.read_csv(p, sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True,
                                encoding=encoding, usecols=(lambda c: usecols(str(c).strip())) if usecols else None)
            break
        except UnicodeDecodeError as exc:
            last = exc
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(f"{p}: not a readable CSV file ({exc})") from None
    else:
        raise DataError(f"{p}: not a readable CSV file ({last})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, str(p)


def _require(frame: pd.DataFrame, columns: Sequence[str], source: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(repr, list(frame.columns)[:12])) + (" ..." if frame.shape[1] > 12 else "")
        raise DataError(f"{source}: missing column(s) {', '.join(map(repr, missing))} of {what} (found {found})")


def _numeric(frame: pd.DataFrame, column: str, source: str, *, missing: Sequence[str] = _MISSING_TOKENS) -> pd.Series:
    raw = frame[column].astype(str).str.strip()
    blank = raw.isin(list(missing))
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: line {pos + 2}, column {column!r}: value {raw.iloc[pos]!r} is not a number")
    return values.astype(float)


def _check_range(values: pd.Series, low: float, high: float, column: str, source: str) -> None:
    bad = values.notna() & ~values.between(low, high)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: line {pos + 2}, column {column!r}: value {values.iloc[pos]:g} is outside "
                        f"{low:g}..{high:g}")


# --- Hofstede ---------------------------------------------------------------------------------------------------
def load_hofstede(path: str | Path) -> pd.DataFrame:
    """Read Hofstede's 6-D country table from the user's own download.

    The file is ``6-dimensions-for-website-2015-08-16.csv`` (geerthofstede.com, "Dimension data matrix"):
    semicolon-separated columns ``ctr;country;pdi;idv;mas;uai;ltowvs;ivr``, ``#NULL!`` where a country has no
    score.  Copyright Geert Hofstede BV: psychoml does not redistribute it.

    Returns
    -------
    DataFrame
        One row per line of the file: ``iso3`` (missing for regional or sub-national samples such as
        ``Arab countries`` or ``Belgium French``), ``country``, ``hofstede_code`` (the file's ``ctr``) and the
        scores ``PDI IDV MAS UAI LTO IVR`` (``ltowvs`` is the WVS-based LTO; 0-100 scale).  These published
        country scores come from IBM and later matched samples; raw VSM 2013 indices of a new sample are only
        comparable to them after the manual's constants have been fitted.
    """
    frame, source = _read(path)  # ';' in the published file; ',' if re-saved by a spreadsheet
    _require(frame, ["ctr", "country", *HOFSTEDE_DIMENSIONS], source, "Hofstede's 6-D table")
    out = pd.DataFrame({
        "iso3": country_to_iso3(frame["country"], source=source, column="country").to_numpy(),
        "country": frame["country"].str.strip().to_numpy(),
        "hofstede_code": frame["ctr"].str.strip().to_numpy(),
    })
    for col, name in HOFSTEDE_DIMENSIONS.items():
        values = _numeric(frame, col, source)
        _check_range(values, 0, 120, col, source)  # published scores are 0-100 (a few exceed 100)
        out[name] = values.to_numpy()
    return out


# --- WVS-7 ------------------------------------------------------------------------------------------------------
def load_wvs7(path: str | Path, *, items: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the user's WVS wave-7 respondent file (CSV version) and key it by ISO country code.

    Parameters
    ----------
    path
        ``WVS_Cross-National_Wave_7_csv_v*.csv`` from worldvaluessurvey.org (terms: non-profit use, no
        redistribution).  Needs ``B_COUNTRY_ALPHA`` (ISO alpha-3) or ``B_COUNTRY`` (ISO numeric) and the
        question columns ``Q1`` ... in the WVS coding.
    items
        Question codes to keep (default: every item of the shipped ``wvs7`` module present in the file, at
        least one required).

    Returns
    -------
    DataFrame
        ``iso3``, ``W_WEIGHT`` when present, and the item columns as floats with the WVS codes unchanged
        (negative missing codes are read as missing by ``load("wvs7").score``).
    """
    from psychoml.instruments.instrument import load

    known = set(load("wvs7").item_ids) if items is None else set(items)
    keep = known | {"B_COUNTRY_ALPHA", "B_COUNTRY", "W_WEIGHT"}
    frame, source = _read(path, usecols=lambda c: c in keep)
    if "B_COUNTRY_ALPHA" in frame.columns:
        country_col = "B_COUNTRY_ALPHA"
    elif "B_COUNTRY" in frame.columns:
        country_col = "B_COUNTRY"
    else:
        _require(frame, ["B_COUNTRY_ALPHA"], source, "the WVS-7 file (or B_COUNTRY)")
        raise AssertionError("unreachable")  # pragma: no cover
    if items is None:
        wanted = [i for i in load("wvs7").item_ids if i in frame.columns]
        if not wanted:
            raise DataError(f"{source}: no WVS-7 question column (Q1 ... Q254) found; is this the wave-7 file?")
    else:
        wanted = list(items)
        _require(frame, wanted, source, "the requested WVS-7 items")
    out = pd.DataFrame({"iso3": country_to_iso3(frame[country_col], source=source, column=country_col).to_numpy()})
    if "W_WEIGHT" in frame.columns:
        out["W_WEIGHT"] = _numeric(frame, "W_WEIGHT", source).to_numpy()
    for col in wanted:
        out[col] = _numeric(frame, col, source).to_numpy()
    return out


# --- MFQ-2 ------------------------------------------------------------------------------------------------------
def load_mfq2(path: str | Path, *, country: str = "country") -> pd.DataFrame:
    """Read MFQ-2 data (respondent- or country-level) from the user's own copy and map countries to ISO codes.

    The file needs a country column (``country``) and either the 36 items as ``mfq2_01`` ... ``mfq2_36``
    (1-5; score them with ``load("mfq2").score(data, ...)``) or the six foundation scores, named ``care`` ...
    ``purity`` or ``CARE_tot`` ... ``PURITY_tot`` as in Atari et al.'s OSF files (case-insensitive), each
    within 1..5.  Atari et al. (2023) data are on OSF (osf.io/srtxn); psychoml bundles none of them.

    Returns
    -------
    DataFrame
        ``iso3``, ``country`` and the item columns or the foundation columns (``care`` ... ``purity``).
    """
    frame, source = _read(path)
    _require(frame, [country], source, "MFQ-2 data")
    item_cols = [f"mfq2_{i:02d}" for i in range(1, 37)]
    lower = {c.lower(): c for c in frame.columns}
    out = pd.DataFrame({
        "iso3": country_to_iso3(frame[country], source=source, column=country).to_numpy(),
        "country": frame[country].str.strip().to_numpy(),
    })
    if any(c in frame.columns for c in item_cols):
        _require(frame, item_cols, source, "the 36 MFQ-2 items")
        for col in item_cols:
            values = _numeric(frame, col, source)
            _check_range(values, 1, 5, col, source)
            out[col] = values.to_numpy()
        return out
    found = {}
    for f in MFQ2_FOUNDATIONS:
        for candidate in (f, f"{f}_tot", f"{f}_mean"):
            if candidate in lower:
                found[f] = lower[candidate]
                break
    if not found:
        raise DataError(f"{source}: neither the 36 item columns (mfq2_01 ... mfq2_36) nor foundation columns "
                        f"({', '.join(MFQ2_FOUNDATIONS)} or CARE_tot ...) found")
    missing = [f for f in MFQ2_FOUNDATIONS if f not in found]
    if missing:
        raise DataError(f"{source}: missing foundation column(s) {', '.join(map(repr, missing))}")
    for f, col in found.items():
        values = _numeric(frame, col, source)
        _check_range(values, 1, 5, col, source)
        out[f] = values.to_numpy()
    return out


# --- Inglehart-Welzel -------------------------------------------------------------------------------------------
def load_inglehart_welzel(path: str | Path | Sequence[str | Path] | None = None) -> pd.DataFrame:
    """Read Inglehart-Welzel cultural-map country scores and key them by ISO code and survey year.

    Accepts either a single CSV with columns ``country`` (or ``geo``), ``year``, ``tradagg`` (traditional (-)
    vs secular-rational (+)) and ``survsagg`` (survival (-) vs self-expression (+)) (or this function's own
    output names ``traditional_secular`` / ``survival_self_expression``), or the two files of the
    Gapminder/open-numbers DDF repository (``ddf--datapoints--tradagg--by--geo--year.csv`` and
    ``ddf--datapoints--survsagg--by--geo--year.csv``, CC-BY-4.0), given as a folder or as two paths.
    Without ``path``, reads the bundled copy ``psychoml/instruments/data/inglehart_welzel.csv`` when the
    package was built with one (``tests/reference/norms/make_inglehart_welzel.py``).

    Returns
    -------
    DataFrame
        ``iso3`` (missing for sub-national samples such as Northern Ireland), ``country``, ``year``,
        ``traditional_secular``, ``survival_self_expression``; sorted by country and year.
    """
    paths: list[Path]
    if path is None:
        bundled = _DATA / "inglehart_welzel.csv"
        if not bundled.is_file():
            raise DataError(
                "no bundled Inglehart-Welzel table in this installation: pass the path of your download "
                "(e.g. the two ddf--datapoints--*--by--geo--year.csv files of Gapminder's "
                "ddf--open_numbers--integrated_values_surveys_indicators, CC-BY-4.0)"
            )
        path = bundled
    if isinstance(path, (str, Path)):
        p = Path(path)
        paths = sorted(p.glob("ddf--datapoints--*--by--geo--year.csv")) if p.is_dir() else [p]
        if p.is_dir() and not paths:
            raise DataError(f"{p}: no ddf--datapoints--tradagg/survsagg--by--geo--year.csv files in this folder")
    else:
        paths = [Path(x) for x in path]
    parts = []
    for p in paths:
        frame, source = _read(p)
        frame = frame.rename(columns={"traditional_secular": "tradagg", "survival_self_expression": "survsagg"})
        name_col = "geo" if "geo" in frame.columns else "country"
        _require(frame, [name_col, "year"], source, "Inglehart-Welzel scores")
        scores = [c for c in ("tradagg", "survsagg") if c in frame.columns]
        if not scores:
            raise DataError(f"{source}: missing column 'tradagg' or 'survsagg' of Inglehart-Welzel scores")
        part = pd.DataFrame({
            "iso3": country_to_iso3(frame[name_col], source=source, column=name_col).to_numpy(),
            "country": frame[name_col].str.strip().to_numpy(),
            "year": _numeric(frame, "year", source).astype("Int64").to_numpy(),
        })
        for c in scores:
            part[c] = _numeric(frame, c, source).to_numpy()
        parts.append(part.set_index(["country", "year"]))
    merged = parts[0]
    for part in parts[1:]:
        extra = part.drop(columns=["iso3"])
        merged = merged.join(extra, how="outer")
        merged["iso3"] = merged["iso3"].fillna(part["iso3"].reindex(merged.index))
    for c in ("tradagg", "survsagg"):
        if c not in merged.columns:
            raise DataError(f"{', '.join(map(str, paths))}: no {c!r} scores found (pass both DDF files)")
    out = merged.reset_index().rename(columns={"tradagg": "traditional_secular", "survsagg": "survival_self_expression"})
    cols = ["iso3", "country", "year", "traditional_secular", "survival_self_expression"]
    return out[cols].sort_values(["country", "year"], kind="stable").reset_index(drop=True)
