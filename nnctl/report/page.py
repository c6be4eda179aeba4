"""The HTML page every report shares: sections, tables, inline-SVG figures, one style sheet, no JavaScript.

A page references nothing outside itself: figures are inline SVG, the style is
inline, and links are anchors within the page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..runs.atomic import atomic_write_text
from .figures import check_output, require_matplotlib, svg_text
from .values import human, numeric_column

REPORT_FILE = "report.html"
HTML_FORMATS = (".html", ".htm")


def write_page(folder: Path, out: Path | None, page: Callable[[], str]) -> Path:
    """Write ``page()`` to ``out`` (checked first) or FOLDER/report.html, replacing it atomically."""
    out = Path(folder) / REPORT_FILE if out is None else check_output(out, "--out", HTML_FORMATS)
    require_matplotlib()
    atomic_write_text(out, page())
    return out


def table(header: list[str] | None, rows: list[list]) -> str:
    """An HTML table that scrolls inside the page column when it is wider. With a header, a column whose cells
    are all numbers is right-aligned (class ``num``) and every other column left-aligned; without one it is a
    list of facts, key then value, read from the left. Cells that are not text go through `human` (no reprs)."""
    cells = [[c if isinstance(c, str) else human(c) for c in row] for row in rows]
    numeric = [header is not None and numeric_column([row[k] for row in cells]) for k in range(len(header or []))]
    head = "" if header is None else "<thead><tr>" + "".join(
        f"<th{_NUM if numeric[k] else ''}>{_breakable(h)}</th>" for k, h in enumerate(header)) + "</tr></thead>"
    body = "".join("<tr>" + "".join(
        (f'<th scope="row">{html.escape(c)}</th>' if header is None and k == 0 else
         f"<td{_NUM if k < len(numeric) and numeric[k] else ''}>{html.escape(c)}</td>") for k, c in enumerate(row)) + "</tr>"
        for row in cells)
    kind = "facts" if header is None else "grid"
    return f'<div class="scroll"><table class="{kind}">{head}<tbody>{body}</tbody></table></div>'


_NUM = ' class="num"'


def _breakable(header: str) -> str:
    """A header that may wrap after a dot (``train.<wbr>learning_rate``), never inside a name."""
    return "<wbr>".join(html.escape(part) + "." for part in header.split("."))[:-1] if "." in header else html.escape(header)


@dataclass
class Section:
    anchor: str
    title: str
    body: str  # HTML

    def render(self) -> str:
        return f'<section id="{self.anchor}"><h2>{html.escape(self.title)}</h2>{self.body}</section>'


def figure_block(fig, salt: str, caption: str) -> str:
    return f"<figure>{svg_text(fig, salt)}<figcaption>{html.escape(caption)}</figcaption></figure>"


STYLE = """
:root { --ink: #1d2430; --muted: #5b6575; --rule: #d9dee6; --band: #f5f7fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #fff;
       max-width: 62rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; overflow-wrap: anywhere; }
header p { color: var(--muted); margin: 0 0 .6rem; font-size: .85rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid var(--rule); }
nav { display: flex; flex-wrap: wrap; gap: .3rem 1rem; font-size: .9rem; }
nav a { color: var(--accent); text-decoration: none; } nav a:hover { text-decoration: underline; }
p { max-width: 46rem; }
.scroll { max-width: 100%; overflow-x: auto; margin: .6rem 0 1rem; }
table { border-collapse: collapse; font-size: .88rem; }
th, td { padding: .3rem .55rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--rule); font-weight: 600; }
tbody tr:nth-child(even) { background: #fafbfc; }
table.facts th { font-weight: 600; color: var(--muted); white-space: nowrap; padding-right: 1.5rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } td.num { white-space: nowrap; }
pre { background: var(--band); border: 1px solid var(--rule); border-radius: 4px; padding: .7rem .9rem;
      overflow-x: auto; font-size: .82rem; line-height: 1.4; }
figure { margin: 1rem 0 1.5rem; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: var(--muted); margin-top: .3rem; max-width: 46rem; }
"""


def render_page(title: str, sections: list[Section | None]) -> str:
    """The whole page: a title, a table of contents and the sections that apply (None: left out)."""
    sections = [section for section in sections if section is not None]
    nav = "<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections) + "</nav>"
    title = html.escape(title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body><header><h1>{title}</h1>"
            f"<p>Written by nnctl {html.escape(__version__)}.</p>{nav}</header>{''.join(s.render() for s in sections)}"
            "</body></html>\n")
