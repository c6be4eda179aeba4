"""Append-only journals: JSON records, one a line, each sealed by a SHA-256 chained to the one before.

A line is ``<sha256 hex> <json>``, the digest taken over the previous line's
digest and this line's JSON, so a record cannot be altered, dropped or
reordered without the chain breaking. Appending costs the new record alone
(one write, one fsync), whatever the journal's length. A kill during an append
can leave only the last line torn (cut short, or not yet ending in a newline);
readers drop such a line: its writer had not yet recorded anything that relies
on it. A bad line before the last one is damage.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import RunError
from .atomic import atomic_write_text, describe

DIGEST_HEX = 64


def _line(previous: str, record) -> tuple[str, str]:
    """(the line for ``record``, its digest), chained to ``previous``."""
    text = json.dumps(record, separators=(",", ":"))  # floats as repr: they read back bit for bit
    digest = hashlib.sha256((previous + text).encode()).hexdigest()
    return f"{digest} {text}\n", digest


def create_journal(path: Path, header: dict, *records) -> str:
    """Start a journal of ``header`` and ``records`` (replacing any file at ``path``) at once; the last digest."""
    lines, digest = [], ""
    for record in (header, *records):
        line, digest = _line(digest, record)
        lines.append(line)
    atomic_write_text(path, "".join(lines))
    return digest


def append_record(path: Path, previous: str, record) -> str:
    """Append ``record`` after the line whose digest is ``previous``, durably; the new digest."""
    line, digest = _line(previous, record)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise RunError(f"{path}: cannot append ({describe(err)}); what was written before is intact") from None
    return digest


def read_journal(path: Path, error: type[RunError]) -> tuple[dict, list]:
    """(header, records) of the journal at ``path``; a torn last line is left out."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as err:
        raise error(f"{path}: cannot be read ({describe(err)})") from None
    records, previous = [], ""
    complete = lines[:-1]  # the part after the last newline is empty, or a torn append
    for number, raw in enumerate(complete, 1):
        verified = _verify(raw, previous)
        if verified is None:
            if number == len(complete):
                break
            raise error(f"{path}: damaged: line {number} does not match its SHA-256 chain")
        record, previous = verified
        records.append(record)
    if not records or not isinstance(records[0], dict):
        raise error(f"{path}: damaged: no header line")
    return records[0], records[1:]


def _verify(raw: bytes, previous: str) -> tuple[object, str] | None:
    """(record, digest) of one line, or None when the line is not what its digest says."""
    digest, _, text = raw.partition(b" ")
    try:
        digest_hex, text_str = digest.decode("ascii"), text.decode("utf-8")
        if len(digest_hex) != DIGEST_HEX or hashlib.sha256((previous + text_str).encode()).hexdigest() != digest_hex:
            return None
        return json.loads(text_str), digest_hex
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
