"""CLI commands: reliability (registered on the shared typer app on import)."""

from __future__ import annotations

from psychoml.cli.app import app  # noqa: F401
