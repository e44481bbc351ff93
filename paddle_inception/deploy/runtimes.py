"""Which runtime runs a deployed model, and whether this CPU can run its precision.

A deployed model is a folder (or prefix) with one of: a Paddle Inference program
(`inference.json` + `.pdiparams`, FP32 or BF16), an ONNX file (`inference.onnx`, FP32 or INT8
QDQ), an OpenVINO IR (`inference.xml` + `.bin`, FP32 or INT8), and its `<prefix>_meta.json`
(`precision`, `runtime`, calibration set, date: see `deploy.quantize`). `open_predictor` picks
the runtime from the meta, or the one asked for (`backend`), and refuses plainly what cannot run:
a BF16 model on a CPU without AVX512_BF16 / AMX, an INT8 ONNX model in Paddle Inference.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..runtime import BF16_FLAGS, cpu_flags
from .files import META_SUFFIX, model_files, read_meta
from .predictor import InferencePredictor, OnnxPredictor

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "UnsupportedPrecisionError",
    "cpu_flags",
    "check_precision",
    "DeployedModel",
    "find_deployed_model",
    "OpenVinoPredictor",
    "open_predictor",
]

BACKENDS = ("paddle", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "int8", "bf16")
#: CPU flags (/proc/cpuinfo names) that run each low precision fast; any one is enough
PRECISION_FLAGS = {
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8"),
    "bf16": BF16_FLAGS,
}
_DEPLOY_HINT = 'pip install ".[deploy]"'


class UnsupportedPrecisionError(ValueError):
    """This CPU lacks the instructions a precision needs; the message names them and what to
    use instead."""


def check_precision(precision: str, flags: set | None = None) -> str | None:
    """Raise UnsupportedPrecisionError for BF16 on a CPU without AVX512_BF16 or AMX (Paddle's
    oneDNN BF16 kernels need them); return a note (or None) for INT8, which runs anywhere but
    is fast only with VNNI. Unknown flags (not Linux): no check."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return None
    need = PRECISION_FLAGS[precision]
    if any(f in flags for f in need):
        return None
    if precision == "bf16":
        has_vnni = any(f in flags for f in PRECISION_FLAGS["int8"])
        instead = "int8 (this CPU has VNNI)" if has_vnni else "fp32"
        raise UnsupportedPrecisionError(
            f"bf16 needs a CPU with avx512_bf16 or amx_bf16 (Zen 4/5, Xeon Cooper Lake or "
            f"Sapphire Rapids and later); this CPU's flags have neither: use precision "
            f"{instead} instead"
        )
    return (
        "this CPU has no VNNI (avx512_vnni / avx_vnni / amx_int8): INT8 runs, but may be "
        "no faster than fp32"
    )


@dataclass
class DeployedModel:
    """What `find_deployed_model` found: the model file, its kind and its meta."""

    prefix: str  # <dir>/inference
    kind: str  # 'paddle' | 'onnx' | 'openvino'
    path: str  # the program / .onnx / .xml file
    meta: dict

    @property
    def precision(self) -> str:
        return self.meta.get("precision", "fp32")

    @property
    def onnx_path(self) -> str | None:
        """An ONNX file beside a Paddle export (`export --onnx`), else None."""
        p = self.prefix + ".onnx"
        return p if os.path.isfile(p) else None


def _prefix_of(path: str) -> str:
    p = os.fspath(path)
    for ext in (META_SUFFIX, ".json", ".pdmodel", ".pdiparams", ".onnx", ".xml", ".bin"):
        if p.endswith(ext) and not os.path.isdir(p):
            return p[: -len(ext)]
    if os.path.isdir(p):
        return os.path.join(p, "inference")
    return p


def _read_meta_file(path: str) -> dict:
    """A quantized model's `_meta.json` (bounded read, an object with a sane input_shape)."""
    if not os.path.isfile(path):
        return {}
    if os.path.getsize(path) > 16 << 20:
        raise ValueError(f"{path}: over 16 MiB, not a _meta.json")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object")
    shape = meta.get("input_shape")
    if shape is not None and not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(type(v) is int and 1 <= v <= 16384 for v in shape)
    ):
        raise ValueError(f"{path}: input_shape {shape!r} is not [C, H, W] with sides 1..16384")
    return meta


def find_deployed_model(path: str) -> DeployedModel:
    """The deployed model at `path` (a folder, a prefix or one of its files).

    Looked for in this order: `<prefix>_meta.json`'s `model_file` (written by `quantize`), a
    Paddle program, an OpenVINO `.xml`, an `.onnx`. Raises FileNotFoundError naming what was
    looked for."""
    prefix = _prefix_of(path)
    meta = _read_meta_file(prefix + META_SUFFIX)
    named = meta.get("model_file")
    if named:
        if not isinstance(named, str) or os.path.basename(named) != named:
            raise ValueError(f"{prefix + META_SUFFIX}: model_file must be a file name: {named!r}")
        full = os.path.join(os.path.dirname(prefix), named)
        if not os.path.isfile(full):
            raise FileNotFoundError(f"deployed model: {prefix + META_SUFFIX} names {full}: missing")
        kind = {".onnx": "onnx", ".xml": "openvino"}.get(os.path.splitext(named)[1], "paddle")
        if kind == "paddle":
            model_files(prefix)  # its .pdiparams must be there too
        return DeployedModel(prefix, kind, full, meta)
    try:
        program, _ = model_files(path)
    except FileNotFoundError:
        pass
    else:  # an FP32 export: its meta through the export's own validating reader
        prefix = os.path.splitext(program)[0]
        return DeployedModel(prefix, "paddle", program, read_meta(prefix) or {})
    for ext, kind in ((".xml", "openvino"), (".onnx", "onnx")):
        if os.path.isfile(prefix + ext):
            return DeployedModel(prefix, kind, prefix + ext, meta)
    raise FileNotFoundError(
        f"inference model: none of {prefix}.json/.pdmodel (tools/export_model.py), "
        f"{prefix}.onnx or {prefix}.xml (paddle-inception quantize) exists"
    )


class OpenVinoPredictor:
    """An ONNX file or OpenVINO IR run by OpenVINO on the CPU (`pip install openvino`)."""

    def __init__(self, path: str, threads: int | None = None):
        try:
            import openvino as ov
        except ImportError:
            raise ImportError(f"the openvino backend needs openvino: {_DEPLOY_HINT}") from None
        core = ov.Core()
        # LATENCY: one stream, all threads on one request (what a batch-at-a-time caller wants)
        props = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            props["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(core.read_model(path), "CPU", props)
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, np.float32)
        out = self.request.infer({0: x})
        return np.asarray(out[self.compiled.output(0)])


def _default_backend(model: DeployedModel) -> str:
    if model.kind == "openvino":
        return "openvino"
    if model.kind == "onnx":
        return "onnxruntime"
    return "paddle"


def open_predictor(
    path: str,
    backend: str | None = None,
    threads: int | None = None,
    use_mkldnn: bool = True,
    flags: set | None = None,
):
    """(predictor, DeployedModel, description) for a deployed model; `backend` None: the one
    its files call for (Paddle Inference for an export, ONNX Runtime for an INT8 ONNX file,
    OpenVINO for an IR). FP32 exports run in all three (the ONNX ones need `export --onnx`)."""
    model = find_deployed_model(path)
    backend = backend or _default_backend(model)
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    precision = model.precision
    if precision == "bf16":
        check_precision("bf16", flags)
    if backend == "paddle":
        if model.kind != "paddle":
            raise ValueError(
                f"{model.path}: an {precision} {model.kind} model runs in "
                f"{_default_backend(model)}, not Paddle Inference; use --backend "
                f"{_default_backend(model)}"
            )
        pred = InferencePredictor(
            model.prefix, use_mkldnn=use_mkldnn, cpu_threads=threads, bf16=precision == "bf16"
        )
        extra = ", oneDNN" if use_mkldnn else ""
        return pred, model, f"Paddle Inference {precision} ({model.path}{extra})"
    if model.kind == "paddle":
        if precision != "fp32":
            raise ValueError(f"{model.path}: a {precision} Paddle model runs in --backend paddle")
        src = model.onnx_path
        if src is None:
            raise FileNotFoundError(
                f"--backend {backend} runs the ONNX file beside the export, and {model.prefix}"
                f".onnx does not exist: export with --onnx"
            )
    else:
        src = model.path
    if backend == "openvino":
        return OpenVinoPredictor(src, threads), model, f"OpenVINO {precision} ({src})"
    if model.kind == "openvino":
        raise ValueError(f"{model.path}: an OpenVINO IR runs in --backend openvino")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ImportError(f"the onnxruntime backend needs onnxruntime: {_DEPLOY_HINT}") from None
    return OnnxPredictor(src, threads), model, f"ONNX Runtime {precision} ({src})"
