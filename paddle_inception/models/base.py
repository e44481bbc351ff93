"""The contract every model of the zoo keeps.

- constructor: `num_classes` (0 = no classifier, `forward` returns pooled features),
  `in_channels`, `dropout` (before the classifier);
- `forward_features(x)` -> last feature map (N, num_features, h, w);
- `forward_head(x, pre_logits=False)` -> logits (or pooled features);
- `forward_stages(x)` -> per-stage feature maps described by `feature_info`
  (for detection/segmentation-style use);
- `reset_classifier(num_classes)`; `default_cfg` (set by the factory from the registry);
- input validation: a non-4-D tensor, a wrong channel count or an image smaller than
  `min_input_size` raises ValueError naming the model and both values.

A model builds its body with `add_block(name, layer)`, in execution order; `block_names` lists
them and the generic `_run_blocks` walks them, so feature extraction needs no per-model code.
"""

from __future__ import annotations

import paddle
import paddle.nn as nn

from ..layers import AdaptiveAvgPool2D, init_weights
from ..registry import IMAGENET_MEAN, IMAGENET_STD, get_model_cfg, model_class
from .pretrained import load_pretrained
from .theseus import TheseusMixin

__all__ = ["InceptionModel", "ClassifierHead", "AuxClassifier", "has_aux_heads", "build_model"]


class ClassifierHead(nn.Layer):
    """Global average pool -> flatten -> dropout -> Linear (Identity when num_classes == 0).

    Adaptive pooling and flatten(start_axis=1) keep the head independent of input resolution
    and never fold the batch dimension.
    """

    def __init__(self, num_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.global_pool = AdaptiveAvgPool2D(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x, pre_logits: bool = False):
        x = self.global_pool(x).flatten(1)  # (N, C)
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)


class InceptionModel(TheseusMixin, nn.Layer):
    """Base class: holds the shared contract; subclasses build `block_names` and `head`.
    `TheseusMixin` adds PaddleClas' backbone methods (`stop_after`, `freeze_befor`,
    `update_res`)."""

    #: registry name, used in error messages and for the default config
    model_name: str = "inception"
    #: smallest H and W the network accepts (subclasses set it; tests verify it is tight)
    min_input_size: int = 1
    #: auxiliary classifiers: (block whose output feeds the head, head attribute), in output order
    aux_taps: tuple = ()
    aux_logits: bool = False
    #: torchvision's `transform_input` (GoogLeNet, Inception-v3 options; see `_transform_input`)
    transform_input: bool = False

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        for key, value, low in (("num_classes", num_classes, 0), ("in_channels", in_channels, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(
                    f"{type(self).__name__}: {key} must be an int >= {low}, got {value!r}"
                )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout!r}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout_rate = float(dropout)
        self.block_names: list[str] = []
        # one dict per stage output: name (block), num_chs, reduction (stride w.r.t. the input)
        self.feature_info: list[dict] = []
        self.num_features = 0
        self.default_cfg: dict = {}

    def _finish(self, stages: str, dropout: float) -> None:
        """A constructor's last step: the per-stage maps (`feature_info`) from `stages`, a
        space-separated list of `block:channels/stride` shallow to deep (the last is the
        body's output, whose width the head takes), the classifier head and the weight init."""
        self.feature_info = []
        for item in stages.split():
            name, rest = item.split(":")
            chs, stride = rest.split("/")
            self.feature_info.append(dict(name=name, num_chs=int(chs), reduction=int(stride)))
        self.num_features = self.feature_info[-1]["num_chs"]
        self.head = ClassifierHead(self.num_features, self.num_classes, dropout)
        init_weights(self)

    def add_block(self, name: str, layer: nn.Layer) -> nn.Layer:
        """Register `layer` as sub-layer `name` and as the next block of the body."""
        if name in self.block_names:
            raise ValueError(f"{type(self).__name__}: block {name!r} added twice")
        self.add_sublayer(name, layer)
        self.block_names.append(name)
        return layer

    # ---- validation -------------------------------------------------------------------------
    def check_input(self, x) -> None:
        """Raise ValueError for inputs the network cannot process (never an opaque kernel error).

        Dimensions unknown at trace time (-1 under `paddle.jit.to_static`) are not checked.
        """
        name = type(self).__name__
        shape = list(x.shape)
        if len(shape) != 4:
            raise ValueError(f"{name}: expected a 4-D input (N, C, H, W), got shape {shape}")
        c, h, w = shape[1:]
        if c > 0 and c != self.in_channels:
            raise ValueError(
                f"{name}: expected {self.in_channels} input channels, got {c} "
                f"(input shape {shape}); build the model with in_channels={c} "
                f"or convert the images"
            )
        m = self.min_input_size
        if (0 < h < m) or (0 < w < m):
            raise ValueError(
                f"{name}: input {h}x{w} is smaller than the minimum {m}x{m} this "
                f"network accepts (input shape {shape}); resize the images to at "
                f"least {m}x{m} (default {self.default_cfg.get('input_size')})"
            )

    def _set_transform_input(self, flag: bool) -> None:
        if flag and self.in_channels != 3:
            raise ValueError(
                f"{type(self).__name__}: transform_input=True needs in_channels=3, "
                f"got {self.in_channels}"
            )
        self.transform_input = bool(flag)

    def _transform_input(self, x):
        # torchvision's pretrained GoogLeNet / Inception-v3 take ImageNet-normalised input and
        # re-scale it to the [-1, 1] range their Caffe/TF weights were trained on.
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        chans = [x[:, i : i + 1] * (std[i] / 0.5) + (mean[i] - 0.5) / 0.5 for i in range(3)]
        return paddle.concat(chans, axis=1)

    def prepare_input(self, x):
        """Validate `x` (see `check_input`) and apply `transform_input` when enabled."""
        self.check_input(x)
        return self._transform_input(x) if self.transform_input else x

    # ---- body -------------------------------------------------------------------------------
    def _run_blocks(self, x, taps=()):
        """Run the body; return the last map and {name: output} for the block names in `taps`."""
        tapped = {}
        for name in self.block_names:
            x = getattr(self, name)(x)
            if name in taps:
                tapped[name] = x
        return x, tapped

    def forward_features(self, x):
        """(N, in_channels, H, W) -> last feature map (N, num_features, h, w)."""
        return self._run_blocks(self.prepare_input(x))[0]

    def forward_stages(self, x) -> list:
        """Per-stage feature maps, one per entry of `feature_info` (shallow to deep)."""
        names = [f["name"] for f in self.feature_info]
        _, tapped = self._run_blocks(self.prepare_input(x), taps=set(names))
        return [tapped[n] for n in names]

    def forward_head(self, x, pre_logits: bool = False):
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x, return_aux: bool | None = None):
        """(N, C, H, W) -> logits (N, num_classes). Models with auxiliary classifiers
        (`aux_logits`) return `(logits, *aux)` in the order of `aux_taps` in training mode, or in
        eval mode when `return_aux=True`."""
        x = self.prepare_input(x)
        want = self.training if return_aux is None else return_aux
        taps = self.aux_taps if (want and self.aux_logits) else ()
        x, tapped = self._run_blocks(x, taps=[block for block, _ in taps])
        logits = self.forward_head(x)
        if not taps:
            return logits
        return (logits,) + tuple(getattr(self, head)(tapped[block]) for block, head in taps)

    # ---- classifier -------------------------------------------------------------------------
    def get_classifier(self):
        return self.head.fc

    @property
    def has_aux(self) -> bool:
        """Built with auxiliary classifiers: the training-mode forward (or `return_aux=True`)
        returns `(logits, *aux)`, one per entry of `aux_taps`."""
        return bool(self.aux_logits and self.aux_taps)

    def _set_aux_logits(self, flag: bool) -> None:
        if flag and self.num_classes == 0:
            raise ValueError(
                f"{type(self).__name__}: aux_logits=True needs num_classes > 0 (got "
                "num_classes=0); pass aux_logits=False for a feature extractor"
            )
        self.aux_logits = bool(flag)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier, and the aux heads' (0 removes the main one: `forward` then
        returns pooled features; an aux head cannot be without classes)."""
        if self.has_aux:
            if num_classes == 0:
                raise ValueError(
                    f"{type(self).__name__}: cannot remove the classifier while aux heads "
                    "exist; build with aux_logits=False"
                )
            for _, head in self.aux_taps:
                getattr(self, head).reset_classifier(num_classes)
        self.num_classes = num_classes
        self.head.fc = (
            nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        )


def has_aux_heads(model: nn.Layer) -> bool:
    """True for a zoo model built with auxiliary classifiers (`InceptionModel.has_aux`); False
    for any other layer."""
    return bool(getattr(model, "has_aux", False))


class AuxClassifier(nn.Layer):
    """Base of the auxiliary heads: `classifier` names the head's final Linear, which
    `reset_classifier` replaces (same input width, new class count)."""

    classifier = "fc"

    def reset_classifier(self, num_classes: int) -> None:
        width = getattr(self, self.classifier).weight.shape[0]  # Paddle's Linear: [in, out]
        setattr(self, self.classifier, nn.Linear(width, num_classes))


def build_model(name: str, pretrained=False, **kwargs):
    """Factory helper: instantiate the class registered for `name`, attach its default config
    (the registry's, with the built model's class count, channels and minimum size), load
    weights."""
    cfg = get_model_cfg(name)
    model = model_class(name)(**kwargs)
    model.model_name = name
    cfg["num_classes"] = model.num_classes
    cfg["in_channels"] = model.in_channels
    if model.in_channels != 3:
        cfg["input_size"] = (model.in_channels,) + tuple(cfg["input_size"][1:])
        cfg["mean"] = (sum(cfg["mean"]) / 3,) * model.in_channels
        cfg["std"] = (sum(cfg["std"]) / 3,) * model.in_channels
    cfg["min_input_size"] = (model.in_channels, model.min_input_size, model.min_input_size)
    model.default_cfg = cfg
    load_pretrained(model, pretrained, name)
    return model
