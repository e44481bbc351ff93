import os
import sys

import numpy as np
import paddle
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
#: the seed documents (present in CI's checkout and developers' machines, not in a plain clone)
SHARED_SEEDS = os.path.join(os.path.dirname(ROOT), "shared", "seeds")
#: the excerpts of the seeds whose figures the tests pin (always present)
SEED_FIXTURES = os.path.join(ROOT, "tests", "fixtures", "seeds")
SEED_002_TABLES = os.path.join(SEED_FIXTURES, "002_summary_tables.txt")
SEED_000_TABLE = os.path.join(SEED_FIXTURES, "000_torchstat_table.txt")
#: Debian's dataset-fashion-mnist (tests that train or read it skip without it)
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
needs_fmnist = pytest.mark.skipif(
    not os.path.exists(FMNIST), reason="apt-get install dataset-fashion-mnist"
)
#: the default main job's config
DEFAULT_CONFIG = os.path.join(ROOT, "configs", "googlenet.yaml")


def small_job(tmp_path, *extra, n_train=256, n_eval=128, epochs=2, size=32) -> list:
    """`-o` overrides shrinking the default job: few images, small batches, `size` px."""
    return [
        f"Global.output_dir={tmp_path}",
        f"Global.epochs={epochs}",
        f"Global.image_shape=[1, {size}, {size}]",
        "Global.print_batch_step=1",
        f"DataLoader.Train.dataset.num_samples={n_train}",
        f"DataLoader.Eval.dataset.num_samples={n_eval}",
        f"DataLoader.Train.dataset.transform_ops.0.ResizeImage.size={size}",
        f"DataLoader.Eval.dataset.transform_ops.0.ResizeImage.size={size}",
        "DataLoader.Train.sampler.batch_size=64",
        "DataLoader.Eval.sampler.batch_size=64",
        *extra,
    ]


def checkout_env(**extra) -> dict:
    """Environment for a subprocess that must run this checkout's package (not another
    installed copy): the repository first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
    )
    return env


#: the zoo's two largest models (299 px, 55M and 43M parameters): their registry-wide cases run
#: in the full suite only, so that `-m "not slow"` stays a quick loop over the rest of the zoo
LARGE_MODELS = {"inception_resnet_v2", "inception_v4"}


def zoo_params(names) -> list:
    """Registry names as pytest parameters, the large models' marked `slow`."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in LARGE_MODELS else n for n in names]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: trains, converts, exports or starts processes (deselect with -m 'not slow')",
    )


@pytest.fixture(autouse=True)
def _seed():
    paddle.seed(0)
    np.random.seed(0)
    yield


def n_trainable(layer) -> int:
    """Trainable parameters only (paddle.summary also counts BN running stats as params)."""
    return int(sum(int(np.prod(p.shape)) for p in layer.parameters() if not p.stop_gradient))


def n_non_trainable(layer) -> int:
    """BN running mean/variance: stop-gradient parameters in Paddle 3 (paddle.summary lists them
    as non-trainable params)."""
    return int(sum(int(np.prod(p.shape)) for p in layer.parameters() if p.stop_gradient))


def too_small_layers(model, size):
    """Run the body (no input check) and list the convs/pools whose padded input is smaller
    than their kernel: torch raises on those, Paddle silently returns a 1x1 map."""
    bad, hooks = [], []

    def check(layer, inputs):
        h, w = inputs[0].shape[2:]
        if isinstance(layer, paddle.nn.Conv2D):
            (kh, kw), (ph, pw) = layer._kernel_size, layer._updated_padding[:2]
        else:
            kh = kw = layer.ksize
            ph = pw = layer.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            bad.append(layer.full_name())

    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.Conv2D, paddle.nn.MaxPool2D, paddle.nn.AvgPool2D)):
            hooks.append(layer.register_forward_pre_hook(check))
    try:
        with paddle.no_grad():
            out, _ = model._run_blocks(paddle.randn([1, 3, size, size]))
    finally:
        for h in hooks:
            h.remove()
    return bad, out


#: Fashion-MNIST's class names in label order, as its README (zalandoresearch) lists them
FASHION_MNIST_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: the family the registry must hold (the issue's list of architectures)
FAMILY = (
    "googlenet",
    "googlenet_bn",
    "bninception",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v1",
    "inception_resnet_v2",
)


@pytest.fixture(scope="module")
def model(request):
    """The test module's `MODEL_NAME`, built once per module with 1000 classes, in eval mode."""
    import paddle_inception as pi

    m = pi.create_model(request.module.MODEL_NAME)
    m.eval()
    return m


def block_shapes(model, size: int) -> dict:
    """{block name: (C, H, W)} of one random image through the body, plus "pooled" (the
    head's pre-logits width) and "logits"."""
    x = paddle.randn([1, model.in_channels, size, size])
    shapes = {}
    with paddle.no_grad():
        for name in model.block_names:
            x = getattr(model, name)(x)
            shapes[name] = tuple(x.shape[1:])
        shapes["pooled"] = tuple(model.forward_head(x, pre_logits=True).shape[1:])
        shapes["logits"] = tuple(model.forward_head(x).shape[1:])
    return shapes
