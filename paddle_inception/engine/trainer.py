"""`train(cfg)` and `evaluate(cfg)`: the logic behind `tools/train.py` and `tools/eval.py`,
built on `paddle.Model.prepare/fit`.

A run flows as: `build_context` (device, seed, network, loaders, losses, metrics: everything
the config names is checked before anything is written) -> `run_lock` + `run_log` on the run
directory -> `_restore` (resume a checkpoint, or load pretrained weights; the EMA) ->
`_callbacks` (clock, progress, seeds, NaN guard, checkpoints, VisualDL, EMA) -> `_fit` ->
`_write_summary`. The steps hand each other typed objects (`RunContext`, `RunState`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import logging
import os
import time
import warnings
from typing import Optional

import numpy as np
import paddle
import paddle.distributed as dist

from .._util import write_text_atomic
from ..config import dump_config
from ..data import ImageFolder, build_dataloader
from ..data.classmap import load_class_map, run_class_map_path
from ..data.folder import (
    auto_transform_ops,
    check_train_eval,
    precheck_roots,
    write_split_files,
)
from ..models.pretrained import read_sidecar, sidecar_path
from ..registry import arch_kwargs, create_model
from ..weights import load_weights
from .callbacks import (
    CheckpointSaver,
    EpochSeed,
    EvalLossSwitch,
    NaNGuard,
    ProgressLogger,
    RunClock,
    VisualDLLogger,
)
from .checkpoint import load_checkpoint
from .ema import ModelEMA
from .losses import build_loss
from .metrics import build_metrics
from .optim import build_optimizer
from .precision import Precision, autocast_forward, choose_precision
from .runlock import run_lock
from .visual_callbacks import eval_report_callback, visual_callbacks

logger = logging.getLogger("paddle_inception")

__all__ = [
    "train",
    "evaluate",
    "eval_schedule",
    "build_network",
    "build_context",
    "RunContext",
    "RunState",
    "run_log",
    "select_device",
]

_LOG_FORMAT = logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
_DEFAULT_LOSS = [{"CELoss": {"weight": 1.0}}]


@contextlib.contextmanager
def run_log(path: str | None):
    """Copy the package's log records (INFO and up) into the run's `train.log` while a run
    lasts. Nothing else is changed for good: where records go on the console is the
    application's choice (the command line tools print them; see `cli.common`)."""
    if not path:
        yield
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_LOG_FORMAT)
    handler.setLevel(logging.INFO)
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def select_device(requested: str | None) -> str:
    """Honour Global.device when possible; say so plainly when falling back to the CPU."""
    req = (requested or "cpu").lower()
    if req.startswith("gpu"):
        if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
            paddle.set_device(req)
            return req
        logger.warning(
            "Global.device is %r but %s; running on the CPU",
            requested,
            "this Paddle build has no CUDA support"
            if not paddle.is_compiled_with_cuda()
            else "no GPU is visible",
        )
    elif req != "cpu":
        logger.warning(
            "Global.device %r is not supported by this tool; running on the CPU", requested
        )
    paddle.set_device("cpu")
    return "cpu"


def build_network(cfg: dict):
    """Model from the `Arch` section (registry or PaddleClas names; class_num -> num_classes).
    An unknown name or constructor argument is a ValueError naming the Arch key."""
    try:
        name, kwargs = arch_kwargs(cfg["Arch"], cfg.get("Global", {}).get("image_shape"))
    except ValueError as e:
        raise ValueError(f"Arch.name: {e}") from None
    freeze = kwargs.pop("freeze_befor", None)  # PaddleClas' spelling; applied after building
    try:
        network = create_model(name, **kwargs)
    except TypeError as e:
        raise ValueError(
            f"Arch: {e} (keys of Arch other than name and class_num go to the model)"
        ) from None
    if freeze:
        _freeze(network, str(freeze))
    return network, name


def _freeze(network, layer: str) -> None:
    """`Arch.freeze_befor`: no gradient reaches `layer` and the layers before it."""
    # (Paddle lists BatchNorm's running statistics as parameters with stop_gradient set)
    trainable = [p for p in network.parameters() if not p.stop_gradient]
    try:
        network.freeze_befor(layer)
    except (ValueError, AttributeError) as e:
        raise ValueError(f"Arch.freeze_befor: {e}") from None
    frozen = [p for p in trainable if p.stop_gradient]
    logger.info(
        "Arch.freeze_befor %r: froze %d of %d trainable parameter tensors (%s values: %s and "
        "every block before it); %d train",
        layer,
        len(frozen),
        len(trainable),
        f"{sum(int(np.prod(p.shape)) for p in frozen):,}",
        layer,
        len(trainable) - len(frozen),
    )


@dataclasses.dataclass
class RunContext:
    """What a validated config builds, shared by training, evaluation and their callbacks."""

    cfg: dict
    device: str  # "cpu" or "gpu:N", as selected (Global.device may have been refused)
    network: paddle.nn.Layer
    arch_name: str  # the registry name Arch.name resolved to
    model: paddle.Model
    train_loader: Optional[paddle.io.DataLoader]
    eval_loader: Optional[paddle.io.DataLoader]
    train_loss: paddle.nn.Layer
    eval_loss: paddle.nn.Layer
    metrics: list
    seed: Optional[int]
    image_shape: list  # [C, H, W]

    @property
    def global_cfg(self) -> dict:
        return self.cfg["Global"]

    @property
    def dataset(self):
        """The dataset whose class names label the run's pictures (eval's, else train's)."""
        loader = self.eval_loader or self.train_loader
        return getattr(loader, "dataset", None)


@dataclasses.dataclass
class RunState:
    """Where a run starts: from scratch, from pretrained weights, or resumed."""

    start_epoch: int = 0
    best: Optional[float] = None  # best eval top-1 so far (a resumed run keeps its record)
    elapsed_before: float = 0.0  # seconds trained before a resume
    ema: Optional[ModelEMA] = None


def _image_shape(cfg, network) -> list:
    shape = cfg.get("Global", {}).get("image_shape")
    if shape:
        return [int(s) for s in shape]
    return list(network.default_cfg["input_size"])


def build_context(cfg: dict, for_training: bool = True) -> RunContext:
    """Device, seed, network, loaders, losses, metrics and the paddle.Model of a config.

    Global.device and Global.seed are applied here, process-wide, as PaddleClas' Engine does:
    they are what the config asks of the run."""
    g = cfg["Global"]
    device = select_device(g.get("device", "cpu"))
    seed = g.get("seed")
    if seed is not None:
        paddle.seed(int(seed))
        np.random.seed(int(seed))
    network, arch_name = build_network(cfg)
    image_shape = _image_shape(cfg, network)
    cfg = _auto_transforms(cfg, network, image_shape)
    loader_cfg = cfg.get("DataLoader") or {}
    if for_training:
        precheck_roots(loader_cfg)
    # the datasets' warnings (files skipped as not images, ...) as log lines: one line each
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaders = {
            mode: build_dataloader(
                loader_cfg[mode],
                mode,
                class_num=network.num_classes,
                key_path=f"DataLoader.{mode}",
                seed=seed,
            )
            for mode in (("Train", "Eval") if for_training else ("Eval",))
            if loader_cfg.get(mode) is not None  # `Eval: null` means no Eval loader
        }
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            logger.warning("%s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if for_training and "Train" not in loaders:
        raise ValueError("DataLoader.Train: missing; training needs a Train data loader")
    train_ds = getattr(loaders.get("Train"), "dataset", None)
    if isinstance(train_ds, ImageFolder):
        # one class, a class count other than Arch.class_num, other classes or the same
        # images in the eval folder: each a one-line error before anything is written
        check_train_eval(
            train_ds,
            getattr(loaders.get("Eval"), "dataset", None),
            network.num_classes,
            "DataLoader.Train.dataset",
            "DataLoader.Eval.dataset",
        )
    inputs = [paddle.static.InputSpec([None] + image_shape, "float32", "image")]
    labels = [paddle.static.InputSpec([None, 1], "int64", "label")]
    losses = cfg.get("Loss") or {}
    metric_cfg = cfg.get("Metric") or {}
    return RunContext(
        cfg=cfg,
        device=device,
        network=network,
        arch_name=arch_name,
        model=paddle.Model(network, inputs, labels),
        train_loader=loaders.get("Train"),
        eval_loader=loaders.get("Eval"),
        train_loss=build_loss(losses.get("Train") or _DEFAULT_LOSS, "Loss.Train"),
        eval_loss=build_loss(
            losses.get("Eval") or losses.get("Train") or _DEFAULT_LOSS, "Loss.Eval"
        ),
        metrics=build_metrics(metric_cfg.get("Eval") or metric_cfg.get("Train"), "Metric"),
        seed=seed,
        image_shape=image_shape,
    )


def _auto_transforms(cfg: dict, network, image_shape) -> dict:
    """`transform_ops: auto` in a dataset section -> the model's own preprocessing at the run's
    image shape (`data.folder.auto_transform_ops`), written into a copy of the config so that
    the run's config.yaml (and `infer`/`export -c` on it) holds the ops actually used."""
    loader_cfg = cfg.get("DataLoader") or {}
    modes = [
        m
        for m in ("Train", "Eval")
        if ((loader_cfg.get(m) or {}).get("dataset") or {}).get("transform_ops") == "auto"
    ]
    if not modes:
        return cfg
    cfg = dict(cfg, DataLoader=copy.deepcopy(loader_cfg))
    model_cfg, whose = dict(network.default_cfg), f"{network.model_name}'s"
    converted = _converted_preprocessing((cfg.get("Global") or {}).get("pretrained_model"))
    if converted:  # the checkpoint's own preprocessing (a timm tag's mean/std, say)
        model_cfg.update(converted)
        whose = "the converted checkpoint's"
    for m in modes:
        ops = auto_transform_ops(model_cfg, image_shape, train=(m == "Train"))
        cfg["DataLoader"][m]["dataset"]["transform_ops"] = ops
    logger.info(
        "transform_ops: auto -> %s preprocessing at %s: %s, mean %s, std %s, crop_pct %s",
        whose,
        "x".join(str(s) for s in image_shape),
        model_cfg.get("interpolation"),
        [round(float(v), 4) for v in model_cfg.get("mean", ())],
        [round(float(v), 4) for v in model_cfg.get("std", ())],
        round(float(model_cfg.get("crop_pct") or 1.0), 4),
    )
    return cfg


def _converted_preprocessing(weights) -> dict:
    """mean, std, interpolation, crop_pct recorded by `convert` next to `weights` ({} when
    the weights have no conversion sidecar)."""
    if not weights or not os.path.isfile(sidecar_path(weights)):
        return {}
    try:
        pre = read_sidecar(weights).get("preprocessing") or {}
    except (ValueError, FileNotFoundError):
        return {}
    out = {k: pre[k] for k in ("mean", "std", "interpolation") if k in pre}
    if pre.get("resize_short") and pre.get("input_size"):
        out["crop_pct"] = float(pre["input_size"][-1]) / float(pre["resize_short"])
    elif pre.get("crop_pct"):
        out["crop_pct"] = float(pre["crop_pct"])
    return out


def eval_schedule(epochs: int, interval: int, start_eval: int = 0, start_epoch: int = 0):
    """The 1-based epochs after which a training run evaluates: PaddleClas' rule (every
    `interval`-th epoch, from epoch `start_eval` on) plus, always, the last epoch, so that the
    run's final accuracy is that of the weights it ends with. A resumed run evaluates only the
    epochs it still trains."""
    interval = max(1, int(interval))
    return [
        e
        for e in range(start_epoch + 1, epochs + 1)
        if e == epochs or (e % interval == 0 and e >= start_eval)
    ]


class _EvalFreq(int):
    """`eval_freq` for `paddle.Model.fit`, which evaluates after its (0-based) epoch `i` when
    `i % eval_freq == 0`: that rule alone cannot name the last epoch, so this int answers the
    modulo itself (Python asks the right operand first when it subclasses the left one's
    type): 0 for the epochs of `eval_schedule`, 1 for the rest."""

    def __new__(cls, eval_epochs, start_epoch: int):
        self = super().__new__(cls, 1)
        self.eval_epochs, self.start_epoch = frozenset(eval_epochs), int(start_epoch)
        return self

    def __rmod__(self, i):
        return 0 if self.start_epoch + int(i) + 1 in self.eval_epochs else 1


@contextlib.contextmanager
def _gradients_released(network):
    """While `paddle.Model.fit` runs, its `network.clear_gradients()` after each optimizer
    step releases the gradients instead of zeroing them (Layer.clear_gradients'
    `set_to_zero=False`): the next backward then writes each gradient once instead of adding
    it to a buffer of zeros, and no buffer is cleared. Same values; 5-10 ms of a
    0.45-0.48 s googlenet_bn step at 44 px (~1-2%, CPU C)."""
    network.clear_gradients = functools.partial(
        type(network).clear_gradients, network, set_to_zero=False
    )
    try:
        yield
    finally:
        del network.clear_gradients


def train(cfg: dict) -> dict:
    """Train as configured; returns a summary (epochs, seconds, final and best eval metrics).

    Process-wide CPU settings (threads, MKL code path, malloc) are the caller's: the command
    line calls `paddle_inception.runtime.configure_cpu()` first, and so can a script."""
    # everything the config names (model, data lists, files) is checked before anything is
    # written: an unknown Arch.name such as '../../x' creates no directory (issue 11)
    ctx = build_context(cfg)
    out_root = os.path.join(ctx.global_cfg.get("output_dir", "./output"), str(cfg["Arch"]["name"]))
    # data-parallel runs (paddle.distributed.launch): every rank trains, rank 0 alone writes
    # logs, VisualDL records and checkpoints, and holds the run directory's lock (a second run
    # into the same directory is refused, naming the running process)
    writer = dist.get_rank() == 0
    with run_lock(out_root, enabled=writer):
        with run_log(os.path.join(out_root, "train.log") if writer else None):
            return _train(ctx, out_root, writer)


def _train(ctx: RunContext, out_root: str, writer: bool) -> dict:
    g = ctx.global_cfg
    epochs, steps = int(g["epochs"]), len(ctx.train_loader)
    optimizer, _ = build_optimizer(ctx.cfg["Optimizer"], ctx.network, epochs, steps)
    precision = choose_precision(ctx.cfg.get("AMP"), ctx.device)
    ctx.model.prepare(
        optimizer, ctx.train_loss, ctx.metrics, amp_configs=_amp_configs(ctx.cfg, precision)
    )
    state = _restore(ctx, optimizer)
    if writer:
        dump_config(ctx.cfg, os.path.join(out_root, "config.yaml"))
        # the class names (`infer` and `export` find them next to the weights) and, for image
        # folders, the exact train / eval file lists
        written = write_split_files(
            out_root,
            getattr(ctx.train_loader, "dataset", None),
            getattr(ctx.eval_loader, "dataset", None),
        )
        if written:
            logger.info("wrote %s", ", ".join(written))
    n_params = sum(int(np.prod(p.shape)) for p in ctx.network.parameters() if not p.stop_gradient)
    logger.info(
        "model %s: %s trainable parameters, input %s, %d steps/epoch, device %s",
        ctx.arch_name,
        f"{n_params:,}",
        ctx.image_shape,
        steps,
        ctx.device,
    )
    logger.info("%s", precision.describe())
    do_eval = bool(g.get("eval_during_train", True)) and ctx.eval_loader is not None
    eval_epochs = (
        eval_schedule(
            epochs,
            int(g.get("eval_interval", 1)),
            int(g.get("start_eval_epoch", 0) or 0),
            state.start_epoch,
        )
        if do_eval
        else []
    )
    t0 = time.time()
    callbacks, saver = _callbacks(ctx, state, out_root, writer, eval_epochs, t0)
    if epochs > state.start_epoch:
        with autocast_forward(ctx.network, precision):
            _fit(ctx, callbacks, epochs - state.start_epoch, eval_epochs, state.start_epoch)
    else:
        logger.info("nothing to train: %d of %d epochs already done", state.start_epoch, epochs)
    return _write_summary(
        ctx, saver, epochs, state.elapsed_before + time.time() - t0, out_root, writer
    )


def _amp_configs(cfg, precision: Precision):
    """`paddle.Model.prepare`'s amp_configs: float16 only (it casts to nothing else); bfloat16
    runs through `autocast_forward` instead, and needs no loss scaling."""
    if precision.dtype != "float16":
        return None
    amp = cfg.get("AMP") or {}
    return {
        "level": precision.level,
        "init_loss_scaling": float(amp.get("scale_loss", 1.0)),
        "use_dynamic_loss_scaling": bool(amp.get("use_dynamic_loss_scaling", False)),
    }


def _restore(ctx: RunContext, optimizer) -> RunState:
    """Resume `Global.checkpoints` (weights, optimizer, LR schedule, EMA, epoch, best) or load
    `Global.pretrained_model` for fine-tuning; then start the EMA where the config asks."""
    g = ctx.global_cfg
    ema_decay = (ctx.cfg.get("EMA") or {}).get("decay")
    state = RunState()
    if g.get("checkpoints"):
        saved = load_checkpoint(g["checkpoints"], ctx.network, optimizer, ema_decay=ema_decay)
        state = RunState(
            start_epoch=int(saved["epoch"]),
            best=saved.get("best_metric"),
            elapsed_before=float(saved.get("elapsed_s", 0.0)),
            ema=saved.get("ema"),
        )
        logger.info(
            "resumed from %s: %d of %d epochs done",
            g["checkpoints"],
            state.start_epoch,
            g["epochs"],
        )
    elif g.get("pretrained_model"):
        # fine-tuning: a classifier for another class count is skipped (re-initialised) with a
        # warning; weights of which less than half fit the model are refused
        fresh = _classifier_values(ctx.network)  # the initial values, before loading
        rep = load_weights(
            ctx.network,
            g["pretrained_model"],
            mode="finetune",
            what="Global.pretrained_model",
            logger=logger,
        )
        skipped = rep["skipped"] + rep["missing"]
        skipped += _reset_other_classes(ctx, g["pretrained_model"], fresh, set(skipped))
        logger.info(
            "loaded pretrained weights from %s: %d tensors loaded, %d re-initialised%s",
            rep["file"],
            rep["loaded"] - (len(skipped) - len(rep["skipped"] + rep["missing"])),
            len(skipped),
            f" ({', '.join(skipped[:8])}{', ...' if len(skipped) > 8 else ''})" if skipped else "",
        )
    if ema_decay is not None and state.ema is None:  # after pretrained weights: averaged from them
        state.ema = ModelEMA(ctx.network, ema_decay)
    if state.ema is not None:
        logger.info(
            "EMA: weights averaged with decay %g (warmed up: %.4f at update %d); evaluation, "
            "`best` and model.pdparams use the averaged weights, train.pdparams the training ones",
            state.ema.decay,
            state.ema.current_decay(),
            state.ema.updates,
        )
    return state


def _classifier_values(network) -> dict:
    """{name: value} of the classifier layers (the head's fc and each auxiliary head's last
    Linear): the tensors whose meaning is the class list."""
    prefixes = ["head.fc."]
    for _, attr in getattr(network, "aux_taps", ()) or ():
        aux = getattr(network, attr, None)
        if aux is not None and getattr(aux, "classifier", None):
            prefixes.append(f"{attr}.{aux.classifier}.")
    return {
        n: p.numpy().copy() for n, p in network.named_parameters() if n.startswith(tuple(prefixes))
    }


def _reset_other_classes(ctx: RunContext, weights: str, fresh: dict, skipped: set) -> list:
    """Weights trained on other classes with the same count (a `class_names.txt` next to them,
    written by their run, names other classes than this run's data set): their classifier
    fits by shape but would start every class from another one's weights. Re-initialised;
    returns the names."""
    names = getattr(ctx.dataset, "class_names", None)
    theirs_path = run_class_map_path(weights, num_classes=ctx.network.num_classes)
    if not names or not theirs_path:
        return []
    theirs = load_class_map(theirs_path)
    if [theirs.get(i) for i in range(len(names))] == list(names):
        return []  # the same classes: continue from their classifier
    params = dict(ctx.network.named_parameters())
    reset = [n for n in fresh if n not in skipped]
    for n in reset:
        params[n].set_value(fresh[n])
    logger.info(
        "Global.pretrained_model: its classifier is for other classes (%s: %s), not this "
        "run's (%s): re-initialised it",
        theirs_path,
        ", ".join(list(theirs.values())[:5]) + (", ..." if len(theirs) > 5 else ""),
        ", ".join(list(names)[:5]) + (", ..." if len(names) > 5 else ""),
    )
    return reset


class _ElapsedIntoCheckpoints(paddle.callbacks.Callback):
    """The run's wall time so far (before a resume included) into each checkpoint's state."""

    def __init__(self, saver: CheckpointSaver, elapsed_before: float, t0: float):
        self.saver, self.elapsed_before, self.t0 = saver, elapsed_before, t0

    def on_epoch_end(self, epoch, logs=None):
        self.saver.extra_state["elapsed_s"] = self.elapsed_before + time.time() - self.t0


def _callbacks(ctx: RunContext, state: RunState, out_root, writer, eval_epochs, t0):
    """The run's callbacks, in the order they must see each step; returns them and the
    checkpoint saver (whose history the summary reports)."""
    g = ctx.global_cfg
    epochs, steps = int(g["epochs"]), len(ctx.train_loader)
    log_freq = max(1, int(g.get("print_batch_step", 10)))
    # the whole run's time: announced after 20 measured steps, an ETA on every log line
    clock = RunClock(
        epochs,
        steps,
        state.start_epoch,
        eval_epochs,
        eval_steps=len(ctx.eval_loader) if eval_epochs else 0,
    )
    saver = CheckpointSaver(
        out_root,
        int(g.get("save_interval", 1)),
        state.start_epoch,
        eval_epochs,
        best=state.best,
        extra_state={"arch": ctx.arch_name},
        enabled=writer,
        clock=clock,
        ema=state.ema,
    )
    callbacks = [
        clock,  # first: it times each step before the others log it
        ProgressLogger(
            log_freq, verbose=2, start_epoch=state.start_epoch, total_epochs=epochs, clock=clock
        ),
        EpochSeed(ctx.seed or 0, state.start_epoch, ctx.train_loader),
        NaNGuard(state.start_epoch, out_root),
        EvalLossSwitch(ctx.eval_loss),
        _ElapsedIntoCheckpoints(saver, state.elapsed_before, t0),
        saver,
    ]
    if g.get("use_visualdl", False) and writer:
        vdl = VisualDLLogger(os.path.join(out_root, "vdl"), log_freq, state.start_epoch, steps)
        # graph, confusion matrix, PR curves, mistakes, hparams (the VisualDL: section); placed
        # before `vdl`, which closes the shared writer at the end of training
        callbacks += visual_callbacks(ctx, vdl.writer, state.start_epoch, steps)
        callbacks.append(vdl)
    if state.ema is not None:
        # last: its eval-begin swap-in and eval-end swap-out enclose every other callback's
        # view of the eval pass (the checkpoint saved at eval end holds both weight sets)
        callbacks.append(state.ema)
    return callbacks, saver


def _fit(ctx: RunContext, callbacks, epochs: int, eval_epochs, start_epoch: int) -> None:
    log_freq = max(1, int(ctx.global_cfg.get("print_batch_step", 10)))
    with _gradients_released(ctx.network):
        ctx.model.fit(
            ctx.train_loader,
            ctx.eval_loader if eval_epochs else None,
            epochs=epochs,
            eval_freq=_EvalFreq(eval_epochs, start_epoch),
            log_freq=log_freq,
            verbose=2,
            callbacks=callbacks,
        )


def _write_summary(ctx: RunContext, saver, epochs, seconds, out_root, writer) -> dict:
    """`summary.json` in the run directory (what `docs/results.md` records are made from) and
    the run's last log line."""
    last_eval = saver.history[-1]["eval"] if saver.history else None
    summary = dict(
        arch=ctx.arch_name,
        epochs=epochs,
        seconds=round(seconds, 1),
        final_eval=last_eval,
        best_metric=saver.best,
        history=saver.history,
        output_dir=out_root,
    )
    if writer:
        write_text_atomic(os.path.join(out_root, "summary.json"), json.dumps(summary, indent=1))
    if last_eval:
        logger.info(
            "done: %d epochs in %.1f min; eval %s; best top-1 %.4f",
            epochs,
            seconds / 60,
            ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()),
            saver.best or float("nan"),
        )
    return summary


def evaluate(cfg: dict) -> dict:
    """Evaluate `Global.pretrained_model` (or a checkpoint) on `DataLoader.Eval`; returns the
    metrics. The weights must fit the model exactly: the accuracy of a half-loaded model would
    be meaningless. With `VisualDL.eval_report` on, the per-class report is written too and its
    table and files are returned under "report"."""
    ctx = build_context(cfg, for_training=False)
    g = ctx.global_cfg
    weights = g.get("pretrained_model") or g.get("checkpoints")
    if not weights:
        raise ValueError(
            "Global.pretrained_model: required for evaluation "
            "(-o Global.pretrained_model=output/<Arch.name>/best)"
        )
    load_weights(ctx.network, weights, mode="strict", what="Global.pretrained_model")
    if ctx.eval_loader is None:
        raise ValueError("DataLoader.Eval: missing; evaluation needs an Eval data loader")
    ctx.model.prepare(None, ctx.eval_loss, ctx.metrics)
    # per-class table, PNGs and VisualDL records of this evaluation (VisualDL.eval_report)
    report = eval_report_callback(ctx, weights)
    res = ctx.model.evaluate(ctx.eval_loader, verbose=1, callbacks=report)
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in res.items()}
