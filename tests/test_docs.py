"""The front door and the record hold together: every relative link in README.md and docs/
resolves to a file of the checkout (and, with a #fragment, to a heading of that page), every
docs/ page is reachable from the README, and the README stays a front door."""

import glob
import os
import re

import pytest
from conftest import ROOT

PAGES = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CHANGELOG.md")] + sorted(
    glob.glob(os.path.join(ROOT, "docs", "*.md"))
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _text_outside_code(path) -> str:
    """The page without its fenced code blocks (a link-like string in code is no link)."""
    out, fenced = [], False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return "".join(out)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path) -> set:
    return {
        _slug(line.lstrip("#"))
        for line in _text_outside_code(path).splitlines()
        if re.match(r"#{1,6} ", line)
    }


def _links(path):
    for target in LINK.findall(_text_outside_code(path)):
        if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked offline
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        file, _, fragment = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not os.path.exists(dest):
            broken.append(f"{target} (no such file)")
        elif fragment and dest.endswith(".md") and fragment not in _anchors(dest):
            broken.append(f"{target} (no heading #{fragment})")
    assert not broken, f"{os.path.relpath(page, ROOT)}: {broken}"


def test_the_checker_finds_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "# Top\n[ok](#top) [bad](missing.md) [web](https://x.org)\n```\n[c](nope)\n```\n"
    )
    assert list(_links(str(page))) == ["#top", "missing.md"]
    assert _anchors(str(page)) == {"top"}


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {
        os.path.normpath(os.path.join(ROOT, t.partition("#")[0]))
        for t in _links(os.path.join(ROOT, "README.md"))
    }
    pages = set(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    assert not pages - linked, sorted(os.path.relpath(p, ROOT) for p in pages - linked)


def test_the_readme_is_a_front_door():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert len(text.splitlines()) <= 250
    assert "**Contents:**" in text
    # the block .ci/run executes is still there, with the test command
    block = text.split("<!-- .ci/run executes", 1)[1].split("```")[1]
    assert ".venv/bin/python -m pytest -q tests" in block
