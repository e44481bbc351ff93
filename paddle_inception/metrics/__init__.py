"""Generative-model metrics on the FID network (`models.fid_inception_v3`): activation
statistics streamed in float64 and pytorch-fid's `.npz` files (`stats`), FID / KID / Inception
Score with the reference implementations' numerics (`scores`), and the features of an image
folder read as pytorch-fid reads it (`extract`). The `paddle-inception fid` command is built on
these; docs/fid.md says how to get the weights and what was compared."""

from .extract import FolderMeasure, ImageFolderError, list_images, measure_folder, read_rgb
from .scores import MeanStd, frechet_distance, inception_score, kernel_inception_distance
from .stats import ActivationStats, StatsAccumulator, StatsFileError, load_stats, save_stats

__all__ = [
    "ActivationStats",
    "StatsAccumulator",
    "StatsFileError",
    "load_stats",
    "save_stats",
    "MeanStd",
    "frechet_distance",
    "kernel_inception_distance",
    "inception_score",
    "FolderMeasure",
    "ImageFolderError",
    "list_images",
    "measure_folder",
    "read_rgb",
]
