"""Inception-v3: torchvision's names, parameter counts and per-stage shapes; aux head; minimum."""

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from conftest import n_trainable

import paddle_inception as pi
from paddle_inception.models.inception_v3 import (
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionV3,
)

TORCHVISION_BODY = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
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

# torchvision's sub-layer names inside each block type (each is a BasicConv2d: conv + bn)
TORCHVISION_BLOCK_CONVS = {
    InceptionA: [
        "branch1x1",
        "branch5x5_1",
        "branch5x5_2",
        "branch3x3dbl_1",
        "branch3x3dbl_2",
        "branch3x3dbl_3",
        "branch_pool",
    ],
    InceptionB: ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
    InceptionC: [
        "branch1x1",
        "branch7x7_1",
        "branch7x7_2",
        "branch7x7_3",
        "branch7x7dbl_1",
        "branch7x7dbl_2",
        "branch7x7dbl_3",
        "branch7x7dbl_4",
        "branch7x7dbl_5",
        "branch_pool",
    ],
    InceptionD: [
        "branch3x3_1",
        "branch3x3_2",
        "branch7x7x3_1",
        "branch7x7x3_2",
        "branch7x7x3_3",
        "branch7x7x3_4",
    ],
    InceptionE: [
        "branch1x1",
        "branch3x3_1",
        "branch3x3_2a",
        "branch3x3_2b",
        "branch3x3dbl_1",
        "branch3x3dbl_2",
        "branch3x3dbl_3a",
        "branch3x3dbl_3b",
        "branch_pool",
    ],
}

# (C, H, W) after each layer at 299x299 (the paper's Table 1 / torchvision's comments)
SHAPES_299 = {
    "Conv2d_1a_3x3": (32, 149, 149),
    "Conv2d_2a_3x3": (32, 147, 147),
    "Conv2d_2b_3x3": (64, 147, 147),
    "maxpool1": (64, 73, 73),
    "Conv2d_3b_1x1": (80, 73, 73),
    "Conv2d_4a_3x3": (192, 71, 71),
    "maxpool2": (192, 35, 35),
    "Mixed_5b": (256, 35, 35),
    "Mixed_5c": (288, 35, 35),
    "Mixed_5d": (288, 35, 35),
    "Mixed_6a": (768, 17, 17),
    "Mixed_6b": (768, 17, 17),
    "Mixed_6c": (768, 17, 17),
    "Mixed_6d": (768, 17, 17),
    "Mixed_6e": (768, 17, 17),
    "Mixed_7a": (1280, 8, 8),
    "Mixed_7b": (2048, 8, 8),
    "Mixed_7c": (2048, 8, 8),
}


def n_bn_stats(layer) -> int:
    """BN running mean + variance entries (Paddle 3 keeps them as stop-gradient parameters,
    older versions as buffers: count them by state_dict name either way)."""
    return int(
        sum(
            int(np.prod(v.shape))
            for k, v in layer.state_dict().items()
            if k.endswith(("._mean", "._variance"))
        )
    )


MODEL_NAME = "inception_v3"  # the `model` fixture of conftest


def test_layout_uses_torchvision_names(model):
    assert model.block_names == TORCHVISION_BODY
    for name in TORCHVISION_BODY[7:]:
        kind = {"Mixed_5": InceptionA, "Mixed_6": InceptionC, "Mixed_7": InceptionE}[name[:7]]
        kind = {"Mixed_6a": InceptionB, "Mixed_7a": InceptionD}.get(name, kind)
        block = getattr(model, name)
        assert type(block) is kind, name
        convs = sorted({k.split(".")[0] for k, _ in block.named_sublayers()})
        assert convs == sorted(TORCHVISION_BLOCK_CONVS[kind]), name
    assert isinstance(model.AuxLogits, InceptionAux)
    keys = set(model.state_dict())
    for key in (
        "AuxLogits.conv0.conv.weight",
        "AuxLogits.conv1.bn._mean",
        "AuxLogits.fc.weight",
        "Mixed_7c.branch3x3dbl_3b.bn._variance",
        "Conv2d_1a_3x3.conv.weight",
        "head.fc.weight",
        "head.fc.bias",
    ):
        assert key in keys, key
    # conv + BN, no conv bias; BN eps 1e-3 (TF-slim / torchvision)
    assert "Conv2d_1a_3x3.conv.bias" not in keys
    bns = [m for m in model.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    assert len(bns) == 94 + 2 and all(bn._epsilon == pytest.approx(1e-3) for bn in bns)


def test_shapes_at_299(model):
    x = paddle.randn([1, 3, 299, 299])
    shapes = {}
    with paddle.no_grad():
        for name in model.block_names:
            x = getattr(model, name)(x)
            shapes[name] = tuple(x.shape[1:])
            if name == "Mixed_6e":
                aux = model.AuxLogits(x)
        pooled = model.forward_head(x, pre_logits=True)
        logits = model.forward_head(x)
    assert shapes == SHAPES_299
    assert pooled.shape == [1, 2048] and logits.shape == [1, 1000] and aux.shape == [1, 1000]


def test_parameter_counts_match_torchvision(model):
    with_aux = model
    without = pi.create_model("inception_v3", aux_logits=False)
    # torchvision.models.inception_v3(aux_logits=True / False): trainable parameters
    assert n_trainable(with_aux) == 27_161_264
    assert n_trainable(without) == 23_834_568
    # non-trainable: BN running_mean + running_var, torchvision's buffer totals (num_batches_tracked
    # not counted); the aux head holds 2 * (128 + 768) of them
    assert n_bn_stats(with_aux) == 36_224
    assert n_bn_stats(without) == 36_224 - 2 * (128 + 768)
    assert without.AuxLogits is None
    assert not any(k.startswith("AuxLogits") for k in without.state_dict())


def test_feature_info_and_stages(model):
    m = model
    assert [(f["name"], f["num_chs"], f["reduction"]) for f in m.feature_info] == [
        ("Conv2d_2b_3x3", 64, 2),
        ("Conv2d_4a_3x3", 192, 4),
        ("Mixed_5d", 288, 8),
        ("Mixed_6e", 768, 16),
        ("Mixed_7c", 2048, 32),
    ]
    x = paddle.randn([1, 3, 107, 107])
    stages = m.forward_stages(x)
    # valid (unpadded) reductions: 107 -> 53 -> 51 | 25 -> 23 | 11 | 5 | 2
    assert [tuple(s.shape[1:]) for s in stages] == [
        (64, 51, 51),
        (192, 23, 23),
        (288, 11, 11),
        (768, 5, 5),
        (2048, 2, 2),
    ]
    assert m.forward_head(stages[-1], pre_logits=True).shape == [1, 2048]


def test_train_eval_and_aux_outputs():
    m = InceptionV3(num_classes=10)
    x = paddle.randn([2, 3, 96, 96])
    m.train()
    out = m(x)
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0].shape == [2, 10] and out[1].shape == [2, 10]
    m.eval()
    logits = m(x)
    assert not isinstance(logits, tuple) and logits.shape == [2, 10]
    main, aux = m(x, return_aux=True)
    np.testing.assert_allclose(main.numpy(), logits.numpy(), rtol=1e-5, atol=1e-5)
    assert aux.shape == [2, 10]
    m.train()
    assert not isinstance(m(x, return_aux=False), tuple)

    no_aux = InceptionV3(num_classes=10, aux_logits=False)
    no_aux.train()
    assert not isinstance(no_aux(x), tuple)
    assert not isinstance(no_aux(x, return_aux=True), tuple)


def test_aux_head_pooling_is_torchvision_on_large_maps_and_adaptive_on_small():
    aux = InceptionAux(768, num_classes=4)
    aux.eval()

    def reference(x, pool):
        y = aux.conv1(aux.conv0(pool(x)))
        return aux.fc(F.adaptive_avg_pool2d(y, 1).flatten(1)).numpy()

    def fixed(x):
        return F.avg_pool2d(x, 5, stride=3)

    def adaptive(x):
        return F.adaptive_avg_pool2d(x, 5)

    for size in (17, 20):  # 299 and 340 px inputs: torchvision's fixed 5x5/3 pool
        x = paddle.randn([1, 768, size, size])
        np.testing.assert_allclose(aux(x).numpy(), reference(x, fixed), rtol=1e-5, atol=1e-5)
    x = paddle.randn([1, 768, 17, 17])
    assert not np.allclose(reference(x, fixed), reference(x, adaptive), atol=1e-4)
    for size in (3, 5, 16):  # smaller maps: the fixed pool would leave < 5x5 for conv1
        x = paddle.randn([1, 768, size, size])
        np.testing.assert_allclose(aux(x).numpy(), reference(x, adaptive), rtol=1e-5, atol=1e-5)


def test_pool_branch_averages_over_zero_padding_like_torch():
    """count_include_pad=True: a corner of an all-ones map averages 4 ones over 9 cells."""
    block = InceptionA(4, pool_features=2)
    block.eval()
    ones = paddle.ones([1, 4, 5, 5])
    seen = {}
    block.branch_pool.register_forward_pre_hook(lambda layer, inp: seen.setdefault("x", inp[0]))
    block(ones)
    pooled = seen["x"].numpy()[0, 0]
    assert pooled[0, 0] == pytest.approx(4 / 9) and pooled[0, 2] == pytest.approx(6 / 9)
    assert pooled[2, 2] == pytest.approx(1.0)


def test_dropout_and_classifier_options(model):
    assert model.head.dropout.p == pytest.approx(0.5)
    m = pi.create_model("inception_v3", dropout=0.2)
    assert m.head.dropout.p == pytest.approx(0.2)
    with pytest.raises(ValueError, match="aux_logits"):
        pi.create_model("inception_v3", num_classes=0)
    m.reset_classifier(3)
    assert m.head.fc.weight.shape == [2048, 3] and m.AuxLogits.fc.weight.shape == [768, 3]
    with pytest.raises(ValueError, match="aux"):
        m.reset_classifier(0)


def test_transform_input_rescales_imagenet_normalised_input():
    plain = InceptionV3(num_classes=3, aux_logits=False)
    tf = InceptionV3(num_classes=3, aux_logits=False, transform_input=True)
    tf.set_state_dict(plain.state_dict())
    plain.eval()
    tf.eval()
    x = paddle.randn([2, 3, 80, 80])
    mean = np.array([0.485, 0.456, 0.406], "float32").reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], "float32").reshape(1, 3, 1, 1)
    # un-normalise to [0, 1] pixels, then map them to [-1, 1]
    x_pm1 = paddle.to_tensor(((x.numpy() * std + mean) - 0.5) / 0.5)
    np.testing.assert_allclose(tf(x).numpy(), plain(x_pm1).numpy(), rtol=1e-4, atol=1e-4)
    assert not np.allclose(tf(x).numpy(), plain(x).numpy(), atol=1e-3)
    with pytest.raises(ValueError, match="transform_input"):
        InceptionV3(in_channels=1, transform_input=True)


def test_min_input_size_is_where_mixed_7a_still_has_a_full_window():
    m = InceptionV3(num_classes=2)
    m.eval()
    assert m.min_input_size == 75 == pi.get_model_cfg("inception_v3")["min_input_size"][-1]

    def map_before_7a(size):
        x = paddle.randn([1, 3, size, size])
        for name in TORCHVISION_BODY[: TORCHVISION_BODY.index("Mixed_7a")]:
            x = getattr(m, name)(x)
        return x.shape[-1]

    # Mixed_7a's unpadded 3x3/2 convs and pool need a 3x3 map: 75 px gives exactly that,
    # 74 px only 2x2 (torch raises there; check_input rejects it before any kernel runs)
    assert map_before_7a(75) == 3 and map_before_7a(74) == 2
    assert m(paddle.randn([1, 3, 75, 75])).shape == [1, 2]
    with pytest.raises(ValueError, match="74x74.*75x75"):
        m(paddle.randn([1, 3, 74, 74]))
    # the training path (aux head included) also runs at the minimum
    m.train()
    logits, aux = m(paddle.randn([2, 3, 75, 75]))
    assert logits.shape == aux.shape == [2, 2]
