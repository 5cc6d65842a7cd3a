"""The pieces of a rendered prompt: chat messages and response options as presented.

They live in ``prompts`` (the lowest layer that produces them) and are reused
by :mod:`psychoml.records` for requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Message", "Option"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Option:
    """A response option as presented: the label the model should produce and the value it scores as."""

    label: str
    value: float
    text: str | None = None  # the anchor wording shown with the label, if any
