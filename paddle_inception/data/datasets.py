"""Datasets returning ``(image float32 CHW ndarray, label int64)``.

* `FashionMNIST` reads the gzip idx files of the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``), or Paddle's download cache as a fallback. The whole
  split is decoded once per process into a uint8 array (60000 x 28 x 28 = 47 MB).
* `ImageNetDataset` reads a PaddleClas list file (``relative/path label`` per line).
* `ImageFolder` takes one sub-folder per class (sorted names -> labels 0..K-1).

Transforms receive a 2-D uint8 array (Fashion-MNIST) or the file's bytes (file datasets; a
DecodeImage is put in front when the list does not start with one). Whatever layout the list
ends in is converted to float32 CHW (no scaling: add NormalizeImage for that).

Errors name the config key (``key_path``, e.g. ``DataLoader.Train.dataset``), the file and the
line. An unreadable image at load time either raises `BadImageError` naming the path
(``on_bad_image='raise'``) or is replaced by the next readable sample with a warning naming
the path (``'skip'``); `num_bad_images` / `bad_images` count them (per process: DataLoader
workers keep their own counts).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Sequence

import numpy as np
import paddle

from .._safe_files import (
    MAX_IMAGE_BYTES,
    MAX_TEXT_BYTES,
    FileTooLargeError,
    NotRegularFileError,
    check_dir,
    check_file,
    file_problem,
    gunzip_bounded,
    open_regular,
    printable,
    read_bounded,
)
from .folder import scan_image_folder, stratified_split, unreadable_images
from .transforms import Compose, DecodeImage, ImageDecodeError, create_operators

__all__ = [
    "FashionMNIST",
    "ImageNetDataset",
    "ImageFolder",
    "BadImageError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIRS",
    "IMG_EXTENSIONS",
]

FASHION_MNIST_CLASSES = [
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
]
FASHION_MNIST_DIRS = [
    "/usr/share/datasets/fashion-mnist",
    os.path.join("~", ".cache", "paddle", "dataset", "fashion-mnist"),
]
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MODES = {"train": "train", "test": "test", "eval": "test", "val": "test", "valid": "test"}


class BadImageError(ValueError, RuntimeError):
    """An image file could not be read or decoded (the message names the path, and the list
    file line where it came from one). A ValueError, so the tools report it in one line; still
    a RuntimeError, as it was first."""


_LABEL_RE = re.compile(r"-?[0-9]+")  # ASCII only: int() would also take '1_0', '١', '１'
_SHOW_MISSING = 5  # missing files named in the pre-flight message


def _to_chw_float32(img, layout: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[None]
    elif img.ndim == 3 and layout == "hwc":
        img = img.transpose(2, 0, 1)
    elif img.ndim != 3:
        raise ValueError(
            f"transform_ops produced an array of shape {img.shape}; expected an "
            f"image (2-D, HWC or CHW)"
        )
    return np.ascontiguousarray(img, dtype=np.float32)


def _as_compose(transform_ops, key_path: str, decode_first: bool = False) -> Compose:
    if transform_ops == "auto":
        raise ValueError(
            f"{key_path}.transform_ops: 'auto' is filled in from the model's default config by "
            f"training and evaluation (engine.trainer); elsewhere give the op list "
            f"(data.folder.auto_transform_ops makes it)"
        )
    if transform_ops is None or isinstance(transform_ops, (list, tuple)):
        ops = create_operators(transform_ops, f"{key_path}.transform_ops")
    elif isinstance(transform_ops, Compose):
        ops = transform_ops
    elif callable(transform_ops):
        ops = Compose([transform_ops])
    else:
        raise ValueError(
            f"{key_path}.transform_ops: expected a list of ops, got {type(transform_ops).__name__}"
        )
    if decode_first and not (len(ops) and isinstance(ops[0], DecodeImage)):
        ops = Compose([DecodeImage()] + list(ops))
    return ops


# ----------------------------------------------------------------------------- Fashion-MNIST
_IDX_CACHE: dict = {}


def _read_idx(path: str, magic: int, shape_tail: tuple) -> np.ndarray:
    """Read a (gzip) idx file of unsigned bytes, checking its magic number and length."""
    st = check_file(path, "Fashion-MNIST")
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _IDX_CACHE:
        return _IDX_CACHE[key]
    # the largest idx file of the set (60000 x 28 x 28 + header) with room to spare: a gzip
    # bomb stops here instead of decompressing gigabytes
    limit = 64 * 2**20
    try:
        if path.endswith(".gz"):
            data = gunzip_bounded(path, limit, kind="Fashion-MNIST idx file")
        else:
            data = read_bounded(path, limit, kind="Fashion-MNIST idx file")
    except (NotRegularFileError, FileTooLargeError):
        raise
    except (OSError, EOFError, ValueError) as e:
        raise ValueError(
            f"{path}: corrupt or truncated file ({type(e).__name__}: {e}); "
            f"reinstall it (apt-get install --reinstall dataset-fashion-mnist)"
        ) from None
    ndim = 1 + len(shape_tail)
    head = 4 + 4 * ndim
    if len(data) < head:
        raise ValueError(f"{path}: too short for an idx header ({len(data)} bytes)")
    got_magic = int.from_bytes(data[:4], "big")
    if got_magic != magic:
        raise ValueError(
            f"{path}: bad idx magic number {got_magic:#010x}, expected {magic:#010x}"
            f" (wrong file or corrupt)"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims[1:] != shape_tail:
        raise ValueError(f"{path}: idx dimensions {dims}, expected (N, *{shape_tail})")
    expected = int(np.prod(dims))
    if len(data) - head != expected:
        raise ValueError(
            f"{path}: {len(data) - head} data bytes for dimensions {dims} "
            f"(expected {expected}): truncated or corrupt"
        )
    arr = np.frombuffer(data, np.uint8, offset=head).reshape(dims)
    _IDX_CACHE[key] = arr
    return arr


def _find_fashion_files(root, mode: str) -> tuple[str, str]:
    """The idx files in `root`; with root None, in the first of FASHION_MNIST_DIRS holding them.
    A given root is the only place looked at: a typo or an empty folder is an error, never a
    silent switch to the system copy (issue 30)."""
    names = _FILES[mode]
    dirs = [root] if root is not None else list(FASHION_MNIST_DIRS)
    for d in dirs:
        d = os.path.expanduser(d)
        found = []
        for n in names:
            for cand in (os.path.join(d, n + ".gz"), os.path.join(d, n)):
                if os.path.lexists(cand):  # a FIFO here is reported as such
                    found.append(cand)
                    break
        if len(found) == 2:
            return found[0], found[1]
    where = " or ".join(os.path.expanduser(d) for d in dirs)
    if root is not None:
        if not os.path.isdir(os.path.expanduser(root)):
            where += " (no such directory)"
        hint = (
            f"point `root` at the folder holding them, or leave `root` out to use the "
            f"installed copy ({' or '.join(FASHION_MNIST_DIRS)})"
        )
    else:
        hint = (
            "install them with `apt-get install dataset-fashion-mnist` (or let "
            "paddle.vision.datasets.FashionMNIST download them into Paddle's cache)"
        )
    raise FileNotFoundError(
        f"Fashion-MNIST {mode} files ({names[0]}[.gz], {names[1]}[.gz]) not found in "
        f"{where}; {hint}"
    )


class FashionMNIST(paddle.io.Dataset):
    """Fashion-MNIST (60000 train / 10000 test 28x28 gray images, 10 classes).

    Args:
        root: folder with the idx files (only there: a folder without them is an error);
            None (default): the first of `FASHION_MNIST_DIRS` holding them (the Debian
            package's folder, then ``~/.cache/paddle/dataset/fashion-mnist``).
        mode: 'train' or 'test' ('eval'/'val' mean 'test').
        transform_ops: op list (YAML form or a built `Compose`); each op gets a (28, 28) uint8.
        num_samples: keep only the first `num_samples` samples (fast tests).
        class_num: if given, must be >= 10 (labels are 0..9).
    """

    class_names = FASHION_MNIST_CLASSES

    def __init__(
        self,
        root: str | None = None,
        mode: str = "train",
        transform_ops=None,
        num_samples: int | None = None,
        class_num: int | None = None,
        key_path: str = "dataset",
    ):
        super().__init__()
        if str(mode).lower() not in _MODES:
            raise ValueError(f"{key_path}.mode: expected 'train' or 'test', got {mode!r}")
        self.mode = _MODES[str(mode).lower()]
        if class_num is not None and class_num < 10:
            raise ValueError(f"{key_path}: Fashion-MNIST has 10 classes but class_num={class_num}")
        self.image_path, self.label_path = _find_fashion_files(root, self.mode)
        images = _read_idx(self.image_path, 0x00000803, (28, 28))
        labels = _read_idx(self.label_path, 0x00000801, ())
        if len(images) != len(labels):
            raise ValueError(
                f"{self.image_path} holds {len(images)} images but "
                f"{self.label_path} holds {len(labels)} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"{self.label_path}: label {int(labels.max())} outside 0..9")
        if num_samples is not None:
            if not isinstance(num_samples, int) or num_samples <= 0:
                raise ValueError(
                    f"{key_path}.num_samples: expected a positive int, got {num_samples!r}"
                )
            images, labels = images[:num_samples], labels[:num_samples]
        self.images = images  # (N, 28, 28) uint8, read-only
        self.labels = labels.astype(np.int64)  # (N,)
        self.transform = _as_compose(transform_ops, key_path)

    @property
    def class_num(self) -> int:
        return 10

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        img = self.transform(self.images[idx])
        return _to_chw_float32(img, self.transform.layout), self.labels[idx]


# ----------------------------------------------------------------------------- file datasets
class _FileDataset(paddle.io.Dataset):
    """(path, label) samples read from disk, with the bad-image policy."""

    def __init__(
        self,
        samples: list,
        transform_ops,
        on_bad_image: str,
        key_path: str,
        origins: list | None = None,
    ):
        super().__init__()
        if on_bad_image not in ("raise", "skip"):
            raise ValueError(
                f"{key_path}.on_bad_image: expected 'raise' or 'skip', got {on_bad_image!r}"
            )
        self.samples = samples
        # where each sample was listed ("list.txt:12"), for messages; None: not from a list
        self.origins = origins
        self.on_bad_image = on_bad_image
        self.key_path = key_path
        self.transform = _as_compose(transform_ops, key_path, decode_first=True)
        self.bad_images: set = set()

    @property
    def num_bad_images(self) -> int:
        return len(self.bad_images)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s[1] for s in self.samples], np.int64)

    def __len__(self):
        return len(self.samples)

    def _load(self, idx):
        path, label = self.samples[idx]
        try:
            # a FIFO or /dev/zero behind a link: refused on the open, never read
            data = read_bounded(path, MAX_IMAGE_BYTES, kind="image file")
            img = self.transform(data)
        except (
            OSError,
            ImageDecodeError,
            MemoryError,
            NotRegularFileError,
            FileTooLargeError,
        ) as e:
            listed = f" (listed at {self.origins[idx]})" if self.origins else ""
            fix = (
                f"; remove or replace the file, or set {self.key_path}.on_bad_image: skip"
                if self.on_bad_image == "raise"
                else ""
            )
            raise BadImageError(
                f"{self.key_path}: cannot read image {printable(path)}{listed} "
                f"({type(e).__name__}: {printable(str(e))}){fix}"
            ) from e
        return _to_chw_float32(img, self.transform.layout), np.int64(label)

    def _check_files_exist(self, what: str) -> None:
        """Pre-flight: stat every sample (cheap next to a training run) so that a missing file is
        reported before training starts, with the line that lists it and the count; with
        on_bad_image='skip' a warning (they are skipped and counted when met)."""
        problems = {}
        for i, (path, _) in enumerate(self.samples):
            problem = file_problem(path)
            if problem is not None:
                problems[i] = problem
        missing = list(problems)
        if not missing:
            return
        # a FIFO, a device or a directory is named as such, not as missing
        odd = {i: f" ({p})" for i, p in problems.items() if p != "file not found"}
        shown = ", ".join(
            (f"{self.origins[i]}: {self.samples[i][0]}" if self.origins else self.samples[i][0])
            + odd.get(i, "")
            for i in missing[:_SHOW_MISSING]
        )
        more = (
            f", ... ({len(missing) - _SHOW_MISSING} more)" if len(missing) > _SHOW_MISSING else ""
        )
        msg = (
            f"{what}: {len(missing)} of {len(self.samples)} listed images "
            f"{'do not exist or are not regular files' if odd else 'do not exist'}: "
            f"{shown}{more}"
        )
        if self.on_bad_image == "skip":
            warnings.warn(f"{msg}; they will be skipped", RuntimeWarning, stacklevel=3)
            return
        raise FileNotFoundError(
            f"{msg} (set check_files: false to start anyway, or on_bad_image: skip)"
        )

    def __getitem__(self, idx):
        if self.on_bad_image == "raise":
            return self._load(idx)
        n = len(self.samples)
        for k in range(min(n, 100)):
            j = (idx + k) % n
            try:
                return self._load(j)
            except BadImageError as e:
                path = self.samples[j][0]
                if path not in self.bad_images:
                    self.bad_images.add(path)
                    warnings.warn(
                        f"skipping unreadable image {printable(path)} (sample {j}; "
                        f"{len(self.bad_images)} skipped so far): {printable(str(e.__cause__))}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        raise BadImageError(
            f"{self.key_path}: {min(n, 100)} consecutive unreadable images from "
            f"sample {idx} ({self.samples[idx][0]}); check the data set"
        )


def _read_list_lines(path: str, what: str):
    """(line number, text) of a list file read as UTF-8 with an optional byte-order mark (a BOM
    would otherwise become part of the first path). Invalid UTF-8 is a ValueError naming
    file:line."""
    with open_regular(path, what) as f:
        if os.fstat(f.fileno()).st_size > MAX_TEXT_BYTES:
            raise FileTooLargeError(
                f"{what}: {path} is larger than {MAX_TEXT_BYTES // 2**20} MiB; not a list file"
            )
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{what}: {path}:{lineno}: not UTF-8 text (byte {raw[e.start]:#04x})"
                ) from None


class ImageNetDataset(_FileDataset):
    """PaddleClas' list-file dataset: ``cls_label_path`` has lines ``relative/path label``.

    Every line is checked at construction (blank lines are ignored): a malformed line, a
    label that is not ASCII decimal digits (``1_0``, Arabic-Indic or full-width digits are
    refused) or one outside ``[0, class_num)`` raises ValueError with ``file:line``. The file is
    UTF-8, a leading byte-order mark is dropped. `delimiter` ' ' (default) or None splits on any
    whitespace; other delimiters split exactly. `check_files` (default True): every listed image
    is stat'ed at construction and missing ones are reported before training starts (the first
    few with their lines, and the count): FileNotFoundError, or a warning with
    ``on_bad_image='skip'``.
    """

    def __init__(
        self,
        image_root: str,
        cls_label_path: str,
        transform_ops=None,
        delimiter: str | None = " ",
        class_num: int | None = None,
        on_bad_image: str = "raise",
        check_files: bool = True,
        key_path: str = "dataset",
    ):
        for key, path, isdir in (
            ("image_root", image_root, True),
            ("cls_label_path", cls_label_path, False),
        ):
            if path is None:
                raise ValueError(f"{key_path}.{key} is required")
            (check_dir if isdir else check_file)(path, f"{key_path}.{key}")
        self.image_root = image_root
        self.cls_label_path = cls_label_path
        self.delimiter = delimiter
        self.class_num = class_num
        samples, origins = [], []
        for lineno, line in _read_list_lines(cls_label_path, f"{key_path}.cls_label_path"):
            line = line.strip()
            if not line:
                continue
            parts = (
                line.split()
                if delimiter in (None, " ")
                else [p.strip() for p in line.split(delimiter)]
            )
            where = f"{cls_label_path}:{lineno}"
            if len(parts) != 2 or not parts[0]:
                raise ValueError(
                    f"{key_path}.cls_label_path: {where}: malformed line "
                    f"{line!r}; expected '<relative/path>{delimiter or ' '}"
                    f"<integer label>'"
                )
            if not _LABEL_RE.fullmatch(parts[1]):
                raise ValueError(
                    f"{key_path}.cls_label_path: {where}: label {parts[1]!r} is not an "
                    f"integer (ASCII digits 0-9)"
                )
            label = int(parts[1])
            if label < 0 or (class_num is not None and label >= class_num):
                raise ValueError(
                    f"{key_path}.cls_label_path: {where}: label {label} outside "
                    f"[0, {class_num if class_num is not None else 'inf'}) "
                    f"(class_num={class_num})"
                )
            samples.append((os.path.join(image_root, parts[0]), label))
            origins.append(where)
        if not samples:
            raise ValueError(f"{key_path}.cls_label_path: {cls_label_path} lists no images")
        super().__init__(samples, transform_ops, on_bad_image, key_path, origins)
        if check_files:
            self._check_files_exist(f"{key_path}.cls_label_path")


class ImageFolder(_FileDataset):
    """One sub-folder of `root` per class; sorted folder names get labels 0..K-1 (`classes`).

    Files with an extension in `extensions` are taken from each class folder recursively;
    hidden entries are ignored, other files skipped with one warning that counts them, and a
    class folder without images is an error (see `folder.scan_image_folder`).

    `val_split` (a fraction, e.g. 0.1) holds out a seeded, stratified part of every class
    (`folder.stratified_split`, seeded by `split_seed`): `subset` 'train' keeps the rest,
    'val' the held-out part (the data builder picks 'train' for the Train loader and 'val'
    for the Eval one). `transform_ops: auto` is filled in by training/evaluation from the
    model's default config (`folder.auto_transform_ops`). `check_images`: open every file's
    header first (`folder.unreadable_images`): a file that is no image is reported (or, with
    `on_bad_image: skip`, left out) before training.
    """

    def __init__(
        self,
        root: str,
        transform_ops=None,
        class_num: int | None = None,
        extensions: Sequence[str] = IMG_EXTENSIONS,
        on_bad_image: str = "raise",
        val_split: float | None = None,
        split_seed: int = 0,
        subset: str | None = None,
        check_images: bool = False,
        key_path: str = "dataset",
    ):
        scan = scan_image_folder(root, extensions, key_path)
        self.root = root
        self.classes = scan.classes
        if class_num is not None and len(self.classes) > class_num:
            raise ValueError(
                f"{key_path}.root: {root} has {len(self.classes)} class folders but "
                f"class_num={class_num}; set Arch.class_num: {len(self.classes)}"
            )
        self.class_num = class_num
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.skipped_files = scan.skipped
        samples = scan.samples
        if check_images:  # every header opened before training (see folder.unreadable_images)
            drop = set(unreadable_images(samples, key_path, on_bad_image))
            samples = [s for i, s in enumerate(samples) if i not in drop]
        if subset not in (None, "train", "val"):
            raise ValueError(f"{key_path}.subset: expected 'train' or 'val', got {subset!r}")
        if val_split is not None and val_split != 0:
            if (
                isinstance(val_split, bool)
                or not isinstance(val_split, (int, float))
                or not (0 < val_split < 1)
            ):
                raise ValueError(
                    f"{key_path}.val_split: expected a fraction between 0 and 1 (e.g. 0.1), "
                    f"got {val_split!r}"
                )
            if isinstance(split_seed, bool) or not isinstance(split_seed, int):
                raise ValueError(f"{key_path}.split_seed: expected an integer, got {split_seed!r}")
            train_idx, val_idx = stratified_split(samples, val_split, split_seed, root)
            samples = [samples[i] for i in (val_idx if subset == "val" else train_idx)]
        elif subset == "val":
            raise ValueError(
                f"{key_path}.subset: 'val' needs val_split (the held-out fraction of {root})"
            )
        self.val_split, self.split_seed, self.subset = val_split, split_seed, subset
        super().__init__(samples, transform_ops, on_bad_image, key_path)

    @property
    def class_names(self) -> list:
        return list(self.classes)
