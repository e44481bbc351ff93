"""Image classification of files, folders and list files with any predictor.

Inputs: image files, folders (searched recursively for image extensions) and list files
(`.txt`: one image path per line, optionally followed by a label, relative paths taken from
the list file's folder). Each image gives the top-k class ids, names (from a class-id map) and
softmax scores; a missing or unreadable image gives an error entry naming the path, and the
other images' results are still produced.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .._safe_files import (
    MAX_IMAGE_BYTES,
    MAX_TEXT_BYTES,
    FileTooLargeError,
    NotRegularFileError,
    file_problem,
    read_bounded,
)
from ..data.datasets import IMG_EXTENSIONS
from ..data.transforms import ImageDecodeError, ImageTooLargeError

__all__ = ["collect_images", "load_image", "classify", "topk", "format_results"]


# ------------------------------------------------------------------------------ inputs
_LABEL_RE = re.compile(r"-?[0-9]+")  # a trailing label: ASCII digits only (not '١', '1_0')


def _is_image_name(path: str) -> bool:
    return path.lower().endswith(IMG_EXTENSIONS)


def collect_images(inputs) -> list[tuple[str, str | None]]:
    """Expand files, folders and list files into [(path, error or None)], in order.

    A path that does not exist, a folder without images or an unreadable list file gives an
    entry with an error message (never an exception), so that other inputs still run.
    """
    out: list[tuple[str, str | None]] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = []
            for dirpath, dirnames, filenames in os.walk(item):
                dirnames.sort()
                found += [os.path.join(dirpath, f) for f in sorted(filenames) if _is_image_name(f)]
            if not found:
                out.append((item, f"no image files ({', '.join(IMG_EXTENSIONS)}) in folder"))
            # a FIFO or a link to /dev/zero among the images is reported, never opened
            out += [(f, file_problem(f)) for f in found]
        elif not os.path.lexists(item) or file_problem(item):
            out.append((item, file_problem(item)))
        elif item.lower().endswith(".txt"):
            base = os.path.dirname(os.path.abspath(item))
            try:
                raw = read_bounded(item, MAX_TEXT_BYTES, kind="list file")
                lines = [ln.strip() for ln in raw.decode("utf-8-sig").splitlines()]  # BOM dropped
            except (OSError, ValueError) as e:  # UnicodeDecodeError, FileTooLargeError
                out.append((item, f"cannot read list file ({type(e).__name__}: {e})"))
                continue
            n0 = len(out)
            for ln in lines:
                if not ln or ln.startswith("#"):
                    continue
                parts = ln.rsplit(None, 1)
                path = parts[0] if len(parts) == 2 and _LABEL_RE.fullmatch(parts[1]) else ln
                path = path if os.path.isabs(path) else os.path.join(base, path)
                out.append((path, file_problem(path)))
            if len(out) == n0:
                out.append((item, "list file names no images"))
        else:
            out.append((item, None))
    return out


def load_image(path: str, preprocess):
    """(preprocessed array, None) or (None, error message): an unreadable, undecodable or too
    large image (over `max_image_pixels()`, decoded or resized) is an error for this image
    only."""
    try:
        data = read_bounded(path, MAX_IMAGE_BYTES, kind="image file")
    except (NotRegularFileError, FileTooLargeError) as e:
        return None, str(e)
    except OSError as e:
        return None, f"cannot read file ({e.strerror or type(e).__name__})"
    if not data:
        return None, "empty file (0 bytes)"
    try:
        return np.asarray(preprocess(data), dtype=np.float32), None
    except ImageTooLargeError as e:  # a decompression bomb, an extreme aspect ratio
        return None, f"image too large: {e}"
    except ImageDecodeError as e:
        return None, f"not a readable image: {e}"
    except (ValueError, OSError) as e:
        return None, f"preprocessing failed: {e}"
    except MemoryError:
        return None, "preprocessing failed: out of memory (image too large?)"


# ------------------------------------------------------------------------------ prediction
def _softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _looks_like_probs(x: np.ndarray) -> bool:
    return bool(
        x.size and (x >= 0).all() and (x <= 1).all() and np.allclose(x.sum(axis=-1), 1.0, atol=1e-3)
    )


def topk(probs: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Indices and values of the k largest entries of a 1-D array (ties: lower id first)."""
    k = max(1, min(int(k), probs.shape[-1]))
    idx = np.argsort(-probs, kind="stable")[:k]
    return [int(i) for i in idx], [float(probs[i]) for i in idx]


def classify(
    predictor,
    preprocess,
    images,
    k: int = 5,
    class_map: dict | None = None,
    batch_size: int = 8,
    outputs_are_probs: bool | None = None,
    on_result=None,
) -> list[dict]:
    """Run `predictor` on `images` ([(path, error or None)] from `collect_images`, or paths).

    Returns one dict per input, in order: {"file_name", "class_ids", "scores", "label_names"}
    or {"file_name", "error"}. Scores are softmax probabilities (`outputs_are_probs`: the
    network already applies a softmax; None: detect it). `on_result(index, result)` is called
    for each result in input order as soon as it and all before it are known (streaming).
    """
    items = [(p, None) if isinstance(p, (str, os.PathLike)) else p for p in images]
    results: list[dict | None] = [None] * len(items)
    pending: list[tuple[int, np.ndarray]] = []
    emitted = 0  # results[:emitted] were handed to on_result

    def emit():
        nonlocal emitted
        while on_result is not None and emitted < len(items) and results[emitted] is not None:
            on_result(emitted, results[emitted])
            emitted += 1

    def flush():
        if not pending:
            return
        batch = np.stack([a for _, a in pending])
        try:
            out = np.asarray(predictor(batch))
        except Exception as e:  # noqa: BLE001 - reported per image, the run goes on
            for i, _ in pending:
                results[i] = {
                    "file_name": os.fspath(items[i][0]),
                    "error": f"prediction failed: {type(e).__name__}: {e}",
                }
            pending.clear()
            return
        out = out.reshape(out.shape[0], -1)
        is_probs = _looks_like_probs(out) if outputs_are_probs is None else outputs_are_probs
        probs = out if is_probs else _softmax(out)
        for (i, _), p in zip(pending, probs):
            ids, scores = topk(p, k)
            results[i] = {
                "file_name": os.fspath(items[i][0]),
                "class_ids": ids,
                "scores": [round(s, 6) for s in scores],
                "label_names": [class_map.get(c, str(c)) for c in ids] if class_map else [],
            }
        pending.clear()

    for i, (path, err) in enumerate(items):
        if err is None:
            arr, err = load_image(os.fspath(path), preprocess)
        if err is not None:
            results[i] = {"file_name": os.fspath(path), "error": err}
            emit()
            continue
        if pending and pending[0][1].shape != arr.shape:
            flush()  # list-defined ops may give different sizes: never stack across them
        pending.append((i, arr))
        if len(pending) >= batch_size:
            flush()
            emit()
    flush()
    emit()
    return results


def format_results(results: list[dict]) -> str:
    """Human-readable text: one block per image, errors on one line."""
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"{r['file_name']}: ERROR {r['error']}")
            continue
        lines.append(f"{r['file_name']}:")
        names = r.get("label_names") or [""] * len(r["class_ids"])
        for cid, score, name in zip(r["class_ids"], r["scores"], names):
            lines.append(f"  {cid:>5}  {score:.4f}  {name}".rstrip())
    return "\n".join(lines)
