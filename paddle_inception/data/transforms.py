"""Image transform ops with PaddleClas' names and argument names, built from a YAML op list.

Per-sample ops (``transform_ops``) take one image and return one image:

==============  ==========================================================================
DecodeImage     encoded bytes -> HWC uint8 RGB (``to_rgb=False``: BGR, as cv2 decodes);
                an ndarray passes through (so one op list serves Fashion-MNIST too)
ResizeImage     ``size`` (int or [w, h]) or ``resize_short`` (shorter side), PIL backend
RandCropImage   random-resized crop: area ``scale``, aspect ``ratio``, then resize to ``size``
CropImage       center crop to ``size`` (int or [w, h])
RandFlipImage   flip with probability 0.5; ``flip_code`` 1 horizontal, 0 vertical, -1 both
ToChannels      1 <-> 3 channels (gray replicated, or RGB -> luma); ``GrayToRGB`` = 3 channels
NormalizeImage  ``(img * scale - mean) / std`` as float32; ``scale`` may be "1.0/255.0"
ToCHWImage      HWC -> CHW (a 2-D image becomes 1 x H x W)
==============  ==========================================================================

Spatial ops accept 2-D (H, W) arrays and 3-D HWC arrays, uint8 or float. `Compose` tracks the
layout (HWC or CHW) through the list at build time, so a spatial op placed after ToCHWImage or
a NormalizeImage whose ``order`` contradicts the layout is reported with its key path before
any data is read. Datasets convert whatever the list produces to float32 CHW at the end.

Batch ops (``batch_transform_ops``: MixupOperator, CutmixOperator, OpSampler) work on a whole
batch ``images [N, C, H, W], labels [N] int (or [N, K] soft)`` and always return soft labels
``[N, class_num] float32``; `create_batch_operators` builds them with the model's class_num.

Randomness comes from one numpy Generator per process (`get_rng`); `seed_transforms` seeds it.
A forked DataLoader worker reseeds it from numpy's global state, which Paddle seeds differently
per worker and per epoch, so workers never replay each other's augmentations.
"""

from __future__ import annotations

import inspect
import io
import math
import os
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .._util import did_you_mean
from ..config import parse_named_entry, parse_number

__all__ = [
    "DecodeImage",
    "ResizeImage",
    "RandCropImage",
    "CropImage",
    "RandFlipImage",
    "RandomErasing",
    "NormalizeImage",
    "ToCHWImage",
    "ToChannels",
    "GrayToRGB",
    "MixupOperator",
    "CutmixOperator",
    "OpSampler",
    "Compose",
    "BatchCompose",
    "ImageDecodeError",
    "ImageTooLargeError",
    "max_image_pixels",
    "create_operators",
    "create_batch_operators",
    "parse_number",
    "seed_transforms",
    "get_rng",
    "TRANSFORM_OPS",
    "BATCH_OPS",
]


class ImageDecodeError(ValueError):
    """The bytes given to DecodeImage are not a readable image."""


class ImageTooLargeError(ImageDecodeError):
    """An image (or what a resize would make of it) has more pixels than `max_image_pixels()`:
    a decompression bomb, or an aspect ratio so extreme that resizing its shorter side explodes
    the longer one. Datasets and inference treat it as a bad image."""


#: used when Pillow's own limit (PIL.Image.MAX_IMAGE_PIXELS) has been switched off (None)
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # Pillow's default: 0.25 GiB of 24-bit pixels


def max_image_pixels() -> int:
    """The most pixels an image may have, decoded or after a resize: Pillow's
    `PIL.Image.MAX_IMAGE_PIXELS` (89,478,485 by default; raise it there for huge scans), or
    DEFAULT_MAX_IMAGE_PIXELS when that is None. Checked on the header, before decoding."""
    limit = getattr(_pil(), "MAX_IMAGE_PIXELS", None)
    return int(limit) if limit else DEFAULT_MAX_IMAGE_PIXELS


# ----------------------------------------------------------------------------- randomness
_RNG_STATE: dict[str, Any] = {"pid": None, "gen": None, "seed": None}


def seed_transforms(seed: int | None) -> None:
    """Seed the transforms' random generator in this process (None: fresh entropy)."""
    _RNG_STATE.update(pid=os.getpid(), gen=np.random.default_rng(seed), seed=seed)


def get_rng() -> np.random.Generator:
    """This process's generator; a new (forked) process reseeds it from numpy's global state."""
    if _RNG_STATE["pid"] != os.getpid():
        entropy = [int(np.random.randint(0, 2**31 - 1)), os.getpid()]
        if _RNG_STATE["seed"] is not None:
            entropy.append(int(_RNG_STATE["seed"]))
        _RNG_STATE.update(pid=os.getpid(), gen=np.random.default_rng(entropy))
    return _RNG_STATE["gen"]


# ----------------------------------------------------------------------------- parsing helpers
def _size_wh(size, what: str) -> tuple[int, int]:
    """int -> (s, s); [w, h] -> (w, h) (PaddleClas' order); all positive ints."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    elif (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
    ):
        size = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{what}: expected a positive int or [width, height], got {size!r}")
    if min(size) <= 0:
        raise ValueError(f"{what}: sizes must be positive, got {size!r}")
    return size


def _output_size(size, what: str) -> tuple[int, int]:
    """`_size_wh` for a size a resize produces: bounded by max_image_pixels()."""
    w, h = _size_wh(size, what)
    if w * h > max_image_pixels():
        raise ValueError(f"{what}: {w}x{h} is over the limit of {max_image_pixels():,} pixels")
    return w, h


def _pair(value, what: str, lo_excl: float = 0.0) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{what}: expected [min, max], got {value!r}")
    a, b = (parse_number(v, what) for v in value)
    if not (lo_excl < a <= b):
        raise ValueError(f"{what}: need {lo_excl} < min <= max, got {value!r}")
    return a, b


# ----------------------------------------------------------------------------- resizing
def _pil():
    from PIL import Image

    return Image


_INTERP_NAMES = {
    "nearest": "NEAREST",
    "bilinear": "BILINEAR",
    "linear": "BILINEAR",
    "bicubic": "BICUBIC",
    "cubic": "BICUBIC",
    "area": "BOX",
    "box": "BOX",
    "lanczos": "LANCZOS",
    "hamming": "HAMMING",
}


def _interp(name, what: str):
    """None -> bilinear; a name (PIL or cv2 spelling) or 'random' (chosen per call)."""
    if name is None:
        return "bilinear"
    if not isinstance(name, str) or (
        name.lower() not in _INTERP_NAMES and name.lower() != "random"
    ):
        valid = sorted(_INTERP_NAMES) + ["random"]
        raise ValueError(
            f"{what}: unknown interpolation {name!r}{did_you_mean(name, valid)}; valid: {valid}"
        )
    return name.lower()


def _resample(name: str):
    Image = _pil()
    if name == "random":
        name = ("nearest", "bilinear", "bicubic", "area", "lanczos")[get_rng().integers(5)]
    return getattr(Image.Resampling, _INTERP_NAMES[name])


_WARNED_CV2 = []


def _check_backend(backend, what: str) -> str:
    if backend is None:
        return "pil"
    if not isinstance(backend, str) or backend.lower() not in ("pil", "cv2"):
        raise ValueError(f"{what}: backend must be 'pil' or 'cv2', got {backend!r}")
    if backend.lower() == "cv2" and not _WARNED_CV2:
        _WARNED_CV2.append(True)
        warnings.warn(
            f"{what}: backend 'cv2' requested; this package resizes and decodes with "
            f"Pillow (results differ from OpenCV's by interpolation details only)",
            stacklevel=3,
        )
    return "pil"


def _resize(img: np.ndarray, wh: tuple[int, int], interp: str) -> np.ndarray:
    """Resize a 2-D or HWC array to (w, h) with Pillow; keeps dtype and dimensionality."""
    Image = _pil()
    w, h = wh
    if img.shape[1] == w and img.shape[0] == h:
        return img
    resample = _resample(interp)
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(img).resize((w, h), resample))
    if img.dtype == np.uint8 and img.shape[2] == 1:
        return np.asarray(Image.fromarray(img[:, :, 0]).resize((w, h), resample))[:, :, None]
    # Float (or other) data: one 32-bit float plane at a time ('F' mode keeps values exact).
    planes = img[:, :, None] if img.ndim == 2 else img
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32)).resize(
                    (w, h), resample
                )
            )
            for c in range(planes.shape[2])
        ],
        -1,
    )
    out = out.astype(img.dtype if np.issubdtype(img.dtype, np.floating) else np.float32)
    return out[:, :, 0] if img.ndim == 2 else out


def _check_image(img, op: str) -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
        shape = getattr(img, "shape", None)
        raise ValueError(
            f"{op}: expected a 2-D (H, W) or HWC image array, got "
            f"{type(img).__name__}{' of shape ' + str(shape) if shape else ''}"
        )
    return img


# ----------------------------------------------------------------------------- per-sample ops
class _Op:
    """Base of per-sample ops. `spatial` ops need an HWC (or 2-D) image."""

    spatial = True

    def out_layout(self, layout: str) -> str:
        """Layout after this op given the layout before it; raises ValueError if misplaced."""
        if self.spatial and layout != "hwc":
            raise ValueError(
                f"{type(self).__name__} works on HWC (or 2-D) images but the ops "
                f"before it produce CHW; move it before ToCHWImage / "
                f"DecodeImage(channel_first=True)"
            )
        return layout

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _decode_rgb(data: bytes) -> np.ndarray:
    """Encoded bytes -> HWC uint8 RGB. The header's size is checked against max_image_pixels()
    before any pixel is decoded; 16-bit and 32-bit grayscale and float images are scaled from
    their real range (see `_to_uint8`) instead of being clipped by Pillow's convert("RGB")."""
    Image = _pil()
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its limit and raises above; we refuse at 1x
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
        with im:
            w, h = im.size
            if w * h > max_image_pixels():
                raise ImageTooLargeError(
                    f"image of {w}x{h} (w x h) = {w * h:,} pixels is over the limit of "
                    f"{max_image_pixels():,} (a decompression bomb? raise "
                    f"PIL.Image.MAX_IMAGE_PIXELS for genuinely huge images)"
                )
            im = _upright(im)
            if im.mode in ("I", "F") or im.mode.startswith("I;16"):
                gray = _to_uint8(np.asarray(im), im.mode)
                return np.repeat(gray[:, :, None], 3, axis=2)
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")  # Pillow warns when a palette's alpha is dropped directly
            # grayscale, palette, CMYK, RGBA (alpha dropped, as torchvision and timm do) -> RGB
            return np.asarray(im.convert("RGB"))
    except ImageDecodeError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageDecodeError(f"unrecognised image data ({len(data)} bytes)") from None
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(f"{e}") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
        raise ImageDecodeError(f"cannot decode image ({type(e).__name__}: {e})") from e


def _upright(im):
    """`im` turned as its EXIF orientation tag says (a phone stores a portrait photo sideways
    with a tag saying so); without a tag, or with an EXIF block Pillow cannot read, as is."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the image unreadable
        return im
    if orientation in (None, 1):
        return im
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - as above: the pixels are still good
        return im


def _to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """A single-channel image of more than 8 bits -> uint8, by its real range:

    * 16-bit ("I;16*"): 0..65535 -> 0..255 (round(v / 257), as Pillow/torchvision users scale);
    * 32-bit integer ("I"): values within 0..255 are kept, within 0..65535 they are 16-bit data
      (old Pillow versions open 16-bit PNGs as "I") and scaled as above; beyond: refused;
    * float ("F"): values within [0, 1] are scaled by 255 (the float-image convention), within
      [0, 255] rounded; NaN, infinities or other ranges are refused.
    Refusals are ImageDecodeError naming the range found."""
    if mode.startswith("I;16"):
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    lo, hi = (arr.min(), arr.max()) if arr.size else (0, 0)
    if mode == "F":
        if not np.isfinite(arr).all():
            raise ImageDecodeError("float image with NaN or infinite pixels")
        if lo >= 0 and hi <= 1:
            return np.rint(arr * np.float32(255)).astype(np.uint8)
        if lo >= 0 and hi <= 255:
            return np.rint(arr).astype(np.uint8)
        raise ImageDecodeError(
            f"float image with values in [{lo:g}, {hi:g}]: expected [0, 1] or [0, 255]"
        )
    if lo >= 0 and hi <= 255:
        return arr.astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        return ((arr.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)
    raise ImageDecodeError(
        f"32-bit integer image with values in [{lo}, {hi}]: no known range to scale from "
        f"(expected 8- or 16-bit data)"
    )


class DecodeImage(_Op):
    """Encoded image bytes -> uint8 HWC (3 channels, RGB when ``to_rgb`` else BGR).

    ``channel_first=True`` returns CHW. An ndarray input is passed through (made 3-D only if
    ``channel_first``), so Fashion-MNIST and file datasets can share one op list.
    """

    spatial = False

    def __init__(
        self,
        to_rgb: bool = True,
        to_np: bool = True,
        channel_first: bool = False,
        backend: str = "pil",
    ):
        if not to_np:
            raise ValueError(
                "DecodeImage: to_np=False (PIL images) is not supported; "
                "every op here works on numpy arrays"
            )
        self.to_rgb = bool(to_rgb)
        self.channel_first = bool(channel_first)
        self.backend = _check_backend(backend, "DecodeImage")

    def out_layout(self, layout):
        return "chw" if self.channel_first else "hwc"

    def __call__(self, data):
        if isinstance(data, np.ndarray):
            img = data
        else:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            if not isinstance(data, bytes):
                raise ValueError(
                    f"DecodeImage: expected encoded bytes or an ndarray, got {type(data).__name__}"
                )
            img = _decode_rgb(data)
            if not self.to_rgb:
                img = np.ascontiguousarray(img[:, :, ::-1])
        if self.channel_first:
            img = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
        return img


class ResizeImage(_Op):
    """Resize to ``size`` (int or [w, h]) or scale the shorter side to ``resize_short``."""

    def __init__(
        self,
        size=None,
        resize_short=None,
        interpolation=None,
        backend: str = "pil",
        return_numpy: bool = True,
    ):
        if (size is None) == (resize_short is None):
            raise ValueError("ResizeImage: give exactly one of size / resize_short")
        if not return_numpy:
            raise ValueError("ResizeImage: return_numpy=False is not supported")
        self.size = None if size is None else _output_size(size, "ResizeImage.size")
        if resize_short is not None and (
            not isinstance(resize_short, (int, np.integer))
            or isinstance(resize_short, bool)
            or resize_short <= 0
        ):
            raise ValueError(
                f"ResizeImage.resize_short: expected a positive int, got {resize_short!r}"
            )
        self.resize_short = resize_short
        self.interpolation = _interp(interpolation, "ResizeImage.interpolation")
        self.backend = _check_backend(backend, "ResizeImage")

    def __call__(self, img):
        img = _check_image(img, "ResizeImage")
        if self.size is not None:
            wh = self.size
        else:
            h, w = img.shape[:2]
            r = self.resize_short / min(h, w)
            wh = (max(1, int(round(w * r))), max(1, int(round(h * r))))
            if wh[0] * wh[1] > max_image_pixels():
                raise ImageTooLargeError(
                    f"image of {w}x{h} (w x h): resize_short {self.resize_short} would make it "
                    f"{wh[0]}x{wh[1]} = {wh[0] * wh[1]:,} pixels, over the limit of "
                    f"{max_image_pixels():,} (aspect ratio too extreme)"
                )
        return _resize(img, wh, self.interpolation)


class RandCropImage(_Op):
    """Random-resized crop: a random region of relative area in ``scale`` and aspect ratio
    (w/h) in ``ratio`` (log-uniform), resized to ``size`` (int or [w, h]). After 10 failed
    draws it falls back to the largest centered crop with an in-range aspect ratio.
    """

    def __init__(
        self,
        size,
        scale=(0.08, 1.0),
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        interpolation=None,
        use_log_aspect: bool = True,
        backend: str = "pil",
    ):
        self.size = _output_size(size, "RandCropImage.size")
        self.scale = _pair(scale if scale is not None else (0.08, 1.0), "RandCropImage.scale")
        self.ratio = _pair(ratio if ratio is not None else (3 / 4, 4 / 3), "RandCropImage.ratio")
        self.interpolation = _interp(interpolation, "RandCropImage.interpolation")
        self.use_log_aspect = bool(use_log_aspect)
        self.backend = _check_backend(backend, "RandCropImage")

    def crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the region to keep."""
        rng = get_rng()
        area = h * w
        lo, hi = self.ratio
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            ar = (
                math.exp(rng.uniform(math.log(lo), math.log(hi)))
                if self.use_log_aspect
                else rng.uniform(lo, hi)
            )
            cw = int(round(math.sqrt(target * ar)))
            ch = int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
        in_ratio = w / h
        if in_ratio < lo:
            cw, ch = w, int(round(w / lo))
        elif in_ratio > hi:
            ch, cw = h, int(round(h * hi))
        else:
            cw, ch = w, h
        ch, cw = max(1, min(ch, h)), max(1, min(cw, w))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        img = _check_image(img, "RandCropImage")
        top, left, ch, cw = self.crop_box(*img.shape[:2])
        return _resize(img[top : top + ch, left : left + cw], self.size, self.interpolation)


class CropImage(_Op):
    """Center crop to ``size`` (int or [w, h]); the image must be at least that large."""

    def __init__(self, size):
        self.size = _size_wh(size, "CropImage.size")

    def __call__(self, img):
        img = _check_image(img, "CropImage")
        w, h = self.size
        ih, iw = img.shape[:2]
        if ih < h or iw < w:
            raise ValueError(
                f"CropImage: image {iw}x{ih} (w x h) is smaller than the crop "
                f"{w}x{h}; resize first (e.g. ResizeImage: {{resize_short: ...}})"
            )
        top, left = (ih - h) // 2, (iw - w) // 2
        return img[top : top + h, left : left + w]


class RandFlipImage(_Op):
    """Flip with probability 0.5: ``flip_code`` 1 horizontal, 0 vertical, -1 both (cv2's)."""

    def __init__(self, flip_code: int = 1):
        if flip_code not in (1, 0, -1) or isinstance(flip_code, bool):
            raise ValueError(
                f"RandFlipImage.flip_code: expected 1 (horizontal), 0 (vertical) "
                f"or -1 (both), got {flip_code!r}"
            )
        self.flip_code = int(flip_code)

    def __call__(self, img):
        img = _check_image(img, "RandFlipImage")
        if get_rng().integers(2) == 0:
            return img
        if self.flip_code == 1:
            return img[:, ::-1]
        if self.flip_code == 0:
            return img[::-1]
        return img[::-1, ::-1]


class RandomErasing(_Op):
    """Random erasing (Zhong et al. 2017; PaddleClas' op and argument names): with probability
    `EPSILON`, one rectangle of `sl`..`sh` of the image's area and aspect ratio `r1`..`1/r1`
    (log-uniform with `use_log_aspect`) is filled with `mean` ('const'), with standard normal
    noise per pixel ('rand') or per channel ('pixel'). Works on HWC or CHW images, usually
    after NormalizeImage (so `mean` 0 is the dataset's mean); `attempt` tries to fit a box."""

    spatial = False  # either layout: it follows what the ops before it produce

    def __init__(
        self,
        EPSILON=0.5,
        sl=0.02,
        sh=0.4,
        r1=0.3,
        mean=(0.0, 0.0, 0.0),
        attempt=100,
        use_log_aspect=False,
        mode="const",
    ):  # noqa: N803 (PaddleClas' names)
        self.EPSILON = parse_number(EPSILON, "RandomErasing.EPSILON")
        self.sl = parse_number(sl, "RandomErasing.sl")
        self.sh = parse_number(sh, "RandomErasing.sh")
        self.r1 = parse_number(r1, "RandomErasing.r1")
        if not 0.0 <= self.EPSILON <= 1.0:
            raise ValueError(f"RandomErasing.EPSILON: a probability in [0, 1], got {EPSILON!r}")
        if not 0.0 < self.sl <= self.sh <= 1.0:
            raise ValueError(f"RandomErasing: need 0 < sl <= sh <= 1, got sl={sl!r}, sh={sh!r}")
        if not 0.0 < self.r1 <= 1.0:
            raise ValueError(f"RandomErasing.r1: an aspect ratio in (0, 1], got {r1!r}")
        if mode not in ("const", "rand", "pixel"):
            raise ValueError(f"RandomErasing.mode: 'const', 'rand' or 'pixel', got {mode!r}")
        self.mean = [parse_number(m, "RandomErasing.mean") for m in np.atleast_1d(mean)]
        self.attempt, self.use_log_aspect, self.mode = int(attempt), bool(use_log_aspect), mode
        self._layout = "hwc"

    def out_layout(self, layout: str) -> str:
        self._layout = layout
        return layout

    def __call__(self, img):
        rng = get_rng()
        if rng.random() >= self.EPSILON:
            return img
        img = np.array(img, copy=True)
        chw = self._layout == "chw" and img.ndim == 3
        h, w = (img.shape[1], img.shape[2]) if chw else (img.shape[0], img.shape[1])
        c = img.shape[0] if chw else (img.shape[2] if img.ndim == 3 else 1)
        lo, hi = (
            (math.log(self.r1), math.log(1 / self.r1))
            if self.use_log_aspect
            else (self.r1, 1 / self.r1)
        )
        for _ in range(self.attempt):
            area = rng.uniform(self.sl, self.sh) * h * w
            ratio = rng.uniform(lo, hi)
            ratio = math.exp(ratio) if self.use_log_aspect else ratio
            eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if 0 < eh < h and 0 < ew < w:
                y, x = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
                if img.ndim == 2:
                    box, per_pixel, per_channel = (slice(y, y + eh), slice(x, x + ew)), (eh, ew), ()
                elif chw:
                    box = (slice(None), slice(y, y + eh), slice(x, x + ew))
                    per_pixel, per_channel = (c, eh, ew), (c, 1, 1)
                else:
                    box = (slice(y, y + eh), slice(x, x + ew))
                    per_pixel, per_channel = (eh, ew, c), (1, 1, c)
                if self.mode == "const":
                    fill = np.resize(np.asarray(self.mean, np.float64), c).reshape(per_channel)
                elif self.mode == "pixel":
                    fill = rng.standard_normal(per_channel)
                else:
                    fill = rng.standard_normal(per_pixel)
                img[box] = fill
                return img
        return img


class ToChannels(_Op):
    """Set the channel count to ``channels`` (1 or 3) of a 2-D or HWC image.

    1 -> 3 replicates the gray plane; 3 -> 1 takes the ITU-R 601 luma (rounded for uint8).
    A 2-D input always comes back as HWC.
    """

    def __init__(self, channels: int = 3):
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"ToChannels.channels: expected 1 or 3, got {channels!r}")
        self.channels = int(channels)

    def __call__(self, img):
        img = _check_image(img, type(self).__name__)
        if img.ndim == 2:
            img = img[:, :, None]
        c = img.shape[2]
        if c == self.channels:
            return img
        if c == 1 and self.channels == 3:
            return np.repeat(img, 3, axis=2)
        if c in (3, 4) and self.channels == 1:
            luma = img[:, :, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            if img.dtype == np.uint8:
                return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]
            return luma.astype(img.dtype)[:, :, None]
        if c == 4 and self.channels == 3:
            return img[:, :, :3]
        raise ValueError(f"{type(self).__name__}: cannot turn {c} channels into {self.channels}")


class GrayToRGB(ToChannels):
    """Gray (2-D or 1-channel) -> 3-channel HWC by replication; RGB passes through."""

    def __init__(self):
        super().__init__(channels=3)


class NormalizeImage(_Op):
    """``(img * scale - mean) / std`` as float32 (float16 with ``output_fp16``).

    ``scale``, ``mean`` and ``std`` entries may be numbers or strings "a" / "a/b". ``order``
    names the input layout: 'chw', 'hwc', or '' (= the layout the previous ops produce, HWC
    unless ToCHWImage came first). ``mean``/``std`` of length 1 serve any channel count; a
    2-D image becomes 3-D (H, W, 1 or 1, H, W). ``channel_num=4`` appends a zero channel.
    """

    spatial = False

    def __init__(
        self,
        scale=None,
        mean=None,
        std=None,
        order: str = "chw",
        output_fp16: bool = False,
        channel_num: int = 3,
    ):
        self.scale = 1.0 / 255.0 if scale is None else parse_number(scale, "NormalizeImage.scale")
        mean = [0.485, 0.456, 0.406] if mean is None else mean
        std = [0.229, 0.224, 0.225] if std is None else std
        if isinstance(mean, (int, float, str)):
            mean = [mean]
        if isinstance(std, (int, float, str)):
            std = [std]
        if (
            not isinstance(mean, (list, tuple))
            or not isinstance(std, (list, tuple))
            or len(mean) != len(std)
            or len(mean) not in (1, 3)
        ):
            raise ValueError(
                f"NormalizeImage: mean and std must be lists of equal length 1 or 3, "
                f"got mean={mean!r}, std={std!r}"
            )
        self.mean = [parse_number(m, "NormalizeImage.mean") for m in mean]
        self.std = [parse_number(s, "NormalizeImage.std") for s in std]
        if any(s == 0 for s in self.std):
            raise ValueError(f"NormalizeImage.std: must be non-zero, got {std!r}")
        order = "" if order is None else str(order).lower()
        if order not in ("chw", "hwc", ""):
            raise ValueError(f"NormalizeImage.order: expected 'chw', 'hwc' or '', got {order!r}")
        self.order = order
        if channel_num not in (3, 4) or isinstance(channel_num, bool):
            raise ValueError(f"NormalizeImage.channel_num: expected 3 or 4, got {channel_num!r}")
        self.channel_num = int(channel_num)
        self.output_fp16 = bool(output_fp16)
        self._layout = order or "hwc"
        self._prepare()

    def _prepare(self):
        shape = (-1, 1, 1) if self._layout == "chw" else (1, 1, -1)
        # img * (scale/std) - mean/std == (img*scale - mean)/std, with one multiply-add.
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:  # scalars: faster
            self._mul = np.float32(self.scale / self.std[0])
            self._add = np.float32(-self.mean[0] / self.std[0])
            return
        self._mul = (self.scale / np.asarray(self.std, np.float32)).reshape(shape)
        self._add = (-np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)).reshape(
            shape
        )

    def out_layout(self, layout):
        if self.order and self.order != layout:
            raise ValueError(
                f"NormalizeImage: order={self.order!r} but the ops before it produce "
                f"{layout.upper()} images; use order: '{layout}' or ''"
            )
        self._layout = layout
        self._prepare()
        return layout

    def __call__(self, img):
        img = _check_image(img, "NormalizeImage")
        chw = self._layout == "chw"
        if img.ndim == 2:
            img = img[None] if chw else img[:, :, None]
        c = img.shape[0] if chw else img.shape[2]
        if len(self.mean) != 1 and c != len(self.mean):
            raise ValueError(
                f"NormalizeImage: image has {c} channel(s) but mean/std have "
                f"{len(self.mean)}; use mean/std of length {c} or add "
                f"ToChannels: {{channels: {len(self.mean)}}} before it"
            )
        out = img.astype(np.float32) * self._mul + self._add
        out = out.astype(np.float32, copy=False)
        if self.channel_num == 4:
            pad = np.zeros_like(out[:1] if chw else out[:, :, :1])
            out = np.concatenate([out, pad], axis=0 if chw else 2)
        return out.astype(np.float16) if self.output_fp16 else out


class ToCHWImage(_Op):
    """HWC -> CHW (a 2-D image becomes 1 x H x W)."""

    spatial = False

    def __init__(self):
        pass

    def out_layout(self, layout):
        if layout == "chw":
            raise ValueError(
                "ToCHWImage: the ops before it already produce CHW images "
                "(DecodeImage(channel_first=True) or an earlier ToCHWImage)"
            )
        return "chw"

    def __call__(self, img):
        img = _check_image(img, "ToCHWImage")
        return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)


TRANSFORM_OPS: dict[str, type] = {
    c.__name__: c
    for c in (
        DecodeImage,
        ResizeImage,
        RandCropImage,
        CropImage,
        RandFlipImage,
        RandomErasing,
        NormalizeImage,
        ToCHWImage,
        ToChannels,
        GrayToRGB,
    )
}


class Compose:
    """A built per-sample op list: callable on one image; `layout` is what it outputs."""

    def __init__(self, ops: Sequence[Callable], in_layout: str = "hwc"):
        self.ops = list(ops)
        layout = in_layout
        for op in self.ops:
            if hasattr(op, "out_layout"):
                layout = op.out_layout(layout)
        self.layout = layout

    def __call__(self, img):
        for op in self.ops:
            img = op(img)
        return img

    def __len__(self):
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __getitem__(self, i):
        return self.ops[i]

    def __repr__(self):
        return f"Compose({self.ops!r})"


# ----------------------------------------------------------------------------- batch ops
def _one_hot(labels: np.ndarray, class_num: int) -> np.ndarray:
    labels = np.asarray(labels)
    if (
        labels.ndim == 2
        and labels.shape[1] == class_num
        and np.issubdtype(labels.dtype, np.floating)
    ):
        return labels.astype(np.float32, copy=False)
    flat = labels.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= class_num):
        raise ValueError(
            f"label {int(flat.min() if flat.min() < 0 else flat.max())} outside "
            f"[0, {class_num}) in a batch given to a batch op"
        )
    out = np.zeros((flat.size, class_num), np.float32)
    out[np.arange(flat.size), flat] = 1.0
    return out


class _BatchOp:
    def __init__(self, class_num: int, alpha: float, prob: float = 1.0):
        name = type(self).__name__
        if (
            not isinstance(class_num, (int, np.integer))
            or isinstance(class_num, bool)
            or class_num <= 0
        ):
            raise ValueError(f"{name}: class_num must be a positive int, got {class_num!r}")
        self.class_num = int(class_num)
        self.alpha = parse_number(alpha, f"{name}.alpha")
        if self.alpha <= 0:
            raise ValueError(f"{name}.alpha: must be > 0, got {alpha!r}")
        self.prob = parse_number(prob, f"{name}.prob")
        if not 0 <= self.prob <= 1:
            raise ValueError(f"{name}.prob: must be in [0, 1], got {prob!r}")
        self.last_lam = None
        self.last_perm = None

    def __repr__(self):
        return f"{type(self).__name__}(class_num={self.class_num}, alpha={self.alpha})"


class MixupOperator(_BatchOp):
    """Mixup: ``lam ~ Beta(alpha, alpha)``; images and one-hot labels become
    ``lam * x + (1 - lam) * x[perm]`` for a random permutation ``perm`` of the batch.
    ``last_lam`` / ``last_perm`` record the latest draw."""

    def __init__(self, class_num: int, alpha: float = 1.0):
        super().__init__(class_num, alpha)

    def __call__(self, images: np.ndarray, labels: np.ndarray):
        rng = get_rng()
        y = _one_hot(labels, self.class_num)
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(len(images))
        images = (lam * images + (1.0 - lam) * images[perm]).astype(np.float32, copy=False)
        self.last_lam, self.last_perm = lam, perm
        return images, lam * y + (1.0 - lam) * y[perm]


class CutmixOperator(_BatchOp):
    """CutMix: paste a random box (side ``sqrt(1 - lam)`` of each image side, ``lam ~
    Beta(alpha, alpha)``, clipped at the borders) from ``x[perm]`` into ``x``; labels mix by the
    pasted area: ``lam' = 1 - box_area / (H * W)`` (recorded as ``last_lam``, box as
    ``last_box`` = (top, left, bottom, right)). Images are [N, C, H, W]."""

    def __init__(self, class_num: int, alpha: float = 0.2):
        super().__init__(class_num, alpha)
        self.last_box = None

    def __call__(self, images: np.ndarray, labels: np.ndarray):
        if images.ndim != 4:
            raise ValueError(
                f"CutmixOperator: expected images [N, C, H, W], got shape {images.shape}"
            )
        rng = get_rng()
        y = _one_hot(labels, self.class_num)
        n, _, h, w = images.shape
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(n)
        cut = math.sqrt(1.0 - lam)
        ch, cw = int(h * cut), int(w * cut)
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        images = images.copy()
        images[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / float(h * w)
        self.last_lam, self.last_perm, self.last_box = lam, perm, (top, left, bottom, right)
        return images, lam * y + (1.0 - lam) * y[perm]


class OpSampler:
    """Apply at most one of several batch ops per batch, op k with probability ``prob`` given in
    its arguments (sum <= 1; the rest of the time the batch is only one-hot encoded).

    YAML: ``- OpSampler: {MixupOperator: {alpha: 0.8, prob: 0.5},
    CutmixOperator: {alpha: 1.0, prob: 0.5}}``.
    """

    def __init__(self, class_num: int, **op_dict):
        if not op_dict:
            raise ValueError(
                "OpSampler: give at least one batch op, e.g. "
                "{MixupOperator: {alpha: 0.8, prob: 0.5}}"
            )
        self.class_num = class_num
        self.ops, self.probs = [], []
        for name, args in op_dict.items():
            if name not in ("MixupOperator", "CutmixOperator"):
                raise ValueError(
                    f"OpSampler: unknown batch op {name!r}{did_you_mean(name, BATCH_OPS)}"
                )
            args = dict(args or {})
            prob = parse_number(args.pop("prob", 1.0 / len(op_dict)), f"OpSampler.{name}.prob")
            op = _construct(BATCH_OPS[name], dict(args, class_num=class_num), f"OpSampler.{name}")
            self.ops.append(op)
            self.probs.append(prob)
        if any(p < 0 for p in self.probs) or sum(self.probs) > 1 + 1e-6:
            raise ValueError(f"OpSampler: probs must be >= 0 and sum to <= 1, got {self.probs}")

    def __call__(self, images, labels):
        u = get_rng().uniform()
        for op, p in zip(self.ops, self.probs):
            if u < p:
                return op(images, labels)
            u -= p
        return images, _one_hot(labels, self.class_num)

    def __repr__(self):
        return f"OpSampler({list(zip(self.ops, self.probs))!r})"


BATCH_OPS: dict[str, type] = {c.__name__: c for c in (MixupOperator, CutmixOperator, OpSampler)}


class BatchCompose:
    """Built batch ops: ``(images [N,...], int labels [N] or [N,1]) -> (images, soft [N, K])``."""

    def __init__(self, ops: Sequence[Callable], class_num: int):
        self.ops = list(ops)
        self.class_num = class_num

    def __call__(self, images, labels):
        labels = _one_hot(labels, self.class_num)
        for op in self.ops:
            images, labels = op(images, labels)
        return images, labels.astype(np.float32, copy=False)

    def __len__(self):
        return len(self.ops)

    def __repr__(self):
        return f"BatchCompose({self.ops!r})"


# ----------------------------------------------------------------------------- builders
def _construct(cls, args: dict, where: str):
    """cls(**args), turning a bad argument name into a ValueError with a suggestion."""
    sig = inspect.signature(cls.__init__)
    params = [
        p
        for p in list(sig.parameters)[1:]
        if sig.parameters[p].kind
        not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if not takes_kwargs:
        for key in args:
            if key not in params:
                raise ValueError(
                    f"{where}: {cls.__name__} got an unknown argument {key!r}"
                    f"{did_you_mean(key, params)}; valid arguments: {params}"
                )
    try:
        sig.bind(None, **args)
    except TypeError as e:
        raise ValueError(f"{where}: {cls.__name__}: {e}. Valid arguments: {params}") from None
    try:
        return cls(**args)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    except TypeError as e:
        raise ValueError(f"{where}: {cls.__name__}: bad argument value ({e})") from None


def create_operators(op_list, key_path: str = "transform_ops", in_layout: str = "hwc") -> Compose:
    """Build a `Compose` from a PaddleClas-style list ``[{OpName: {arg: value}}, ...]``.

    Errors are ValueErrors that start with the entry's key path (``key_path[i]``), name the bad
    op or argument and suggest the nearest valid one. ``None`` gives an empty Compose.
    """
    if op_list is None:
        return Compose([], in_layout)
    if isinstance(op_list, Compose):
        return op_list
    if not isinstance(op_list, (list, tuple)):
        raise ValueError(f"{key_path}: expected a list of ops, got {type(op_list).__name__}")
    ops, layout = [], in_layout
    for i, entry in enumerate(op_list):
        where = f"{key_path}[{i}]"
        if callable(entry) and not isinstance(entry, (dict, str)):
            ops.append(entry)
            continue
        cls, args = parse_named_entry(entry, where, TRANSFORM_OPS, "transform op")
        op = _construct(cls, args, where)
        try:
            layout = op.out_layout(layout)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        ops.append(op)
    return Compose(ops, in_layout)


def create_batch_operators(
    op_list, class_num: int, key_path: str = "batch_transform_ops"
) -> BatchCompose | None:
    """Build the batch ops (MixupOperator, CutmixOperator, OpSampler) with ``class_num``.

    Returns None for an empty/None list. A ``class_num`` written in the YAML must agree.
    """
    if not op_list:
        return None
    if not isinstance(op_list, (list, tuple)):
        raise ValueError(f"{key_path}: expected a list of batch ops, got {type(op_list).__name__}")
    ops = []
    for i, entry in enumerate(op_list):
        where = f"{key_path}[{i}]"
        cls, args = parse_named_entry(entry, where, BATCH_OPS, "batch op")
        given = args.pop("class_num", class_num)
        if given != class_num:
            raise ValueError(
                f"{where}: {cls.__name__} class_num={given!r} disagrees with the "
                f"model's class_num={class_num}"
            )
        if cls is OpSampler:
            try:
                ops.append(OpSampler(class_num, **args))
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        else:
            ops.append(_construct(cls, dict(args, class_num=class_num), where))
    return BatchCompose(ops, class_num)
