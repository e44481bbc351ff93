"""Small helpers shared by every layer of the package (no imports from the package itself)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["closest", "did_you_mean", "package_path"]


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
