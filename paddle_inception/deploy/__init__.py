"""Deployment: export (Paddle Inference, ONNX), INT8 / BF16 (quantize), predictors and the
runtime choice (runtimes), inference preprocessing, class maps and classification of image
files."""

from ..data.classmap import CLASS_MAPS_DIR, default_class_map_path, load_class_map
from .export import InferenceNetwork, check_export, export_inference_model, export_onnx
from .files import META_SUFFIX, model_files, read_meta
from .infer import classify, collect_images, format_results, load_image, topk
from .predictor import (
    EagerPredictor,
    InferencePredictor,
    OnnxPredictor,
    create_predictor,
    onnx_predict,
)
from .preprocess import (
    build_preprocess,
    config_transform_ops,
    default_transforms,
    preprocessing_transform_ops,
)
from .quantize import compare_predictors, quantize_export
from .runtimes import OpenVinoPredictor, check_precision, find_deployed_model, open_predictor

__all__ = [
    "CLASS_MAPS_DIR",
    "default_class_map_path",
    "load_class_map",
    "InferenceNetwork",
    "check_export",
    "export_inference_model",
    "export_onnx",
    "META_SUFFIX",
    "model_files",
    "read_meta",
    "classify",
    "collect_images",
    "format_results",
    "load_image",
    "topk",
    "EagerPredictor",
    "InferencePredictor",
    "OnnxPredictor",
    "create_predictor",
    "onnx_predict",
    "build_preprocess",
    "config_transform_ops",
    "default_transforms",
    "preprocessing_transform_ops",
    "compare_predictors",
    "quantize_export",
    "OpenVinoPredictor",
    "check_precision",
    "find_deployed_model",
    "open_predictor",
]
