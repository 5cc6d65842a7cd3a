"""The response store: one crash-safe SQLite file per study (see :mod:`psychoml.store._sqlite`).

>>> from psychoml import store
>>> with store.open("study.db") as s:          # doctest: +SKIP
...     long = s.responses()                   # one row per request x item
...     wide = s.matrix(instrument="svs56")    # respondent x item
"""

from psychoml.store._sqlite import APPLICATION_ID, RESPONSE_COLUMNS, SCHEMA_VERSION, Store, open

__all__ = ["APPLICATION_ID", "RESPONSE_COLUMNS", "SCHEMA_VERSION", "Store", "open"]
