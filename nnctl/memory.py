"""The one memory guard: what this process may hold, and each user-sized allocation checked against it first.

A schema-valid size (``units: 20000``, ``filters: 1000000000``, ``samples: 10⁹``,
a CSV cell of 100,000 characters) would otherwise reach NumPy's allocator and die
there as a traceback, or take the machine's memory from everyone else.  Every
allocation that scales with user input asks ``over_limit`` first, with its
estimate; the caller raises its own one-line error (a spec key, a file and line).
The last estimate is kept so that a MemoryError that still happens (the
estimates are floors) is reported with it (``out_of_memory``).

Usable from every layer (like ``errors``).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


@dataclass(frozen=True)
class Estimate:
    what: str
    need: int
    key: str | None  # the spec key whose value sized it, when there is one


_latest: Estimate | None = None


def physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def limit() -> tuple[int, str]:
    """(bytes, what sets them): the smallest of the machine's memory, the address-space limit and the cgroup's."""
    limits = [(physical_memory(), "this machine's memory")]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append((soft, "the address-space limit (ulimit -v)"))
    try:
        text = CGROUP_LIMIT.read_text().strip()
    except OSError:
        text = ""
    if text.isdigit():
        limits.append((int(text), "the cgroup's memory limit"))
    return min(limits)


def human_bytes(n_bytes: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:,.1f} {unit}"
    return f"{n_bytes} B"


def over_limit(need: int, what: str, key: str | None = None) -> str | None:
    """None when ``need`` bytes for ``what`` fit what this process may hold; else the sentence saying why not."""
    global _latest
    _latest = Estimate(what, int(need), key)
    have, source = limit()
    if need <= have:
        return None
    return f"{what} would need at least {human_bytes(need)}; {source} is {human_bytes(have)}"


def out_of_memory(err: MemoryError) -> tuple[str | None, str]:
    """(spec key or None, one-line message) for a MemoryError that got past the estimates."""
    have, source = limit()
    detail = " ".join(str(err).split()) or "an allocation failed"
    message = f"out of memory ({detail}); {source} is {human_bytes(have)}"
    if _latest is None:
        return None, message
    return _latest.key, f"{message}; {_latest.what} was estimated at {human_bytes(_latest.need)}"
