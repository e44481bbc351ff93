"""paddle.Model callbacks: progress, VisualDL, checkpoints, NaN guard, per-epoch seeding.

Epochs are numbered from 1 in logs and checkpoint names; `start_epoch` (the number of epochs
already done, when resuming) offsets everything, so a resumed run reads like an uninterrupted
one.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import logging
import math
import os
import random
import time

import numpy as np
import paddle
from paddle.callbacks import Callback, ModelCheckpoint, ProgBarLogger

from .checkpoint import NonFiniteWeights, prune_checkpoints, save_checkpoint

logger = logging.getLogger("paddle_inception")

__all__ = [
    "RunClock",
    "format_duration",
    "ProgressLogger",
    "EpochSeed",
    "VisualDLLogger",
    "CheckpointSaver",
    "NaNGuard",
    "TrainingDiverged",
    "EvalLossSwitch",
    "current_lr",
]


class TrainingDiverged(RuntimeError):
    pass


def current_lr(model) -> float:
    opt = model._optimizer
    return float(opt.get_lr()) if opt is not None else float("nan")


def _scalar(v):
    if isinstance(v, (list, tuple)):
        v = v[0]
    return float(np.asarray(v).reshape(-1)[0])


def format_duration(seconds: float) -> str:
    """4242 -> '1 h 10 min'; 542 -> '9.0 min'; 42 -> '42 s'."""
    if seconds >= 3600:
        h, m = divmod(int(round(seconds / 60)), 60)
        return f"{h} h {m:02d} min"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


class RunClock(Callback):
    """Whole-run time: measures training steps (after `warmup` steps) and eval passes, says
    once after `probe` measured steps what the run will take, and gives the ETA that every
    progress and checkpoint line carries.

    A step is timed from the previous step's end (or the epoch's start) to its own end, so it
    holds everything a run spends per step: loading the batch and all callbacks (an EMA
    update, logging) besides forward, backward and the optimizer. Place it first among the
    callbacks. (Timing from its own batch begin to batch end left out the data loading and
    the callbacks after it: a 44 px EMA run projected 55.8 min at start-up and took 61.2.)

    Eval time is measured at the first eval; until then it is estimated as a third of a
    training step per eval batch (a forward pass without backward). `eval_epochs` are the
    absolute epoch numbers that evaluate; `hint_over_s`: above it, the start-up line says how
    many epochs fit in that time at the measured speed."""

    def __init__(
        self,
        total_epochs: int,
        steps_per_epoch: int,
        start_epoch: int = 0,
        eval_epochs=(),
        eval_steps: int = 0,
        warmup: int = 3,
        probe: int = 20,
        hint_over_s: float = 3600.0,
    ):
        self.total_epochs, self.steps = int(total_epochs), int(steps_per_epoch)
        self.start_epoch, self.epoch = start_epoch, start_epoch
        self.eval_epochs, self.eval_steps = set(eval_epochs), int(eval_steps)
        self.warmup, self.probe, self.hint_over_s = warmup, probe, hint_over_s
        self.step_times: list[float] = []
        self.eval_seconds: float | None = None
        self.steps_done = 0  # in the current epoch
        self._t = None  # where the step under way started: the previous step's end
        self._eval_t = None
        self._evaluated: set[int] = set()  # epochs whose eval has run
        self._seen = 0
        self.announced = False

    # -- measurements
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + self.start_epoch + 1
        self.steps_done = 0
        self._t = time.perf_counter()

    def on_train_batch_end(self, step, logs=None):
        now = time.perf_counter()
        self.steps_done = step + 1
        self._seen += 1
        if self._t is not None and self._seen > self.warmup:
            self.step_times.append(now - self._t)
            if len(self.step_times) > 500:  # the recent speed
                del self.step_times[:100]
        if not self.announced and len(self.step_times) >= self.probe:
            self.announced = True
            logger.info(self.projection())
        self._t = now

    def on_eval_begin(self, logs=None):
        self._eval_t = time.perf_counter()

    def on_eval_end(self, logs=None):
        if self._eval_t is not None:
            self.eval_seconds = time.perf_counter() - self._eval_t
        self._evaluated.add(self.epoch)

    # -- estimates
    def step_seconds(self) -> float | None:
        if not self.step_times:
            return None
        return float(np.median(self.step_times))

    def _eval_estimate(self) -> float:
        if self.eval_seconds is not None:
            return self.eval_seconds
        step = self.step_seconds() or 0.0
        return self.eval_steps * step / 3.0

    def epoch_seconds(self) -> float | None:
        step = self.step_seconds()
        return None if step is None else self.steps * step

    def remaining_seconds(self) -> float | None:
        """Seconds to the end of the run from now (training steps left and evals left)."""
        step = self.step_seconds()
        if step is None:
            return None
        epochs_left_after = self.total_epochs - self.epoch  # whole epochs after this one
        steps_left = max(0, self.steps - self.steps_done) + epochs_left_after * self.steps
        evals_left = sum(1 for e in self.eval_epochs - self._evaluated if e >= self.epoch)
        return steps_left * step + evals_left * self._eval_estimate()

    def eta(self) -> str:
        left = self.remaining_seconds()
        if left is None:
            return "measuring"
        end = datetime.datetime.now() + datetime.timedelta(seconds=left)
        return f"{format_duration(left)} left, ends ~{end:%H:%M}"

    def projection(self) -> str:
        step, epoch = self.step_seconds(), self.epoch_seconds()
        n = self.total_epochs - self.start_epoch
        evals = len(self.eval_epochs)
        total = n * epoch + evals * self._eval_estimate()
        msg = (
            f"time: {n} epoch{'s' if n != 1 else ''} of {self.steps} steps, "
            f"~{format_duration(epoch)} each measured over {len(self.step_times)} steps "
            f"({step:.3f} s/step) plus {evals} eval pass{'es' if evals != 1 else ''} "
            f"(~{format_duration(self._eval_estimate())} each, "
            f"{'measured' if self.eval_seconds is not None else 'estimated'}): "
            f"~{format_duration(total)} in all; {self.eta()}"
        )
        if total > self.hint_over_s:
            per = epoch + (self._eval_estimate() if evals else 0.0)
            fit = max(1, int(self.hint_over_s // per)) if per > 0 else n
            msg += (
                f". That is over {format_duration(self.hint_over_s)} on this CPU: "
                f"-o Global.epochs={fit} fits in about {format_duration(self.hint_over_s)}"
            )
        return msg


class ProgressLogger(ProgBarLogger):
    """paddle's progress bar, with absolute epoch numbers when resuming and, given a
    `RunClock`, the whole run's ETA on every line."""

    def __init__(self, log_freq=10, verbose=2, start_epoch=0, total_epochs=None, clock=None):
        super().__init__(log_freq, verbose)
        self.start_epoch = start_epoch
        self.total_epochs = total_epochs
        self.clock = clock

    def _updates(self, logs, mode):
        if self.clock is not None and mode == "train":
            # ProgBarLogger prints the keys of `train_metrics` found in the logs: add ours
            logs = dict(logs or {}, run=self.clock.eta())
            if "run" not in self.train_metrics:
                self.train_metrics = list(self.train_metrics) + ["run"]
        super()._updates(logs, mode)

    def on_train_begin(self, logs=None):
        # ProgBarLogger prints how to read its lines (current-step loss, averaged metrics) at
        # every start; the README says it once
        with contextlib.redirect_stdout(io.StringIO()):
            super().on_train_begin(logs)
        if self.total_epochs:
            self.epochs = self.total_epochs

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch + self.start_epoch, logs)


class EpochSeed(Callback):
    """Reseed numpy/random/paddle from (seed, epoch) so a resumed run shuffles like the
    uninterrupted one would have."""

    def __init__(self, seed: int, start_epoch: int = 0, loader=None):
        self.seed, self.start_epoch, self.loader = int(seed), start_epoch, loader

    def on_epoch_begin(self, epoch, logs=None):
        absolute = epoch + self.start_epoch
        s = self.seed + 1000 * absolute
        np.random.seed(s % 2**32)
        random.seed(s)
        paddle.seed(s)
        from ..data import seed_transforms

        seed_transforms(s)  # random crops/flips (workers derive from it)
        sampler = getattr(self.loader, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):  # DistributedBatchSampler shuffles by epoch
            sampler.set_epoch(absolute)


def last_good_checkpoint(root: str | None) -> str:
    """'the last good checkpoint is <dir> (epoch N)' or 'no checkpoint was written yet':
    `latest` only ever points at finite weights (save_checkpoint refuses others)."""
    last = os.path.join(root, "latest") if root else None
    if not last or not os.path.isdir(last):
        return "no checkpoint was written yet"
    target = os.path.realpath(last)
    epoch = os.path.basename(target).rpartition("_")[2]
    return f"the last good checkpoint is {target} (epoch {int(epoch) if epoch.isdigit() else '?'})"


class NaNGuard(Callback):
    """Stop the run when the training loss is NaN/inf, naming the epoch and step."""

    def __init__(self, start_epoch=0, ckpt_root=None):
        self.start_epoch, self.ckpt_root, self.epoch = start_epoch, ckpt_root, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + self.start_epoch + 1

    def on_train_batch_end(self, step, logs=None):
        loss = _scalar((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            kept = last_good_checkpoint(self.ckpt_root)
            raise TrainingDiverged(
                f"training loss became {loss} at epoch {self.epoch}, step "
                f"{step + 1}; stopping ({kept}). Lower the learning rate or "
                f"check the data"
            )


class EvalLossSwitch(Callback):
    """paddle.Model has one loss for train and eval: swap in `Loss.Eval` while evaluating."""

    def __init__(self, eval_loss):
        self.eval_loss, self._train_loss = eval_loss, None

    def on_eval_begin(self, logs=None):
        self._train_loss, self.model._loss = self.model._loss, self.eval_loss

    def on_eval_end(self, logs=None):
        if self._train_loss is not None:
            self.model._loss = self._train_loss


class VisualDLLogger(Callback):
    """Scalars for VisualDL: train/loss, train/top-k and train/lr per logged step,
    eval/loss and eval/top-k per epoch (x axis: global step, resp. epoch)."""

    def __init__(self, logdir, log_freq=10, start_epoch=0, steps_per_epoch=0):
        from visualdl import LogWriter

        self.writer = LogWriter(logdir=logdir)
        self.log_freq, self.start_epoch = max(1, log_freq), start_epoch
        self.global_step = start_epoch * steps_per_epoch
        self.epoch = start_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + self.start_epoch + 1

    def on_train_batch_end(self, step, logs=None):
        self.global_step += 1
        self.writer.add_scalar("train/lr", current_lr(self.model), self.global_step)
        if self.global_step % self.log_freq == 0:
            for k, v in (logs or {}).items():
                if k in ("batch_size", "step"):
                    continue
                self.writer.add_scalar(f"train/{k}", _scalar(v), self.global_step)

    def on_eval_end(self, logs=None):
        for k, v in (logs or {}).items():
            if k in ("batch_size", "step"):
                continue
            self.writer.add_scalar(f"eval/{k}", _scalar(v), self.epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


class CheckpointSaver(ModelCheckpoint):
    """Saves `latest` every epoch (after that epoch's eval, if any), keeps every
    `save_interval`-th epoch, and `best` by eval top-1. Subclasses ModelCheckpoint so that
    paddle.Model does not add its own non-atomic saver."""

    def __init__(
        self,
        root,
        save_interval=1,
        start_epoch=0,
        eval_epochs=(),
        best=None,
        monitor="top1",
        extra_state=None,
        enabled=True,
        clock=None,
        ema=None,
    ):
        super().__init__(save_freq=save_interval, save_dir=None)
        self.ema = ema  # an engine.ema.ModelEMA: model.pdparams are then its averaged weights
        self.clock = clock  # a RunClock: its ETA goes into the checkpoint line
        self.enabled = enabled  # False on data-parallel ranks other than 0
        self.root, self.save_interval = root, max(1, int(save_interval))
        self.start_epoch, self.eval_epochs = start_epoch, set(eval_epochs)
        self.best, self.monitor = best, monitor
        self.extra_state = dict(extra_state or {})
        self.epoch, self.train_logs = start_epoch, {}
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + self.start_epoch + 1

    def on_epoch_end(self, epoch, logs=None):
        self.train_logs = {
            k: _scalar(v) for k, v in (logs or {}).items() if k not in ("batch_size", "step")
        }
        if self.epoch not in self.eval_epochs:
            self._save(None)

    def on_eval_end(self, logs=None):
        if self.epoch in self.eval_epochs:
            self._save(
                {k: _scalar(v) for k, v in (logs or {}).items() if k not in ("batch_size", "step")}
            )

    def _save(self, eval_logs):
        if not self.enabled:
            return
        links = ["latest"]
        score = (eval_logs or {}).get(self.monitor)
        # a nan score never becomes `best` (every later comparison with it would be False)
        if score is not None and math.isfinite(score) and (self.best is None or score > self.best):
            self.best = score
            links.append("best")
        state = dict(
            self.extra_state,
            train=self.train_logs,
            eval=eval_logs,
            best_metric=self.best,
            monitor=self.monitor,
            lr=current_lr(self.model),
        )
        try:
            path = save_checkpoint(
                self.root,
                self.epoch,
                self.model.network,
                self.model._optimizer,
                state,
                links=links,
                ema=self.ema,
            )
        except NonFiniteWeights as e:
            raise TrainingDiverged(
                f"{e} ({last_good_checkpoint(self.root)}). Lower the learning rate or check "
                f"the data"
            ) from None
        self.history.append(dict(epoch=self.epoch, eval=eval_logs, train=self.train_logs))
        prune_checkpoints(self.root, self.save_interval)
        msg = f"epoch {self.epoch}: checkpoint {path}"
        if eval_logs:
            msg += " (" + ", ".join(f"eval {k} {v:.4f}" for k, v in eval_logs.items()) + ")"
        if self.clock is not None:
            msg += f"; run: {self.clock.eta()}"
        logger.info(msg + (" [best]" if "best" in links else ""))

    def on_train_end(self, logs=None):
        pass
