"""Administering instruments to models: the runner (see :mod:`psychoml.administer._runner`).

>>> from psychoml.administer import administer
>>> administer("svs56", "simulated:grm?seed=1", design="quick", samples=2, out="study.db")  # doctest: +SKIP
"""

from psychoml.administer._limits import TokenBucket, backoff_delay
from psychoml.administer._prices import PRICES, estimate_cost
from psychoml.administer._runner import RunSummary, administer, administer_async, build_requests, print_summary

__all__ = [
    "PRICES",
    "RunSummary",
    "TokenBucket",
    "administer",
    "administer_async",
    "backoff_delay",
    "build_requests",
    "estimate_cost",
    "print_summary",
]
