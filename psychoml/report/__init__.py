"""Reports: draw result objects as HTML, Markdown and JSON (computes nothing itself)."""

from psychoml.report.build import SECTIONS, build_report
from psychoml.report.document import Figure, Report, Section, Table, Text

__all__ = ["SECTIONS", "Figure", "Report", "Section", "Table", "Text", "build_report"]
