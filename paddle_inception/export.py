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

import argparse
import json
import os
import sys
import time

import numpy as np
import paddle
import paddle.nn as nn

from .toolkit import (ToolError, add_model_args, build_model, error_exit, load_model_weights,
                      logger, resolve_model_spec)

__all__ = ["InferenceNetwork", "export_inference_model", "model_files", "read_meta",
           "InferencePredictor", "create_predictor", "export_onnx", "onnx_predict",
           "check_export", "main"]

# Not "<prefix>.meta.json": paddle.jit.load reads every "<prefix>.<name>.json" beside the model
# as the program of a method <name>.
META_SUFFIX = "_meta.json"


class InferenceNetwork(nn.Layer):
    """The deployable network: main logits only (aux heads never run), optional softmax."""

    def __init__(self, model: nn.Layer, softmax: bool = False):
        super().__init__()
        self.model = model
        self.softmax = bool(softmax)
        from .summary import has_aux_heads
        self._aux = has_aux_heads(model)

    def forward(self, x):
        out = self.model(x, return_aux=False) if self._aux else self.model(x)
        if isinstance(out, (tuple, list)):   # any other multi-output model: main output first
            out = out[0]
        if self.softmax:
            out = paddle.nn.functional.softmax(out, axis=-1)
        return out


def model_files(prefix: str) -> tuple[str, str]:
    """(program file, params file) of an exported model given its prefix or its directory.

    A directory is taken to hold `inference.json`/`inference.pdmodel` (PaddleClas' layout), or
    a single program file. Raises FileNotFoundError naming what was looked for.
    """
    p = os.fspath(prefix)
    for ext in (META_SUFFIX, ".json", ".pdmodel", ".pdiparams", ".onnx"):
        if p.endswith(ext) and not os.path.isdir(p):
            p = p[: -len(ext)]
            break
    if os.path.isdir(p):
        found = sorted(f for f in os.listdir(p) if f.endswith((".pdmodel", ".json"))
                       and not f.endswith(META_SUFFIX))
        if os.path.exists(os.path.join(p, "inference.json")) or \
                os.path.exists(os.path.join(p, "inference.pdmodel")):
            p = os.path.join(p, "inference")
        elif len(found) == 1:
            p = os.path.join(p, os.path.splitext(found[0])[0])
        else:
            listed = f": {', '.join(found)}" if found else ""
            raise FileNotFoundError(f"inference model: directory {prefix!r} holds "
                                    f"{'no' if not found else 'several'} program files "
                                    f"(*.json / *.pdmodel){listed}; pass the prefix, e.g. "
                                    f"{os.path.join(p, 'inference')}")
    for ext in (".json", ".pdmodel"):
        if os.path.isfile(p + ext):
            params = p + ".pdiparams"
            if not os.path.isfile(params):
                raise FileNotFoundError(f"inference model: {p + ext} has no parameter file "
                                        f"{params}")
            return p + ext, params
    raise FileNotFoundError(f"inference model: no {p}.json or {p}.pdmodel (export one with "
                            f"tools/export_model.py)")


def read_meta(prefix: str) -> dict | None:
    """The `<prefix>_meta.json` written by `export_inference_model`, or None."""
    try:
        program, _ = model_files(prefix)
    except FileNotFoundError:
        return None
    meta = os.path.splitext(program)[0] + META_SUFFIX
    if not os.path.isfile(meta):
        return None
    with open(meta, encoding="utf-8") as f:
        return json.load(f)


def _jsonable_cfg(cfg: dict) -> dict:
    out = {}
    for k, v in (cfg or {}).items():
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def export_inference_model(model: nn.Layer, path_prefix: str, input_shape=None,
                           softmax: bool = False, transforms=None, class_names=None) -> dict:
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
            raise ToolError("export: input_shape is required for a model without default_cfg")
        input_shape = cfg["input_size"]
    input_shape = [int(s) for s in input_shape]
    if len(input_shape) != 3:
        raise ToolError(f"export: input_shape must be (C, H, W), got {input_shape}")
    in_ch = getattr(model, "in_channels", input_shape[0])
    if input_shape[0] != in_ch:
        raise ToolError(f"export: input_shape {input_shape} has {input_shape[0]} channels but the "
                        f"model takes {in_ch}")
    if hasattr(model, "check_input"):   # fail early and plainly on a too-small size
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
        "input_shape": input_shape, "input_name": "x",
        "num_classes": getattr(model, "num_classes", None),
        "softmax": bool(softmax), "aux_heads_dropped": bool(net._aux),
        "default_cfg": _jsonable_cfg(cfg),
        "transforms": transforms,
        "class_names": list(class_names) if class_names is not None else None,
        "paddle_version": paddle.__version__,
    }
    meta_path = os.path.splitext(program)[0] + META_SUFFIX
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return {"program": program, "params": params, "meta": meta_path,
            "input_spec": [None] + input_shape, "seconds": round(time.time() - t0, 2)}


class InferencePredictor:
    """A Paddle Inference predictor: `predictor(batch float32 [N, C, H, W]) -> ndarray`.

    On the CPU it enables oneDNN (`enable_mkldnn`) unless `use_mkldnn=False`; `gpu=True`
    uses GPU 0 where Paddle has CUDA.
    """

    def __init__(self, prefix: str, use_mkldnn: bool = True, cpu_threads: int | None = None,
                 gpu: bool = False):
        from paddle import inference
        self.program, self.params = model_files(prefix)
        config = inference.Config(self.program, self.params)
        if gpu and paddle.is_compiled_with_cuda():
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            if use_mkldnn:
                config.enable_mkldnn()
            if cpu_threads is None:
                from .runtime import available_cpus
                cpu_threads = available_cpus()
            config.set_cpu_math_library_num_threads(int(cpu_threads))
        config.disable_glog_info()
        config.switch_ir_optim(True)
        self.config = config
        self.predictor = inference.create_predictor(config)
        self.input_names = self.predictor.get_input_names()
        self.output_names = self.predictor.get_output_names()
        self.meta = read_meta(prefix)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        h = self.predictor.get_input_handle(self.input_names[0])
        h.reshape(list(x.shape))
        h.copy_from_cpu(x)
        self.predictor.run()
        return self.predictor.get_output_handle(self.output_names[0]).copy_to_cpu()


def create_predictor(prefix: str, **kwargs) -> InferencePredictor:
    """Shortcut for `InferencePredictor(prefix, **kwargs)`."""
    return InferencePredictor(prefix, **kwargs)


# ------------------------------------------------------------------------------ ONNX
def _require_onnx(what: str):
    try:
        import paddle2onnx  # noqa: F401
    except ImportError:
        raise ToolError(f"{what} needs paddle2onnx: pip install paddle2onnx onnxruntime") \
            from None


def _graph_inputs_used(graph, used: set) -> None:
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:            # If/Loop bodies may use outer initializers
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
    _require_onnx("--onnx")
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
        raise ToolError(f"--onnx: paddle2onnx did not write {onnx_path}")
    _drop_unused_initializers(onnx_path)
    return onnx_path


def onnx_predict(onnx_path: str, batch: np.ndarray) -> np.ndarray:
    """Run an ONNX model on one batch with onnxruntime (CPU)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ToolError("onnx check needs onnxruntime: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3          # errors only
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: np.ascontiguousarray(batch, np.float32)})[0]


# ------------------------------------------------------------------------------ checks
def check_export(model: nn.Layer, prefix: str, softmax: bool = False, batch: int = 2,
                 predictor: str = "inference", onnx_path: str | None = None,
                 seed: int = 0) -> dict:
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


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tools/export_model.py",
        description="Export a model for Paddle Inference (paddle.jit.save of the main-logits "
                    "network: aux heads dropped; input [None, C, H, W]) and optionally to ONNX.")
    add_model_args(p, weights=True)
    p.add_argument("--output-dir", "--save-dir", dest="output_dir", default=None,
                   metavar="DIR", help="where to write inference.json/.pdiparams/_meta.json "
                   "(default: config Global.save_inference_dir, else ./inference/<model>)")
    p.add_argument("--prefix-name", default="inference",
                   help="file name prefix inside the output dir (default: inference)")
    p.add_argument("--softmax", action="store_true", help="append a softmax to the network")
    p.add_argument("--class-map", default=None, metavar="FILE",
                   help="'class_id name' file whose names are recorded in the _meta.json "
                        "(default: as tools/infer.py chooses it)")
    p.add_argument("--onnx", action="store_true",
                   help="also convert to ONNX with paddle2onnx (<dir>/<prefix>.onnx)")
    p.add_argument("--opset", type=int, default=11, help="ONNX opset (default 11)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the parity check of the exported model against the eager one")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max |exported - eager| the check accepts (default 1e-4)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .toolkit import configure_cpu_quietly, setup_tool_logging
    setup_tool_logging()
    configure_cpu_quietly()
    try:
        spec = resolve_model_spec(args)
        model = build_model(spec)
        if spec.weights:
            used = load_model_weights(model, spec.weights)
            logger.info("weights: %s", used)
        else:
            logger.warning("no --weights (nor Global.pretrained_model): exporting randomly "
                           "initialised weights")
        out_dir = args.output_dir
        if out_dir is None:
            out_dir = ((spec.cfg or {}).get("Global") or {}).get("save_inference_dir") if \
                spec.cfg else None
            out_dir = out_dir or os.path.join("inference", spec.name)
        prefix = os.path.join(out_dir, args.prefix_name)
        transforms = class_names = None
        if spec.cfg and not args.input_size:
            from .infer import _config_ops
            transforms = _config_ops(spec.cfg)
        from .infer import default_class_map_path, load_class_map
        map_path = args.class_map or default_class_map_path(model.num_classes, spec.cfg)
        if map_path:
            cmap = load_class_map(map_path)
            class_names = [cmap.get(i, str(i)) for i in range(model.num_classes)]
        res = export_inference_model(model, prefix, spec.input_shape, softmax=args.softmax,
                                     transforms=transforms, class_names=class_names)
        print(f"exported {spec.name} ({'softmax' if args.softmax else 'logits'}, input "
              f"{res['input_spec']}) to {res['program']} + {res['params']} "
              f"(+ {os.path.basename(res['meta'])})")
        onnx_path = export_onnx(prefix, opset=args.opset) if args.onnx else None
        if onnx_path:
            print(f"exported ONNX (opset {args.opset}) to {onnx_path}")
        if not args.no_check:
            check = check_export(model, prefix, softmax=args.softmax, onnx_path=onnx_path)
            diffs = {k: v for k, v in check.items() if k.startswith("max_abs_diff")}
            print("check (random batch of 2, eager vs exported): " +
                  ", ".join(f"{k[len('max_abs_diff_'):]} max |diff| {v:.2e}"
                            for k, v in diffs.items()))
            worst = max(diffs.values())
            if worst > args.tolerance:
                return error_exit(f"exported model differs from the eager one by {worst:.2e} "
                                  f"(> --tolerance {args.tolerance})", 1)
    except ToolError as e:
        return error_exit(str(e))
    except (ValueError, FileNotFoundError) as e:
        return error_exit(str(e))
    return 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
