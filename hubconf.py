"""paddle.hub entry points: one callable per registered model.

    import paddle
    paddle.hub.list("/path/to/this/repo", source="local")
    model = paddle.hub.load("/path/to/this/repo", "googlenet", source="local", num_classes=10)
    model = paddle.hub.load(repo, "inception_v3", source="local",
                            pretrained="/path/to/inception_v3.pdparams")

Each entry takes the model's constructor arguments (`num_classes`, `in_channels`, `dropout`,
model-specific ones such as GoogLeNet's `aux_logits`) and `pretrained`: False, or a local
`.pdparams` file (this package downloads nothing).
"""

dependencies = ["paddle", "numpy"]

# paddle.hub puts the repository on sys.path while it imports this file, so the package found
# here is the repository's own (an installed paddle_inception already imported takes precedence).
from paddle_inception import models as _models  # noqa: E402,F401  (the zoo registers itself)
from paddle_inception import registry as _registry  # noqa: E402


def _entry(name):
    def entry(pretrained=False, **kwargs):
        return _registry.create_model(name, pretrained=pretrained, **kwargs)

    cfg = _registry.get_model_cfg(name)
    entry.__name__ = entry.__qualname__ = name
    entry.__module__ = __name__
    entry.__doc__ = (
        f"{name}: {cfg.get('paper', '')}\n\n"
        f"Default input {tuple(cfg['input_size'])} (minimum "
        f"{tuple(cfg['min_input_size'])}), mean {tuple(cfg['mean'])}, std "
        f"{tuple(cfg['std'])}, crop_pct {cfg['crop_pct']}.\n"
        f"Args: pretrained (False or a local .pdparams path), **kwargs for the "
        f"model (num_classes, in_channels, dropout, ...)."
    )
    return entry


for _name in _registry.list_models():
    globals()[_name] = _entry(_name)
del _name
