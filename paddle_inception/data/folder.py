"""Your own images in class sub-folders: scanning, the held-out split, the checks a real
folder needs, and the model's own preprocessing (`transform_ops: auto`).

* `scan_image_folder`: one sub-folder per class (sorted names -> labels 0..K-1). Hidden
  entries (``.ipynb_checkpoints``, ``.DS_Store``) are ignored; other files without an image
  extension are skipped, counted and named in one warning; a class folder without images is an
  error naming it.
* `stratified_split`: a seeded held-out part of every class (`val_split`), the same on every
  run and every machine: each class's files are ordered by a hash of (seed, path relative to
  the root), and the first ``round(n * val_split)`` are held out. Adding images to a folder
  moves no other image between the halves.
* `check_train_eval`: what makes a fine-tuning run silently wrong, refused in one line each:
  a single class, a class count other than `Arch.class_num`, train and eval roots with
  different class folders, the same file (by path or content) in both halves.
* `auto_transform_ops`: the op lists a model's default config calls for (input size,
  mean/std, interpolation, crop ratio), for training (random crop + flip) and evaluation
  (resize the shorter side to size / crop_pct, centre crop), as `transform_ops: auto` uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import warnings
from collections import defaultdict

from .._safe_files import MAX_IMAGE_BYTES, file_problem, printable, read_bounded

__all__ = [
    "FolderScan",
    "class_folders",
    "scan_image_folder",
    "stratified_split",
    "unreadable_images",
    "check_train_eval",
    "check_same_classes",
    "precheck_roots",
    "auto_transform_ops",
    "write_split_files",
    "TRAIN_CROP_SCALE",
]

_SHOW = 5  # names shown in a message before "..."
#: the random-crop area range of `auto` training transforms: milder than ImageNet training's
#: (0.08, 1) because a fine-tuning run is short and starts from features that already work
TRAIN_CROP_SCALE = (0.25, 1.0)


def _shown(items, n: int = _SHOW) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


@dataclasses.dataclass
class FolderScan:
    """What `scan_image_folder` found under `root`."""

    root: str
    classes: list  # sorted class folder names (label = index)
    samples: list  # [(path, label)], sorted by class, then path
    skipped: list  # files that are not images by their extension (printable paths)


def class_folders(root: str) -> list:
    """The class sub-folder names of `root`, sorted (hidden ones left out), as
    `scan_image_folder` takes them; [] when `root` is not a folder."""
    if not os.path.isdir(root):
        return []
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def scan_image_folder(root: str, extensions, key_path: str = "dataset") -> FolderScan:
    """Scan `root` (one sub-folder per class); errors name the folder and the fix."""
    if root is None:
        raise ValueError(f"{key_path}.root is required (a folder with one sub-folder per class)")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{key_path}.root: directory not found: {printable(root)}")
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    real_root = os.path.realpath(root)
    for c in classes:
        # a class folder linked to the root or above it would take every class's images
        # under its own label: a silently wrong data set
        target = os.path.realpath(os.path.join(root, c))
        if real_root == target or real_root.startswith(target.rstrip(os.sep) + os.sep):
            raise ValueError(
                f"{key_path}.root: class folder {printable(os.path.join(root, c))} is a link "
                f"to {printable(target)}, which contains {printable(root)} itself; remove "
                f"the link"
            )
    exts = tuple(e.lower() for e in extensions)
    if not classes:
        loose = [e.name for e in entries if e.is_file() and e.name.lower().endswith(exts)]
        hint = (
            f" (it holds {len(loose)} images directly: put each class's images in a "
            f"sub-folder named after the class, e.g. {printable(os.path.join(root, 'cat'))}/)"
            if loose
            else " (give a folder with one sub-folder of images per class)"
        )
        raise ValueError(f"{key_path}.root: {printable(root)} has no class sub-folders{hint}")
    samples, skipped, odd, empty = [], [], [], []
    for label, c in enumerate(classes):
        n0 = len(samples)
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, c)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue  # .DS_Store, ._photo.jpg (macOS resource forks)
                path = os.path.join(dirpath, fn)
                if not fn.lower().endswith(exts):
                    skipped.append(printable(path))
                    continue
                problem = file_problem(path)  # a FIFO, /dev/zero behind a link
                if problem is None:
                    samples.append((path, label))
                else:
                    odd.append(f"{printable(path)} ({problem})")
        if len(samples) == n0:
            empty.append(printable(os.path.join(root, c)))
    if odd:
        warnings.warn(
            f"{key_path}.root: skipped {len(odd)} image name(s) that are not readable "
            f"files: {_shown(odd)}",
            RuntimeWarning,
            stacklevel=3,
        )
    if skipped:
        kinds = sorted({os.path.splitext(p)[1].lower() or "(no extension)" for p in skipped})
        warnings.warn(
            f"{key_path}.root: skipped {len(skipped)} file(s) that are not images (by their "
            f"extension: {', '.join(kinds[:8])}; images end in {', '.join(exts)}): "
            f"{_shown(skipped)}",
            RuntimeWarning,
            stacklevel=3,
        )
    if empty:
        raise ValueError(
            f"{key_path}.root: {len(empty)} class folder(s) without images: {_shown(empty)}; "
            f"add images ({', '.join(exts)}) or remove the folder"
        )
    return FolderScan(root, classes, samples, skipped)


def unreadable_images(samples, key_path: str, on_bad_image: str) -> list:
    """Pre-flight for `check_images`: every file's header is opened (Pillow identifies the
    format and reads the size; no pixel is decoded, ~0.1 ms a file), so that a file that is no
    image at all (an HTML page saved as .jpg, an empty or cut-off download) is reported before
    training, not when an epoch meets it. 'raise': ValueError naming the first few and the
    count; 'skip': one warning, and the indices of the bad samples are returned to drop."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for i, (path, _) in enumerate(samples):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # DecompressionBombWarning: the loader decides
                with Image.open(path) as im:
                    w, h = im.size
            if w < 1 or h < 1:
                raise ValueError(f"size {w}x{h}")
        except UnidentifiedImageError:
            bad.append((i, f"{printable(path)} (not an image Pillow can read)"))
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            bad.append((i, f"{printable(path)} ({type(e).__name__}: {printable(str(e))})"))
        except Image.DecompressionBombError:
            continue  # a huge image: the loader's pixel limit reports it with the numbers
    if not bad:
        return []
    shown = _shown(b for _, b in bad)
    what = f"{key_path}.root: {len(bad)} of {len(samples)} images cannot be read: {shown}"
    if on_bad_image == "skip":
        warnings.warn(f"{what}; they are left out", RuntimeWarning, stacklevel=3)
        return [i for i, _ in bad]
    raise ValueError(
        f"{what}; remove or replace them, or set {key_path}.on_bad_image: skip to leave them out"
    )


def _split_key(seed: int, root: str, path: str) -> str:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return hashlib.sha256(f"{seed}\0{rel}".encode("utf-8", "surrogateescape")).hexdigest()


def stratified_split(samples, val_split: float, seed: int, root: str) -> tuple[list, list]:
    """(train indices, val indices) of `samples` [(path, label)]: in every class with at least
    two images, round(n * val_split) of them (at least one, never all) are held out; the
    order is a hash of (seed, relative path), so the split does not depend on the machine, the
    file system's order or the other files."""
    if not 0.0 < float(val_split) < 1.0:
        raise ValueError(f"val_split: expected a fraction between 0 and 1, got {val_split!r}")
    by_class = defaultdict(list)
    for i, (path, label) in enumerate(samples):
        by_class[label].append(i)
    train, val = [], []
    for label in sorted(by_class):
        idx = sorted(by_class[label], key=lambda i: _split_key(seed, root, samples[i][0]))
        n = len(idx)
        n_val = min(n - 1, max(1, int(round(n * float(val_split))))) if n >= 2 else 0
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def _content_hashes(paths) -> dict:
    """{path: sha256} for the files among `paths` whose size another one shares (the only
    ones that can be duplicates); unreadable files are left out (the loader reports them)."""
    by_size = defaultdict(list)
    for p in paths:
        try:
            by_size[os.stat(p).st_size].append(p)
        except OSError:
            continue
    out = {}
    for group in by_size.values():
        if len(group) < 2:
            continue
        for p in group:
            try:
                out[p] = hashlib.sha256(read_bounded(p, MAX_IMAGE_BYTES)).hexdigest()
            except (OSError, ValueError):
                continue
    return out


def _duplicates(train_paths, val_paths) -> list:
    """[(train path, val path)] of the same file (real path) or the same bytes in both."""
    real_train = {os.path.realpath(p): p for p in train_paths}
    pairs = [
        (real_train[os.path.realpath(v)], v) for v in val_paths if os.path.realpath(v) in real_train
    ]
    if pairs:
        return pairs
    hashes = _content_hashes(list(train_paths) + list(val_paths))
    first = {}
    for p in train_paths:
        if p in hashes:
            first.setdefault(hashes[p], p)
    return [(first[hashes[v]], v) for v in val_paths if v in hashes and hashes[v] in first]


def check_same_classes(train_root, train_classes, eval_root, eval_classes, eval_key: str):
    """ValueError naming both folders and the classes only one of them has."""
    if list(eval_classes) == list(train_classes):
        return
    only_t = [printable(c) for c in train_classes if c not in eval_classes]
    only_v = [printable(c) for c in eval_classes if c not in train_classes]
    parts = [
        f"only in train: {_shown(only_t)}" if only_t else "",
        f"only in eval: {_shown(only_v)}" if only_v else "",
    ]
    raise ValueError(
        f"{eval_key}.root: the class folders of {printable(eval_root)} differ from those of "
        f"{printable(train_root)} ({'; '.join(p for p in parts if p)}); give both the same "
        f"class sub-folders (the labels are their sorted names)"
    )


def precheck_roots(loader_cfg: dict) -> None:
    """Before any dataset is built: Train and Eval ImageFolder roots with different class
    folders (else the eval dataset would first report a class count that looks wrong)."""
    ds = {m: ((loader_cfg.get(m) or {}).get("dataset") or {}) for m in ("Train", "Eval")}
    if not all(
        d.get("name") == "ImageFolder" and isinstance(d.get("root"), str) for d in ds.values()
    ):
        return
    t, v = ds["Train"]["root"], ds["Eval"]["root"]
    if os.path.isdir(t) and os.path.isdir(v):
        check_same_classes(t, class_folders(t), v, class_folders(v), "DataLoader.Eval.dataset")


def check_train_eval(train_ds, eval_ds, class_num: int | None, train_key: str, eval_key: str):
    """The checks of a folder fine-tuning run (see the module docstring); `train_ds` and
    `eval_ds` are ImageFolder datasets (eval_ds may be None or another kind: then only the
    train checks run)."""
    root = printable(train_ds.root)
    classes = list(train_ds.classes)
    if len(classes) < 2:
        raise ValueError(
            f"{train_key}.root: {root} has a single class folder ({printable(classes[0])}); a "
            f"classifier needs at least two classes: add one sub-folder of images per class"
        )
    if class_num is not None and class_num != len(classes):
        raise ValueError(
            f"{train_key}.root: {root} has {len(classes)} class folders "
            f"({_shown(map(printable, classes))}) but Arch.class_num is {class_num}; set "
            f"Arch.class_num: {len(classes)} (`paddle-inception train --data` sets it)"
        )
    if eval_ds is None or not hasattr(eval_ds, "classes"):
        return
    check_same_classes(train_ds.root, classes, eval_ds.root, eval_ds.classes, eval_key)
    pairs = _duplicates([p for p, _ in train_ds.samples], [p for p, _ in eval_ds.samples])
    if pairs:
        shown = _shown(f"{printable(t)} = {printable(v)}" for t, v in pairs)
        raise ValueError(
            f"{eval_key}: {len(pairs)} image(s) are both in the training and the evaluation "
            f"images (same file or same content): {shown}; remove them from one side (a "
            f"duplicate makes the evaluation score too good)"
        )


def write_split_files(run_dir: str, train_ds, eval_ds=None) -> list:
    """`class_names.txt` (`class_id name` lines, the class map `infer` and `export` read) and,
    for folder datasets, `train_list.txt` / `val_list.txt` (`path label` lines, PaddleClas'
    list format, paths relative to the dataset root) in `run_dir`: what the run trained and
    evaluated on. Returns the files written."""
    from .._util import write_text_atomic

    written = []
    names = getattr(train_ds, "class_names", None)
    if names:
        text = "".join(f"{i} {n}\n" for i, n in enumerate(names))
        written.append(write_text_atomic(os.path.join(run_dir, "class_names.txt"), text))
    for ds, fname in ((train_ds, "train_list.txt"), (eval_ds, "val_list.txt")):
        if ds is None or not hasattr(ds, "classes") or not hasattr(ds, "root"):
            continue
        lines = "".join(
            f"{os.path.relpath(p, ds.root).replace(os.sep, '/')} {label}\n"
            for p, label in ds.samples
        )
        header = f"# root: {ds.root}\n"
        written.append(write_text_atomic(os.path.join(run_dir, fname), header + lines))
    return written


def auto_transform_ops(model_cfg: dict, image_shape, train: bool) -> list:
    """The op list of `transform_ops: auto` for a model's default config (`get_model_cfg`:
    mean, std, interpolation, crop_pct) at `image_shape` (C, H, W). Training: random crop of
    TRAIN_CROP_SCALE of the area, resized to H x W, horizontal flip. Evaluation: shorter side
    to H / crop_pct, centre crop H x W (as the model's ImageNet evaluation)."""
    c, h, w = (int(s) for s in image_shape)
    interp = model_cfg.get("interpolation") or "bilinear"
    mean = [float(m) for m in model_cfg.get("mean") or (0.485, 0.456, 0.406)]
    std = [float(s) for s in model_cfg.get("std") or (0.229, 0.224, 0.225)]
    if len(mean) != c:  # a grayscale model built from an RGB default: average the channels
        mean, std = [sum(mean) / len(mean)] * c, [sum(std) / len(std)] * c
    ops: list = [{"DecodeImage": {"to_rgb": True, "channel_first": False}}]
    if train:
        ops += [
            {
                "RandCropImage": {
                    "size": [w, h],
                    "scale": list(TRAIN_CROP_SCALE),
                    "interpolation": interp,
                }
            },
            {"RandFlipImage": {"flip_code": 1}},
        ]
    else:
        crop = float(model_cfg.get("crop_pct") or 1.0)
        if h == w:
            resize = {"resize_short": int(math.floor(h / crop))}
        else:
            resize = {"size": [int(math.floor(w / crop)), int(math.floor(h / crop))]}
        ops += [
            {"ResizeImage": dict(resize, interpolation=interp)},
            {"CropImage": {"size": [w, h]}},
        ]
    if c != 3:
        ops.append({"ToChannels": {"channels": c}})
    ops.append({"NormalizeImage": {"scale": "1.0/255.0", "mean": mean, "std": std, "order": ""}})
    return ops
