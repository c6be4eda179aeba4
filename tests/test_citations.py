"""Every citation in code and docs points somewhere: `docs/....md#anchor` names a page and a heading
that exist, and no retired name of the formula page (or a bare section number) is left."""

from __future__ import annotations

import re

import pytest
from conftest import REPO
from test_docs import anchors

CITATION = re.compile(r"(docs/(?:[\w-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
# A cited page's further anchors in the same breath: "algorithms.md#dense-layer, #regularization".
MORE_ANCHORS = re.compile(r",? ?#([\w-]+)")  # matched right after a citation
RETIRED = ("ALGORITHMS.md", "docs/algorithms.md", "§")


def sources():
    """The text files that may cite the manual: code, tests, benchmarks, configs, the manual and the README."""
    patterns = ["nnctl/**/*.py", "tests/*.py", "bench/**/*.py", "bench/*.sh", "bench/README.md", "configs/*.yaml",
                "docs/**/*.md", "README.md", "mkdocs.yml", "pyproject.toml", ".ci/run"]
    this = REPO / "tests" / "test_citations.py"  # its examples cite nothing
    return sorted({path for pattern in patterns for path in REPO.glob(pattern)} - {this})


def citations(text: str):
    """(page, anchor or None) for every docs/....md citation in ``text``."""
    for match in CITATION.finditer(text):
        yield match.group(1), match.group(2)
        position = match.end()
        while more := MORE_ANCHORS.match(text, position):
            yield match.group(1), more.group(1)
            position = more.end()


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_citation_resolves(path):
    text = path.read_text(encoding="utf-8")
    for page, anchor in citations(text):
        target = REPO / page
        assert target.is_file(), f"{path.relative_to(REPO)} cites {page}, which does not exist"
        if anchor:
            assert anchor in anchors(target), f"{path.relative_to(REPO)} cites {page}#{anchor}: no such heading"
    if path != REPO / "docs" / "explanation" / "algorithms.md":
        for retired in RETIRED:
            assert retired not in text, f"{path.relative_to(REPO)} cites {retired!r}: cite docs/explanation/algorithms.md#ANCHOR"


def test_the_source_is_named_once_where_it_is_cited():
    assert "the-course-notes" in anchors(REPO / "docs" / "explanation" / "algorithms.md")
    assert "docs/explanation/algorithms.md#the-course-notes" in (REPO / "nnctl" / "__init__.py").read_text(encoding="utf-8")


def test_a_wrong_citation_would_be_caught():
    cited = list(citations("see docs/explanation/algorithms.md#dense-layer, #no-such-heading"))
    assert cited == [("docs/explanation/algorithms.md", "dense-layer"), ("docs/explanation/algorithms.md", "no-such-heading")]
    assert "no-such-heading" not in anchors(REPO / "docs" / "explanation" / "algorithms.md")
