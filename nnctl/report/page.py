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

REPORT_FILE = "report.html"
HTML_FORMATS = (".html", ".htm")


def write_page(folder: Path, out: Path | None, page: Callable[[], str]) -> Path:
    """Write ``page()`` to ``out`` (checked first) or FOLDER/report.html, replacing it atomically."""
    out = Path(folder) / REPORT_FILE if out is None else check_output(out, "--out", HTML_FORMATS)
    require_matplotlib()
    atomic_write_text(out, page())
    return out


def table(header: list[str] | None, rows: list[list[str]]) -> str:
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


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
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
nav a { margin-right: .8rem; }
"""


def render_page(title: str, sections: list[Section | None]) -> str:
    """The whole page: a title, a table of contents and the sections that apply (None: left out)."""
    sections = [section for section in sections if section is not None]
    nav = "<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections) + "</nav>"
    title = html.escape(title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
            f"<p>Written by nnctl {html.escape(__version__)}.</p>{nav}{''.join(s.render() for s in sections)}</body></html>\n")
