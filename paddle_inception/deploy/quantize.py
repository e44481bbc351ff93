"""Post-training low precision for CPU deployment, behind `paddle-inception quantize`.

Routes (measured in docs/deploy.md; the first is the default):
- `onnxruntime`: ONNX Runtime's static quantizer on our FP32 ONNX export: QDQ format, INT8
  weights per output channel, UINT8 activations with ranges from the calibration images
  (MinMax by default). Runs in ONNX Runtime (VNNI kernels), also readable by OpenVINO.
- `openvino`: NNCF's post-training quantization of the same ONNX, saved as OpenVINO IR
  (`inference.xml` + `.bin`); runs in OpenVINO only.
- `bf16` (precision, Paddle Inference): the FP32 export run with oneDNN's bfloat16 kernels; no
  calibration. Needs AVX512_BF16 or AMX (`runtimes.check_precision`).
Paddle's own PTQ (`paddle.quantization.PTQ`) is not a route: with Paddle 3.3 its converted
model fails `jit.to_static` with a dynamic batch, and with a fixed one Paddle Inference's oneDNN
INT8 run stops on an empty tensor (docs/deploy.md).

Every output folder holds `inference.<onnx|xml|json>` and `inference_meta.json`: the FP32
export's meta plus `precision`, `runtime`, `route`, `calibration` (set, number of images, seed,
method), `date` and `float_model` (the FP32 export it came from).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from .files import META_SUFFIX, model_files, read_meta
from .imagesets import ImageSet
from .runtimes import check_precision

__all__ = [
    "ROUTES",
    "CALIB_METHODS",
    "QuantizeResult",
    "EvalResult",
    "quantize_onnx_int8",
    "quantize_openvino_int8",
    "quantize_export",
    "compare_predictors",
]

ROUTES = ("onnxruntime", "openvino")
CALIB_METHODS = ("minmax", "percentile", "entropy")
_HINT = 'pip install ".[deploy]"'


@dataclass
class QuantizeResult:
    model_file: str  # the low-precision model
    meta_file: str
    precision: str
    route: str
    calibration: dict | None
    seconds: float


@dataclass
class EvalResult:
    """Float vs low precision on one image set (top-1 in %, None without labels)."""

    images: int
    float_top1: float | None
    quant_top1: float | None
    changed: int  # images whose top-1 class differs
    changed_pct: float
    logit_corr: float  # Pearson correlation of all logits, float vs low precision

    def as_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _quiet_onnxruntime():
    """ONNX Runtime's quantizer logs advice on the root logger and its graph code warns per
    unused initializer; keep both off the console for the duration."""
    import onnxruntime as ort

    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        root.setLevel(saved)


def _calibration_reader(images: ImageSet, batch_size: int, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = images.batches(batch_size)

        def get_next(self):
            nxt = next(self._it, None)
            return None if nxt is None else {input_name: nxt[0]}

    return _Reader()


def quantize_onnx_int8(
    onnx_fp32: str,
    out_path: str,
    images: ImageSet,
    method: str = "minmax",
    per_channel: bool = True,
    batch_size: int = 16,
) -> None:
    """ONNX Runtime static INT8 (QDQ) of `onnx_fp32`, calibrated on `images`."""
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise ImportError(
            f"INT8 with onnxruntime needs onnxruntime, onnx, ml_dtypes: {_HINT} ({e})"
        ) from None
    if method not in CALIB_METHODS:
        raise ValueError(f"calibration method: expected one of {CALIB_METHODS}, got {method!r}")
    cal = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[method]
    input_name = onnx.load(onnx_fp32, load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp, _quiet_onnxruntime():
        pre = os.path.join(tmp, "pre.onnx")
        # shape inference + graph optimisation first (the quantizer's advice); the symbolic
        # pass is for transformer shapes and is not needed for convolutions
        quant_pre_process(onnx_fp32, pre, skip_symbolic_shape=True)
        quantize_static(
            pre,
            out_path,
            _calibration_reader(images, batch_size, input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,  # u8 x s8: the VNNI instruction's operand types
            weight_type=QuantType.QInt8,
            calibrate_method=cal,
            extra_options={"CalibTensorRangeSymmetric": False, "WeightSymmetric": True},
        )


def quantize_openvino_int8(onnx_fp32: str, out_xml: str, images: ImageSet) -> None:
    """NNCF post-training INT8 of `onnx_fp32` as OpenVINO IR (`out_xml` + `.bin`)."""
    # nncf imports torch where it is installed, whose extension loader warns about CUDA
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
        import openvino as ov
    except ImportError as e:
        raise ImportError(f"INT8 with openvino needs openvino and nncf: {_HINT} ({e})") from None
    model = ov.Core().read_model(onnx_fp32)
    batches = [x for x, _ in images.batches(1)]
    nncf.set_log_level(logging.ERROR)
    q = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))
    ov.save_model(q, out_xml, compress_to_fp16=False)


def _write_meta(meta_path: str, meta: dict) -> None:
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


def quantize_export(
    prefix: str,
    out_dir: str,
    precision: str = "int8",
    route: str = "onnxruntime",
    images: ImageSet | None = None,
    method: str = "minmax",
    seed: int = 0,
    flags: set | None = None,
) -> QuantizeResult:
    """Low-precision model of the FP32 export at `prefix` (`export_inference_model`; its ONNX
    is made with paddle2onnx when it is not beside it), written to `out_dir/inference.*`.

    INT8 needs `images` (the calibration set, preprocessed as the model expects)."""
    import time

    from .export import export_onnx

    t0 = time.time()
    program, params = model_files(prefix)
    src_prefix = os.path.splitext(program)[0]
    meta = dict(read_meta(prefix) or {})
    check_precision(precision, flags)
    if precision == "fp32":
        raise ValueError("precision fp32 is what `export` writes; quantize makes int8 or bf16")
    os.makedirs(out_dir, exist_ok=True)
    out_prefix = os.path.join(out_dir, "inference")
    if os.path.abspath(out_prefix) == os.path.abspath(src_prefix):
        raise ValueError(f"output folder {out_dir} holds the FP32 export; choose another one")
    calibration = None
    if precision == "bf16":
        route_desc = "Paddle Inference, oneDNN bfloat16 kernels on the FP32 program"
        shutil.copyfile(program, out_prefix + os.path.splitext(program)[1])
        shutil.copyfile(params, out_prefix + ".pdiparams")
        model_file, runtime = out_prefix + os.path.splitext(program)[1], "paddle"
    else:
        if route not in ROUTES:
            raise ValueError(f"route: expected one of {', '.join(ROUTES)}, got {route!r}")
        if images is None or images.size == 0:
            raise ValueError("int8 needs calibration images")
        onnx_fp32 = src_prefix + ".onnx"
        if not os.path.isfile(onnx_fp32):
            onnx_fp32 = export_onnx(src_prefix, onnx_fp32, opset=13)
        calibration = {"set": images.description, "num_images": images.size, "seed": seed}
        if route == "onnxruntime":
            model_file, runtime = out_prefix + ".onnx", "onnxruntime"
            calibration["method"] = method
            quantize_onnx_int8(onnx_fp32, model_file, images, method=method)
            route_desc = (
                "onnxruntime.quantization.quantize_static: QDQ, per-channel s8 weights, "
                f"u8 activations, {method} calibration"
            )
        else:
            model_file, runtime = out_prefix + ".xml", "openvino"
            calibration["method"] = "nncf default (min-max, fast bias correction)"
            quantize_openvino_int8(onnx_fp32, model_file, images)
            route_desc = "nncf.quantize (OpenVINO IR, performance preset)"
    meta.update(
        precision=precision,
        runtime=runtime,
        route=route_desc,
        model_file=os.path.basename(model_file),
        calibration=calibration,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        float_model=os.path.abspath(src_prefix),
    )
    meta_path = out_prefix + META_SUFFIX
    _write_meta(meta_path, meta)
    return QuantizeResult(
        model_file,
        meta_path,
        precision,
        route if precision == "int8" else "paddle",
        calibration,
        round(time.time() - t0, 2),
    )


def compare_predictors(float_pred, quant_pred, images: ImageSet, batch_size: int = 64):
    """Top-1 of both predictors on `images`, the images whose top-1 changed, and the
    correlation of their logits."""
    n = changed = f_ok = q_ok = 0
    sx = sy = sxx = syy = sxy = 0.0
    for x, y in images.batches(batch_size):
        a = np.asarray(float_pred(x), np.float64).reshape(len(x), -1)
        b = np.asarray(quant_pred(x), np.float64).reshape(len(x), -1)
        pa, pb = a.argmax(1), b.argmax(1)
        n += len(x)
        changed += int((pa != pb).sum())
        f_ok += int((pa == y).sum())
        q_ok += int((pb == y).sum())
        sx, sy = sx + a.sum(), sy + b.sum()
        sxx, syy, sxy = sxx + (a * a).sum(), syy + (b * b).sum(), sxy + (a * b).sum()
    m = n * a.shape[1]
    cov = sxy / m - (sx / m) * (sy / m)
    var = (sxx / m - (sx / m) ** 2) * (syy / m - (sy / m) ** 2)
    corr = float(cov / np.sqrt(var)) if var > 0 else float("nan")
    top = (lambda k: round(100.0 * k / n, 2)) if images.labeled else (lambda k: None)
    return EvalResult(n, top(f_ok), top(q_ok), changed, round(100.0 * changed / n, 3), corr)
