"""Data pipeline: PaddleClas-style transform ops, datasets and the DataLoader builder. The
package exports what its three modules do."""

from . import builder, datasets, transforms
from .builder import *  # noqa: F403
from .datasets import *  # noqa: F403
from .transforms import *  # noqa: F403

__all__ = [*transforms.__all__, *datasets.__all__, *builder.__all__]
