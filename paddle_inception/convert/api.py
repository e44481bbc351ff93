"""Convert a peer checkpoint: check it fits our model exactly, then write the weights and the
sidecar that `paddle_inception.models.load_converted` reads."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..models.pretrained import SIDECAR_FORMAT, sidecar_path
from ..registry import create_model
from .mappings import _identify, _lookup
from .readers import ConversionError, extract_state_dict, read_checkpoint

__all__ = ["ConversionResult", "convert_state_dict", "convert_checkpoint"]


# =============================================================================================
# conversion
# =============================================================================================
def _linear_weight_keys(model) -> set:
    import paddle.nn as nn

    return {
        f"{name}.weight" for name, layer in model.named_sublayers() if isinstance(layer, nn.Linear)
    }


def _fmt_keys(keys, limit=10) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return "[" + ", ".join(keys[:limit]) + "]" + more


def _mismatch_message(what, missing, unexpected, shapes, sd_hint):
    parts = [f"{what}:"]
    if missing:
        parts.append(f"{len(missing)} missing keys {_fmt_keys(missing)};")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys {_fmt_keys(unexpected)};")
    if missing or unexpected:
        parts.append(
            "(keys as named after mapping to this package's layout, BN running stats "
            "as _mean/_variance);"
        )
    if shapes:
        parts.append(
            f"{len(shapes)} shape mismatch{'es' if len(shapes) > 1 else ''}: "
            + "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in shapes[:10])
            + ";"
        )
    if sd_hint:
        parts.append(f"the checkpoint looks like {sd_hint}.")
    parts.append("Check --from / --arch.")
    return " ".join(parts)


@dataclass
class ConversionResult:
    arch: str  #: registry name of our model
    model_kwargs: dict  #: constructor kwargs (with `create_model(arch, **kwargs)`)
    preprocessing: dict  #: input_size, resize_short, crop_pct, interpolation, mean, std
    state_dict: dict  #: {our key: float32 numpy array}
    model: object = None  #: our model with the weights loaded (eval mode)
    notes: list = field(default_factory=list)
    source: dict = field(default_factory=dict)
    #: assumptions the checkpoint cannot confirm (the CLI prints them as warnings), e.g.
    #: torchvision's transform_input when not given
    warnings: list = field(default_factory=list)

    def sidecar(self) -> dict:
        return {
            "format": SIDECAR_FORMAT,
            "arch": self.arch,
            "model_kwargs": self.model_kwargs,
            "preprocessing": self.preprocessing,
            "source": self.source,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def convert_state_dict(
    state_dict: dict,
    source: str,
    arch: str,
    *,
    tag: str | None = None,
    transform_input: bool | None = None,
    drop_aux: bool = False,
    what: str = "checkpoint",
) -> ConversionResult:
    """Map a peer state dict ({name: numpy array}) onto our model.

    Builds our model, checks that every key and shape matches (raises `ConversionError` that
    lists the missing / unexpected / mis-shaped keys otherwise), loads it with
    `set_state_dict` and checks that Paddle reports nothing missing or unexpected either.
    `transform_input` (torchvision only) defaults to True as the published weights expect (the
    result's `warnings` then says so: a model trained from scratch has it False);
    `drop_aux` leaves the auxiliary classifiers out; `tag` picks timm's preprocessing
    (e.g. "gluon_in1k"). `what` names the checkpoint in error messages.
    """
    fn, peer, arch_tag = _lookup(source, arch)
    opts = dict(tag=tag or arch_tag, transform_input=transform_input, drop_aux=drop_aux)
    if str(source).lower() != "torchvision" and transform_input:
        raise ConversionError(
            f"transform_input applies to torchvision checkpoints only "
            f"({source} weights expect the preprocessing in the sidecar)"
        )
    if str(source).lower() != "timm" and tag:
        raise ConversionError(f"tag applies to timm checkpoints only, got tag={tag!r} for {source}")
    sd = {k: np.asarray(v) for k, v in state_dict.items()}
    plan = fn(sd, opts)
    kwargs = dict(plan.kwargs)
    import paddle

    model = create_model(plan.arch, **kwargs)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    linear = _linear_weight_keys(model)
    state = {}
    shapes = []
    for k, v in plan.state.items():
        if plan.layout == "torch" and k in linear and v.ndim == 2:
            v = v.T
        if k == "head.fc.weight" and plan.fold_fc_scale != 1.0:
            v = v * plan.fold_fc_scale
        if k in target and tuple(v.shape) != target[k]:
            shapes.append((k, tuple(v.shape), target[k]))
        if np.issubdtype(v.dtype, np.floating):
            v = np.ascontiguousarray(v, dtype=np.float32)
        state[k] = v
    missing = set(target) - set(state)
    unexpected = set(state) - set(target)
    if missing or unexpected or shapes:
        raise ConversionError(
            _mismatch_message(
                f"{what} does not match {source} {peer} -> {plan.arch}({_kwargs_str(kwargs)})",
                missing,
                unexpected,
                shapes,
                _identify(sd),
            )
        )
    # the real check: Paddle's own loader
    miss, unexp = model.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})
    if miss or unexp:
        raise ConversionError(
            _mismatch_message(
                f"{what}: set_state_dict on {plan.arch} reported", list(miss), list(unexp), [], None
            )
        )
    for k, p in model.state_dict().items():
        if not np.array_equal(p.numpy(), state[k]):
            raise ConversionError(f"{what}: {k} did not load correctly")
    model.eval()
    pre = dict(plan.preprocessing)
    if kwargs.get("in_channels", 3) != 3:
        c = kwargs["in_channels"]
        pre["input_size"] = [c] + list(pre["input_size"][1:])
        pre["mean"] = [sum(pre["mean"]) / 3] * c
        pre["std"] = [sum(pre["std"]) / 3] * c
    result = ConversionResult(
        arch=plan.arch,
        model_kwargs=kwargs,
        preprocessing=pre,
        state_dict=state,
        model=model,
        notes=list(plan.notes),
        source=dict(framework=str(source).lower(), arch=peer, tag=opts["tag"]),
        warnings=list(plan.warnings),
    )
    return result


def _kwargs_str(kwargs) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def convert_checkpoint(
    src: str,
    dst: str,
    source: str,
    arch: str,
    *,
    tag: str | None = None,
    transform_input: bool | None = None,
    drop_aux: bool = False,
    use_ema: bool = False,
    overwrite: bool = True,
) -> ConversionResult:
    """Read `src` (.pth/.pt, .safetensors, .pdparams), convert it, and write `dst` (.pdparams)
    plus the sidecar `sidecar_path(dst)`. Nothing is written unless the weights load into our
    model with no missing or unexpected keys. Returns the `ConversionResult` (its `model` is our
    model with the converted weights, in eval mode)."""
    import paddle

    src, dst = os.fspath(src), os.fspath(dst)
    if not dst.endswith(".pdparams"):
        raise ConversionError(f"destination must end in .pdparams, got {dst!r}")
    if not overwrite and os.path.exists(dst):
        raise FileExistsError(dst)
    obj = read_checkpoint(src)
    sd = extract_state_dict(obj, use_ema=use_ema, path=src)
    result = convert_state_dict(
        sd,
        source,
        arch,
        tag=tag,
        transform_input=transform_input,
        drop_aux=drop_aux,
        what=os.path.basename(src),
    )
    result.source.update(file=os.path.basename(src), sha256=_sha256(src), ema=bool(use_ema))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    paddle.save({k: paddle.to_tensor(v) for k, v in result.state_dict.items()}, tmp)
    os.replace(tmp, dst)
    side = sidecar_path(dst)
    with open(side + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result.sidecar(), f, indent=2)
        f.write("\n")
    os.replace(side + ".tmp", side)
    return result
