"""`train(cfg)`: the logic behind `tools/train.py`, built on `paddle.Model.prepare/fit`."""
from __future__ import annotations

import json
import logging
import os
import sys
import time

import numpy as np

from ..runtime import configure_cpu

logger = logging.getLogger("paddle_inception")

__all__ = ["train", "evaluate", "build_network", "setup_logging", "select_device"]


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (it may be redirected after setup)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(log_file: str | None = None, level=logging.INFO):
    logger.setLevel(level)
    fmt = logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        h = _StdoutHandler()
        h.setFormatter(fmt)
        logger.addHandler(h)
    for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(h)       # one log file per run
        h.close()
    if log_file:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    logger.propagate = False


def select_device(requested: str | None) -> str:
    """Honour Global.device when possible; say so plainly when falling back to the CPU."""
    import paddle
    req = (requested or "cpu").lower()
    if req.startswith("gpu"):
        if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
            paddle.set_device(req)
            return req
        logger.warning("Global.device is %r but %s; running on the CPU", requested,
                       "this Paddle build has no CUDA support"
                       if not paddle.is_compiled_with_cuda() else "no GPU is visible")
    elif req != "cpu":
        logger.warning("Global.device %r is not supported by this tool; running on the CPU",
                       requested)
    paddle.set_device("cpu")
    return "cpu"


def build_network(cfg: dict):
    """Model from the `Arch` section (registry or PaddleClas names; class_num -> num_classes)."""
    from ..ppcls import resolve_arch_name
    from ..registry import create_model
    arch = dict(cfg["Arch"])
    name = resolve_arch_name(arch.pop("name"))
    class_num = arch.pop("class_num", None)
    if class_num is not None:
        arch.setdefault("num_classes", int(class_num))
    shape = cfg.get("Global", {}).get("image_shape")
    if shape:
        arch.setdefault("in_channels", int(shape[0]))
    arch.pop("pretrained", None)   # weights come from Global.pretrained_model
    return create_model(name, **arch), name


def _image_shape(cfg, network):
    shape = cfg.get("Global", {}).get("image_shape")
    if shape:
        return [int(s) for s in shape]
    return list(network.default_cfg["input_size"])


def _amp_configs(cfg, device):
    amp = cfg.get("AMP") or {}
    if not amp.get("use_amp", False):
        return None
    if device == "cpu":
        logger.warning("AMP.use_amp is set but AMP needs a GPU; training in float32 on the CPU")
        return None
    return {"level": str(amp.get("level", "O1")).upper(),
            "init_loss_scaling": float(amp.get("scale_loss", 1.0)),
            "use_dynamic_loss_scaling": bool(amp.get("use_dynamic_loss_scaling", False))}


def _prepare(cfg, for_training=True):
    """Everything shared by train and evaluate: device, network, loaders, paddle.Model."""
    import paddle
    from ..data import build_dataloader
    from .losses import build_loss
    from .metrics import build_metrics

    g = cfg["Global"]
    configure_cpu()
    device = select_device(g.get("device", "cpu"))
    seed = g.get("seed")
    if seed is not None:
        paddle.seed(int(seed))
        np.random.seed(int(seed))
    network, arch_name = build_network(cfg)
    class_num = network.num_classes
    image_shape = _image_shape(cfg, network)
    loaders = {}
    for mode in (("Train", "Eval") if for_training else ("Eval",)):
        if mode in (cfg.get("DataLoader") or {}):
            loaders[mode] = build_dataloader(cfg["DataLoader"][mode], mode, class_num=class_num,
                                             key_path=f"DataLoader.{mode}", seed=seed)
    if for_training and "Train" not in loaders:
        raise ValueError("DataLoader.Train: missing; training needs a Train data loader")
    inputs = [paddle.static.InputSpec([None] + image_shape, "float32", "image")]
    labels = [paddle.static.InputSpec([None, 1], "int64", "label")]
    model = paddle.Model(network, inputs, labels)
    losses = cfg.get("Loss") or {}
    train_loss = build_loss(losses.get("Train") or [{"CELoss": {"weight": 1.0}}], "Loss.Train")
    eval_loss = build_loss(losses.get("Eval") or losses.get("Train") or
                           [{"CELoss": {"weight": 1.0}}], "Loss.Eval")
    metric_cfg = cfg.get("Metric") or {}
    metrics = build_metrics(metric_cfg.get("Eval") or metric_cfg.get("Train"), "Metric")
    return dict(paddle=paddle, g=g, device=device, network=network, arch_name=arch_name,
                loaders=loaders, model=model, train_loss=train_loss, eval_loss=eval_loss,
                metrics=metrics, seed=seed, image_shape=image_shape)


def train(cfg: dict) -> dict:
    """Train as configured; returns a summary (epochs, seconds, final and best eval metrics)."""
    from .callbacks import (CheckpointSaver, EpochSeed, EvalLossSwitch, NaNGuard,
                            ProgressLogger, VisualDLLogger)
    from .checkpoint import load_checkpoint, load_weights
    from .optim import build_optimizer

    g = cfg["Global"]
    out_root = os.path.join(g.get("output_dir", "./output"), str(cfg["Arch"]["name"]))
    import paddle.distributed as dist
    # data-parallel runs (paddle.distributed.launch): every rank trains, rank 0 alone writes
    # logs, VisualDL records and checkpoints
    writer = dist.get_rank() == 0
    os.makedirs(out_root, exist_ok=True)
    setup_logging(os.path.join(out_root, "train.log") if writer else None)
    ctx = _prepare(cfg)
    paddle, network, model = ctx["paddle"], ctx["network"], ctx["model"]
    train_loader, eval_loader = ctx["loaders"]["Train"], ctx["loaders"].get("Eval")
    epochs = int(g["epochs"])
    steps = len(train_loader)
    optimizer, lr = build_optimizer(cfg["Optimizer"], network.parameters(), epochs, steps)
    model.prepare(optimizer, ctx["train_loss"], ctx["metrics"],
                  amp_configs=_amp_configs(cfg, ctx["device"]))

    start_epoch, best, elapsed_before = 0, None, 0.0
    if g.get("checkpoints"):
        state = load_checkpoint(g["checkpoints"], network, optimizer)
        start_epoch, best = int(state["epoch"]), state.get("best_metric")
        elapsed_before = float(state.get("elapsed_s", 0.0))
        logger.info("resumed from %s: %d of %d epochs done", g["checkpoints"], start_epoch,
                    epochs)
    elif g.get("pretrained_model"):
        load_weights(network, g["pretrained_model"], logger)
        logger.info("loaded pretrained weights from %s", g["pretrained_model"])

    if writer:
        from ..config import dump_config
        dump_config(cfg, os.path.join(out_root, "config.yaml"))
    n_params = sum(int(np.prod(p.shape)) for p in network.parameters() if not p.stop_gradient)
    logger.info("model %s: %s trainable parameters, input %s, %d steps/epoch, device %s",
                ctx["arch_name"], f"{n_params:,}", ctx["image_shape"], steps, ctx["device"])

    remaining = epochs - start_epoch
    do_eval = bool(g.get("eval_during_train", True)) and eval_loader is not None
    eval_interval = max(1, int(g.get("eval_interval", 1)))
    eval_epochs = ([start_epoch + r + 1 for r in range(remaining) if r % eval_interval == 0]
                   if do_eval else [])
    log_freq = max(1, int(g.get("print_batch_step", 10)))
    t0 = time.time()
    saver = CheckpointSaver(out_root, int(g.get("save_interval", 1)), start_epoch, eval_epochs,
                            best=best, extra_state={"arch": ctx["arch_name"]}, enabled=writer)

    class _Clock(paddle.callbacks.Callback):       # elapsed wall time into each checkpoint
        def on_epoch_end(self, epoch, logs=None):
            saver.extra_state["elapsed_s"] = elapsed_before + time.time() - t0

    callbacks = [ProgressLogger(log_freq, verbose=2, start_epoch=start_epoch,
                                total_epochs=epochs),
                 EpochSeed(ctx["seed"] or 0, start_epoch, train_loader), NaNGuard(start_epoch, out_root),
                 EvalLossSwitch(ctx["eval_loss"]), _Clock(), saver]
    if g.get("use_visualdl", False) and writer:
        callbacks.append(VisualDLLogger(os.path.join(out_root, "vdl"), log_freq, start_epoch,
                                        steps))
    if remaining > 0:
        model.fit(train_loader, eval_loader if do_eval else None, epochs=remaining,
                  eval_freq=eval_interval, log_freq=log_freq, verbose=2, callbacks=callbacks)
    else:
        logger.info("nothing to train: %d of %d epochs already done", start_epoch, epochs)
    seconds = elapsed_before + time.time() - t0
    last_eval = saver.history[-1]["eval"] if saver.history else None
    summary = dict(arch=ctx["arch_name"], epochs=epochs, seconds=round(seconds, 1),
                   final_eval=last_eval, best_metric=saver.best, history=saver.history,
                   output_dir=out_root)
    if writer:
        with open(os.path.join(out_root, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)
    if last_eval:
        logger.info("done: %d epochs in %.1f min; eval %s; best top-1 %.4f", epochs,
                    seconds / 60, ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()),
                    saver.best or float("nan"))
    return summary


def evaluate(cfg: dict) -> dict:
    """Evaluate `Global.pretrained_model` (or a checkpoint) on `DataLoader.Eval`."""
    from .checkpoint import load_weights
    setup_logging()
    ctx = _prepare(cfg, for_training=False)
    g = ctx["g"]
    weights = g.get("pretrained_model") or g.get("checkpoints")
    if not weights:
        raise ValueError("Global.pretrained_model: required for evaluation "
                         "(-o Global.pretrained_model=output/<Arch.name>/best)")
    load_weights(ctx["network"], weights, logger)
    if "Eval" not in ctx["loaders"]:
        raise ValueError("DataLoader.Eval: missing; evaluation needs an Eval data loader")
    ctx["model"].prepare(None, ctx["eval_loss"], ctx["metrics"])
    res = ctx["model"].evaluate(ctx["loaders"]["Eval"], verbose=1)
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in res.items()}
