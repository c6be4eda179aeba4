"""The manual builds as a site with no broken link or anchor, and the README's links land."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from markdown.extensions.toc import slugify

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*(?:\{#([\w-]+)\})?\s*$", re.M)


def anchors(page: Path) -> set[str]:
    """The ids a Markdown page's headings get: an explicit {#id}, else the toc extension's slug."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {explicit or slugify(re.sub(r"[`*]", "", title), "-") for title, explicit in HEADING.findall(text)}


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file or #anchor does not exist."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
            broken.append(target)
    return broken


def test_the_site_builds_strictly(tmp_path):
    """mkdocs.yml turns every broken link or anchor into a warning, and --strict fails on one."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "tutorials" / "first-run" / "index.html").is_file()


def test_every_readme_link_lands():
    assert broken_links(REPO / "README.md") == []


def test_the_anchor_reader_agrees_with_the_site():
    page = REPO / "docs" / "explanation" / "algorithms.md"
    assert {"the-course-notes", "error-decomposition", "masked-bce"} <= anchors(page)
    assert "per-epoch-metrics" in anchors(REPO / "docs" / "explanation" / "benchmarks.md")
    assert "real-world-csv-files" in anchors(REPO / "docs" / "reference" / "data.md")


def test_the_readme_is_short_and_sets_up_in_two_commands():
    """Two one-line commands first (run the main job; run the tests, as .ci/run does), then a way to one's own CSV."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/nnctl train configs/quickstart.yaml\n",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest\n",
    ]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -e '.[test]'" in ci and ".venv/bin/python -m pytest" in ci
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "(docs/tutorials/own-csv.md)" in first_screen


def test_no_escaped_pipe_inside_code_in_the_manual():
    r"""The site shows `a\|b` in a code span as written, backslash included: write `a/b` or two spans."""
    for page in (REPO / "docs").rglob("*.md"):
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        assert not re.search(r"`[^`\n]*\\\|[^`\n]*`", text), page
