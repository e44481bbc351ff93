"""Model inspection behind `tools/summary.py`.

For one model: the `paddle.summary` table (for models with auxiliary classifiers, of the full
training network: GoogLeNet's three outputs, Inception-v3's two), parameter counts (trainable
vs non-trainable: in Paddle 3, BatchNorm's running mean/variance are stop-gradient parameters,
which paddle.summary lists as "Non-trainable params"; and the parameters an inference forward
uses, i.e. without the aux heads), MACs and FLOPs from our own counter (`paddle_inception.flops`,
because `paddle.flops` crashes with NumPy 2 in Paddle 3.3), and a stage table (each
`feature_info` stage: output shape and cumulative parameters up to it).

For the whole registry: one line per model (`summarize_all`), in text, Markdown or JSON.

`paddle.summary` works with NumPy 2 in Paddle 3.3.1. Should it fail in another version, the
table is computed by `hook_summary`, which reproduces its format (`backend` says which ran).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import OrderedDict

import numpy as np
import paddle
import paddle.nn as nn

from ..models import has_aux_heads
from ..models.googlenet import Inception
from ..registry import create_model, list_models
from .flops import count_flops

__all__ = [
    "BLOCK_NAME",
    "AuxOutputs",
    "has_aux_heads",
    "build_inception_block",
    "summary_table",
    "hook_summary",
    "param_counts",
    "stage_table",
    "summarize",
    "format_report",
    "summarize_all",
    "format_all",
]

#: the extra name `--model` accepts: seed 002's Inception(192, 64, (96, 128), (16, 32), 32)
BLOCK_NAME = "inception_block"
_BLOCK_ARGS = (192, 64, (96, 128), (16, 32), 32)


class AuxOutputs(nn.Layer):
    """Runs `model(x, return_aux=True)`, so that a summary sees every output head."""

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, return_aux=True)


def build_inception_block(fresh_names: bool = True) -> nn.Layer:
    """Seed 002's Inception(192, 64, (96, 128), (16, 32), 32) block (163,696 params)."""
    if fresh_names:
        with paddle.utils.unique_name.guard():
            return Inception(*_BLOCK_ARGS)
    return Inception(*_BLOCK_ARGS)


# ------------------------------------------------------------------------------ the table
def _class_name(layer) -> str:
    return type(layer).__name__


def hook_summary(net: nn.Layer, input_shape) -> tuple[str, dict]:
    """`paddle.summary`'s table computed with our own forward hooks, in the same format.

    Same conventions: containers (Sequential, LayerList) and the top layer get no row; a row's
    "Param #" is the layer's own (direct) parameters; a layer's number is the counter in its
    Paddle name plus one; BN running statistics count as non-trainable. Int conversions go
    through Python ints, so NumPy 2 scalars never reach `int()`.
    """
    rows: "OrderedDict[str, dict]" = OrderedDict()
    hooks = []

    def shape_of(x):
        if isinstance(x, (list, tuple)):
            return [shape_of(v) for v in x]
        return [int(s) for s in x.shape] if hasattr(x, "shape") else []

    def hook(layer, inputs, output):
        try:
            idx = int(layer.full_name().split("_")[-1])
        except ValueError:
            idx = len(rows)
        key = f"{_class_name(layer)}-{idx + 1}"
        total = trainable = 0
        for p in layer._parameters.values():
            if p is None:
                continue
            n = int(np.prod(p.shape)) if len(p.shape) else 1
            total += n
            if p.trainable and not p.stop_gradient:
                trainable += n
        rows[key] = dict(
            input_shape=shape_of(inputs),
            output_shape=shape_of(output),
            nb_params=total,
            trainable_params=trainable,
        )

    for layer in net.sublayers():
        if not isinstance(layer, (nn.Sequential, nn.LayerList)):
            hooks.append(layer.register_forward_post_hook(hook))
    was_training = net.training
    net.eval()
    try:
        with paddle.no_grad():
            net(paddle.rand([1] + [int(s) for s in input_shape]))
    finally:
        for h in hooks:
            h.remove()
        if was_training:
            net.train()

    def numel(shape):
        if shape and isinstance(shape[0], list):
            return sum(numel(s) for s in shape)
        return int(np.prod(shape)) if shape else 0

    w_layer = max([15] + [len(k) for k in rows])
    w_in = max([20] + [len(str(r["input_shape"])) for r in rows.values()])
    w_out = max([20] + [len(str(r["output_shape"])) for r in rows.values()])
    w_par = max([15] + [len(str(r["nb_params"])) for r in rows.values()])
    width = max(75, w_layer + w_in + w_out + w_par + 5)
    lines = [
        "-" * width,
        f"{'Layer (type)':^{w_layer}} {'Input Shape':^{w_in}} {'Output Shape':^{w_out}} "
        f"{'Param #':^{w_par}}",
        "=" * width,
    ]
    total = trainable = outputs = 0
    for key, r in rows.items():
        lines.append(
            f"{key:^{w_layer}} {str(r['input_shape']):^{w_in}} "
            f"{str(r['output_shape']):^{w_out}} {r['nb_params']:^{w_par},}"
        )
        total += r["nb_params"]
        trainable += r["trainable_params"]
        outputs += numel(r["output_shape"])
    in_mb = abs(int(np.prod(input_shape)) * 4.0 / 1024**2)
    out_mb = abs(2.0 * outputs * 4.0 / 1024**2)
    par_mb = abs(total * 4.0 / 1024**2)
    lines += [
        "=" * width,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "-" * width,
        f"Input size (MB): {in_mb:0.2f}",
        f"Forward/backward pass size (MB): {out_mb:0.2f}",
        f"Params size (MB): {par_mb:0.2f}",
        f"Estimated Total Size (MB): {in_mb + out_mb + par_mb:0.2f}",
        "-" * width,
    ]
    return "\n".join(lines) + "\n", {"total_params": total, "trainable_params": trainable}


def summary_table(model: nn.Layer, input_shape, backend: str = "auto") -> dict:
    """The per-layer table of `model` for one (C, H, W) input (batch 1).

    Models with aux heads are summarised through `AuxOutputs` (all heads run). `backend`:
    'paddle' (paddle.summary), 'hooks' (`hook_summary`) or 'auto' (paddle.summary, falling
    back to the hooks if it raises). Returns {"text", "total_params", "trainable_params",
    "backend"}.
    """
    if backend not in ("auto", "paddle", "hooks"):
        raise ValueError(f"summary backend must be 'auto', 'paddle' or 'hooks', got {backend!r}")
    was_training = model.training
    try:
        return _summary_table(model, input_shape, backend)
    finally:  # paddle.summary calls train() after its eval forward when the top layer trains
        model.train() if was_training else model.eval()


def _summary_table(model, input_shape, backend):
    net = AuxOutputs(model) if has_aux_heads(model) else model
    net.training = model.training
    shape = tuple(int(s) for s in input_shape)
    if backend in ("auto", "paddle"):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                info = paddle.summary(net, input_size=(None,) + shape)
            return {
                "text": buf.getvalue().rstrip("\n") + "\n",
                "total_params": int(info["total_params"]),
                "trainable_params": int(info["trainable_params"]),
                "backend": "paddle.summary",
            }
        except (TypeError, ValueError, AttributeError, IndexError) as e:
            if backend == "paddle":
                raise
            fallback_reason = f"{type(e).__name__}: {e}"
    else:
        fallback_reason = None
    text, info = hook_summary(net, shape)
    out = {
        "text": text,
        "total_params": info["total_params"],
        "trainable_params": info["trainable_params"],
        "backend": "hooks",
    }
    if fallback_reason:
        out["fallback_reason"] = f"paddle.summary failed ({fallback_reason})"
    return out


# ------------------------------------------------------------------------------ numbers
def _numel(p) -> int:
    return int(np.prod(p.shape)) if len(p.shape) else 1


def param_counts(model: nn.Layer) -> dict:
    """{"total", "trainable", "non_trainable"} over all parameters (BN running stats are the
    non-trainable ones)."""
    total = trainable = 0
    for p in model.parameters():
        n = _numel(p)
        total += n
        if not p.stop_gradient:
            trainable += n
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def _inference_pass(model: nn.Layer, input_shape) -> dict:
    """One eval forward: MACs/FLOPs (`count_flops`) and the parameters that forward uses."""
    used: dict[int, tuple[int, bool]] = {}
    hooks = []

    def hook(layer, inputs, output):
        for p in layer._parameters.values():
            if p is not None:
                used[id(p)] = (_numel(p), not p.stop_gradient)

    for layer in [model] + model.sublayers():
        hooks.append(layer.register_forward_post_hook(hook))
    try:
        res = count_flops(model, [1] + [int(s) for s in input_shape])
    finally:
        for h in hooks:
            h.remove()
    return {
        "macs": int(res["macs"]),
        "flops": int(res["flops"]),
        # trainable ones, as papers count; _all adds BN running statistics (what an
        # exported inference model stores)
        "inference_params": int(sum(n for n, trainable in used.values() if trainable)),
        "inference_params_all": int(sum(n for n, _ in used.values())),
    }


def stage_table(model: nn.Layer, input_shape) -> list[dict]:
    """One entry per `feature_info` stage: name, num_chs, reduction, shape (of
    `forward_stages` at batch 1) and cumulative params of the body blocks up to that stage."""
    info = list(getattr(model, "feature_info", None) or [])
    if not info or not hasattr(model, "forward_stages"):
        return []
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            feats = model.forward_stages(paddle.zeros([1] + [int(s) for s in input_shape]))
    finally:
        if was_training:
            model.train()
    blocks = list(getattr(model, "block_names", []) or [])
    rows, cum, seen = [], 0, 0
    for stage, feat in zip(info, feats):
        name = stage["name"]
        if name in blocks:
            upto = blocks.index(name) + 1
            for b in blocks[seen:upto]:
                cum += sum(_numel(p) for p in getattr(model, b).parameters())
            seen = max(seen, upto)
        rows.append(
            {
                "name": name,
                "num_chs": int(stage.get("num_chs", feat.shape[1])),
                "reduction": int(stage.get("reduction", 0)),
                "shape": [int(s) for s in feat.shape],
                "cum_params": int(cum),
            }
        )
    return rows


def summarize(
    model: nn.Layer | str,
    input_shape=None,
    *,
    table: bool = True,
    stages: bool = True,
    backend: str = "auto",
    **model_kwargs,
) -> dict:
    """Everything `tools/summary.py` reports for one model, as a JSON-serialisable dict.

    `model` is a Layer, a registry name, or `BLOCK_NAME`; `input_shape` is (C, H, W) (default:
    the model's default cfg; 192x224x224 for the block). Keys: model, input_shape,
    min_input_size, num_classes, params {total, trainable, non_trainable, inference}, macs,
    flops, stages [...], summary {backend, total_params, trainable_params, text} (table=True).
    """
    if isinstance(model, str):
        name = model
        if name == BLOCK_NAME:
            if model_kwargs:
                raise ValueError(
                    f"{BLOCK_NAME}: takes no model arguments (got {sorted(model_kwargs)})"
                )
            model = build_inception_block()
        else:
            with paddle.utils.unique_name.guard():
                model = create_model(name, **model_kwargs)
    else:
        name = getattr(model, "model_name", type(model).__name__)
    was_training = model.training
    model.eval()
    try:
        return _summarize(model, name, input_shape, table, stages, backend)
    finally:
        if was_training:
            model.train()


def _summarize(model, name, input_shape, table, stages, backend) -> dict:
    cfg = dict(getattr(model, "default_cfg", None) or {})
    if input_shape is None:
        input_shape = cfg.get("input_size") or (_BLOCK_ARGS[0], 224, 224)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape}")
    params = param_counts(model)
    inf = _inference_pass(model, input_shape)
    params["inference"] = inf["inference_params"]
    out = {
        "model": name,
        "input_shape": list(input_shape),
        "min_input_size": list(cfg["min_input_size"]) if cfg.get("min_input_size") else None,
        "num_classes": getattr(model, "num_classes", None),
        "aux_heads": has_aux_heads(model),
        "params": params,
        "macs": inf["macs"],
        "flops": inf["flops"],
        "stages": stage_table(model, input_shape) if stages else [],
    }
    if table:
        out["summary"] = summary_table(model, input_shape, backend)
    return out


def _g(n: int) -> str:
    return f"{n / 1e9:.3f} G"


def _m(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def format_report(info: dict) -> str:
    """The text report of `summarize`: table, FLOPs, parameters, stages."""
    lines = []
    s = info.get("summary")
    shape = "x".join(map(str, info["input_shape"]))
    if s:
        heads = " with its auxiliary heads (all outputs)" if info.get("aux_heads") else ""
        lines.append(f"{info['model']}{heads}: {s['backend']} at input 1x{shape}")
        if s.get("fallback_reason"):
            lines.append(f"(note: {s['fallback_reason']}; table computed with our own hooks)")
        lines.append(s["text"].rstrip("\n"))
        lines.append("")
    else:
        lines.append(f"{info['model']} at input 1x{shape}")
    p = info["params"]
    lines.append(
        f"Compute (our counter, eval forward at 1x{shape}"
        f"{', aux heads not run' if info.get('aux_heads') else ''}):"
    )
    lines.append(
        f"  MACs:  {info['macs']:>15,} ({_g(info['macs'])})  multiply-accumulates of "
        f"Conv2D and Linear layers"
    )
    lines.append("         (what paddle.flops and most papers call FLOPs)")
    lines.append(
        f"  FLOPs: {info['flops']:>15,} ({_g(info['flops'])})  MACs + one add per output "
        f"of a layer with bias"
    )
    lines.append(
        f"         (counting multiplies and adds separately: ~2 x MACs = {_g(2 * info['macs'])})"
    )
    lines.append("Parameters:")
    lines.append(f"  total          {p['total']:>13,}  ({_m(p['total'])})")
    lines.append(f"  trainable      {p['trainable']:>13,}")
    lines.append(
        f"  non-trainable  {p['non_trainable']:>13,}  (BatchNorm running mean/variance: "
        f"stop-gradient parameters in Paddle 3)"
    )
    if p["inference"] != p["total"]:
        lines.append(
            f"  used at inference {p['inference']:>10,}  (the rest, "
            f"{p['total'] - p['inference']:,}, are auxiliary heads)"
        )
    if info.get("stages"):
        lines.append("Stages (feature_info; forward_stages at batch 1):")
        w = max(len("stage"), *(len(r["name"]) for r in info["stages"]))
        lines.append(
            f"  {'stage':<{w}}  {'reduction':>9}  {'output shape':<22} {'params up to here':>18}"
        )
        for r in info["stages"]:
            lines.append(
                f"  {r['name']:<{w}}  {r['reduction']:>9}  {str(r['shape']):<22} "
                f"{r['cum_params']:>18,}"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ all models
def summarize_all(names=None, input_size=None) -> list[dict]:
    """One row per registered model: params (total, trainable, inference), MACs/FLOPs at the
    default input size (or `input_size`, (H, W)), input size and minimum input size."""
    rows = []
    for name in names or list_models():
        with paddle.utils.unique_name.guard():
            model = create_model(name)
        model.eval()
        cfg = model.default_cfg
        shape = tuple(cfg["input_size"])
        if input_size is not None:
            shape = (shape[0],) + tuple(input_size[-2:])
        p = param_counts(model)
        inf = _inference_pass(model, shape)
        rows.append(
            {
                "model": name,
                "params": p["total"],
                "trainable_params": p["trainable"],
                "inference_params": inf["inference_params"],
                "macs": inf["macs"],
                "flops": inf["flops"],
                "input_size": list(shape),
                "min_input_size": list(cfg["min_input_size"]),
                "crop_pct": cfg.get("crop_pct"),
                "interpolation": cfg.get("interpolation"),
                "paper": cfg.get("paper", ""),
            }
        )
        del model
    return rows


def format_all(rows: list[dict], fmt: str = "text") -> str:
    """The `--all` table: text (aligned columns), markdown (for the README) or json."""
    if fmt == "json":
        return json.dumps(rows, indent=1)
    head = ["model", "params", "inference params", "GMACs", "input", "min input"]
    body = [
        [
            r["model"],
            f"{r['trainable_params']:,}",
            f"{r['inference_params']:,}",
            f"{r['macs'] / 1e9:.2f}",
            "x".join(map(str, r["input_size"][1:])),
            "x".join(map(str, r["min_input_size"][1:])),
        ]
        for r in rows
    ]
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        lines.append("")
        lines.append(
            "params: trainable parameters incl. auxiliary heads (BN running statistics "
            "are not counted); inference params: the trainable parameters an eval "
            "forward uses (no aux heads); GMACs: multiply-accumulates "
            "of conv and linear layers at the input size, batch 1 "
            "(`python tools/summary.py --all --format markdown`)."
        )
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(b, widths))
            )
        )
    return "\n".join(lines)
