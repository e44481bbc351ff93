"""Which peer implementation stands beside each of our models, whether it is installed, how it
is built (random weights, the case's channels and classes) and how many MACs each model does."""

from __future__ import annotations

import importlib
import importlib.util

from benchmarks.common import STOCK, BenchOptions, Skip, first_line, load_cfg, source, version

#: our registry name -> {peer framework: the peer's constructor name}
PEERS = {
    "googlenet": {"paddleclas": "GoogLeNet", "torchvision": "googlenet"},
    "googlenet_bn": {"paddleclas": "GoogLeNet", "torchvision": "googlenet"},
    "inception_v3": {
        "paddleclas": "InceptionV3",
        "torchvision": "inception_v3",
        "timm": "inception_v3",
    },
    "inception_v4": {"paddleclas": "InceptionV4", "timm": "inception_v4"},
}
#: how a peer differs from our model of the same name (shown in the table's note column)
PEER_NOTES = {
    ("googlenet", "torchvision"): "BN, 3x3 in the 5x5 branch",
    ("googlenet_bn", "torchvision"): "3x3 in the 5x5 branch",
    ("googlenet", "paddleclas"): "aux heads run in eval too",
    ("googlenet_bn", "paddleclas"): "no BN; aux heads run in eval too",
    ("inception_v3", "paddleclas"): "no aux head",
}
#: input sizes (H = W) a peer accepts, where narrower than ours
PEER_SIZE_RANGE = {("paddleclas", "GoogLeNet"): (189, 236)}  # aux FC fixed to a 3x3 map


def _join(*notes) -> str:
    return "; ".join(n for n in notes if n)


def paddleclas_backbone():
    """PaddleClas' backbone module: `ppcls.arch.backbone` (a source checkout on sys.path) or
    `paddleclas.ppcls.arch.backbone` (the pip package)."""
    errors = []
    for name in ("ppcls.arch.backbone", "paddleclas.ppcls.arch.backbone"):
        if importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        try:
            backbone = importlib.import_module(name)
            # PaddleClas' logger is None until its engine sets it up, and InceptionV3's
            # constructor logs a deprecation warning: AttributeError without this
            log = importlib.import_module(name.replace("arch.backbone", "utils.logger"))
            if getattr(log, "_logger", True) is None:
                log.init_logger(log_level=40)  # errors only
            return backbone
        except Exception as e:  # the pip package imports cv2, sklearn, faiss... at import
            errors.append(f"{name}: {first_line(e, 160)}")
    raise ImportError(
        "PaddleClas not importable ("
        + ("; ".join(errors) or "neither ppcls nor paddleclas is installed")
        + ")"
    )


def framework_status(frameworks) -> dict:
    """{framework: {"available", "version", "note"}} without importing anything heavy."""
    out = {}
    for fw in frameworks:
        if source(fw) == "ours":
            out[fw] = {"available": True, "version": version("paddlepaddle"), "note": ""}
        elif source(fw) == "paddleclas":
            found = any(importlib.util.find_spec(n) for n in ("ppcls", "paddleclas"))
            out[fw] = {
                "available": bool(found),
                "version": version("paddleclas"),
                "note": ""
                if found
                else "not installed (pip install paddleclas; its 2.6.0 wheel pins "
                "numpy==1.24.4, gast==0.3.3, opencv-python<=4.6.0.66)",
            }
        else:
            missing = [n for n in ("torch", source(fw)) if importlib.util.find_spec(n) is None]
            out[fw] = {
                "available": not missing,
                "version": version(fw),
                "note": f"not installed ({', '.join(missing)})" if missing else "",
            }
    return out


def peer_skip_reason(case: dict, framework: str) -> str | None:
    """Why `framework`'s model cannot run `case` at all (known limits), else None."""
    ctor = PEERS.get(case["model"], {}).get(source(framework))
    lo_hi = PEER_SIZE_RANGE.get((source(framework), ctor))
    if lo_hi and not all(lo_hi[0] <= s <= lo_hi[1] for s in case["input"][1:]):
        return f"{source(framework)} {ctor} runs only at {lo_hi[0]}-{lo_hi[1]} px"
    return None


def plan_cases(options: BenchOptions, cfg: dict | None = None) -> tuple[list, list]:
    """(cases, skipped): one case per model x size, {model, size, input, num_classes}."""
    from paddle_inception import get_model_cfg  # the root registers the models

    cases, skipped = [], []
    for name in options.models:
        mcfg = get_model_cfg(name)  # ValueError naming close models if unknown
        name = mcfg["name"]
        min_hw = tuple(mcfg["min_input_size"][1:])
        seen = set()
        for size in options.sizes:
            if size == "config":
                if cfg is None:
                    cfg = load_cfg(options.config)
                shape = [int(s) for s in (cfg.get("Global") or {}).get("image_shape")]
                classes = int((cfg.get("Arch") or {}).get("class_num") or 1000)
            elif size == "default":
                shape, classes = [int(s) for s in mcfg["input_size"]], 1000
            else:
                shape, classes = [3, int(size), int(size)], 1000
            key = (tuple(shape), classes)
            if key in seen:
                continue
            seen.add(key)
            case = {"model": name, "size": str(size), "input": shape, "num_classes": classes}
            if shape[1] < min_hw[0] or shape[2] < min_hw[1]:
                skipped.append(
                    dict(case, reason=f"{name} needs at least {min_hw[0]}x{min_hw[1]} px")
                )
                continue
            cases.append(case)
    return cases, skipped


# ---------------------------------------------------------------------------- Paddle models
def _replace(model, dotted_name: str, new) -> None:
    """Set the sublayer/submodule at `dotted_name` ('a.b.conv') of a Paddle or torch model."""
    *path, last = dotted_name.split(".")
    parent = model
    for p in path:
        parent = getattr(parent, p)
    setattr(parent, last, new)


def _swap_first_conv_paddle(model, channels: int) -> bool:
    import paddle.nn as pnn

    for name, layer in model.named_sublayers(include_self=False):
        if isinstance(layer, pnn.Conv2D):
            if layer._in_channels == channels:
                return False
            new = pnn.Conv2D(
                channels,
                layer._out_channels,
                layer._kernel_size,
                layer._stride,
                layer._padding,
                layer._dilation,
                layer._groups,
                bias_attr=None if layer.bias is not None else False,
                data_format=layer._data_format,
            )
            _replace(model, name, new)
            return True
    return False


def build_paddle(case: dict, framework: str):
    """(model, note) for 'ours', 'paddleclas' or 'paddleclas-stock'."""
    C = case["input"][0]
    if source(framework) == "ours":
        from paddle_inception import create_model

        return create_model(case["model"], num_classes=case["num_classes"], in_channels=C), ""
    ctor = PEERS.get(case["model"], {}).get("paddleclas")
    reason = peer_skip_reason(case, "paddleclas")
    if reason:
        raise Skip(reason)
    backbone = paddleclas_backbone()
    import paddle

    # PaddleClas names its parameters explicitly (ParamAttr(name="conv1_weights")); a fresh
    # name scope lets a second instance be built in the same process.
    with paddle.utils.unique_name.guard():
        model = getattr(backbone, ctor)(pretrained=False, class_num=case["num_classes"])
    note = PEER_NOTES.get((case["model"], "paddleclas"), "")
    if framework == STOCK:
        note = _join("Paddle defaults, no configure_cpu", note)
    if C != 3 and _swap_first_conv_paddle(model, C):
        note = _join(note, f"first conv takes {C} ch")
    return model, note


def paddle_macs(model, shape, train: bool) -> int:
    from paddle_inception.analysis.flops import count_flops
    from paddle_inception.models import has_aux_heads

    kwargs = {"return_aux": True} if train and has_aux_heads(model) else {}
    return int(count_flops(model, [1, *shape], **kwargs)["macs"])


# ---------------------------------------------------------------------------- torch models
def _swap_first_conv_torch(model, channels: int) -> bool:
    import torch.nn as tnn

    for name, layer in model.named_modules():
        if isinstance(layer, tnn.Conv2d):
            if layer.in_channels == channels:
                return False
            new = tnn.Conv2d(
                channels,
                layer.out_channels,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                layer.dilation,
                layer.groups,
                bias=layer.bias is not None,
            )
            _replace(model, name, new)
            return True
    return False


def build_torch(case: dict, framework: str, train: bool):
    """(model, note) for 'torchvision' or 'timm'."""
    C, classes = case["input"][0], case["num_classes"]
    ctor = PEERS.get(case["model"], {}).get(source(framework))
    note = PEER_NOTES.get((case["model"], source(framework)), "")
    if source(framework) == "torchvision":
        import torchvision

        kwargs = dict(weights=None, num_classes=classes, init_weights=True)
        if ctor in ("googlenet", "inception_v3"):
            kwargs["aux_logits"] = True  # aux heads only run in train mode
        model = getattr(torchvision.models, ctor)(**kwargs)
        if C != 3 and _swap_first_conv_torch(model, C):
            note = _join(note, f"first conv takes {C} ch")
    else:
        import timm

        kwargs = dict(pretrained=False, num_classes=classes, in_chans=C)
        if ctor == "inception_v3" and train:
            kwargs["aux_logits"] = True  # timm computes it in eval too: train task only
        model = timm.create_model(ctor, **kwargs)
    return model, note


def torch_macs(model, shape, train: bool) -> int:
    """Conv2d and Linear multiply-accumulates per image (forward hooks, one batch of 2)."""
    import torch
    import torch.nn as tnn

    total = [0]

    def hook(layer, inputs, output):
        n_out = output.numel()
        if isinstance(layer, tnn.Conv2d):
            k = layer.weight.shape
            total[0] += n_out * int(k[1] * k[2] * k[3])
        else:
            total[0] += n_out * layer.in_features

    hooks = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (tnn.Conv2d, tnn.Linear))
    ]
    was_training = model.training
    model.train(train)
    try:
        with torch.no_grad():  # batch 2: BatchNorm in train mode needs > 1 value
            model(torch.zeros([2, *shape]))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0] // 2
