"""tests/fixtures/seeds/ holds excerpts of the seed documents whose figures the tests pin, so the
pins run in any clone; where the seeds themselves are at hand (../shared/seeds: CI, developers'
machines) the excerpts must be their lines, verbatim."""

import os

import pytest
from conftest import SEED_000_TABLE, SEED_002_TABLES, SHARED_SEEDS

EXCERPTS = [
    (SEED_002_TABLES, "002_4de5a76aaaf4e62d.txt", 48, 64),
    (SEED_000_TABLE, "000_595c231d8e4aceef.txt", 208, 343),
]


def _body(path):
    """The excerpt without its two header comment lines."""
    lines = open(path, encoding="utf-8").read().splitlines()
    assert lines[0].startswith("# Excerpt of ../shared/seeds/") and lines[1].startswith("# ")
    return lines[2:]


@pytest.mark.parametrize("excerpt,seed,first,last", EXCERPTS)
def test_excerpt_is_the_seed_verbatim(excerpt, seed, first, last):
    body = _body(excerpt)
    assert len(body) == last - first + 1
    path = os.path.join(SHARED_SEEDS, seed)
    if not os.path.isfile(path):
        pytest.skip(f"{path} not here to compare with (the excerpt's pins still run)")
    seed_lines = open(path, encoding="utf-8").read().splitlines()[first - 1 : last]
    assert body == seed_lines


def test_excerpts_hold_the_pinned_totals():
    assert "Total params: 163,696" in open(SEED_002_TABLES, encoding="utf-8").read()
    assert "Total params: 13,378,280" in open(SEED_002_TABLES, encoding="utf-8").read()
    text = open(SEED_000_TABLE, encoding="utf-8").read()
    assert "6998552.0" in text and "Total Flops: 1.59GFlops" in text
