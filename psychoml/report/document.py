"""A report as data: sections of text, tables and figures, rendered to HTML, Markdown and JSON.

The document model knows nothing about statistics: the study layer (or a user)
fills it with result tables and figures, and the renderers here only lay them
out.  HTML output is self-contained (inline CSS, figures embedded as SVG), so a
report opens with no network; every table can be exported as CSV and LaTeX.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Figure", "Report", "Section", "Table", "Text", "slug"]


def slug(text: str) -> str:
    """A file- and anchor-safe identifier for ``text``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclasses.dataclass(frozen=True)
class Text:
    """A paragraph (plain text; rendered escaped)."""

    text: str
    kind: str = "p"  # "p" | "note" | "warning"


@dataclasses.dataclass(frozen=True)
class Table:
    """A table with a caption; ``note`` states thresholds or definitions used to read it."""

    frame: pd.DataFrame
    caption: str
    id: str = ""
    note: str | None = None
    digits: int = 3
    index: bool = True

    def __post_init__(self) -> None:
        # A (model, instrument, scale) index reads best as ordinary leading columns, not as tuples.
        if self.index and isinstance(self.frame.index, pd.MultiIndex):
            object.__setattr__(self, "frame", self.frame.reset_index())
            object.__setattr__(self, "index", False)

    @property
    def key(self) -> str:
        return self.id or slug(self.caption)

    def formatted(self) -> pd.DataFrame:
        def fmt(v: Any) -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            if isinstance(v, (bool, np.bool_)):
                return "yes" if v else "no"
            if isinstance(v, (float, np.floating)):
                return f"{float(v):.{self.digits}f}"
            return str(v)

        out = self.frame.copy()
        out = out.astype(object).map(fmt) if hasattr(out, "map") else out.applymap(fmt)
        return out

    def to_latex(self) -> str:
        body = self.formatted()
        cols = ([str(self.frame.index.name or "")] if self.index else []) + [str(c) for c in body.columns]
        esc = _latex_escape
        lines = [
            "\\begin{table}[ht]", "\\centering", f"\\caption{{{esc(self.caption)}}}",
            "\\begin{tabular}{" + "l" * (1 if self.index else 0) + "r" * body.shape[1] + "}", "\\hline",
            " & ".join(esc(c) for c in cols) + " \\\\", "\\hline",
        ]
        for idx, row in body.iterrows():
            cells = ([str(idx)] if self.index else []) + list(row)
            lines.append(" & ".join(esc(c) for c in cells) + " \\\\")
        lines += ["\\hline", "\\end{tabular}", "\\end{table}"]
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        frame = self.frame.reset_index() if self.index else self.frame
        return json.loads(frame.to_json(orient="records", double_precision=10, default_handler=str))


@dataclasses.dataclass(frozen=True)
class Figure:
    """An SVG figure with a caption and alt text."""

    svg: str
    caption: str
    alt: str
    id: str = ""

    @property
    def key(self) -> str:
        return self.id or slug(self.caption)


Block = Text | Table | Figure


@dataclasses.dataclass
class Section:
    """A titled section holding blocks and subsections."""

    title: str
    blocks: list[Block] = dataclasses.field(default_factory=list)
    id: str = ""

    @property
    def key(self) -> str:
        return self.id or slug(self.title)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


@dataclasses.dataclass
class Report:
    """A whole report: title, metadata (provenance), sections."""

    title: str
    sections: list[Section] = dataclasses.field(default_factory=list)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def section(self, title: str, id: str = "") -> Section:
        sec = Section(title, id=id)
        self.sections.append(sec)
        return sec

    def find(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def tables(self) -> Iterable[tuple[Section, Table]]:
        for s in self.sections:
            for t in s.tables():
                yield s, t

    # --- renderers -------------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "title": self.title,
            "metadata": self.metadata,
            "sections": [
                {
                    "id": s.key,
                    "title": s.title,
                    "blocks": [_block_json(b) for b in s.blocks],
                }
                for s in self.sections
            ],
        }
        return json.dumps(doc, indent=2, default=str)

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for k, v in self.metadata.items():
            out.append(f"- **{k}**: {v}")
        out.append("")
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for b in s.blocks:
                if isinstance(b, Text):
                    prefix = "> **Note:** " if b.kind == "note" else "> **Warning:** " if b.kind == "warning" else ""
                    out += [prefix + b.text, ""]
                elif isinstance(b, Table):
                    out += [f"**{b.caption}**", "", _markdown_table(b), ""]
                    if b.note:
                        out += [f"*{b.note}*", ""]
                else:
                    out += [f"*Figure: {b.caption}* (see the HTML report; `figures/{b.key}.svg`)", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        parts = [
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(self.title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
            f"<header><h1>{html.escape(self.title)}</h1>",
        ]
        if self.metadata:
            parts.append('<dl class="meta">')
            for k, v in self.metadata.items():
                parts.append(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>")
            parts.append("</dl>")
        parts.append("</header>")
        parts.append('<nav><ol>' + "".join(
            f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in self.sections) + "</ol></nav>")
        for s in self.sections:
            parts.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>')
            for b in s.blocks:
                if isinstance(b, Text):
                    parts.append(f'<p class="{b.kind}">{html.escape(b.text)}</p>')
                elif isinstance(b, Table):
                    parts.append(_html_table(b))
                else:
                    parts.append(
                        f'<figure id="fig-{b.key}" role="img" aria-label="{html.escape(b.alt)}">{_clean_svg(b.svg)}'
                        f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                    )
            parts.append("</section>")
        parts += ["</body>", "</html>"]
        return "\n".join(parts)

    def write(self, path: str | Path, *, formats: Iterable[str] = ("html", "md", "json"), tables: bool = True) -> dict[str, Path]:
        """Write the report next to ``path`` (its suffix is replaced per format); tables as CSV and LaTeX.

        Returns the paths written, keyed by format (``tables`` maps to the folder of CSV/LaTeX files).
        """
        base = Path(path)
        stem = base.with_suffix("") if base.suffix in {".html", ".md", ".json"} else base
        stem.parent.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for fmt in formats:
            target = stem.with_suffix("." + fmt)
            text = {"html": self.to_html, "md": self.to_markdown, "json": self.to_json}[fmt]()
            target.write_text(text, encoding="utf-8")
            written[fmt] = target
        if tables:
            folder = stem.parent / f"{stem.name}_tables"
            folder.mkdir(exist_ok=True)
            for s, t in self.tables():
                name = f"{s.key}--{t.key}"
                t.frame.to_csv(folder / f"{name}.csv", index=t.index)
                (folder / f"{name}.tex").write_text(t.to_latex(), encoding="utf-8")
            fig_dir = folder / "figures"
            for s in self.sections:
                for b in s.blocks:
                    if isinstance(b, Figure):
                        fig_dir.mkdir(exist_ok=True)
                        (fig_dir / f"{b.key}.svg").write_text(b.svg, encoding="utf-8")
            written["tables"] = folder
        return written


def _block_json(b: Block) -> dict[str, Any]:
    if isinstance(b, Text):
        return {"type": "text", "kind": b.kind, "text": b.text}
    if isinstance(b, Table):
        return {"type": "table", "id": b.key, "caption": b.caption, "note": b.note, "rows": b.to_records()}
    return {"type": "figure", "id": b.key, "caption": b.caption, "alt": b.alt}


def _markdown_table(t: Table) -> str:
    body = t.formatted()
    cols = ([str(t.frame.index.name or "")] if t.index else []) + [str(c) for c in body.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in body.iterrows():
        cells = ([str(idx)] if t.index else []) + [str(c).replace("|", "\\|") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(t: Table) -> str:
    body = t.formatted()
    head = ([html.escape(str(t.frame.index.name or ""))] if t.index else []) + [html.escape(str(c)) for c in body.columns]
    rows = []
    for idx, row in body.iterrows():
        cells = ([f'<th scope="row">{html.escape(str(idx))}</th>'] if t.index else []) + [
            f'<td class="{"num" if _is_num(v) else "txt"}">{html.escape(v)}</td>' for v in row
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    return (
        f'<div class="table-wrap" id="tab-{t.key}"><table><caption>{html.escape(t.caption)}</caption>'
        f"<thead><tr>{''.join(f'<th scope=col>{h}</th>' for h in head)}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def _is_num(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _clean_svg(svg: str) -> str:
    # Matplotlib writes an XML prolog and DOCTYPE that are invalid inside HTML.
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _latex_escape(text: str) -> str:
    repl = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
    return "".join(repl.get(ch, ch) for ch in str(text))


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;font-size:.9em;color:#333}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
nav ol{columns:2;font-size:.95em}
.table-wrap{overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:.9em}caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd}thead th{border-bottom:2px solid #555;text-align:right}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.txt{text-align:left}th[scope=row]{text-align:left}
p.note{font-size:.88em;color:#444}p.warning{background:#fff4e5;border-left:4px solid #E69F00;padding:.4em .8em}
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#333}
"""
