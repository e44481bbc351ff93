"""Data pipeline: transforms, datasets (real Fashion-MNIST files, tmp image folders), builder."""

import gzip
import io
import warnings

import numpy as np
import paddle
import pytest
from PIL import Image

from paddle_inception.data import (
    FASHION_MNIST_CLASSES,
    BadImageError,
    CropImage,
    CutmixOperator,
    DecodeImage,
    FashionMNIST,
    ImageFolder,
    ImageNetDataset,
    MixupOperator,
    NormalizeImage,
    RandCropImage,
    RandFlipImage,
    ResizeImage,
    ToChannels,
    ToCHWImage,
    build_dataloader,
    create_batch_operators,
    create_operators,
    parse_number,
)
from paddle_inception.data import datasets as D

FMNIST_OPS = [
    {"ResizeImage": {"size": 32}},
    {"ToChannels": {"channels": 3}},
    {"RandFlipImage": {"flip_code": 1}},
    {
        "NormalizeImage": {
            "scale": "1.0/255.0",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "order": "",
        }
    },
]


def _png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def image_dir(tmp_path):
    """6 RGB PNGs in 3 class folders + a list file; pixel value encodes the label."""
    root = tmp_path / "imgs"
    lines = []
    for label in range(3):
        (root / f"class{label}").mkdir(parents=True)
        for k in range(2):
            arr = np.full((20, 30, 3), 40 * label + k, np.uint8)
            arr[..., 1] = 200
            rel = f"class{label}/img{k}.png"
            (root / rel).write_bytes(_png_bytes(arr))
            lines.append(f"{rel} {label}")
    lst = tmp_path / "train_list.txt"
    lst.write_text("\n".join(lines) + "\n")
    return root, lst


# ----------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_real_files():
    train = FashionMNIST(mode="train")
    test = FashionMNIST(mode="test")
    assert len(train) == 60000 and len(test) == 10000
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert np.bincount(train.labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    assert train.class_names == FASHION_MNIST_CLASSES
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and FASHION_MNIST_CLASSES[9] == "Ankle boot"
    img, label = train[0]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32
    assert isinstance(label, np.int64) and label == 9  # the first training image: ankle boot
    assert img.max() == train.images[0].max() > 200  # no transform: values kept as is


def test_fashion_mnist_transforms_and_subset():
    ds = FashionMNIST(mode="test", transform_ops=FMNIST_OPS, num_samples=50)
    assert len(ds) == 50
    img, label = ds[3]
    assert img.shape == (3, 32, 32) and img.dtype == np.float32
    assert -1.0 <= img.min() and img.max() <= 1.0 and 0 <= label <= 9
    np.testing.assert_array_equal(img[0], img[2])  # gray replicated to 3 channels
    gray = FashionMNIST(
        mode="test",
        num_samples=5,
        transform_ops=[
            {"NormalizeImage": {"scale": "1./255.", "mean": [0.2860], "std": [0.3530], "order": ""}}
        ],
    )
    g, _ = gray[0]
    expect = (gray.images[0].astype(np.float32) / 255.0 - 0.2860) / 0.3530
    assert g.shape == (1, 28, 28)
    np.testing.assert_allclose(g[0], expect, rtol=1e-5, atol=1e-5)


def test_fashion_mnist_missing_and_corrupt_files(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setattr(D, "FASHION_MNIST_DIRS", [str(tmp_path / "debian"), str(cache)])
    with pytest.raises(FileNotFoundError) as e:
        FashionMNIST(root=None, mode="train")
    msg = str(e.value)
    assert str(tmp_path / "debian") in msg and str(cache) in msg
    assert "apt-get install dataset-fashion-mnist" in msg

    # Without a root: the cache folder, with (tiny) valid files there.
    cache.mkdir()
    imgs = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    with gzip.open(cache / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(
            (2051).to_bytes(4, "big")
            + b"".join(n.to_bytes(4, "big") for n in (3, 28, 28))
            + imgs.tobytes()
        )
    with gzip.open(cache / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    ds = FashionMNIST(root=None, mode="test")
    assert len(ds) == 3 and ds.labels.tolist() == [1, 2, 3]
    # a given root is the only place looked at (issue 30: no silent fallback)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte") as e:
        FashionMNIST(root=str(empty), mode="test")
    assert f"not found in {empty}; point `root` at the folder" in str(e.value)
    np.testing.assert_array_equal(ds.images, imgs)

    # Truncated gzip, wrong magic, short payload: each names the file.
    bad = tmp_path / "bad"
    bad.mkdir()
    good_labels = (cache / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(good_labels)
    raw = (cache / "t10k-images-idx3-ubyte.gz").read_bytes()
    path = bad / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated") as e:
        FashionMNIST(root=str(bad), mode="test")
    assert str(path) in str(e.value)
    with gzip.open(path, "wb") as f:
        f.write((2049).to_bytes(4, "big") + b"\0" * 100)
    with pytest.raises(ValueError, match="magic") as e:
        FashionMNIST(root=str(bad), mode="test")
    assert str(path) in str(e.value)
    with gzip.open(path, "wb") as f:
        f.write(
            (2051).to_bytes(4, "big")
            + b"".join(n.to_bytes(4, "big") for n in (3, 28, 28))
            + b"\0" * 100
        )
    with pytest.raises(ValueError, match="truncated or corrupt") as e:
        FashionMNIST(root=str(bad), mode="test")
    assert str(path) in str(e.value)


# ----------------------------------------------------------------------------- transforms
def test_decode_resize_crop_flip_shapes():
    arr = np.random.randint(0, 256, (20, 30, 3), np.uint8)
    img = DecodeImage(to_rgb=True, channel_first=False)(_png_bytes(arr))
    assert img.dtype == np.uint8 and img.shape == (20, 30, 3)
    np.testing.assert_array_equal(img, arr)
    np.testing.assert_array_equal(DecodeImage(to_rgb=False)(_png_bytes(arr)), arr[:, :, ::-1])
    assert DecodeImage(channel_first=True)(_png_bytes(arr)).shape == (3, 20, 30)
    gray = np.random.randint(0, 256, (20, 30), np.uint8)
    assert DecodeImage()(_png_bytes(gray)).shape == (20, 30, 3)  # always 3 channels

    assert ResizeImage(size=16)(arr).shape == (16, 16, 3)
    assert ResizeImage(size=[12, 8])(arr).shape == (8, 12, 3)  # [w, h] as PaddleClas
    assert ResizeImage(resize_short=10)(arr).shape == (10, 15, 3)
    assert ResizeImage(size=64)(gray).shape == (64, 64)
    f = ResizeImage(size=8, interpolation="bicubic")(arr.astype(np.float32))
    assert f.shape == (8, 8, 3) and f.dtype == np.float32
    const = np.full((28, 28), 7, np.uint8)
    np.testing.assert_array_equal(ResizeImage(size=64)(const), 7)

    c = CropImage(size=10)(arr)
    np.testing.assert_array_equal(c, arr[5:15, 10:20])
    with pytest.raises(ValueError, match="smaller than the crop"):
        CropImage(size=25)(arr)

    rc = RandCropImage(size=24)
    for _ in range(20):
        out = rc(arr)
        assert out.shape == (24, 24, 3) and out.dtype == np.uint8
        top, left, h, w = rc.crop_box(20, 30)
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 30
        assert 0.5 < (w / h) * 1.0001 and (w / h) < 1.5  # within 3/4..4/3 up to rounding
    assert RandCropImage(size=[16, 8])(gray).shape == (8, 16)

    flip = RandFlipImage(flip_code=1)
    outs = [flip(arr) for _ in range(40)]
    n_flipped = sum(np.array_equal(o, arr[:, ::-1]) for o in outs)
    assert all(np.array_equal(o, arr) or np.array_equal(o, arr[:, ::-1]) for o in outs)
    assert 5 < n_flipped < 35
    assert all(
        np.array_equal(o, arr) or np.array_equal(o, arr[::-1])
        for o in (RandFlipImage(flip_code=0)(arr) for _ in range(10))
    )
    with pytest.raises(ValueError, match="flip_code"):
        RandFlipImage(flip_code=2)


def test_normalize_channels_chw():
    arr = np.random.randint(0, 256, (6, 5, 3), np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    out = NormalizeImage(scale="1.0/255.0", mean=mean, std=std, order="hwc")(arr)
    ref = (arr.astype(np.float64) / 255.0 - np.array(mean)) / np.array(std)
    assert out.dtype == np.float32 and out.shape == (6, 5, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    chw = arr.transpose(2, 0, 1)
    out_chw = NormalizeImage(scale=1 / 255, mean=mean, std=std, order="chw")(chw)
    np.testing.assert_allclose(out_chw, ref.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)
    gray = arr[:, :, 0]
    g = NormalizeImage(scale="1./255.", mean=[0.5], std=[0.25], order="hwc")(gray)
    assert g.shape == (6, 5, 1)
    np.testing.assert_allclose(g[:, :, 0], (gray / 255.0 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="ToChannels"):
        NormalizeImage(mean=mean, std=std, order="hwc")(gray)
    with pytest.raises(ValueError, match="std"):
        NormalizeImage(mean=[0.5], std=[0.0])

    rgb = ToChannels(channels=3)(gray)
    assert rgb.shape == (6, 5, 3) and (rgb == gray[:, :, None]).all()
    back = ToChannels(channels=1)(rgb)
    np.testing.assert_array_equal(back[:, :, 0], gray)
    assert ToCHWImage()(arr).shape == (3, 6, 5) and ToCHWImage()(gray).shape == (1, 6, 5)

    # A built list: the layout is tracked, so order '' works after ToCHWImage too.
    ops = create_operators(
        [
            {"ToCHWImage": None},
            {"NormalizeImage": {"scale": "1.0/255.0", "mean": mean, "std": std, "order": ""}},
        ],
        "T",
    )
    assert ops.layout == "chw"
    np.testing.assert_allclose(ops(arr), ref.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)


def test_scale_strings_parsed_never_evaluated():
    assert parse_number("1.0/255.0") == pytest.approx(1 / 255)
    assert parse_number("1./255.") == pytest.approx(1 / 255)
    assert parse_number(" 0.5 ") == 0.5 and parse_number(2) == 2.0
    assert parse_number("1e-3") == pytest.approx(1e-3)
    for bad in ("__import__('os')", "1/0", "2**8", "1.0/255.0; x", "abc", "", "1//2", "nan"):
        with pytest.raises(ValueError):
            parse_number(bad)
    with pytest.raises(ValueError) as e:
        create_operators(
            [{"DecodeImage": {}}, {"NormalizeImage": {"scale": "__import__('os').getcwd()"}}],
            "DataLoader.Train.dataset.transform_ops",
        )
    msg = str(e.value)
    assert "DataLoader.Train.dataset.transform_ops[1]" in msg and "NormalizeImage" in msg
    assert "__import__('os').getcwd()" in msg


def test_unknown_op_and_bad_arguments_name_key_path():
    kp = "DataLoader.Train.dataset.transform_ops"
    with pytest.raises(ValueError) as e:
        create_operators(
            [{"DecodeImage": None}, {"ResizeImage": {"size": 8}}, {"RandCropImg": {"size": 8}}], kp
        )
    msg = str(e.value)
    assert f"{kp}[2]" in msg and "'RandCropImg'" in msg and "did you mean 'RandCropImage'" in msg
    with pytest.raises(ValueError) as e:
        create_operators([{"RandFlipImage": {"flip_cod": 1}}], kp)
    assert f"{kp}[0]" in str(e.value) and "'flip_code'" in str(e.value)
    with pytest.raises(ValueError, match=r"\[0\].*size"):
        create_operators([{"ResizeImage": {"size": -3}}], kp)
    with pytest.raises(ValueError, match=r"transform_ops\[1\].*HWC"):
        create_operators([{"ToCHWImage": None}, {"ResizeImage": {"size": 8}}], kp)
    with pytest.raises(ValueError, match=r"transform_ops\[1\].*order='chw'"):
        create_operators([{"ResizeImage": {"size": 8}}, {"NormalizeImage": {"order": "chw"}}], kp)
    with pytest.raises(ValueError, match=r"batch_transform_ops\[0\].*'MixupOperator'"):
        create_batch_operators([{"MixUpOperator": {"alpha": 0.2}}], 10, "batch_transform_ops")


# ----------------------------------------------------------------------------- file datasets
def test_imagenet_dataset_reads_list(image_dir):
    root, lst = image_dir
    ops = [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"size": 16}},
        {
            "NormalizeImage": {
                "scale": "1.0/255.0",
                "mean": [0, 0, 0],
                "std": [1, 1, 1],
                "order": "",
            }
        },
    ]
    ds = ImageNetDataset(str(root), str(lst), ops, class_num=3)
    assert len(ds) == 6 and ds.labels.tolist() == [0, 0, 1, 1, 2, 2]
    img, label = ds[4]
    assert img.shape == (3, 16, 16) and img.dtype == np.float32 and label == 2
    np.testing.assert_allclose(img[0], 80 / 255, atol=1e-6)
    np.testing.assert_allclose(img[1], 200 / 255, atol=1e-6)
    # No DecodeImage in the list: one is put in front; no ops at all: raw CHW values.
    raw, _ = ImageNetDataset(str(root), str(lst))[2]
    assert raw.shape == (3, 20, 30) and raw[0, 0, 0] == 40.0

    folder = ImageFolder(str(root), [{"ResizeImage": {"size": 8}}], class_num=3)
    assert folder.class_names == ["class0", "class1", "class2"] and len(folder) == 6
    img, label = folder[5]
    assert img.shape == (3, 8, 8) and label == 2 and img[0, 0, 0] == 81.0


def test_imagenet_dataset_list_errors(image_dir, tmp_path):
    root, lst = image_dir
    lines = lst.read_text().splitlines()
    bad = tmp_path / "bad_list.txt"
    bad.write_text("\n".join(lines[:2] + ["class1/img0.png"] + lines[3:]) + "\n")
    with pytest.raises(ValueError, match=rf"{bad}:3: malformed line"):
        ImageNetDataset(str(root), str(bad))
    bad.write_text("\n".join(lines[:4] + ["class2/img0.png two"]) + "\n")
    with pytest.raises(ValueError, match=rf"{bad}:5: label 'two' is not an integer"):
        ImageNetDataset(str(root), str(bad))
    with pytest.raises(ValueError) as e:
        ImageNetDataset(str(root), str(lst), class_num=2)
    msg = str(e.value)
    assert f"{lst}:5" in msg and "label 2" in msg and "class_num=2" in msg

    kp = "DataLoader.Eval.dataset"
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(str(tmp_path / "nope"), str(lst), key_path=kp)
    assert f"{kp}.image_root" in str(e.value) and str(tmp_path / "nope") in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(str(root), str(tmp_path / "missing.txt"), key_path=kp)
    assert f"{kp}.cls_label_path" in str(e.value) and "missing.txt" in str(e.value)


def test_bad_image_raise_or_skip(image_dir):
    root, lst = image_dir
    corrupt = root / "class1" / "img0.png"
    corrupt.write_bytes(_png_bytes(np.zeros((20, 30, 3), np.uint8))[:40])  # truncated
    strict = ImageNetDataset(str(root), str(lst), on_bad_image="raise")
    with pytest.raises(BadImageError, match="img0.png"):
        strict[2]
    lenient = ImageNetDataset(str(root), str(lst), on_bad_image="skip")
    with pytest.warns(RuntimeWarning, match=str(corrupt)):
        img, label = lenient[2]
    assert label == 1 and img[0, 0, 0] == 41.0  # the next sample stands in
    assert lenient.num_bad_images == 1 and lenient.bad_images == {str(corrupt)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per path
        lenient[2]
    assert lenient.num_bad_images == 1
    with pytest.raises(ValueError, match="on_bad_image"):
        ImageNetDataset(str(root), str(lst), on_bad_image="ignore")


# ----------------------------------------------------------------------------- batch ops
def test_mixup_soft_labels():
    n, k = 8, 10
    images = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)
    labels = np.arange(n) % k
    op = MixupOperator(class_num=k, alpha=0.4)
    x, y = op(images, labels)
    lam, perm = op.last_lam, op.last_perm
    assert y.shape == (n, k) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, 0, 0, 0], lam * np.arange(n) + (1 - lam) * perm, rtol=1e-5)
    for i in range(n):
        expect = np.zeros(k)
        expect[labels[i]] += lam
        expect[labels[perm[i]]] += 1 - lam
        np.testing.assert_allclose(y[i], expect, rtol=1e-5, atol=1e-6)


def test_cutmix_soft_labels():
    n, k = 6, 6
    images = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones(
        (1, 2, 16, 16), np.float32
    )
    labels = np.arange(n)
    op = CutmixOperator(class_num=k, alpha=1.0)
    for _ in range(5):
        x, y = op(images, labels)
        np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-6)
        for i in range(n):
            j = op.last_perm[i]
            from_j = np.mean(x[i, 0] == j) if j != i else 1 - op.last_lam
            assert from_j == pytest.approx(1 - op.last_lam)  # pasted area fraction
            if j != i:
                assert y[i, i] == pytest.approx(op.last_lam) and y[i, j] == pytest.approx(
                    1 - op.last_lam
                )
    sampler = create_batch_operators(
        [
            {
                "OpSampler": {
                    "MixupOperator": {"alpha": 0.8, "prob": 0.5},
                    "CutmixOperator": {"alpha": 1.0, "prob": 0.5},
                }
            }
        ],
        k,
    )
    x, y = sampler(images, labels)
    assert y.shape == (n, k) and np.allclose(y.sum(1), 1.0)


# ----------------------------------------------------------------------------- builder
def _cfg(dataset, batch_size=16, workers=0, **sampler):
    return {
        "dataset": dataset,
        "sampler": dict(
            {
                "name": "DistributedBatchSampler",
                "batch_size": batch_size,
                "drop_last": False,
                "shuffle": True,
            },
            **sampler,
        ),
        "loader": {"num_workers": workers, "use_shared_memory": True},
    }


def test_builder_fashion_mnist():
    cfg = _cfg({"name": "FashionMNIST", "num_samples": 40, "transform_ops": FMNIST_OPS})
    loader = build_dataloader(cfg, "Train", class_num=10, seed=0)
    batches = list(loader)
    assert len(batches) == 3
    x, y = batches[0]
    assert isinstance(x, paddle.Tensor) and x.shape == [16, 3, 32, 32] and x.dtype == paddle.float32
    assert y.shape == [16, 1] and y.dtype == paddle.int64
    assert batches[-1][0].shape[0] == 8
    assert sorted(np.concatenate([b[1].numpy()[:, 0] for b in batches]).tolist()) == sorted(
        loader.dataset.labels.tolist()
    )

    mix = _cfg(
        {
            "name": "FashionMNIST",
            "num_samples": 32,
            "transform_ops": FMNIST_OPS,
            "batch_transform_ops": [{"MixupOperator": {"alpha": 0.2}}],
        },
        name="BatchSampler",
        drop_last=True,
    )
    x, y = next(iter(build_dataloader(mix, "Train", class_num=10)))
    assert x.shape == [16, 3, 32, 32] and y.shape == [16, 10] and y.dtype == paddle.float32
    np.testing.assert_allclose(y.numpy().sum(1), 1.0, rtol=1e-5)

    # Eval split by default for mode 'Eval'; one worker process works too.
    ev = build_dataloader(
        _cfg(
            {"name": "FashionMNIST", "num_samples": 20, "transform_ops": FMNIST_OPS},
            batch_size=10,
            workers=1,
            shuffle=False,
        ),
        "Eval",
        class_num=10,
        key_path="DataLoader.Eval",
    )
    assert ev.dataset.mode == "test"
    ys = np.concatenate([b[1].numpy()[:, 0] for b in ev])
    np.testing.assert_array_equal(ys, FashionMNIST(mode="test").labels[:20])


def test_builder_imagenet_and_errors(image_dir):
    root, lst = image_dir
    ds = {
        "name": "ImageNetDataset",
        "image_root": str(root),
        "cls_label_path": str(lst),
        "transform_ops": [
            {"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"RandCropImage": {"size": 12}},
            {"RandFlipImage": {"flip_code": 1}},
            {
                "NormalizeImage": {
                    "scale": "1.0/255.0",
                    "mean": [0.5] * 3,
                    "std": [0.5] * 3,
                    "order": "",
                }
            },
        ],
        "batch_transform_ops": [{"CutmixOperator": {"alpha": 0.2}}],
    }
    x, y = next(iter(build_dataloader(_cfg(ds, batch_size=4), "Train", class_num=3)))
    assert x.shape == [4, 3, 12, 12] and y.shape == [4, 3]
    np.testing.assert_allclose(y.numpy().sum(1), 1.0, rtol=1e-5)

    with pytest.raises(ValueError) as e:
        build_dataloader(_cfg(dict(ds, name="ImageNetDatset")), "Train", 3)
    assert "DataLoader.Train.dataset.name" in str(e.value) and "'ImageNetDataset'" in str(e.value)
    with pytest.raises(ValueError, match=r"DataLoader.Train.dataset.cls_label_path.*:5.*label 2"):
        build_dataloader(_cfg(ds), "Train", 2)
    with pytest.raises(FileNotFoundError, match=r"DataLoader.Eval.dataset.image_root"):
        build_dataloader(
            _cfg(dict(ds, image_root=str(root / "x"))), "Eval", 3, key_path="DataLoader.Eval"
        )
    with pytest.raises(ValueError, match=r"DataLoader.Train.sampler.name.*'BatchSampler'"):
        build_dataloader(_cfg(ds, name="BatchSampelr"), "Train", 3)
    with pytest.raises(ValueError, match=r"DataLoader.Train.loader.*'num_workers'"):
        cfg = _cfg(ds)
        cfg["loader"] = {"num_worker": 2}
        build_dataloader(cfg, "Train", 3)
    with pytest.raises(ValueError, match=r"transform_ops\[1\].*'RandCropImage'"):
        bad = dict(ds, transform_ops=[{"DecodeImage": None}, {"RandomCropImage": {"size": 3}}])
        build_dataloader(_cfg(bad), "Train", 3)


def test_random_erasing_fills_one_box_of_the_configured_area():
    """PaddleClas' RandomErasing arguments; the box follows the layout the ops before it
    produce (CHW after ToCHWImage, HWC or 2-D otherwise)."""
    from paddle_inception.data import RandomErasing, seed_transforms

    seed_transforms(3)
    ops = create_operators(
        [
            {"ToCHWImage": None},
            {"RandomErasing": {"EPSILON": 1.0, "sl": 0.1, "sh": 0.3, "mean": [-5.0, -5.0, -5.0]}},
        ]
    )
    for _ in range(20):
        img = ops(np.ones((32, 24, 3), np.float32))
        assert img.shape == (3, 32, 24)
        erased = img[0] == -5.0
        assert (erased == (img[2] == -5.0)).all()  # all channels, same box
        ys, xs = np.nonzero(erased)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert box == erased.sum()  # one rectangle
        assert 0.1 * 0.7 <= erased.mean() <= 0.3 * 1.3  # area fraction (rounded sides)
    gray = RandomErasing(EPSILON=1.0, mode="rand")(np.zeros((28, 28), np.float32))
    assert gray.shape == (28, 28) and 0 < (gray != 0).mean() <= 0.45
    untouched = np.arange(12.0).reshape(3, 4)
    assert RandomErasing(EPSILON=0.0)(untouched) is untouched
    with pytest.raises(ValueError, match="RandomErasing: need 0 < sl <= sh"):
        RandomErasing(sl=0.5, sh=0.2)
    with pytest.raises(ValueError, match="RandomErasing.mode"):
        RandomErasing(mode="zeros")
