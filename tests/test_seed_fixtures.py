"""tests/fixtures/seeds/ holds excerpts of the seed documents whose figures the tests pin, so the
pins run in any clone; where the seeds themselves are at hand (../shared/seeds: CI, developers'
machines) the excerpts must be their lines, verbatim."""

import os
import re

import pytest
from conftest import SEED_000_TABLE, SEED_002_TABLES, SHARED_SEEDS, n_trainable

from paddle_inception.models import Inception, googlenet

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


def _totals(path, pattern):
    return [
        float(t.replace(",", ""))
        for t in re.findall(pattern, open(path, encoding="utf-8").read(), re.M)
    ]


def test_the_excerpts_totals_are_our_models_counts():
    """The totals the excerpts print (seed 002's two paddle.summary tables, seed 000's torchstat
    total without the aux heads) are what our models count: the excerpts hold the pins and the
    models meet them."""
    block = Inception(192, 64, (96, 128), (16, 32), 32)
    net = googlenet(num_classes=1000)
    assert _totals(SEED_002_TABLES, r"Total params: ([\d,]+)") == [
        n_trainable(block),
        n_trainable(net),
    ]
    (total,) = _totals(SEED_000_TABLE, r"^total\s+([\d.]+)")
    aux = n_trainable(net.aux1) + n_trainable(net.aux2)
    assert total == n_trainable(net) - aux
