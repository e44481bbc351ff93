"""Export for deployment, behind `tools/export_model.py`.

- `export_inference_model`: `paddle.jit.save` of the main-logits network (auxiliary heads are
  dropped: the exported program calls `forward(x, return_aux=False)`, so their weights are not
  saved), optionally followed by a softmax, with input spec [None, C, H, W]. Paddle 3 writes
  `<prefix>.json` (PIR program) + `<prefix>.pdiparams`; older versions `<prefix>.pdmodel`.
  Next to them, `<prefix>_meta.json` records the model, input shape, preprocessing (mean, std,
  crop_pct, interpolation), class count and whether the output is softmaxed, so that
  `tools/infer.py --inference-model <prefix>` needs nothing else.
- `create_predictor`: a Paddle Inference predictor (`paddle.inference.Config` /
  `create_predictor`, oneDNN on the CPU) with a numpy-in/numpy-out `__call__`.
- `export_onnx`: ONNX through `paddle2onnx` (optional dependency: `pip install paddle2onnx
  onnxruntime`), with `onnx_predict` through onnxruntime.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import paddle
import paddle.nn as nn

from ..models import has_aux_heads
from .files import META_SUFFIX, model_files, read_meta
from .predictor import InferencePredictor, onnx_predict

__all__ = ["InferenceNetwork", "export_inference_model", "export_onnx", "check_export"]


class InferenceNetwork(nn.Layer):
    """The deployable network: main logits only (aux heads never run), optional softmax."""

    def __init__(self, model: nn.Layer, softmax: bool = False):
        super().__init__()
        self.model = model
        self.softmax = bool(softmax)
        self._aux = has_aux_heads(model)

    def forward(self, x):
        out = self.model(x, return_aux=False) if self._aux else self.model(x)
        if isinstance(out, (tuple, list)):  # any other multi-output model: main output first
            out = out[0]
        if self.softmax:
            out = paddle.nn.functional.softmax(out, axis=-1)
        return out


def _jsonable_cfg(cfg: dict) -> dict:
    out = {}
    for k, v in (cfg or {}).items():
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def export_inference_model(
    model: nn.Layer,
    path_prefix: str,
    input_shape=None,
    softmax: bool = False,
    transforms=None,
    class_names=None,
) -> dict:
    """`paddle.jit.save` the main-logits network of `model` for Paddle Inference.

    Args:
        model: a zoo model (any Layer whose eval forward returns logits works).
        path_prefix: output prefix, e.g. `inference/googlenet/inference`.
        input_shape: (C, H, W); default the model's `default_cfg["input_size"]`. The batch
            dimension is dynamic (None).
        softmax: append a softmax (outputs are probabilities).
        transforms: optional PaddleClas-style op list (a config's Infer.transforms) to record
            for `tools/infer.py`; default: the model's default-cfg preprocessing.
        class_names: optional class names (index = class id) to record for `tools/infer.py`.
    Returns {"program", "params", "meta", "input_spec", "seconds"}.
    """
    cfg = dict(getattr(model, "default_cfg", None) or {})
    if input_shape is None:
        if not cfg.get("input_size"):
            raise ValueError("export: input_shape is required for a model without default_cfg")
        input_shape = cfg["input_size"]
    input_shape = [int(s) for s in input_shape]
    if len(input_shape) != 3:
        raise ValueError(f"export: input_shape must be (C, H, W), got {input_shape}")
    in_ch = getattr(model, "in_channels", input_shape[0])
    if input_shape[0] != in_ch:
        raise ValueError(
            f"export: input_shape {input_shape} has {input_shape[0]} channels but the "
            f"model takes {in_ch}"
        )
    if hasattr(model, "check_input"):  # fail early and plainly on a too-small size
        model.check_input(paddle.zeros([1] + input_shape))
    out_dir = os.path.dirname(os.path.abspath(path_prefix))
    os.makedirs(out_dir, exist_ok=True)
    was_training = model.training
    net = InferenceNetwork(model, softmax=softmax)
    net.eval()
    spec = [paddle.static.InputSpec([None] + input_shape, "float32", "x")]
    t0 = time.time()
    try:
        static = paddle.jit.to_static(net, input_spec=spec, full_graph=True)
        paddle.jit.save(static, path_prefix)
    finally:
        if was_training:
            model.train()
    program, params = model_files(path_prefix)
    meta = {
        "format": "paddle_inception.inference/1",
        "model": getattr(model, "model_name", type(model).__name__),
        "input_shape": input_shape,
        "input_name": "x",
        "num_classes": getattr(model, "num_classes", None),
        "softmax": bool(softmax),
        "aux_heads_dropped": bool(net._aux),
        "default_cfg": _jsonable_cfg(cfg),
        "transforms": transforms,
        "class_names": list(class_names) if class_names is not None else None,
        "paddle_version": paddle.__version__,
    }
    meta_path = os.path.splitext(program)[0] + META_SUFFIX
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return {
        "program": program,
        "params": params,
        "meta": meta_path,
        "input_spec": [None] + input_shape,
        "seconds": round(time.time() - t0, 2),
    }


# ------------------------------------------------------------------------------ ONNX
def _require_onnx(what: str):
    try:
        import paddle2onnx  # noqa: F401
    except ImportError:
        raise ValueError(f"{what} needs paddle2onnx: pip install paddle2onnx onnxruntime") from None


def _graph_inputs_used(graph, used: set) -> None:
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:  # If/Loop bodies may use outer initializers
            if attr.g is not None and len(attr.g.node):
                _graph_inputs_used(attr.g, used)
            for g in attr.graphs:
                _graph_inputs_used(g, used)
    used.update(o.name for o in graph.output)


def _drop_unused_initializers(onnx_path: str) -> int:
    """Remove initializers no node uses (paddle2onnx leaves folded constants behind, which
    onnxruntime then warns about one by one). Returns how many were removed."""
    try:
        import onnx
    except ImportError:
        return 0
    model = onnx.load(onnx_path)
    used: set = set()
    _graph_inputs_used(model.graph, used)
    keep = [init for init in model.graph.initializer if init.name in used]
    removed = len(model.graph.initializer) - len(keep)
    if removed:
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
        onnx.save(model, onnx_path)
    return removed


def export_onnx(prefix: str, onnx_path: str | None = None, opset: int = 11) -> str:
    """Convert an exported inference model (`prefix`) to ONNX with paddle2onnx.

    paddle2onnx 2.x post-processes with Polygraphy by default, which pip-installs
    onnx_graphsurgeon at run time (from an extra package index); its other option,
    onnxoptimizer, fails on a misspelt pass name in 2.1.0. We skip both and drop the unused
    initializers ourselves.
    """
    _require_onnx("ONNX export")
    import inspect

    import paddle2onnx

    program, params = model_files(prefix)
    onnx_path = onnx_path or os.path.splitext(program)[0] + ".onnx"
    os.makedirs(os.path.dirname(os.path.abspath(onnx_path)), exist_ok=True)
    kwargs = dict(opset_version=int(opset), enable_onnx_checker=True)
    try:
        if "optimize_tool" in inspect.signature(paddle2onnx.export).parameters:
            kwargs["optimize_tool"] = "none"
    except (TypeError, ValueError):
        pass
    paddle2onnx.export(program, params, onnx_path, **kwargs)
    if not os.path.isfile(onnx_path):
        raise RuntimeError(f"ONNX export: paddle2onnx did not write {onnx_path}")
    _drop_unused_initializers(onnx_path)
    return onnx_path


# ------------------------------------------------------------------------------ checks
def check_export(
    model: nn.Layer,
    prefix: str,
    softmax: bool = False,
    batch: int = 2,
    predictor: str = "inference",
    onnx_path: str | None = None,
    seed: int = 0,
) -> dict:
    """Max |exported - eager| on a random batch: through `paddle.jit.load` ('jit') or Paddle
    Inference ('inference'), and through onnxruntime when `onnx_path` is given."""
    meta = read_meta(prefix) or {}
    shape = meta.get("input_shape") or list(model.default_cfg["input_size"])
    x = np.random.default_rng(seed).standard_normal([batch] + list(shape)).astype(np.float32)
    net = InferenceNetwork(model, softmax=softmax)
    was_training = model.training
    net.eval()
    with paddle.no_grad():
        ref = net(paddle.to_tensor(x)).numpy()
    if was_training:
        model.train()
    if predictor == "jit":
        loaded = paddle.jit.load(os.path.splitext(model_files(prefix)[0])[0])
        loaded.eval()
        out = loaded(paddle.to_tensor(x)).numpy()
    else:
        out = InferencePredictor(prefix)(x)
    res = {"shape": list(out.shape), f"max_abs_diff_{predictor}": float(np.abs(out - ref).max())}
    if onnx_path:
        res["max_abs_diff_onnx"] = float(np.abs(onnx_predict(onnx_path, x) - ref).max())
    return res
