"""Crash-safe checkpoints.

Layout under `Global.output_dir/<Arch.name>/`:

    epoch_0003/model.pdparams   model weights (loadable as `pretrained_model`); with an
                                `EMA:` section, the averaged weights (engine/ema.py)
    epoch_0003/train.pdparams   with `EMA:` only: the training weights, to resume from
    epoch_0003/model.pdopt      optimizer state, LR scheduler included
    epoch_0003/state.json       epoch, metrics, best metric so far
    latest -> epoch_0003        symlinks, each replaced atomically
    best   -> epoch_0002

An epoch directory is written completely under a temporary name and then renamed, and the
`latest`/`best` links are swapped with `os.replace`: a run killed at any instant (even SIGKILL)
leaves every link pointing at a complete checkpoint.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil

import paddle

from .._safe_files import check_dir, is_regular_file, read_bounded
from ..weights import load_state_file, load_weights

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "read_state_json",
    "resolve_checkpoint",
    "prune_checkpoints",
    "first_nonfinite",
    "NonFiniteWeights",
]


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _atomic_link(root, link_name, target_name):
    tmp = os.path.join(root, f".{link_name}.tmp-{os.getpid()}")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target_name, tmp)
    os.replace(tmp, os.path.join(root, link_name))


_PORTABLE = "@keys_by_structured_name"
TRAIN_WEIGHTS = "train.pdparams"  # beside model.pdparams when it holds averaged (EMA) weights


def _rename_keys(state: dict, mapping: dict) -> dict:
    """Rename optimizer-state keys `<old><suffix>` -> `<new><suffix>` (longest name first, so
    `conv2d_1.w_0` never captures `conv2d_11.w_0`'s accumulators)."""
    olds = sorted(mapping, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        if isinstance(value, dict):  # e.g. master_weights {name: tensor}
            out[key] = _rename_keys(value, mapping)
            continue
        for old in olds:
            if key == old or key.startswith(old + "_"):
                key = mapping[old] + key[len(old) :]
                break
        out[key] = value
    return out


def portable_optimizer_state(optimizer, model) -> dict:
    """Optimizer state keyed by structured parameter names (`conv1.conv.weight_velocity_0`)
    instead of Paddle's process-global auto names (`conv2d_118.w_0_velocity_0`), which change
    with construction order and would make a checkpoint unloadable in another process."""
    mapping = {p.name: n for n, p in model.named_parameters()}
    state = _rename_keys(optimizer.state_dict(), mapping)
    state[_PORTABLE] = True
    return state


def restore_optimizer_state(optimizer, model, state: dict, source: str | None = None) -> None:
    """Put a saved optimizer state (LR scheduler included) into `optimizer`. A state that does
    not fit (written with another Optimizer or Optimizer.lr schedule) is a ValueError naming
    `source`, not a KeyError from inside Paddle."""
    state = dict(state)
    if state.pop(_PORTABLE, False):
        state = _rename_keys(state, {n: p.name for n, p in model.named_parameters()})
    try:
        optimizer.set_state_dict(state)
    except (KeyError, ValueError, TypeError, AssertionError, RuntimeError) as e:
        detail = f"{type(e).__name__}: {e}"
        raise ValueError(
            f"Global.checkpoints: the optimizer state in {source or 'the checkpoint'} does not "
            f"fit the configured optimizer ({detail[:200]}); was it written with another "
            f"Optimizer or Optimizer.lr schedule?"
        ) from None
    _follow_new_schedule(optimizer, source)


def _follow_new_schedule(optimizer, source: str | None) -> None:
    """After a restore, the scheduler holds the checkpoint's step count and the learning rate
    its own schedule gave there. When the run's schedule differs (more epochs: a longer cosine),
    that rate is recomputed on the run's schedule for the same step, so the first step after
    resuming does not use the old schedule's rate; an unchanged schedule keeps the restored
    state bit for bit."""
    sched = getattr(optimizer, "_learning_rate", None)
    if not isinstance(sched, paddle.optimizer.lr.LRScheduler) or isinstance(
        sched, paddle.optimizer.lr.ReduceOnPlateau
    ):
        return
    restored = copy.deepcopy(sched.state_dict())
    old_lr = float(sched.last_lr)
    sched.step(sched.last_epoch)  # the closed form at the restored step, on this schedule
    new_lr = float(sched.last_lr)
    if abs(new_lr - old_lr) <= 1e-6 * max(abs(old_lr), abs(new_lr), 1e-12):
        sched.set_state_dict(restored)
        return
    logging.getLogger("paddle_inception").info(
        "Global.checkpoints: %s was written on another learning-rate schedule; step %d "
        "continues on this run's: lr %.6g (the checkpoint's schedule had %.6g)",
        source or "the checkpoint",
        sched.last_epoch,
        new_lr,
        old_lr,
    )


class NonFiniteWeights(ValueError):
    """The weights to save hold nan or inf: they are not written (`tensor`: the first such)."""

    def __init__(self, message: str, tensor: str = ""):
        super().__init__(message)
        self.tensor = tensor


def first_nonfinite(state: dict) -> str | None:
    """The name of the first floating-point tensor of `state` holding nan or inf, else None."""
    for key, value in state.items():
        if isinstance(value, paddle.Tensor) and paddle.is_floating_point(value):
            if value.size and not bool(paddle.isfinite(value).all()):
                return key
    return None


def save_checkpoint(
    root: str,
    epoch: int,
    model,
    optimizer=None,
    state: dict | None = None,
    links=("latest",),
    ema=None,
) -> str:
    """Write `root/epoch_{epoch:04d}` atomically and point `links` at it; returns its path.
    With `ema` (an engine.ema.ModelEMA), `model.pdparams` holds its averaged weights and
    `train.pdparams` the training weights."""
    # checked before anything is written: `latest`/`best` only ever point at finite weights
    weights = [model.state_dict()] if ema is None else [ema.averaged_state(), ema.training_state()]
    for tensors in weights:
        bad = first_nonfinite(tensors)
        if bad is not None:
            raise NonFiniteWeights(
                f"epoch {epoch}: the weights are not finite ({bad} holds nan or inf); "
                f"not saved as a checkpoint",
                bad,
            )
    os.makedirs(root, exist_ok=True)
    name = f"epoch_{epoch:04d}"
    final = os.path.join(root, name)
    tmp = os.path.join(root, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_epoch_dir(tmp, model, optimizer, state, epoch, ema)
    except OSError as e:  # a full disk, a read-only folder: no half-written directory stays
        shutil.rmtree(tmp, ignore_errors=True)
        if e.filename is None:  # paddle.save's write errors name no file: name the checkpoint
            raise type(e)(e.errno, e.strerror or str(e), final) from e
        raise
    except BaseException:  # Ctrl-C, SIGTERM
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(final):  # an older run's directory with the same epoch: set it aside
        old = os.path.join(root, f".{name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    for link in links:
        _atomic_link(root, link, name)
    _fsync_dir(root)
    return final


def _write_epoch_dir(tmp: str, model, optimizer, state, epoch: int, ema) -> None:
    os.makedirs(tmp)
    if ema is None:
        paddle.save(model.state_dict(), os.path.join(tmp, "model.pdparams"))
    else:
        paddle.save(ema.averaged_state(), os.path.join(tmp, "model.pdparams"))
        paddle.save(ema.training_state(), os.path.join(tmp, TRAIN_WEIGHTS))
        state = dict(state or {}, ema_updates=ema.updates)
    if optimizer is not None:
        paddle.save(portable_optimizer_state(optimizer, model), os.path.join(tmp, "model.pdopt"))
    with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
        json.dump(dict(state or {}, epoch=epoch), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    for fname in os.listdir(tmp):
        with open(os.path.join(tmp, fname), "rb") as f:
            os.fsync(f.fileno())
    _fsync_dir(tmp)


def prune_checkpoints(root: str, keep_every: int) -> None:
    """Delete epoch directories not linked by latest/best and not on the save_interval grid."""
    linked = {
        os.path.basename(os.path.realpath(os.path.join(root, link)))
        for link in ("latest", "best")
        if os.path.lexists(os.path.join(root, link))
    }
    for name in os.listdir(root):
        if not name.startswith("epoch_") or name in linked:
            continue
        epoch = int(name.split("_")[1])
        if keep_every <= 0 or (epoch % keep_every) != 0:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        # leftovers of killed runs (.epoch_*.tmp-PID) are removed by runlock.clean_leftovers
        # when the run directory is next locked


def resolve_checkpoint(path: str) -> str:
    """A checkpoint directory from a dir, a link, or a PaddleClas-style prefix (`.../latest`)."""
    p = os.fspath(path)
    for cand in (
        p,
        p[: -len(".pdparams")] if p.endswith(".pdparams") else None,
        os.path.dirname(p) if p.endswith("model.pdparams") else None,
    ):
        if cand and os.path.isdir(cand) and os.path.isfile(os.path.join(cand, "model.pdparams")):
            return os.path.realpath(cand)
    if os.path.exists(p) and not os.path.isdir(p) and not is_regular_file(p):
        check_dir(p, "Global.checkpoints")  # a FIFO or a device: named as such
    raise FileNotFoundError(
        f"Global.checkpoints: no checkpoint at {p!r} (expected a directory "
        f"with model.pdparams, such as output/<Arch.name>/latest)"
    )


def load_checkpoint(
    path: str, model, optimizer=None, trusted: bool = False, ema_decay: float | None = None
) -> dict:
    """Resume: restore model (+ optimizer and LR scheduler) strictly, and return the saved state
    (epoch, metrics). A checkpoint that does not fit the model exactly (another class count,
    another model) is an error listing the tensors: resuming it would train random heads.

    The model gets the training weights (`train.pdparams` where the run averaged its weights,
    else `model.pdparams`). With `ema_decay` (the run's `EMA.decay`) the returned state has
    `"ema"`: an engine.ema.ModelEMA holding the checkpoint's averaged weights, or starting from
    the restored weights when the checkpoint has none."""
    from .ema import ModelEMA

    log = logging.getLogger("paddle_inception")
    ckpt = resolve_checkpoint(path)
    state = read_state_json(os.path.join(ckpt, "state.json"))  # first: cheap, and loads nothing
    averaged = os.path.join(ckpt, "model.pdparams")
    training = os.path.join(ckpt, TRAIN_WEIGHTS)
    has_average = os.path.isfile(training)

    def load(file):
        load_weights(model, file, mode="strict", trusted=trusted, what="Global.checkpoints")

    if ema_decay is not None and has_average:
        # the average goes through the model first (the same strict check as any weights file);
        # ModelEMA keeps a copy of it, then the training weights replace it in the model
        load(averaged)
        state["ema"] = ModelEMA(model, ema_decay, updates=state.get("ema_updates") or 0)
    load(training if has_average else averaged)
    if ema_decay is not None and not has_average:
        log.info(
            "Global.checkpoints: %s has no averaged weights; the average starts from its weights",
            ckpt,
        )
        state["ema"] = ModelEMA(model, ema_decay)
    elif ema_decay is None and has_average:
        log.warning(
            "Global.checkpoints: %s was trained with EMA; this run has no EMA section, so it "
            "resumes the training weights (%s) and the average is not continued",
            ckpt,
            TRAIN_WEIGHTS,
        )
    opt_file = os.path.join(ckpt, "model.pdopt")
    if optimizer is not None and os.path.isfile(opt_file):
        opt_state = load_state_file(opt_file, trusted=trusted)
        restore_optimizer_state(optimizer, model, opt_state, source=opt_file)
    elif optimizer is not None:
        logging.getLogger("paddle_inception").warning(
            "Global.checkpoints: %s has no model.pdopt: the optimizer and learning-rate schedule "
            "start afresh",
            ckpt,
        )
    return state


_MAX_STATE_BYTES = 16 * 2**20


def read_state_json(path: str) -> dict:
    """A checkpoint's state.json: a JSON object whose `epoch` is a non-negative int (and
    `best_metric`, `elapsed_s`, when present, numbers). Anything
    else (missing, huge, 100,000-deep, not JSON) is a ValueError / FileNotFoundError naming the
    file, never a RecursionError."""
    try:  # a FIFO or a device in its place: one line, never a blocking open
        raw = read_bounded(path, _MAX_STATE_BYTES, "Global.checkpoints", kind="checkpoint state")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Global.checkpoints: {path} is missing (not a complete checkpoint directory)"
        ) from None
    try:
        state = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"Global.checkpoints: {path}: JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"Global.checkpoints: {path}: not valid JSON ({e})") from None
    epoch = state.get("epoch") if isinstance(state, dict) else None
    if type(epoch) is not int or epoch < 0:
        raise ValueError(
            f"Global.checkpoints: {path}: expected a JSON object with a non-negative integer "
            f"'epoch' (as training writes it)"
        )
    updates = state.get("ema_updates")
    if updates is not None and (type(updates) is not int or updates < 0):
        raise ValueError(
            f"Global.checkpoints: {path}: 'ema_updates' must be a non-negative integer"
        )
    for key in ("best_metric", "elapsed_s"):
        value = state.get(key)
        if value is not None and type(value) not in (int, float):
            raise ValueError(
                f"Global.checkpoints: {path}: {key!r} must be a number, got {type(value).__name__}"
            )
    return state
