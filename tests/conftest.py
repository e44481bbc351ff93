import os
import sys

import numpy as np
import paddle
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
SEEDS = os.path.join(os.path.dirname(ROOT), "shared", "seeds")


@pytest.fixture(autouse=True)
def _seed():
    paddle.seed(0)
    np.random.seed(0)
    yield


def n_trainable(layer) -> int:
    """Trainable parameters only (paddle.summary also counts BN running stats as params)."""
    return int(sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient))


def n_non_trainable(layer) -> int:
    """BN running mean/variance: stop-gradient parameters in Paddle 3 (paddle.summary lists them
    as non-trainable params)."""
    return int(sum(int(np.prod(p.shape)) for p in layer.parameters() if p.stop_gradient))
