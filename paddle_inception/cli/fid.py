"""`paddle-inception fid PATH_A [PATH_B]`: Frechet Inception Distance (and KID, Inception Score)
between two image folders or pytorch-fid statistics files (`.npz` with `mu`, `sigma`), on the
FID network `fid_inception_v3` (see docs/fid.md). Results on stdout (text or JSON), progress and
warnings on stderr."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ..convert.api import convert_state_dict
from ..convert.readers import extract_state_dict, read_checkpoint
from ..metrics import (
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    load_stats,
    measure_folder,
    save_stats,
)
from ..models.fid_inception import FID_DIMS
from ..registry import create_model
from .common import (
    ToolError,
    command_parser,
    configure_cpu_quietly,
    load_model_weights,
    run_tool,
    setup_tool_logging,
)

__all__ = ["build_parser", "main", "WEIGHTS_ENV"]

#: where `--weights` defaults from
WEIGHTS_ENV = "PADDLE_INCEPTION_FID_WEIGHTS"
_PTH = (".pth", ".pt")


def build_parser() -> argparse.ArgumentParser:
    p = command_parser(
        "fid",
        "FID between two image folders or pytorch-fid statistics files (.npz with "
        "mu, sigma), with the FID Inception-v3 as pytorch-fid computes it; --kid and --isc add "
        "the Kernel Inception Distance and the Inception Score (image folders only). With one "
        "PATH, --save-stats writes its statistics and nothing is compared.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image folder or .npz statistics")
    p.add_argument(
        "--weights",
        "-w",
        default=None,
        metavar="FILE",
        help="the FID network's weights: pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
        f"(converted on the fly) or its conversion (.pdparams); default ${WEIGHTS_ENV}. Not "
        "needed when both PATHs are .npz",
    )
    p.add_argument(
        "--dims",
        type=int,
        default=None,
        choices=sorted(FID_DIMS),
        help="feature tap (default 2048, or the dims of a given .npz)",
    )
    p.add_argument("--batch-size", "-b", type=int, default=50, help="images per batch (50)")
    p.add_argument(
        "--save-stats",
        nargs="+",
        default=[],
        metavar="OUT.npz",
        help="write the statistics of the image folder PATHs, in their order, to these files "
        "(pytorch-fid's format)",
    )
    p.add_argument("--kid", action="store_true", help="also the Kernel Inception Distance")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (100)")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="KID subset size (1000)")
    p.add_argument("--isc", action="store_true", help="also the Inception Score of each folder")
    p.add_argument("--isc-splits", type=int, default=10, help="Inception Score splits (10)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    return p


def _check_args(args) -> None:
    if len(args.paths) > 2:
        raise ToolError(f"give one or two PATHs, got {len(args.paths)}")
    if len(args.paths) == 1 and not args.save_stats:
        raise ToolError("one PATH computes nothing to compare: give a second PATH or --save-stats")
    folders = [p for p in args.paths if not p.endswith(".npz")]
    if len(args.save_stats) > len(folders):
        raise ToolError(
            f"--save-stats names {len(args.save_stats)} files for {len(folders)} image "
            f"folder(s) (a .npz PATH has its statistics already)"
        )
    for out in args.save_stats:
        if not out.endswith(".npz"):
            raise ToolError(f"--save-stats: {out!r} must end in .npz")
    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--kid-subsets", args.kid_subsets),
        ("--kid-subset-size", args.kid_subset_size),
        ("--isc-splits", args.isc_splits),
    ):
        if value < 1:
            raise ToolError(f"{flag} must be >= 1, got {value}")
    if args.kid and (len(folders) != 2):
        raise ToolError("--kid needs two image folders (a .npz holds only mu and sigma)")
    if args.isc and not folders:
        raise ToolError("--isc needs an image folder (a .npz holds only mu and sigma)")
    for p in args.paths:
        if not os.path.exists(p):
            raise ToolError(f"{p}: no such file or folder")


def _load_model(path: str | None):
    path = path or os.environ.get(WEIGHTS_ENV)
    if not path:
        raise ToolError(
            "the FID network needs its weights: pass --weights pt_inception-2015-12-05-"
            f"6726825d.pth (pytorch-fid's file, see docs/fid.md) or set ${WEIGHTS_ENV}"
        )
    if path.endswith(_PTH):
        sd = extract_state_dict(read_checkpoint(path), path=path)
        model = convert_state_dict(sd, "pytorch-fid", "fid_inception_v3", what=path).model
    else:
        model = create_model("fid_inception_v3")
        load_model_weights(model, path)
    model.eval()
    return model


def _progress(label: str):
    tty = sys.stderr.isatty()
    start = time.perf_counter()

    def report(done: int, total: int) -> None:
        if tty:
            bar = "#" * (30 * done // total)
            end = "\n" if done == total else ""
            print(f"\r{label}: [{bar:<30}] {done}/{total} batches", end=end, file=sys.stderr)
        elif done == total:
            print(
                f"{label}: {total} batches in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )

    return report


def _run(args) -> int:
    _check_args(args)
    stats = [load_stats(p, args.dims) if p.endswith(".npz") else None for p in args.paths]
    dims = args.dims or next((s.dims for s in stats if s is not None), 2048)
    for p, s in zip(args.paths, stats):
        if s is not None and s.dims != dims:
            raise ToolError(
                f"{p}: statistics of {s.dims}-dim features, the other PATH has {dims}-dim "
                f"ones; FID compares features of one tap (--dims)"
            )
    if dims not in FID_DIMS and any(s is None for s in stats):
        raise ToolError(
            f"{args.paths[[s is not None for s in stats].index(True)]}: {dims}-dim statistics "
            f"cannot be compared with image folders: the FID network's taps are "
            f"{', '.join(map(str, FID_DIMS))}"
        )
    measures = [None] * len(args.paths)
    if any(s is None for s in stats):
        configure_cpu_quietly(verbose=False)
        model = _load_model(args.weights)
        for i, p in enumerate(args.paths):
            if stats[i] is None:
                m = measure_folder(
                    model,
                    p,
                    dims=dims,
                    batch_size=args.batch_size,
                    keep_features=args.kid,
                    logits=args.isc,
                    progress=_progress(p),
                )
                measures[i], stats[i] = m, m.stats
    folders = [m for m in measures if m is not None]
    for out, m in zip(args.save_stats, folders):
        save_stats(out, m.stats)
        print(f"wrote {out} ({m.n} images, {dims} dims)", file=sys.stderr)
    result = {
        "dims": dims,
        "paths": [
            {"path": p, "kind": "stats" if m is None else "images", "n": s.n}
            for p, s, m in zip(args.paths, stats, measures)
        ],
    }
    if len(stats) == 2:
        result["fid"] = frechet_distance(stats[0].mu, stats[0].sigma, stats[1].mu, stats[1].sigma)
    if args.kid:
        kid = kernel_inception_distance(
            folders[0].features,
            folders[1].features,
            subsets=args.kid_subsets,
            subset_size=args.kid_subset_size,
        )
        result["kid"] = dict(
            mean=kid.mean, std=kid.std, subsets=args.kid_subsets, subset_size=args.kid_subset_size
        )
    if args.isc:
        result["isc"] = []
        for m in folders:
            score = inception_score(m.logits, splits=args.isc_splits)
            result["isc"].append(dict(path=m.path, mean=score.mean, std=score.std))
    _print(result, args.format)
    return 0


def _print(result: dict, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result))
        return
    if "fid" in result:
        print(f"FID: {result['fid']:.6f}")
    if "kid" in result:
        k = result["kid"]
        print(
            f"KID: {k['mean']:.6g} +- {k['std']:.6g} ({k['subsets']} subsets of {k['subset_size']})"
        )
    for s in result.get("isc", []):
        print(f"IS {s['path']}: {s['mean']:.6f} +- {s['std']:.6f}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_tool_logging()
    return run_tool(_run, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
