"""Repeated measurements as median [min–max], printed as plain fixed-width tables."""

from __future__ import annotations

import statistics


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_range(s: dict, fmt=fmt_int) -> str:
    return f"{fmt(s['median'])} [{fmt(s['min'])}–{fmt(s['max'])}]"


def fmt_accuracy(acc) -> str:
    return "—" if acc is None else f"{100 * acc:.2f} %"


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain fixed-width table; columns in ``right`` are right-aligned."""
    right = right or set()
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *[line(r) for r in rows]])
