"""Instruments as data: schema, loading with located errors, and official scoring.

>>> from psychoml.instruments import load
>>> mfq = load("mfq30")                                         # doctest: +SKIP
>>> scores = mfq.score(responses)                               # doctest: +SKIP
"""

from psychoml.instruments.expr import Expression, ExpressionError
from psychoml.instruments.instrument import (
    GroupLevelWarning,
    Instrument,
    available,
    load,
    load_string,
    validate_file,
)
from psychoml.instruments.loader import data_dir, read_yaml, validate_model
from psychoml.instruments.norms import (
    country_to_iso3,
    load_hofstede,
    load_inglehart_welzel,
    load_mfq2,
    load_wvs7,
)
from psychoml.instruments.schema import (
    Check,
    Citation,
    Index,
    InstrumentSpec,
    Item,
    NormTable,
    ResponseScale,
    Scale,
    json_schema,
)

__all__ = [
    "Check",
    "Citation",
    "Expression",
    "ExpressionError",
    "GroupLevelWarning",
    "Index",
    "Instrument",
    "InstrumentSpec",
    "Item",
    "NormTable",
    "ResponseScale",
    "Scale",
    "available",
    "country_to_iso3",
    "data_dir",
    "json_schema",
    "load",
    "load_hofstede",
    "load_inglehart_welzel",
    "load_mfq2",
    "load_string",
    "load_wvs7",
    "read_yaml",
    "validate_file",
    "validate_model",
]
