"""Every shell block of every tutorial runs, as written, in a fresh copy of the repository, so the
tutorials cannot drift from what the commands do.

A page's ```bash/```sh/```shell blocks run in page order in one bash session (`set -euo pipefail`)
with nnctl on PATH; ```console, ```text, ```yaml and ```python blocks are shown, not run. An HTML
comment on the line before a block adjusts it, always with a reason in parentheses:

    <!-- test: skip (installs the package; the suite runs with it installed) -->
    <!-- test: with --set train.epochs=1 (12 epochs on MNIST take minutes) -->

`with` appends its arguments to each `nnctl train SPEC`, `nnctl tune SPEC` and
`nnctl diagnose SPEC --learning-curve` command of the block, so a test trains on tiny budgets
what the reader trains in full.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MNIST_MIRROR, REPO, subprocess_env
from test_tour import _activated_path

TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
SHELLS = {"bash", "sh", "shell"}
BLOCK = re.compile(r"(?:^<!-- test: (?P<directive>.*?) -->\n)?^```(?P<language>\w*)[^\n]*\n(?P<body>.*?)^```", re.S | re.M)
DIRECTIVE = re.compile(r"(?P<verb>skip|with)\b\s*(?P<args>.*?)\s*\((?P<reason>[^()]+)\)")
BUDGETED = re.compile(r"^\s*nnctl (?:train|tune|diagnose)\s")


def with_arguments(command: str, arguments: str) -> str:
    """``command`` with ``arguments`` appended to every training command in it (chains with && included)."""
    code, hash_, comment = command.partition("  #")
    parts = code.rstrip().split(" && ")
    for i, part in enumerate(parts):
        fresh = "--resume" not in part and "--refine" not in part
        if BUDGETED.match(part) and fresh and (not part.lstrip().startswith("nnctl diagnose") or "--learning-curve" in part):
            parts[i] = f"{part} {arguments}"
    return " && ".join(parts) + (f"{hash_}{comment}" if hash_ else "")


def script(page: str) -> str:
    """The shell a page's blocks make, directives applied."""
    lines = []
    for block in BLOCK.finditer(page):
        if block["language"] not in SHELLS:
            continue
        body = block["body"]
        if block["directive"]:
            directive = DIRECTIVE.fullmatch(block["directive"])
            assert directive, f"<!-- test: {block['directive']} -->: expected 'skip (REASON)' or 'with ARGS (REASON)'"
            if directive["verb"] == "skip":
                continue
            commands = re.sub(r"\s*\\\n\s*", " ", body).splitlines()  # continuation lines joined
            body = "\n".join(with_arguments(command, directive["args"]) for command in commands) + "\n"
        lines.append(body)
    return "set -euo pipefail\n" + "".join(lines)


def test_directives():
    page = """<!-- test: skip (slow) -->\n```bash\nnever\n```\n```console\n$ shown\n```\n""" \
           """<!-- test: with --set train.epochs=1 (quick) -->\n```bash\nnnctl train a.yaml  # comment\n""" \
           """nnctl train --resume runs/latest\nnnctl data fetch mnist && nnctl train b.yaml \\\n  --quiet\n""" \
           """nnctl diagnose runs/latest\nnnctl diagnose a.yaml --learning-curve 0.5,1\n```\n"""
    assert script(page).splitlines() == [
        "set -euo pipefail",
        "nnctl train a.yaml --set train.epochs=1  # comment",
        "nnctl train --resume runs/latest",
        "nnctl data fetch mnist && nnctl train b.yaml --quiet --set train.epochs=1",
        "nnctl diagnose runs/latest",
        "nnctl diagnose a.yaml --learning-curve 0.5,1 --set train.epochs=1",
    ]
    with pytest.raises(AssertionError, match="expected 'skip"):
        script("<!-- test: skip -->\n```bash\nnever\n```\n")


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.name)
def test_the_tutorial_runs_as_written(page: Path, tmp_path):
    text = page.read_text(encoding="utf-8")
    env = subprocess_env(PATH=_activated_path(tmp_path))
    env.pop("NNCTL_DATASETS", None)
    if "mnist" in script(text).lower():
        if not (MNIST_MIRROR / "train-images-idx3-ubyte.gz").is_file():
            pytest.skip(f"{page.name} needs the MNIST mirror ($NNCTL_DATA_MIRROR)")
        env["NNCTL_DATA_MIRROR"] = str(MNIST_MIRROR)
    clone = tmp_path / "nnctl"
    for folder in ("configs", "docs"):
        shutil.copytree(REPO / folder, clone / folder)
    shutil.copytree(REPO / "datasets", clone / "datasets", ignore=shutil.ignore_patterns("cache"))
    done = subprocess.run(["bash", "-c", script(text)], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page.name}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
