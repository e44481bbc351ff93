"""Optimizer and learning-rate schedule from a PaddleClas `Optimizer` section.

Schedules are stepped once per iteration (paddle.Model's LRScheduler callback), so epoch-based
settings (`warmup_epoch`, `decay_epochs`, `step_size`) are converted to iterations here.
"""

from __future__ import annotations

import logging

import numpy as np
import paddle

from ..config import LR_SCHEDULES, OPTIMIZERS

__all__ = ["build_optimizer", "build_lr", "head_prefixes"]

logger = logging.getLogger("paddle_inception")


def build_lr(cfg: dict, epochs: int, steps_per_epoch: int, key_path="Optimizer.lr"):
    """`lr` section -> float or paddle LRScheduler stepped per iteration."""
    if isinstance(cfg, (int, float)):
        return float(cfg)
    cfg = dict(cfg or {})
    name = cfg.pop("name", "Constant")
    base = float(cfg.pop("learning_rate", 0.1))
    total = max(1, epochs * steps_per_epoch)
    warmup = int(round(float(cfg.pop("warmup_epoch", 0)) * steps_per_epoch))
    warmup_start = float(cfg.pop("warmup_start_lr", 0.0))
    if name == "Constant":
        sched = base
    elif name == "Cosine":
        sched = paddle.optimizer.lr.CosineAnnealingDecay(
            base, T_max=max(1, total - warmup), eta_min=float(cfg.pop("eta_min", 0.0))
        )
    elif name == "Linear":
        sched = paddle.optimizer.lr.PolynomialDecay(
            base,
            decay_steps=max(1, total - warmup),
            end_lr=float(cfg.pop("end_lr", 0.0)),
            power=float(cfg.pop("power", 1.0)),
        )
    elif name == "Piecewise":
        bounds = [int(e * steps_per_epoch) for e in cfg.pop("decay_epochs")]
        values = [
            float(v) for v in cfg.pop("values", [base * 0.1**i for i in range(len(bounds) + 1)])
        ]
        if len(values) != len(bounds) + 1:
            raise ValueError(
                f"{key_path}.values: need len(decay_epochs)+1 = {len(bounds) + 1} "
                f"values, got {len(values)}"
            )
        sched = paddle.optimizer.lr.PiecewiseDecay(bounds, values)
        base = values[0]
    elif name == "Step":
        sched = paddle.optimizer.lr.StepDecay(
            base,
            step_size=max(1, int(float(cfg.pop("step_size")) * steps_per_epoch)),
            gamma=float(cfg.pop("gamma", 0.1)),
        )
    elif name == "OneCycle":
        sched = paddle.optimizer.lr.OneCycleLR(
            base,
            total_steps=total,
            phase_pct=float(cfg.pop("phase_pct", 0.3)),
            divide_factor=float(cfg.pop("divide_factor", 25.0)),
            end_learning_rate=float(cfg.pop("end_learning_rate", base / 1e4)),
        )
        warmup = 0  # one-cycle has its own warm-up phase
    else:
        raise ValueError(
            f"{key_path}.name: unknown schedule {name!r}; known: {', '.join(LR_SCHEDULES)}"
        )
    cfg.pop("by_epoch", None)
    if cfg:
        raise ValueError(f"{key_path}: unknown keys for the {name} schedule: {sorted(cfg)}")
    if warmup > 0:
        sched = paddle.optimizer.lr.LinearWarmup(sched, warmup, warmup_start, base)
    return sched


def _decay_groups(parameters, weight_decay, names: str | None, one_dim: bool, key_path: str):
    """PaddleClas' `no_weight_decay_name` (space-separated substrings of parameter names, as
    `named_parameters()` spells them) and `one_dim_param_no_weight_decay` (biases, BN scale and
    shift): the parameters they pick form a group with weight decay 0. Returns the
    `parameters` argument for the optimizer.

    Deliberate deviation from PaddleClas: its Momentum applies `one_dim_param_no_weight_decay`
    only when `no_weight_decay_name` is set as well (alone it is silently ignored); here it
    applies on its own, as PaddleClas' RMSProp and AdamW do."""
    if isinstance(parameters, paddle.nn.Layer):
        named = list(parameters.named_parameters())
    else:  # plain parameters: their own (static) names
        named = [(p.name, p) for p in parameters]
    patterns = (names or "").split()
    if not patterns and not one_dim:
        return [p for _, p in named]
    named = [(n, p) for n, p in named if not p.stop_gradient]  # not BN's running statistics
    excluded = [
        p for n, p in named if any(s in n for s in patterns) or (one_dim and len(p.shape) == 1)
    ]
    unmatched = [s for s in patterns if not any(s in n for n, _ in named)]
    if unmatched:
        raise ValueError(
            f"{key_path}.no_weight_decay_name: {' '.join(unmatched)!r} matches no parameter "
            f"name (names look like {named[0][0]!r} and {named[-1][0]!r})"
        )
    if weight_decay is None:
        logger.warning(
            "%s: no_weight_decay_name/one_dim_param_no_weight_decay set without any weight "
            "decay (regularizer or weight_decay); they change nothing",
            key_path,
        )
    excluded_ids = {id(p) for p in excluded}
    decayed = [p for _, p in named if id(p) not in excluded_ids]
    logger.info(
        "%s: %d of %d parameter tensors (%s values) without weight decay",
        key_path,
        len(excluded),
        len(named),
        f"{sum(int(np.prod(p.shape)) for p in excluded):,}",
    )
    groups = [{"params": decayed}, {"params": excluded, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(cfg: dict, parameters, epochs: int, steps_per_epoch: int):
    """`Optimizer` section -> (optimizer, lr) where lr is a float or the LRScheduler.
    `parameters`: the network (a Layer, whose structured parameter names
    `no_weight_decay_name` matches) or a list of parameters."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    lr = build_lr(cfg.pop("lr", 0.1), epochs, steps_per_epoch)
    reg = cfg.pop("regularizer", None)
    weight_decay = cfg.pop("weight_decay", None)
    if reg:
        kind, coeff = reg.get("name", "L2"), float(reg.get("coeff", 0.0))
        weight_decay = (
            paddle.regularizer.L2Decay(coeff) if kind == "L2" else paddle.regularizer.L1Decay(coeff)
        )
    common = dict(
        learning_rate=lr,
        parameters=_decay_groups(
            parameters,
            weight_decay,
            cfg.pop("no_weight_decay_name", None),
            bool(cfg.pop("one_dim_param_no_weight_decay", False)),
            "Optimizer",
        ),
    )
    if weight_decay is not None:
        common["weight_decay"] = weight_decay
    clip = cfg.pop("clip_norm", None)
    if clip:
        common["grad_clip"] = paddle.nn.ClipGradByGlobalNorm(float(clip))
    cfg.pop("multi_precision", None)  # AMP O2 master weights: Paddle decides this itself
    backbone_mult = cfg.pop("backbone_lr_mult", None)
    if name == "Momentum":
        opt = paddle.optimizer.Momentum(
            momentum=float(cfg.pop("momentum", 0.9)),
            use_nesterov=bool(cfg.pop("use_nesterov", False)),
            **common,
        )
    elif name == "SGD":
        opt = paddle.optimizer.SGD(**common)
    elif name in ("Adam", "AdamW"):
        cls = paddle.optimizer.Adam if name == "Adam" else paddle.optimizer.AdamW
        opt = cls(
            beta1=float(cfg.pop("beta1", 0.9)),
            beta2=float(cfg.pop("beta2", 0.999)),
            epsilon=float(cfg.pop("epsilon", 1e-8)),
            **common,
        )
    elif name == "RMSProp":
        opt = paddle.optimizer.RMSProp(
            rho=float(cfg.pop("rho", 0.95)),
            epsilon=float(cfg.pop("epsilon", 1e-6)),
            momentum=float(cfg.pop("momentum", 0.0)),
            **common,
        )
    else:
        raise ValueError(
            f"Optimizer.name: unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}"
        )
    if cfg:
        raise ValueError(f"Optimizer: unknown keys for {name}: {sorted(cfg)}")
    if backbone_mult is not None and float(backbone_mult) != 1.0:
        _scale_backbone_lr(parameters, float(backbone_mult))
    if any(isinstance(g, dict) for g in common["parameters"]):
        opt.minimize = _minimize_by_step(opt)
    return opt, lr


def head_prefixes(network) -> tuple:
    """Parameter-name prefixes of a zoo model's classifiers: the head and the auxiliary heads
    (what fine-tuning re-creates for a new class count)."""
    aux = tuple(f"{head}." for _, head in getattr(network, "aux_taps", ()) or ())
    return ("head.",) + aux


def _scale_backbone_lr(network, mult: float) -> None:
    """`Optimizer.backbone_lr_mult`: every trainable parameter outside the classifier heads
    learns at `mult` x the schedule's rate (Paddle's per-parameter `optimize_attr`
    multiplier, read at each step; set after the optimizer, whose parameter groups reset it)."""
    if not isinstance(network, paddle.nn.Layer):
        raise ValueError(
            "Optimizer.backbone_lr_mult: needs the network (to tell the body from the heads)"
        )
    prefixes = head_prefixes(network)
    body = heads = 0
    for n, p in network.named_parameters():
        if p.stop_gradient:
            continue
        if n.startswith(prefixes):
            heads += 1
        else:
            p.optimize_attr["learning_rate"] = mult
            body += 1
    if not heads:
        raise ValueError(
            f"Optimizer.backbone_lr_mult: {type(network).__name__} has no trainable parameter "
            f"under {', '.join(prefixes)}: nothing would learn at the full rate"
        )
    logger.info(
        "Optimizer.backbone_lr_mult: %d body tensors learn at %g x the learning rate, %d "
        "classifier tensors (%s) at 1 x",
        body,
        mult,
        heads,
        ", ".join(p.rstrip(".") for p in prefixes),
    )


def _minimize_by_step(opt):
    """Paddle's dygraph `minimize(loss)` cannot take parameter groups (it hands the list of
    groups to the gradient collector: "must be list of Tensor, but got dict"), and
    `paddle.Model` calls it after `loss.backward()`. With the gradients already there,
    `step()` (which knows the groups) is the whole of it."""

    def minimize(loss, startup_program=None, parameters=None, no_grad_set=None):
        opt.step()
        return None, None

    return minimize
