"""Training engine: losses, metrics, optimizers, callbacks and checkpoints around paddle.Model."""

from .losses import CELoss, GoogLeNetLoss, build_loss
from .metrics import TopkAcc, build_metrics
from .trainer import evaluate, train

__all__ = ["CELoss", "GoogLeNetLoss", "build_loss", "TopkAcc", "build_metrics", "evaluate", "train"]
