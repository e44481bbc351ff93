"""paddle.Model glue for the VisualDL pictures of `visual.py` (issue 14): the model graph,
`EvalTap` (collects eval predictions without a second pass), the training callback
`VisualDLPictures`, the tools/eval.py report `EvalReport`, and the two hooks
`engine/trainer.py` calls: `visual_callbacks` and `eval_report_callback`.

Tags, switches and defaults: see `paddle_inception/analysis/visual.py`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
import warnings

import numpy as np
import paddle
from paddle.callbacks import Callback

from ..analysis.visual import (
    EvalCollector,
    class_names_for,
    class_tags,
    format_class_table,
    hparams_from_config,
    mistake_captions,
    per_class_metrics,
    pr_curve_tags,
    render_confusion_matrix,
    render_mistakes,
    render_pr_curves,
    save_png,
)
from ..config import check_section
from .checkpoint import read_state_json

logger = logging.getLogger("paddle_inception.visual")

__all__ = [
    "log_graph",
    "EvalTap",
    "VisualDLPictures",
    "EvalReport",
    "write_eval_records",
    "visual_callbacks",
    "eval_report_callback",
]


# ==================================================================================== graph
def _rng_states():
    return paddle.get_rng_state(), np.random.get_state(), random.getstate()


def _set_rng_states(states):
    paddle.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


def _unwind_name_scopes():
    """VisualDL's tracing hooks enter a static name scope per layer and leave it in a post-hook;
    a forward that raises leaves scopes entered, which would prefix every later trace."""
    try:
        from visualdl.component.graph import utils as graph_utils
    except ImportError:  # pragma: no cover
        return
    stack = getattr(graph_utils, "_name_scope_stack", None)
    while stack:
        stack.pop().__exit__(None, None, None)


def log_graph(writer, network, image_shape) -> float | None:
    """Write the network's graph (GRAPHS tab) with input [-1, *image_shape]; returns the
    seconds it took, or None when it failed (a warning says why; training goes on).

    VisualDL traces with paddle.jit.to_static and renames/hooks every sublayer, so this works
    on a deep copy; the copy's layers are in eval mode (BN with running statistics, dropout
    as identity) while its top level says training, so models with auxiliary heads show them
    (GoogLeNet: logits, aux1, aux2). It runs in its own unique-name and name-scope namespaces
    (a second trace in the process is named as the first), and the RNG states are restored
    afterwards: the training run does not see it."""
    from paddle.base import framework

    t0 = time.time()
    states = _rng_states()
    scopes, framework._name_scope = framework._name_scope, framework.NameScope()
    try:
        with paddle.utils.unique_name.guard():
            net = copy.deepcopy(network)
            net.eval()
            net.training = True  # top level only: forward returns (logits, *aux) if it has aux
            spec = [
                paddle.static.InputSpec([-1] + [int(s) for s in image_shape], "float32", "image")
            ]
            try:
                from paddle.pir_utils import OldIrGuard  # VisualDL 2.5.3 parses .pdmodel
            except ImportError:  # pragma: no cover - older Paddle
                import contextlib

                OldIrGuard = contextlib.nullcontext
            with OldIrGuard(), warnings.catch_warnings():
                # VisualDL calls to_static(net, spec) without full_graph=True, and Paddle warns
                # that the spec then has no effect; the trace is right all the same
                warnings.filterwarnings("ignore", message="full_graph=False")
                writer.add_graph(net, spec)
        return time.time() - t0
    except Exception as e:  # the graph is a nice-to-have: never stop a run for it
        last = (str(e).strip().splitlines() or [""])[-1].strip()  # dy2static: reason last
        logger.warning("VisualDL: the model graph was not written (%s: %s)", type(e).__name__, last)
        return None
    finally:
        _unwind_name_scopes()
        framework._name_scope = scopes
        _set_rng_states(states)


# ======================================================================= paddle.Model glue
class _CollectorMetric(paddle.metric.Metric):
    """A metric with no name: paddle.Model adds nothing to its logs, but hands it the outputs
    and labels of every eval batch. The first output is the main logits."""

    def __init__(self, tap):
        super().__init__()
        self.tap = tap

    def compute(self, *inputs):
        return inputs[0], inputs[-1]

    def update(self, logits, labels, *args):
        self.tap._batch(logits, labels)
        return []

    def accumulate(self):
        return []

    def reset(self):
        pass

    def name(self):
        return []


class EvalTap:
    """Attaches an `EvalCollector` to a paddle.Model for the duration of one eval pass:
    `attach(model)` in on_eval_begin, `detach()` in on_eval_end."""

    def __init__(self, collector: EvalCollector):
        self.collector = collector
        self._model, self._metric, self._hooks = None, None, []
        self._images, self._features = None, None
        self.seconds = 0.0  # spent in the hooks and the collector (overhead accounting)

    def attach(self, model):
        self.detach()
        self.collector.reset()
        self._model = model
        self._metric = _CollectorMetric(self)
        model._metrics = list(model._metrics) + [self._metric]
        net = model.network
        if self.collector.k > 0:
            self._hooks.append(net.register_forward_pre_hook(self._grab_images))
        head = getattr(net, "head", None)
        if self.collector.n_emb > 0 and head is not None:
            self._hooks.append(head.register_forward_pre_hook(self._grab_features))

    def detach(self):
        for h in self._hooks:
            h.remove()
        self._hooks = []
        if self._model is not None and self._metric is not None:
            self._model._metrics = [m for m in self._model._metrics if m is not self._metric]
        self._model, self._metric, self._images, self._features = None, None, None, None

    def _grab_images(self, layer, inputs):
        self._images = inputs[0]

    def _grab_features(self, layer, inputs):
        if self.collector.wants_features():
            t0 = time.perf_counter()
            x = inputs[0]
            x = x.mean(axis=[2, 3]) if len(x.shape) == 4 else x.reshape([x.shape[0], -1])
            self._features = x.numpy()
            self.seconds += time.perf_counter() - t0

    def _batch(self, logits, labels):
        t0 = time.perf_counter()
        images, features = self._images, self._features
        self._images = self._features = None
        self.collector.add_batch(logits, labels, images, features)
        self.seconds += time.perf_counter() - t0


def _write_pr_curves(writer, collector: EvalCollector, tags, step):
    from visualdl.component.base_component import pr_curve_raw

    walltime = round(time.time() * 1000)
    for tag, cur in zip(tags, collector.pr_curves()):
        writer._get_file_writer().add_record(
            pr_curve_raw(
                tag=tag,
                tp=cur["tp"],
                fp=cur["fp"],
                tn=cur["tn"],
                fn=cur["fn"],
                precision=cur["precision"],
                recall=cur["recall"],
                step=int(step),
                walltime=walltime,
            )
        )


def write_eval_records(writer, collector: EvalCollector, class_names, step, opts) -> dict:
    """The per-eval records (confusion matrix, per-class table and scalars, PR curves, worst
    mistakes) for one finished eval pass; returns the per-class metrics."""
    cm = collector.cm
    m = per_class_metrics(cm)
    if opts.get("confusion_matrix", True):
        writer.add_image(
            "eval/confusion_matrix",
            render_confusion_matrix(
                cm,
                class_names,
                f"confusion matrix, epoch {step} (top-1 {100 * m['overall_accuracy']:.2f}%)",
            ),
            int(step),
        )
        writer.add_text(
            "eval/confusion_matrix_counts",
            json.dumps({"classes": list(class_names), "matrix": cm.tolist()}),
            int(step),
        )
        writer.add_text("eval/per_class", format_class_table(cm, class_names), int(step))
        for tag, acc in zip(class_tags("eval_class_acc", class_names), m["accuracy"]):
            if math.isfinite(acc):  # NaN: no image of the class
                writer.add_scalar(tag, float(acc), int(step))
    if opts.get("pr_curves", True):
        _write_pr_curves(writer, collector, pr_curve_tags(class_names), step)
    if int(opts.get("worst_mistakes", 0) or 0) > 0:
        items = collector.mistakes()
        caps = mistake_captions(items, class_names)
        writer.add_image(
            "eval/worst_mistakes",
            render_mistakes(items, class_names, title=f"most confident mistakes, epoch {step}"),
            int(step),
        )
        writer.add_text(
            "eval/worst_mistakes_list",
            "\n".join(
                f"{k + 1}. eval image {it['index']}: {cap}"
                for k, (it, cap) in enumerate(zip(items, caps))
            )
            or "no mistakes",
            int(step),
        )
    return m


class VisualDLPictures(Callback):
    """Training-run records beyond scalars (see the module docstring), into `writer` (the
    `VisualDLLogger`'s, so VisualDL shows them as the same run). Put it before the
    `VisualDLLogger` in the callback list: that one closes the writer at the end of training."""

    def __init__(
        self,
        writer,
        class_names,
        image_shape,
        opts=None,
        hparams=None,
        start_epoch=0,
        steps_per_epoch=0,
    ):
        self.writer, self.class_names = writer, list(class_names)
        self.image_shape = list(image_shape)
        self.opts = visualdl_options(opts)
        self.hparams = hparams or {}
        self.start_epoch, self.steps = start_epoch, int(steps_per_epoch)
        self.epoch = start_epoch
        k = int(self.opts["worst_mistakes"] or 0)
        self.tap = EvalTap(
            EvalCollector(
                len(self.class_names), mistakes=k, embeddings=int(self.opts["embeddings"] or 0)
            )
        )
        self.wants_eval = bool(
            self.opts["confusion_matrix"] or self.opts["pr_curves"] or k or self.opts["embeddings"]
        )
        self.seconds = {"graph": 0.0, "eval": 0.0, "histograms": 0.0}  # see `overhead`
        self._grad_hooks, self._grads = [], {}
        self._last_features = None

    # ---- once per run
    def on_train_begin(self, logs=None):
        if self.opts["graph"]:
            took = log_graph(self.writer, self.model.network, self.image_shape)
            if took is not None:
                self.seconds["graph"] = took
                logger.info("VisualDL: model graph written (%.1f s)", took)
        if self.opts["hparams"] and self.hparams:
            names = self.model._metrics_name()
            metrics = [f"eval/{n}" for n in names] + (["train/loss"] if "loss" in names else [])
            self.writer.add_hparams(dict(self.hparams), metrics)

    def on_train_end(self, logs=None):
        self._remove_grad_hooks()
        t0 = time.time()
        if self._last_features is not None:
            mat, labels, preds = self._last_features
            if len(mat):
                self.writer.add_embeddings(
                    "eval/embeddings",
                    mat=mat,
                    metadata=[
                        [self.class_names[i] for i in labels],
                        [self.class_names[i] for i in preds],
                    ],
                    metadata_header=["label", "prediction"],
                )
        self.writer.flush()
        self.seconds["eval"] += time.time() - t0
        o = self.overhead()
        logger.info(
            "VisualDL pictures took %.2f s: graph %.2f s, eval collection %.2f s, eval "
            "records %.2f s, histograms %.2f s",
            sum(o.values()),
            o["graph"],
            o["eval_collect"],
            o["eval_records"],
            o["histograms"],
        )

    def overhead(self) -> dict:
        """Seconds spent in this callback so far, by part (its own cost: hooks, collection,
        rendering and writing; the training loop's time is not included)."""
        return dict(
            graph=self.seconds["graph"],
            eval_collect=self.tap.seconds,
            eval_records=self.seconds["eval"],
            histograms=self.seconds["histograms"],
        )

    # ---- per epoch
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + self.start_epoch + 1

    def _histograms_due(self) -> bool:
        n = int(self.opts["histogram_interval"] or 0)
        return n > 0 and self.epoch % n == 0

    def on_train_batch_begin(self, step, logs=None):
        # gradients of the epoch's last step (they are cleared right after each step)
        if self._histograms_due() and self.steps and step == self.steps - 1:
            self._grads = {}
            for name, p in self.model.network.named_parameters():
                if not p.stop_gradient and len(p.shape) >= 2:
                    self._grad_hooks.append(p.register_hook(self._grad_hook(name)))

    def _grad_hook(self, name):
        def hook(grad):
            t0 = time.perf_counter()
            self._grads[name] = grad.numpy().reshape(-1).copy()
            self.seconds["histograms"] += time.perf_counter() - t0

        return hook

    def _remove_grad_hooks(self):
        for h in self._grad_hooks:
            h.remove()
        self._grad_hooks = []

    def on_train_batch_end(self, step, logs=None):
        if self._grad_hooks:
            self._remove_grad_hooks()

    def on_epoch_end(self, epoch, logs=None):
        if not self._histograms_due():
            return
        t0 = time.time()
        for name, p in self.model.network.named_parameters():
            if not p.stop_gradient and len(p.shape) >= 2:
                self.writer.add_histogram(
                    f"weights/{name}", p.numpy().reshape(-1), self.epoch, buckets=30
                )
        for name, g in sorted(self._grads.items()):
            self.writer.add_histogram(f"grads/{name}", g, self.epoch, buckets=30)
        self._grads = {}
        self.seconds["histograms"] += time.time() - t0

    # ---- per eval
    def on_eval_begin(self, logs=None):
        if self.wants_eval:
            self.tap.attach(self.model)

    def on_eval_end(self, logs=None):
        if not self.wants_eval:
            return
        self.tap.detach()
        t0 = time.time()
        col = self.tap.collector
        if col.seen:
            write_eval_records(self.writer, col, self.class_names, self.epoch, self.opts)
            if col.n_features:
                self._last_features = (
                    col.embedding_matrix(),
                    list(col.feature_labels),
                    list(col.feature_preds),
                )
            self.writer.flush()
        self.seconds["eval"] += time.time() - t0


class EvalReport(Callback):
    """tools/eval.py: after the eval pass, the per-class table (logged), PNG files
    (confusion_matrix.png, pr_curves.png, worst_mistakes.png, per_class.txt) and a VisualDL
    record (`<out_dir>/vdl`) with the same tags as a training run's eval."""

    def __init__(self, out_dir, class_names, opts=None, step=0, title=""):
        self.out_dir, self.class_names = out_dir, list(class_names)
        self.opts = visualdl_options(opts)
        self.step, self.title = int(step), title
        self.tap = EvalTap(
            EvalCollector(len(self.class_names), mistakes=int(self.opts["worst_mistakes"] or 0))
        )
        self.files = {}

    def on_eval_begin(self, logs=None):
        self.tap.attach(self.model)

    def on_eval_end(self, logs=None):
        self.tap.detach()
        col = self.tap.collector
        if not col.seen:
            return
        from visualdl import LogWriter

        os.makedirs(self.out_dir, exist_ok=True)
        opts = dict(self.opts, confusion_matrix=True, pr_curves=True)
        with LogWriter(logdir=os.path.join(self.out_dir, "vdl")) as writer:
            m = write_eval_records(writer, col, self.class_names, self.step, opts)
        table = format_class_table(col.cm, self.class_names)
        title = f"{self.title}: " if self.title else ""
        self.files["confusion_matrix"] = save_png(
            render_confusion_matrix(
                col.cm,
                self.class_names,
                f"{title}confusion matrix (top-1 {100 * m['overall_accuracy']:.2f}%)",
            ),
            os.path.join(self.out_dir, "confusion_matrix.png"),
        )
        self.files["pr_curves"] = save_png(
            render_pr_curves(
                col.pr_curves(), self.class_names, f"{title}precision-recall per class"
            ),
            os.path.join(self.out_dir, "pr_curves.png"),
        )
        if col.k > 0:
            self.files["worst_mistakes"] = save_png(
                render_mistakes(
                    col.mistakes(), self.class_names, title=f"{title}most confident mistakes"
                ),
                os.path.join(self.out_dir, "worst_mistakes.png"),
            )
        path = os.path.join(self.out_dir, "per_class.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(table + "\n")
        self.files["per_class"] = path
        self.files["vdl"] = os.path.join(self.out_dir, "vdl")
        files = ", ".join(
            self.files[k]
            for k in ("confusion_matrix", "pr_curves", "worst_mistakes", "per_class", "vdl")
            if k in self.files
        )
        logger.info("per-class results:\n%s\neval report: %s", table, files)


# ======================================================= hooks called by engine/trainer.py
def visualdl_options(section: dict | None) -> dict:
    """The `VisualDL:` section with the schema's defaults filled in (the schema is their one
    source)."""
    return check_section("VisualDL", section or {})


def _opts(cfg: dict) -> dict:
    return visualdl_options(cfg.get("VisualDL"))


def visual_callbacks(ctx, writer, start_epoch: int, steps: int) -> list:
    """The training run's extra VisualDL callbacks (to put before the VisualDLLogger), for a
    `trainer.RunContext`."""
    opts = _opts(ctx.cfg)
    names = class_names_for(ctx.network.num_classes, ctx.cfg, ctx.dataset)
    return [
        VisualDLPictures(
            writer,
            names,
            ctx.image_shape,
            opts,
            hparams_from_config(ctx.cfg),
            start_epoch,
            steps,
        )
    ]


def eval_report_callback(ctx, weights: str | None = None) -> list:
    """tools/eval.py's report callback (an empty list when `VisualDL.eval_report` is off), for
    a `trainer.RunContext`."""
    opts = _opts(ctx.cfg)
    if not opts["eval_report"]:
        return []
    out = opts["eval_report_dir"] or os.path.join(
        ctx.global_cfg.get("output_dir", "./output"), str(ctx.cfg["Arch"]["name"]), "eval"
    )
    names = class_names_for(ctx.network.num_classes, ctx.cfg, ctx.dataset)
    step, title = 0, ""
    if weights:
        real = os.path.realpath(
            weights[: -len(".pdparams")] if weights.endswith(".pdparams") else weights
        )
        title = os.path.basename(real.rstrip("/")) or real
        state = os.path.join(real, "state.json")
        if os.path.isfile(state):
            try:  # the checkpoint's epoch labels the report; the rule of every state.json read
                step = read_state_json(state)["epoch"]
            except (OSError, ValueError):
                pass  # weights given without a checkpoint's state: step 0
    return [EvalReport(out, names, opts, step=step, title=title)]
