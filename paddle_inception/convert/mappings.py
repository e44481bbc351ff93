"""What each peer's checkpoint is, and how its names and tensors map onto this zoo's models:
one converter per (source, arch) pair, `(state dict, options) -> _Plan` (our arch, constructor
kwargs, the state dict in our names, preprocessing, notes)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..registry import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD
from .readers import ConversionError


# =============================================================================================
# what each peer checkpoint expects
# =============================================================================================
def _pre(size, crop_pct, interpolation, mean, std, resize_short=None):
    """Eval preprocessing: resize the shorter side to `resize_short` (default
    floor(size / crop_pct), as timm), center-crop `size`, normalise with mean/std."""
    if resize_short is None:
        resize_short = int(math.floor(size / crop_pct))
    else:
        crop_pct = round(size / resize_short, 6)
    return dict(
        input_size=[3, size, size],
        crop_pct=crop_pct,
        resize_short=resize_short,
        interpolation=interpolation,
        mean=list(mean),
        std=list(std),
    )


# torchvision: transforms of the published weights (GoogLeNet_Weights.IMAGENET1K_V1,
# Inception_V3_Weights.IMAGENET1K_V1): resize_size / crop_size, bilinear, ImageNet mean/std.
_TV_PRE = {
    "googlenet": _pre(224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 256),
    "inception_v3": _pre(299, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 342),
}
# timm pretrained_cfg per tag; resize = floor(size / crop_pct) as timm's eval transform
_TIMM_PRE = {
    "inception_v3": {
        "tv_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        "tf_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        "tf_adv_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        "gluon_in1k": _pre(299, 0.875, "bicubic", IMAGENET_MEAN, IMAGENET_STD),
    },
    "inception_v4": {"tf_in1k": _pre(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD)},
    "inception_resnet_v2": {
        "tf_in1k": _pre(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        "tf_ens_adv_in1k": _pre(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
    },
}
_TIMM_DEFAULT_TAG = {
    "inception_v3": "tv_in1k",
    "inception_v4": "tf_in1k",
    "inception_resnet_v2": "tf_in1k",
}
_TIMM_ALIASES = {
    "tf_inception_v3": ("inception_v3", "tf_in1k"),
    "adv_inception_v3": ("inception_v3", "tf_adv_in1k"),
    "gluon_inception_v3": ("inception_v3", "gluon_in1k"),
    "ens_adv_inception_resnet_v2": ("inception_resnet_v2", "tf_ens_adv_in1k"),
}
# PaddleClas ImageNet/Inception/*.yaml eval transforms: ResizeImage resize_short 320 (cv2
# bilinear), CropImage 299, NormalizeImage ImageNet mean/std.
_PPCLS_PRE = _pre(299, 0.934375, "bilinear", IMAGENET_MEAN, IMAGENET_STD, 320)
# PaddleClas' InceptionV3 / InceptionV4 end in Dropout(p=0.2, mode="downscale_in_infer"): at
# inference the features are multiplied by 0.8 before the fc; we fold that into the fc weight.
_PPCLS_DROPOUT = 0.2

PADDLECLAS_GOOGLENET_WHY = (
    "PaddleClas' GoogLeNet (ppcls/arch/backbone/model_zoo/googlenet.py) is a different network "
    "from every GoogLeNet this package can build, so its weights cannot give the same outputs: "
    "(1) none of its convolutions has an activation of its own (ConvLayer is conv without bias "
    "or BN, its act argument is ignored): the stem conv1 -> conv2_1x1 -> conv2_3x3 is purely "
    "linear, and inside each Inception block the 3x3/5x5 reduce convs feed the 3x3/5x5 convs "
    "with no ReLU in between; the only ReLU is one after each block's concatenation (ours: "
    "conv -> ReLU after every conv, as the paper); "
    "(2) its max pools are floor-mode without padding, giving 112 -> 55 -> 27 -> 13 -> 6 maps "
    "at 224 (ours and torchvision's: ceil mode, 112/56/28/14/7); "
    "(3) its aux heads use a fixed 5x5/3 average pool on the 13x13 maps -> 3x3x128 = 1152 "
    "features into fc_o1/fc_o2 (ours: adaptive 4x4 -> 2048), so the aux FC shapes differ and "
    "the model only runs at input sizes whose 4a/4d maps give exactly 3x3 (about 189-236 px); "
    "the second aux head also has no ReLU after fc_o2; "
    "(4) its final Dropout(0.4) is downscale_in_infer and eval-mode forward still returns the "
    "three outputs. (4) could be folded into the weights, (1)-(3) change the function itself."
)


# =============================================================================================
# mapping helpers
# =============================================================================================
def _torch_bn_names(key: str) -> str:
    key = re.sub(r"\.running_mean$", "._mean", key)
    return re.sub(r"\.running_var$", "._variance", key)


def _rename(sd: dict, rules) -> dict:
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        k2 = _torch_bn_names(k)
        for pat, rep in rules:
            k2 = re.sub(pat, rep, k2)
        out[k2] = v
    return out


def _shape(sd, key):
    v = sd.get(key)
    return tuple(v.shape) if v is not None else None


def _has_prefix(sd, prefix):
    return any(k.startswith(prefix) for k in sd)


def _num_classes(sd, fc_weight_key, torch_layout=True):
    shape = _shape(sd, fc_weight_key)
    if shape is None or len(shape) != 2:
        return None
    return shape[0] if torch_layout else shape[1]


def _in_channels(sd, key):
    shape = _shape(sd, key)
    return shape[1] if shape is not None and len(shape) == 4 else None


def _common_kwargs(sd, fc_key, first_conv_key, torch_layout=True) -> dict:
    kw = {}
    nc = _num_classes(sd, fc_key, torch_layout)
    if nc is not None:
        kw["num_classes"] = int(nc)
    ic = _in_channels(sd, first_conv_key)
    if ic is not None:
        kw["in_channels"] = int(ic)
    return kw


def _identify(sd) -> str | None:
    """Best guess of what a checkpoint is, for error messages."""
    probes = [
        ("_ince5b.", "PaddleClas GoogLeNet"),
        ("_inceptionC_3.", "PaddleClas InceptionV4"),
        ("inception_block_list.10.", "PaddleClas InceptionV3"),
        ("inception5b.", "torchvision googlenet (or this package's googlenet)"),
        ("features.21.", "timm inception_v4"),
        ("Mixed_7d.", "this package's inception_v4"),
        ("block8.", "timm inception_resnet_v2"),
        (
            "blocks.3.2.",
            "pytorch-fid's InceptionV3 wrapper (convert fid_inception_v3()'s state "
            "dict, the published pt_inception-2015-12-05-*.pth, instead)",
        ),
        ("Mixed_7c.", "torchvision / timm inception_v3"),
        ("conv2d_4b.", "inception_resnet_v1"),
    ]
    for prefix, what in probes:
        if _has_prefix(sd, prefix):
            return what
    return None


# ---- per-source converters: (state dict) -> (arch, kwargs, state in our names, notes) --------
@dataclass
class _Plan:
    arch: str
    kwargs: dict
    state: dict
    preprocessing: dict
    layout: str = "torch"  # "torch": Linear weights are (out, in) and get transposed
    notes: list = field(default_factory=list)
    fold_fc_scale: float = 1.0
    warnings: list = field(default_factory=list)  # assumptions the file cannot confirm


def _tv_googlenet(sd, opts) -> _Plan:
    kw = _common_kwargs(sd, "fc.weight", "conv1.conv.weight")
    kw["batch_norm"] = _has_prefix(sd, "conv1.bn.")
    k = _shape(sd, "inception3a.branch3.1.conv.weight")
    kw["branch3_kernel_size"] = int(k[-1]) if k else 3
    kw["maxpool4_kernel_size"] = 2  # torchvision: MaxPool2d(2, 2, ceil)
    kw["aux_logits"] = _has_prefix(sd, "aux1.") and not opts.get("drop_aux")
    kw["transform_input"] = _transform_input(opts, default=True)
    kw["dropout"], kw["aux_dropout"] = 0.2, 0.7  # torchvision's defaults
    state = _rename(sd, [(r"^fc\.", "head.fc.")])
    if not kw["aux_logits"]:
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    arch = "googlenet_bn" if kw["batch_norm"] else "googlenet"
    plan = _Plan(arch, kw, state, dict(_TV_PRE["googlenet"]))
    _warn_transform_input(plan, opts, "googlenet")
    if kw["aux_logits"]:
        plan.notes.append(
            "torchvision's published GoogLeNet weights carry untrained aux heads "
            "(torchvision warns about it); train them or convert with --no-aux"
        )
    return plan


def _transform_input(opts, default: bool) -> bool:
    v = opts.get("transform_input")
    return default if v is None else bool(v)


def _warn_transform_input(plan: _Plan, opts, arch: str) -> None:
    """A state dict does not record torchvision's transform_input (it has no weights): say what
    was assumed, and how to change it, unless the caller chose."""
    if opts.get("transform_input") is None:
        plan.warnings.append(
            f"assumed transform_input=True for torchvision {arch}, as its published weights "
            f"need (the checkpoint cannot tell); a model trained from scratch (weights=None, "
            f"torchvision's default) has transform_input=False: convert it with "
            f"--transform-input false (transform_input=False)"
        )


def _v3_plan(sd, opts, transform_default, pre) -> _Plan:
    kw = _common_kwargs(sd, "fc.weight", "Conv2d_1a_3x3.conv.weight")
    kw["aux_logits"] = _has_prefix(sd, "AuxLogits.") and not opts.get("drop_aux")
    kw["transform_input"] = _transform_input(opts, transform_default)
    state = _rename(sd, [(r"^fc\.", "head.fc.")])
    if not kw["aux_logits"]:
        state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    return _Plan("inception_v3", kw, state, pre)


def _tv_inception_v3(sd, opts) -> _Plan:
    plan = _v3_plan(sd, opts, True, dict(_TV_PRE["inception_v3"]))
    _warn_transform_input(plan, opts, "inception_v3")
    return plan


def _timm_pre(arch, opts):
    """(preprocessing, note) for a timm tag; no tag: timm's default tag for the arch."""
    tag = opts.get("tag")
    note = f"timm tag {tag}"
    if not tag:
        tag = _TIMM_DEFAULT_TAG[arch]
        note = (
            f"timm tag not given, assumed {tag} (timm's default; known tags: "
            f"{', '.join(sorted(_TIMM_PRE[arch]))})"
        )
        opts["tag"] = tag
    if tag not in _TIMM_PRE[arch]:
        raise ConversionError(
            f"timm {arch}: unknown pretrained tag {tag!r}; known: {sorted(_TIMM_PRE[arch])}"
        )
    return dict(_TIMM_PRE[arch][tag]), note


def _pytorch_fid_inception_v3(sd, opts) -> _Plan:
    """pytorch-fid's `fid_inception_v3()` state dict (`pt_inception-2015-12-05-*.pth`): the
    names of torchvision's Inception3 without AuxLogits, fc 1008 x 2048."""
    if _has_prefix(sd, "AuxLogits."):
        raise ConversionError(
            "the checkpoint has an AuxLogits head: pytorch-fid's FID Inception has none "
            "(a torchvision inception_v3? convert it with --from torchvision)"
        )
    kw = _common_kwargs(sd, "fc.weight", "Conv2d_1a_3x3.conv.weight")
    state = _rename(sd, [(r"^fc\.", "head.fc.")])
    # the FID pipeline resizes straight to 299x299 (no crop); for square images this is the same
    pre = _pre(299, 1.0, "bilinear", INCEPTION_MEAN, INCEPTION_STD, 299)
    plan = _Plan("fid_inception_v3", kw, state, pre)
    plan.notes.append(
        "FID network (TF graph 2015-12-05): measure with `paddle-inception fid --weights` or "
        "paddle_inception.metrics; pytorch-fid resizes every image to 299x299 without cropping"
    )
    return plan


def _timm_inception_v3(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_v3", opts)
    plan = _v3_plan(sd, opts, False, pre)
    plan.notes.append(note)
    return plan


_V4_BLOCKS = (
    ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a", "Mixed_4a", "Mixed_5a"]
    + [f"Mixed_5{c}" for c in "bcde"]
    + ["Mixed_6a"]
    + [f"Mixed_6{c}" for c in "bcdefgh"]
    + ["Mixed_7a"]
    + [f"Mixed_7{c}" for c in "bcd"]
)


def _timm_inception_v4(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_v4", opts)
    kw = _common_kwargs(sd, "last_linear.weight", "features.0.conv.weight")
    rules = [
        (
            r"^features\.(\d+)\.",
            lambda m: (
                (
                    _V4_BLOCKS[int(m.group(1))]
                    if int(m.group(1)) < len(_V4_BLOCKS)
                    else f"features_{m.group(1)}"
                )
                + "."
            ),
        ),
        (r"^last_linear\.", "head.fc."),
    ]
    return _Plan("inception_v4", kw, _rename(sd, rules), pre, notes=[note])


def _timm_inception_resnet_v2(sd, opts) -> _Plan:
    pre, note = _timm_pre("inception_resnet_v2", opts)
    kw = _common_kwargs(sd, "classif.weight", "conv2d_1a.conv.weight")
    rules = [
        (r"^((?:repeat(?:_\d)?\.\d+)|block8)\.conv2d\.(weight|bias)$", r"\1.conv2d.conv.\2"),
        (r"^classif\.", "head.fc."),
    ]
    return _Plan("inception_resnet_v2", kw, _rename(sd, rules), pre, notes=[note])


_PPV3_STEM = {
    "conv_1a_3x3": "Conv2d_1a_3x3",
    "conv_2a_3x3": "Conv2d_2a_3x3",
    "conv_2b_3x3": "Conv2d_2b_3x3",
    "conv_3b_1x1": "Conv2d_3b_1x1",
    "conv_4a_3x3": "Conv2d_4a_3x3",
}
_PPV3_BLOCKS = [
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
]


def _ppcls_inception_v3(sd, opts) -> _Plan:
    kw = _common_kwargs(
        sd, "fc.weight", "inception_stem.conv_1a_3x3.conv.weight", torch_layout=False
    )
    kw.update(aux_logits=False, bn_eps=1e-5, dropout=_PPCLS_DROPOUT)

    def block(m):
        i = int(m.group(1))
        return (_PPV3_BLOCKS[i] if i < len(_PPV3_BLOCKS) else f"block_{i}") + "."

    rules = [
        (
            r"^inception_stem\.(\w+?)\.",
            lambda m: _PPV3_STEM.get(m.group(1), "stem_" + m.group(1)) + ".",
        ),
        (r"^inception_block_list\.(\d+)\.", block),
        (r"\.branch_pool_conv\.", ".branch_pool."),
        (r"^fc\.", "head.fc."),
    ]
    plan = _Plan(
        "inception_v3",
        kw,
        _rename(sd, rules),
        dict(_PPCLS_PRE),
        layout="paddle",
        fold_fc_scale=1.0 - _PPCLS_DROPOUT,
    )
    plan.notes.append(
        "PaddleClas Dropout(p=0.2, downscale_in_infer) folded into head.fc.weight (x0.8)"
    )
    return plan


# PaddleClas InceptionV4: per block, (PaddleClas layer, our layer, ParamAttr name, consumes the
# block input?) and the concatenation order (PaddleClas order, ours) with segment widths.
def _ppv4_layout():

    stem = [
        ("_conv_1", "Conv2d_1a_3x3", "conv1_3x3_s2"),
        ("_conv_2", "Conv2d_2a_3x3", "conv2_3x3_s1"),
        ("_conv_3", "Conv2d_2b_3x3", "conv3_3x3_s1"),
        ("_conv2", "Mixed_3a.conv", "inception_stem1_3x3_s2"),
        ("_conv1_1", "Mixed_4a.branch0.0", "inception_stem2_3x3_reduce"),
        ("_conv1_2", "Mixed_4a.branch0.1", "inception_stem2_3x3"),
        ("_conv2_1", "Mixed_4a.branch1.0", "inception_stem2_1x7_reduce"),
        ("_conv2_2", "Mixed_4a.branch1.1", "inception_stem2_1x7"),
        ("_conv2_3", "Mixed_4a.branch1.2", "inception_stem2_7x1"),
        ("_conv2_4", "Mixed_4a.branch1.3", "inception_stem2_3x3_2"),
        ("_conv3", "Mixed_5a.conv", "inception_stem3_3x3_s2"),
    ]
    blocks = [("_inception_stem", None, [(a, b, c, False) for a, b, c in stem], None)]
    a_convs = [
        ("_conv1", "branch3.1", "_1x1", True),
        ("_conv2", "branch0", "_1x1_2", True),
        ("_conv3_1", "branch1.0", "_3x3_reduce", True),
        ("_conv3_2", "branch1.1", "_3x3", False),
        ("_conv4_1", "branch2.0", "_3x3_2_reduce", True),
        ("_conv4_2", "branch2.1", "_3x3_2", False),
        ("_conv4_3", "branch2.2", "_3x3_3", False),
    ]
    a_cat = (
        ["pool", "b0", "b1", "b2"],
        ["b0", "b1", "b2", "pool"],
        dict(pool=96, b0=96, b1=96, b2=96),
    )
    for k, c in enumerate("bcde", 1):
        blocks.append(
            (
                f"_inceptionA_{k}",
                f"Mixed_5{c}",
                [(p, o, f"inception_a{k}{n}", i) for p, o, n, i in a_convs],
                a_cat,
            )
        )
    blocks.append(
        (
            "_reductionA",
            "Mixed_6a",
            [
                ("_conv2", "branch0", "reduction_a_3x3", True),
                ("_conv3_1", "branch1.0", "reduction_a_3x3_2_reduce", True),
                ("_conv3_2", "branch1.1", "reduction_a_3x3_2", False),
                ("_conv3_3", "branch1.2", "reduction_a_3x3_3", False),
            ],
            (["in", "b0", "b1"], ["b0", "b1", "in"], dict(b0=384, b1=256)),
        )
    )
    b_convs = [
        ("_conv1", "branch3.1", "_1x1", True),
        ("_conv2", "branch0", "_1x1_2", True),
        ("_conv3_1", "branch1.0", "_1x7_reduce", True),
        ("_conv3_2", "branch1.1", "_1x7", False),
        ("_conv3_3", "branch1.2", "_7x1", False),
        ("_conv4_1", "branch2.0", "_7x1_2_reduce", True),
        ("_conv4_2", "branch2.1", "_1x7_2", False),
        ("_conv4_3", "branch2.2", "_7x1_2", False),
        ("_conv4_4", "branch2.3", "_1x7_3", False),
        ("_conv4_5", "branch2.4", "_7x1_3", False),
    ]
    b_cat = (
        ["pool", "b0", "b1", "b2"],
        ["b0", "b1", "b2", "pool"],
        dict(pool=128, b0=384, b1=256, b2=256),
    )
    for k, c in enumerate("bcdefgh", 1):
        blocks.append(
            (
                f"_inceptionB_{k}",
                f"Mixed_6{c}",
                [(p, o, f"inception_b{k}{n}", i) for p, o, n, i in b_convs],
                b_cat,
            )
        )
    blocks.append(
        (
            "_reductionB",
            "Mixed_7a",
            [
                ("_conv2_1", "branch0.0", "reduction_b_3x3_reduce", True),
                ("_conv2_2", "branch0.1", "reduction_b_3x3", False),
                ("_conv3_1", "branch1.0", "reduction_b_1x7_reduce", True),
                ("_conv3_2", "branch1.1", "reduction_b_1x7", False),
                ("_conv3_3", "branch1.2", "reduction_b_7x1", False),
                ("_conv3_4", "branch1.3", "reduction_b_3x3_2", False),
            ],
            (["in", "b0", "b1"], ["b0", "b1", "in"], dict(b0=192, b1=320)),
        )
    )
    c_convs = [
        ("_conv1", "branch3.1", "_1x1", True),
        ("_conv2", "branch0", "_1x1_2", True),
        ("_conv3_0", "branch1_0", "_1x1_3", True),
        ("_conv3_1", "branch1_1a", "_1x3", False),
        ("_conv3_2", "branch1_1b", "_3x1", False),
        ("_conv4_0", "branch2_0", "_1x1_4", True),
        ("_conv4_00", "branch2_1", "_1x3_2", False),
        ("_conv4_000", "branch2_2", "_3x1_2", False),
        ("_conv4_1", "branch2_3a", "_1x3_3", False),
        ("_conv4_2", "branch2_3b", "_3x1_3", False),
    ]
    c_cat = (
        ["pool", "b0", "b1a", "b1b", "b2a", "b2b"],
        ["b0", "b1a", "b1b", "b2a", "b2b", "pool"],
        dict(pool=256, b0=256, b1a=256, b1b=256, b2a=256, b2b=256),
    )
    for k, c in enumerate("bcd", 1):
        blocks.append(
            (
                f"_inceptionC_{k}",
                f"Mixed_7{c}",
                [(p, o, f"inception_c{k}{n}", i) for p, o, n, i in c_convs],
                c_cat,
            )
        )
    return blocks


def _cat_perm(cat, p_in):
    """Our block output channel c is PaddleClas' channel perm[c]."""
    pc_order, our_order, widths = cat
    widths = dict(widths, **{"in": len(p_in)})
    offs, o = {}, 0
    for name in pc_order:
        offs[name] = o
        o += widths[name]
    return np.concatenate(
        [offs[n] + (p_in if n == "in" else np.arange(widths[n])) for n in our_order]
    )


_PP_BN = [
    ("_batch_norm.weight", "bn.weight", "_bn_scale"),
    ("_batch_norm.bias", "bn.bias", "_bn_offset"),
    ("_batch_norm._mean", "bn._mean", "_bn_mean"),
    ("_batch_norm._variance", "bn._variance", "_bn_variance"),
]


def _ppcls_inception_v4(sd, opts) -> _Plan:
    by_param_name = "final_fc_weights" in sd or "conv1_3x3_s2_weights" in sd
    fc_w, fc_b = (
        ("final_fc_weights", "final_fc_offset") if by_param_name else ("out.weight", "out.bias")
    )
    first = "conv1_3x3_s2_weights" if by_param_name else "_inception_stem._conv_1._conv.weight"
    kw = _common_kwargs(sd, fc_w, first, torch_layout=False)
    kw.update(kernel_order="paper", bn_eps=1e-5, dropout=_PPCLS_DROPOUT)
    src = dict(sd)
    state = {}
    perm = None  # stem input: the image, unpermuted
    for pc_block, our_block, convs, cat in _ppv4_layout():
        for pc_layer, our_layer, pname, permute_in in convs:
            our = our_layer if our_block is None else f"{our_block}.{our_layer}"
            pairs = [
                (
                    f"{pname}_weights" if by_param_name else f"{pc_block}.{pc_layer}._conv.weight",
                    f"{our}.conv.weight",
                )
            ]
            pairs += [
                (pname + pn if by_param_name else f"{pc_block}.{pc_layer}.{sk}", f"{our}.{ok}")
                for sk, ok, pn in _PP_BN
            ]
            for skey, okey in pairs:
                if skey not in src:
                    continue  # reported by the strict key check
                v = src.pop(skey)
                if permute_in and perm is not None and okey.endswith("conv.weight"):
                    if v.ndim != 4 or v.shape[1] != len(perm):
                        raise ConversionError(
                            f"PaddleClas InceptionV4: {skey} has shape "
                            f"{tuple(v.shape)}, expected {len(perm)} input "
                            f"channels"
                        )
                    v = v[:, perm]
                state[okey] = v
        perm = np.arange(384) if cat is None else _cat_perm(cat, perm)
    for skey, okey in ((fc_w, "head.fc.weight"), (fc_b, "head.fc.bias")):
        if skey in src:
            v = src.pop(skey)
            if okey == "head.fc.weight" and v.ndim == 2 and v.shape[0] == len(perm):
                v = v[perm]
            state[okey] = v
    # leftovers keep their names so that the strict check lists them as unexpected
    state.update({k: v for k, v in src.items() if k != "StructuredToParameterName@@"})
    plan = _Plan(
        "inception_v4",
        kw,
        state,
        dict(_PPCLS_PRE),
        layout="paddle",
        fold_fc_scale=1.0 - _PPCLS_DROPOUT,
    )
    plan.notes += [
        "PaddleClas concat orders folded into the consuming convs' input channels",
        "PaddleClas Dropout(p=0.2, downscale_in_infer) folded into head.fc.weight (x0.8)",
    ]
    if by_param_name:
        plan.notes.append("read PaddleClas parameter names (conv1_3x3_s2_weights, ...)")
    return plan


def _ppcls_googlenet(sd, opts):
    raise ConversionError("paddleclas GoogLeNet cannot be converted: " + PADDLECLAS_GOOGLENET_WHY)


# source -> {accepted arch name (lower case): (converter, canonical peer name)}
_CONVERTERS = {
    "torchvision": {
        "googlenet": (_tv_googlenet, "googlenet"),
        "inception_v3": (_tv_inception_v3, "inception_v3"),
    },
    "timm": {
        "inception_v3": (_timm_inception_v3, "inception_v3"),
        "inception_v4": (_timm_inception_v4, "inception_v4"),
        "inception_resnet_v2": (_timm_inception_resnet_v2, "inception_resnet_v2"),
    },
    "pytorch-fid": {
        "fid_inception_v3": (_pytorch_fid_inception_v3, "fid_inception_v3"),
    },
    "paddleclas": {
        "inceptionv3": (_ppcls_inception_v3, "InceptionV3"),
        "inception_v3": (_ppcls_inception_v3, "InceptionV3"),
        "inceptionv4": (_ppcls_inception_v4, "InceptionV4"),
        "inception_v4": (_ppcls_inception_v4, "InceptionV4"),
        "googlenet": (_ppcls_googlenet, "GoogLeNet"),
    },
}
#: the (source, peer arch) pairs `convert_checkpoint` accepts
SUPPORTED = {
    "torchvision": ("googlenet", "inception_v3"),
    "timm": ("inception_v3", "inception_v4", "inception_resnet_v2"),
    "paddleclas": ("InceptionV3", "InceptionV4"),
    "pytorch-fid": ("fid_inception_v3",),
}


def _lookup(source: str, arch: str):
    src = str(source).lower()
    if src not in _CONVERTERS:
        raise ConversionError(f"unknown source {source!r}; choose one of {sorted(_CONVERTERS)}")
    name, tag = str(arch), None
    if src == "timm":
        if name in _TIMM_ALIASES:
            name, tag = _TIMM_ALIASES[name]
        elif "." in name:
            name, tag = name.split(".", 1)
    table = _CONVERTERS[src]
    if name.lower() not in table:
        raise ConversionError(
            f"{source} arch {arch!r} is not supported; supported: "
            f"{', '.join(SUPPORTED[src])}"
            + (
                " (GoogLeNet is refused, see PADDLECLAS_GOOGLENET_WHY)"
                if src == "paddleclas"
                else ""
            )
        )
    fn, peer = table[name.lower()]
    return fn, peer, tag
