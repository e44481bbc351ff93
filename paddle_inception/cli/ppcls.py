"""`paddle-inception ppcls SCRIPT [ARGS...]` (also `python -m paddle_inception ppcls ...`):
register this zoo in PaddleClas (`paddle_inception.ppcls.register`), then run one of PaddleClas'
own scripts (its tools/train.py, eval.py, export_model.py, ...) as `__main__` with ARGS, so a
PaddleClas checkout needs no edit to use `Arch.name: PaddleInception_<Model>`."""

from __future__ import annotations

import os
import runpy
import sys

from ..ppcls import register

__all__ = ["main"]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    script = os.path.abspath(argv[0])
    if not os.path.isfile(script):
        print(f"error: paddle-inception ppcls: no such script: {argv[0]}", file=sys.stderr)
        return 2
    # PaddleClas' tools put their checkout on sys.path themselves, but only once they run:
    # before that, register() must find `ppcls` there
    checkout = os.path.dirname(os.path.dirname(script))
    if os.path.isdir(os.path.join(checkout, "ppcls")) and checkout not in sys.path:
        sys.path.insert(0, checkout)
    try:
        register()
    except (ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.argv = [script] + argv[1:]
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
