"""docs/tutorials/own-csv.md shows the spec it ships (tests/test_tutorials.py runs its shell blocks)."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

PAGE = REPO / "docs" / "tutorials" / "own-csv.md"


def test_the_page_shows_the_spec_it_ships():
    shown = re.search(r"`docs/tutorials/own-csv/customers.yaml`:\n\n```yaml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert yaml.safe_load(shown.group(1)) == yaml.safe_load((PAGE.parent / "own-csv" / "customers.yaml").read_text())
