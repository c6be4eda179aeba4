"""docs/tutorials/own-csv.md runs verbatim from the root of a fresh copy, and shows the spec it ships."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, subprocess_env

PAGE = REPO / "docs" / "tutorials" / "own-csv.md"
SKIP = "<!-- test: skip"


def shell_blocks(text: str) -> list[str]:
    """The ```bash blocks of the page, except those right after a skip marker."""
    return [m.group(2) for m in re.finditer(r"(<!--[^>]*-->\n)?```bash\n(.*?)```", text, re.S)
            if not (m.group(1) or "").startswith(SKIP)]


def test_the_tutorial_runs_verbatim_in_a_fresh_copy(tmp_path):
    clone = tmp_path / "nnctl"
    shutil.copytree(REPO / "configs", clone / "configs")
    shutil.copytree(REPO / "datasets", clone / "datasets", ignore=shutil.ignore_patterns("cache"))
    shutil.copytree(PAGE.parent / "own-csv", clone / "docs" / "tutorials" / "own-csv")
    env = subprocess_env(PATH=f"{Path(sys.executable).parent}:{subprocess_env()['PATH']}")
    for block in shell_blocks(PAGE.read_text(encoding="utf-8")):
        done = subprocess.run(["bash", "-e", "-c", block], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{block}\n{done.stderr}"
    predicted = (clone / "runs" / "segments.csv").read_text().splitlines()
    assert predicted[0] == "customer_id,branch,class,p_bronze,p_gold,p_silver" and len(predicted) == 9
    assert (clone / "runs" / "customer-errors.csv").read_text().startswith("run,split,checkpoint,threshold,part,row,customer_id,branch")


def test_the_page_shows_the_spec_it_ships():
    shown = re.search(r"`docs/tutorials/own-csv/customers.yaml`:\n\n```yaml\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert yaml.safe_load(shown.group(1)) == yaml.safe_load((PAGE.parent / "own-csv" / "customers.yaml").read_text())
