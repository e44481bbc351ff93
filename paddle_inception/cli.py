"""Entry points behind the thin `tools/*.py` scripts (kept here so they can be tested)."""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["train_main", "eval_main"]


def _config_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-c", "--config", required=True, help="PaddleClas-style YAML config")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o Global.epochs=2 "
                        "-o DataLoader.Train.sampler.batch_size=64 (repeatable)")
    return p


def _load(args):
    from .config import ConfigError, load_config
    try:
        return load_config(args.config, args.override)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)


def train_main(argv=None) -> int:
    args = _config_parser("Train an Inception-family model (paddle.Model.fit).").parse_args(argv)
    cfg = _load(args)
    from .engine.callbacks import TrainingDiverged
    from .engine.trainer import train
    try:
        train(cfg)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def eval_main(argv=None) -> int:
    args = _config_parser("Evaluate a trained model on DataLoader.Eval.").parse_args(argv)
    cfg = _load(args)
    from .engine.trainer import evaluate
    try:
        res = evaluate(cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res))
    return 0
