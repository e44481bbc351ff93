"""Small helpers shared by every layer of the package (no imports from the package itself)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["closest", "did_you_mean", "package_path", "write_text_atomic"]


def closest(name, candidates: Iterable, cutoff: float = 0.6) -> str | None:
    """The candidate nearest to a misspelt `name`: an exact case-insensitive match first, then
    difflib's best match (as written, then lower-cased) at `cutoff`; None when nothing is close."""
    candidates = [str(c) for c in candidates]
    name = str(name)
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    if close:
        return close[0]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[close[0]] if close else None


def did_you_mean(name, candidates: Iterable, cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the nearest candidate, or '' when nothing is close."""
    best = closest(name, candidates, cutoff)
    return f" (did you mean {best!r}?)" if best is not None else ""


def package_path(*parts: str) -> str:
    """Path of a data file shipped inside the package (`package_path("configs",
    "googlenet.yaml")`), read with importlib.resources so that it works after a regular
    (non-editable) install as well as in a source checkout."""
    from importlib.resources import files

    return str(files("paddle_inception").joinpath(*parts))


def write_text_atomic(path, text: str, mode: int = 0o644) -> str:
    """Write `text` to `path` through a temporary file in the same folder and `os.replace`, so
    that a reader (or a run killed mid-write) sees the old file or the new one, never half of
    one; the folder is created. Returns the path."""
    import os
    import tempfile

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
