"""PaddleClas drop-in: our models inside PaddleClas' own pipelines (its `Engine`, YAMLs,
`tools/train.py` / `eval.py` / `export_model.py`, PP-ShiTu's `RecModel`).

    from paddle_inception.ppcls import register
    register()        # adds PaddleInception_GoogLeNet, ... to ppcls.arch

after which a PaddleClas config can say `Arch: {name: PaddleInception_GoogLeNet, class_num: N}`
or, for a retrieval model, `Arch: {name: RecModel, Backbone: {name: PaddleInception_InceptionV3},
BackboneStopLayer: {name: head.global_pool}, Neck: ...}`. Without editing PaddleClas:

    cd PaddleClas
    paddle-inception ppcls tools/train.py \\
        -c ppcls/configs/ImageNet/Inception/GoogLeNet.yaml -o Arch.name=PaddleInception_GoogLeNet

runs PaddleClas' script with the names registered (`paddle_inception.cli.ppcls`).

Registered names (`REGISTERED_NAMES`): `PREFIX` + a PaddleClas factory name of `PADDLECLAS_NAMES`
(PaddleInception_GoogLeNet, PaddleInception_GoogLeNet_BN, PaddleInception_BNInception,
PaddleInception_InceptionV3, PaddleInception_InceptionV4, PaddleInception_InceptionResNetV1,
PaddleInception_InceptionResNetV2). The prefix keeps PaddleClas' own `GoogLeNet`, `InceptionV3`
and `InceptionV4` (different networks and weights) reachable under their names.

Two output contracts:
- ours (`create_model`, the model classes): training mode returns `(logits, *aux)` for models
  built with aux heads (GoogLeNet: 3 outputs, Inception-v3: 2), eval mode the logits alone.
- PaddleClas mode (the factories of this module, hence the registered names): what PaddleClas'
  losses, metrics, eval and export expect, the same in training and eval mode:
  * GoogLeNet / GoogLeNet_BN with aux heads (the default): a Python `list`
    `[logits, aux1, aux2]`, as PaddleClas' GoogLeNet returns, for `GoogLeNetLoss` and
    `GoogLeNetTopkAcc` (both configured for Eval too). A list is never a tensor, so
    `input0, input1, input2 = out` cannot unpack the rows of a batch of 3; PaddleClas' export
    (`ExportModel`) and infer keep `out[0]`, so the exported model has the one main output.
  * every other model: the logits tensor (for `CELoss` / `TopkAcc`). `InceptionV3` is built
    without its auxiliary head, like PaddleClas' InceptionV3; `aux_logits=True` builds it (e.g.
    to load converted torchvision weights) but PaddleClas mode does not use it.
  After `stop_after` (a `BackboneStopLayer`) every model returns the stop layer's output tensor.

The factories also take PaddleClas' TheseusLayer options `return_patterns`, `return_stages`,
`freeze_befor` and `stop_after` (see `paddle_inception.models.theseus`).
"""

from __future__ import annotations

import importlib

from .models.base import InceptionModel
from .models.googlenet import GoogLeNet as _GoogLeNetModel
from .registry import aliases, create_model

__all__ = [
    "PADDLECLAS_NAMES",
    "PREFIX",
    "REGISTERED_NAMES",
    "resolve_arch_name",
    "paddleclas_mode",
    "register",
    "GoogLeNet",
    "GoogLeNet_BN",
    "BNInception",
    "InceptionV3",
    "InceptionV4",
    "InceptionResNetV1",
    "InceptionResNetV2",
]

#: PaddleClas / common CamelCase names -> registry names (each model registers its PaddleClas
#: name as an alias)
PADDLECLAS_NAMES = aliases()

#: prefix of the names `register` adds to `ppcls.arch`
PREFIX = "PaddleInception_"
#: the names `register()` adds
REGISTERED_NAMES = [PREFIX + name for name in PADDLECLAS_NAMES]

# PaddleClas' InceptionV3 has no auxiliary head: ours is built without one unless asked
_NO_AUX_BY_DEFAULT = ("inception_v3",)
_THESEUS_OPTIONS = ("return_patterns", "return_stages", "freeze_befor", "stop_after")
# `Arch` keys PaddleClas' Engine / ExportModel read, which its build_model still passes on to the
# model factory (its TheseusLayer models swallow them in **kwargs): accepted and ignored here
_ENGINE_ARCH_KEYS = ("is_rec", "infer_add_softmax", "infer_output_key", "infer_model_name")


def resolve_arch_name(name: str) -> str:
    """A registry name or a PaddleClas factory name -> the registry name (unknown names are
    returned as given: create_model reports them with the nearest name)."""
    return PADDLECLAS_NAMES.get(name, name)


# ---- PaddleClas output contract --------------------------------------------------------------
class _PaddleClasOutputs:
    """Mixed in front of a model class by `paddleclas_mode`: PaddleClas' output contract."""

    #: True: the aux outputs are returned in eval mode too, as a list (GoogLeNet, whose
    #: PaddleClas counterpart does)
    paddleclas_aux_outputs = False

    def forward(self, x):
        """PaddleClas mode: `[logits, *aux]` (a list) in training and eval mode for GoogLeNet
        with aux heads; the logits tensor for every other model (see the module docstring)."""
        if self.paddleclas_aux_outputs and self.aux_logits:
            return list(super(_PaddleClasOutputs, self).forward(x, return_aux=True))
        return super(_PaddleClasOutputs, self).forward(x, return_aux=False)


_MODE_CLASSES: dict = {}


def paddleclas_mode(model: InceptionModel) -> InceptionModel:
    """Switch a model of the zoo (e.g. from `create_model`) to PaddleClas' output contract, in
    place, and return it. Parameters, names and weights are unchanged; the class becomes a
    subclass of the model's class (`isinstance` checks still hold)."""
    cls = type(model)
    if isinstance(model, _PaddleClasOutputs):
        return model
    if not isinstance(model, InceptionModel):
        raise TypeError(f"paddleclas_mode: expected a model of the zoo, got {cls.__name__}")
    key = (cls, isinstance(model, _GoogLeNetModel))
    if key not in _MODE_CLASSES:
        _MODE_CLASSES[key] = type(
            cls.__name__,
            (_PaddleClasOutputs, cls),
            {
                "__module__": __name__,
                "__qualname__": f"paddleclas_mode.{cls.__name__}",
                "__doc__": f"{cls.__name__} with PaddleClas' output contract "
                f"(paddle_inception.ppcls).",
                "paddleclas_aux_outputs": key[1],
            },
        )
    model.__class__ = _MODE_CLASSES[key]
    return model


def _factory(ppcls_name: str):
    registry_name = PADDLECLAS_NAMES[ppcls_name]

    def factory(pretrained=False, use_ssld=False, class_num=1000, **kwargs):
        if use_ssld:
            raise ValueError(
                f"{ppcls_name}: use_ssld weights are PaddleClas downloads and are "
                f"not available offline; pass pretrained='/path/to/weights.pdparams'"
            )
        theseus = {k: kwargs.pop(k) for k in _THESEUS_OPTIONS if k in kwargs}
        for key in _ENGINE_ARCH_KEYS:
            kwargs.pop(key, None)
        data_format = kwargs.pop("data_format", "NCHW")
        if data_format != "NCHW":
            raise ValueError(
                f"{ppcls_name}: data_format={data_format!r} is not supported; the "
                f"models take NCHW input"
            )
        kwargs.setdefault("num_classes", class_num)
        if registry_name in _NO_AUX_BY_DEFAULT:
            kwargs.setdefault("aux_logits", False)
        model = paddleclas_mode(create_model(registry_name, pretrained=pretrained, **kwargs))
        model.init_net(**theseus)
        return model

    factory.__name__ = factory.__qualname__ = ppcls_name
    outputs = (
        "`[logits, aux1, aux2]` (a list) in train and eval mode, as PaddleClas' GoogLeNet"
        if ppcls_name.startswith("GoogLeNet")
        else "the logits tensor in train and eval mode"
    )
    factory.__doc__ = (
        f"PaddleClas-mode factory for `{registry_name}`: "
        f"`{ppcls_name}(pretrained=False, class_num=1000, **model_kwargs)`; also takes "
        f"TheseusLayer's {', '.join(_THESEUS_OPTIONS)} and `data_format='NCHW'`, and ignores "
        f"the Arch keys of PaddleClas' Engine ({', '.join(_ENGINE_ARCH_KEYS)}).\n\n"
        f"Returns {outputs} (PaddleClas' contract; `create_model('{registry_name}')` keeps "
        f"ours: main logits in eval mode). Registered in PaddleClas as "
        f"`{PREFIX}{ppcls_name}` by `register()`."
    )
    return factory


GoogLeNet = _factory("GoogLeNet")
GoogLeNet_BN = _factory("GoogLeNet_BN")
BNInception = _factory("BNInception")
InceptionV3 = _factory("InceptionV3")
InceptionV4 = _factory("InceptionV4")
InceptionResNetV1 = _factory("InceptionResNetV1")
InceptionResNetV2 = _factory("InceptionResNetV2")


# ---- registration in PaddleClas ----------------------------------------------------------------
def register(namespace=None, prefix: str = PREFIX) -> list:
    """Add the PaddleClas-mode factories to `namespace` (default: PaddleClas' `ppcls.arch`,
    which must be importable) as `prefix + <PaddleClas name>`, so that `Arch.name` (PaddleClas'
    `build_model`) and `RecModel`'s `Backbone.name` resolve them. Idempotent. Raises ValueError
    instead of replacing a name that is already taken by something else. Returns the names."""
    if namespace is None:
        try:
            namespace = importlib.import_module("ppcls.arch")
        except ImportError as exc:
            raise ImportError(
                "paddle_inception.ppcls.register(): PaddleClas' `ppcls` is not importable "
                f"({exc}); put the PaddleClas checkout (the folder holding ppcls/) on sys.path / "
                "PYTHONPATH, or pass the module to register into"
            ) from exc
    if not (prefix + "X").isidentifier():
        raise ValueError(
            f"register: prefix {prefix!r} does not make Python identifiers "
            f"(RecModel resolves Backbone.name with eval)"
        )
    factories = {prefix + name: globals()[name] for name in PADDLECLAS_NAMES}
    for name, fn in factories.items():
        old = getattr(namespace, name, None)
        if old is not None and old is not fn:
            raise ValueError(
                f"register: {getattr(namespace, '__name__', namespace)}.{name} "
                f"already exists ({old!r}); pass another prefix"
            )
    for name, fn in factories.items():
        setattr(namespace, name, fn)
    return list(factories)
