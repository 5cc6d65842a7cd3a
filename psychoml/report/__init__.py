"""Reports: draw result objects as HTML, Markdown and JSON (computes nothing itself)."""

__all__: list[str] = []
