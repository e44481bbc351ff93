"""VisualDL beyond scalars: what the model gets wrong, at a glance (issue 14).

Training runs (`Global.use_visualdl: True`, switches in the optional `VisualDL:` config
section) add, in the same record file as the scalars of `VisualDLLogger`:

=============================  =========================  ======================================
tag                            VisualDL tab / component   when (switch, default)
=============================  =========================  ======================================
(vdlgraph.*.log file)          GRAPHS                     once per run (``graph: True``)
eval/confusion_matrix          IMAGE                      every eval (``confusion_matrix: True``)
eval/confusion_matrix_counts   TEXT (JSON: classes,       every eval (``confusion_matrix``)
                               matrix rows=true)
eval/per_class                 TEXT (the per-class table) every eval (``confusion_matrix``)
eval_class_acc/<i>_<class>     SCALAR (one chart a class) every eval (``confusion_matrix``)
eval_pr/<i>_<class>           PR CURVE (one per class)   every eval (``pr_curves: True``)
eval/worst_mistakes            IMAGE                      every eval (``worst_mistakes: 16``)
eval/worst_mistakes_list       TEXT (the grid's captions) every eval (``worst_mistakes``)
hparam                         HPARAMS                    once per run (``hparams: True``)
weights/<param>, grads/<param> HISTOGRAM                  every N epochs (``histogram_interval``)
eval/embeddings                HIGH DIMENSIONAL           end of run (``embeddings: N`` images)
=============================  =========================  ======================================

Steps are absolute epoch numbers (as `eval/top1`). Class names come from the class map
(`configs/class_maps/fashion_mnist.txt` for Fashion-MNIST), else the dataset, else ids; in
tags, '/' becomes '_' and the class id comes first (``eval_pr/0_T-shirt_top``). Per-class
accuracy is one plain scalar per class (VisualDL 2.5.3 shows `add_scalars` lines as extra
runs, which would crowd the run list).

`tools/eval.py` (`evaluate`) writes the same confusion matrix, per-class table and PR curves
for any checkpoint (`VisualDL.eval_report: True`): a text table on stdout, PNG files and a
VisualDL record in `VisualDL.eval_report_dir` (default ``<output_dir>/<Arch.name>/eval``).

This module holds the parts that need neither paddle nor a training run: statistics
(`confusion_matrix`, `per_class_metrics`, `format_class_table`, `pr_curve_counts`,
`EvalCollector`), rendering (`render_confusion_matrix`, `render_mistakes`, `render_pr_curves`:
(H, W, 3) uint8 images drawn with matplotlib's Agg canvas), class names, tags and hparams.
`engine/visual_callbacks.py` holds the paddle.Model glue; `run_figure.py` the README
figure.

How the predictions are collected without a second pass over the eval set: while paddle.Model
evaluates, `EvalTap` appends a metric with no name (so nothing is added to the logs) that sees
the main logits and labels of each batch, and a forward pre-hook on the network that sees the
batch's images (and one on the classifier head for embeddings). Memory is bounded: a C x C
confusion matrix, C x T score histograms for the PR curves, the K worst mistakes (a heap) and
the first N feature vectors. Nothing here draws random numbers or runs an extra forward pass in
the training network (the graph is traced on a deep copy, with the RNG states restored), so
training results are the same with and without these records (tested).

VisualDL 2.5.3 quirks handled here: `add_pr_curve` uses `np.float` (gone in numpy 2), so the
curves are written with `pr_curve_raw` from our own bounded histograms; `add_graph` reads the
legacy `.pdmodel` program, so it runs under `paddle.pir_utils.OldIrGuard`; `add_hparams`
rejects booleans, so hyperparameters are converted to int/float/str.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os

import numpy as np

from ..data.classmap import default_class_map_path, load_class_map

logger = logging.getLogger("paddle_inception.visual")

__all__ = [
    "confusion_matrix",
    "per_class_metrics",
    "format_class_table",
    "pr_curve_counts",
    "macro_averages",
    "EvalCollector",
    "render_confusion_matrix",
    "draw_confusion_matrix",
    "render_mistakes",
    "mistake_captions",
    "render_pr_curves",
    "figure_to_array",
    "save_png",
    "class_names_for",
    "class_tags",
    "pr_curve_tags",
    "hparams_from_config",
    "PR_THRESHOLDS",
]

#: thresholds of the PR curves: scores bucketed by 0.01 (VisualDL's own writer caps at 127)
PR_THRESHOLDS = 101


# =============================================================================== statistics
def confusion_matrix(labels, preds, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; rows are true classes, columns predicted classes."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    preds = np.asarray(preds, dtype=np.int64).reshape(-1)
    if labels.shape != preds.shape:
        raise ValueError(f"confusion_matrix: {labels.size} labels but {preds.size} predictions")
    if labels.size and (
        min(labels.min(), preds.min()) < 0 or max(labels.max(), preds.max()) >= num_classes
    ):
        raise ValueError(f"confusion_matrix: class ids must be in 0..{num_classes - 1}")
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_metrics(cm) -> dict:
    """Per-class support, accuracy (= recall: right among the class's images), precision (right
    among the images predicted as the class), F1, and the class each is most often mistaken
    for (-1 when never). Undefined ratios (no images / no predictions) are NaN."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1), cm.sum(0)
    recall, precision = _ratio(tp, support), _ratio(tp, predicted)
    f1 = _ratio(2 * precision * recall, precision + recall)
    f1[np.isnan(precision) | np.isnan(recall)] = np.nan
    off = cm.copy()
    np.fill_diagonal(off, 0)
    confused = np.where(off.max(1) > 0, off.argmax(1), -1)
    total = int(cm.sum())
    return dict(
        support=support,
        predicted=predicted,
        accuracy=recall,
        precision=precision,
        f1=f1,
        confused_with=confused,
        confused_count=off.max(1) if cm.size else off,
        overall_accuracy=float(tp.sum() / total) if total else float("nan"),
    )


def macro_averages(m: dict) -> dict:
    """Means over the classes that have images; a class never predicted counts as precision
    (and F1) 0, as scikit-learn does, so a collapsed model does not look precise."""
    present = np.asarray(m["support"]) > 0
    out = {}
    for key in ("accuracy", "precision", "f1"):
        v = np.nan_to_num(np.asarray(m[key], dtype=np.float64)[present], nan=0.0)
        out[key] = float(v.mean()) if v.size else float("nan")
    return out


def _pct(v) -> str:
    return "    -" if v is None or not math.isfinite(float(v)) else f"{100 * float(v):5.1f}"


def format_class_table(cm, class_names) -> str:
    """The per-class table as plain text (support, accuracy, precision, F1 in %, and the most
    frequent confusion), with overall accuracy and macro averages at the bottom."""
    m = per_class_metrics(cm)
    names = [str(n) for n in class_names]
    w = max([len(n) for n in names] + [len("macro avg"), 5])
    head = (
        f"{'class':<{w}}  {'images':>6}  {'acc %':>5}  {'prec %':>6}  {'F1 %':>5}  "
        f"most often mistaken for"
    )
    lines = [head, "-" * len(head)]
    for i, n in enumerate(names):
        c = int(m["confused_with"][i])
        conf = f"{names[c]} ({int(m['confused_count'][i])})" if c >= 0 else "-"
        lines.append(
            f"{n:<{w}}  {int(m['support'][i]):>6}  {_pct(m['accuracy'][i])}  "
            f"{_pct(m['precision'][i]):>6}  {_pct(m['f1'][i])}  {conf}"
        )
    lines.append("-" * len(head))
    macro = macro_averages(m)
    lines.append(
        f"{'macro avg':<{w}}  {int(m['support'].sum()):>6}  {_pct(macro['accuracy'])}"
        f"  {_pct(macro['precision']):>6}  {_pct(macro['f1'])}"
    )
    lines.append(
        f"overall accuracy {_pct(m['overall_accuracy']).strip()}% "
        f"({int(np.trace(np.asarray(cm)))}/{int(np.asarray(cm).sum())})"
    )
    return "\n".join(lines)


def pr_curve_counts(pos_hist, neg_hist) -> dict:
    """PR-curve points from score histograms of one class.

    `pos_hist[t]` / `neg_hist[t]` count the images of / not of the class whose score for it
    falls in bucket t (score in [t, t+1) / (T-1)). Point t is the threshold score >= t/(T-1),
    as VisualDL's own `add_pr_curve` computes it: tp, fp, tn, fn, precision, recall."""
    pos = np.asarray(pos_hist, dtype=np.float64)
    neg = np.asarray(neg_hist, dtype=np.float64)
    tp = np.cumsum(pos[::-1])[::-1]
    fp = np.cumsum(neg[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return dict(
        tp=tp.astype(int).tolist(),
        fp=fp.astype(int).tolist(),
        tn=tn.astype(int).tolist(),
        fn=fn.astype(int).tolist(),
        precision=precision.tolist(),
        recall=recall.tolist(),
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _take(images, idx: np.ndarray) -> np.ndarray:
    """Rows `idx` of a batch of images (numpy array or paddle Tensor) as float32 numpy."""
    if isinstance(images, np.ndarray):
        return images[idx].astype(np.float32)
    import paddle

    return paddle.gather(images, paddle.to_tensor(idx.astype(np.int64))).numpy().astype(np.float32)


class EvalCollector:
    """Everything the pictures need from one eval pass, accumulated batch by batch in bounded
    memory: the confusion matrix, per-class score histograms (PR curves), the `mistakes` most
    confident wrong predictions (with their images) and the features of the first `embeddings`
    images."""

    def __init__(
        self,
        num_classes: int,
        mistakes: int = 0,
        embeddings: int = 0,
        num_thresholds: int = PR_THRESHOLDS,
    ):
        self.num_classes, self.k, self.n_emb = int(num_classes), int(mistakes), int(embeddings)
        self.num_thresholds = int(num_thresholds)
        self.reset()

    def reset(self):
        c, t = self.num_classes, self.num_thresholds
        self.cm = np.zeros((c, c), np.int64)
        self.pos_hist = np.zeros((c, t), np.int64)
        self.neg_hist = np.zeros((c, t), np.int64)
        self.seen = 0
        self._heap = []  # (score, -index, true, pred, image): smallest score on top
        self.features, self.feature_labels, self.feature_preds = [], [], []

    @property
    def n_features(self) -> int:
        return sum(len(f) for f in self.features)

    def wants_features(self) -> bool:
        return self.n_features < self.n_emb

    def add_batch(self, logits, labels, images=None, features=None):
        """One batch: `logits` (N, C) main-head logits, `labels` (N,) or (N, 1) class ids (or
        (N, C) soft labels), `images` (N, ...) the batch as fed to the network (numpy or
        Tensor; rows beyond its length are not candidates for the mistakes grid), `features`
        (M, D) penultimate features of the batch's first M images."""
        logits = np.asarray(logits, dtype=np.float32)
        logits = logits.reshape(logits.shape[0], -1)
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == self.num_classes and self.num_classes > 1:
            labels = labels.argmax(1)  # soft labels
        labels = labels.reshape(-1).astype(np.int64)
        n, c = logits.shape
        if c != self.num_classes or labels.shape[0] != n:
            raise ValueError(
                f"EvalCollector: expected ({n}, {self.num_classes}) logits and "
                f"{n} labels, got {logits.shape} and {labels.shape[0]}"
            )
        probs = _softmax(logits)
        preds = probs.argmax(1)
        self.cm += confusion_matrix(labels, preds, c)
        t = self.num_thresholds
        bucket = np.clip(np.floor(probs * (t - 1)).astype(np.int64), 0, t - 1)  # (N, C)
        flat = (np.arange(c)[None, :] * t + bucket).reshape(-1)
        is_pos = (labels[:, None] == np.arange(c)[None, :]).reshape(-1)
        self.pos_hist += np.bincount(flat[is_pos], minlength=c * t).reshape(c, t)
        self.neg_hist += np.bincount(flat[~is_pos], minlength=c * t).reshape(c, t)
        if self.k > 0 and images is not None:
            self._add_mistakes(probs, preds, labels, images)
        if features is not None and self.wants_features():
            take = min(self.n_emb - self.n_features, len(features), n)
            if take > 0:
                self.features.append(np.asarray(features, np.float32)[:take].reshape(take, -1))
                self.feature_labels.extend(labels[:take].tolist())
                self.feature_preds.extend(preds[:take].tolist())
        self.seen += n

    def _add_mistakes(self, probs, preds, labels, images):
        n_img = int(images.shape[0])
        score = probs[np.arange(len(preds)), preds]
        wrong = np.nonzero(preds[:n_img] != labels[:n_img])[0]
        if not wrong.size:
            return
        # the batch's most confident mistakes first (ties: earlier image first)
        order = wrong[np.lexsort((wrong, -score[wrong]))][: self.k]
        floor = self._heap[0][:2] if len(self._heap) >= self.k else None
        keep = [i for i in order if floor is None or (score[i], -(self.seen + i)) > floor]
        if not keep:
            return
        keep = np.asarray(keep)
        imgs = _take(images, keep)
        for j, i in enumerate(keep):
            item = (float(score[i]), -(self.seen + int(i)), int(labels[i]), int(preds[i]), imgs[j])
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, item)
            elif item[:2] > self._heap[0][:2]:
                heapq.heapreplace(self._heap, item)

    def mistakes(self) -> list[dict]:
        """The kept mistakes, most confident first: dicts with index (position in the eval
        order), true, pred, score (softmax probability of the predicted class), image."""
        items = sorted(self._heap, key=lambda it: (-it[0], -it[1]))
        return [
            dict(index=-it[1], true=it[2], pred=it[3], score=it[0], image=it[4]) for it in items
        ]

    def pr_curves(self) -> list[dict]:
        return [
            pr_curve_counts(self.pos_hist[c], self.neg_hist[c]) for c in range(self.num_classes)
        ]

    def embedding_matrix(self) -> np.ndarray:
        if not self.features:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(self.features, 0)


# ================================================================================ rendering
def _figure(width_in: float, height_in: float, dpi: int = 100, layout=None):
    """A matplotlib Figure on the Agg canvas (no pyplot: no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def figure_to_array(fig) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a Figure made by `_figure`."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def draw_confusion_matrix(ax, cm, class_names, title=None, annotate=None):
    """Draw on an Axes: colours are row-normalised (share of the true class), numbers are
    counts; names on the axes up to 50 classes, counts in the cells up to 20."""
    cm = np.asarray(cm, dtype=np.int64)
    c = cm.shape[0]
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    if c <= 50:
        names = [str(n) for n in class_names]
        ax.set_xticks(range(c))
        ax.set_yticks(range(c))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_yticklabels(names, fontsize=8)
    if annotate if annotate is not None else c <= 20:
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)


def render_confusion_matrix(cm, class_names, title=None) -> np.ndarray:
    """The confusion matrix as an (H, W, 3) uint8 image."""
    c = np.asarray(cm).shape[0]
    side = min(max(5.0, 0.55 * c + 2.5), 20.0)
    fig = _figure(side + 0.5, side)
    draw_confusion_matrix(fig.add_subplot(1, 1, 1), cm, class_names, title)
    fig.tight_layout()
    return figure_to_array(fig)


def mistake_captions(items, class_names) -> list[str]:
    return [
        f"true {class_names[it['true']]} / pred {class_names[it['pred']]} ({it['score']:.2f})"
        for it in items
    ]


def _display(img: np.ndarray) -> np.ndarray:
    """CHW float image (normalised for the network) -> HW or HWC in [0, 1] for display."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def render_mistakes(items, class_names, cols: int = 8, title=None) -> np.ndarray:
    """A grid of the mistakes (most confident first), each titled with the true and predicted
    class names and the predicted class's probability, as an (H, W, 3) uint8 image."""
    n = max(1, len(items))
    cols = max(1, min(cols, n))
    rows = int(math.ceil(n / cols))
    fig = _figure(1.9 * cols, 2.3 * rows + (0.35 if title else 0.0), layout="constrained")
    for k, it in enumerate(items):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = _display(it["image"])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(
            f"true: {class_names[it['true']]}\npred: {class_names[it['pred']]} {it['score']:.2f}",
            fontsize=7,
        )
    if not items:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return figure_to_array(fig)


def render_pr_curves(curves, class_names, title=None) -> np.ndarray:
    """All classes' PR curves in one chart (for the PNG report; VisualDL has its own tab)."""
    fig = _figure(7.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    for c, cur in enumerate(curves):
        # thresholds above every score (no image predicted) have no precision: left out
        keep = (np.asarray(cur["tp"]) + np.asarray(cur["fp"])) > 0
        ax.plot(
            np.asarray(cur["recall"])[keep],
            np.asarray(cur["precision"])[keep],
            label=str(class_names[c]),
            linewidth=1.2,
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    if len(curves) <= 20:
        ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return figure_to_array(fig)


def save_png(img: np.ndarray, path: str) -> str:
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(img).save(path)
    return path


# ==================================================================== names, tags, hparams
def class_names_for(num_classes: int, cfg: dict | None = None, dataset=None) -> list[str]:
    """Class names: the class map (the config's Infer.PostProcess.class_id_map_file, or the
    shipped map for Fashion-MNIST / ImageNet-1k), else the dataset's `class_names`, else ids."""
    names = [str(i) for i in range(num_classes)]
    try:
        path = default_class_map_path(num_classes, cfg)
        if path:
            found = load_class_map(path)
            return [found.get(i, names[i]) for i in range(num_classes)]
    except (ValueError, OSError) as e:  # a broken class map must not stop training
        logger.warning("VisualDL: class map not used (%s); class ids instead", e)
    ds_names = getattr(dataset, "class_names", None)
    if ds_names is not None and not callable(ds_names) and len(ds_names) >= num_classes:
        return [str(n) for n in list(ds_names)[:num_classes]]
    return names


def _tag_part(text: str) -> str:
    """Text usable inside a VisualDL tag ('/' nests tags, '%' is rejected)."""
    return str(text).strip().replace("/", "_").replace("%", "pct") or "_"


def class_tags(prefix: str, class_names) -> list[str]:
    """One tag per class, `<prefix>/<id>_<name>`, ids zero-padded so they sort in order."""
    width = len(str(len(class_names) - 1))
    return [f"{prefix}/{i:0{width}d}_{_tag_part(n)}" for i, n in enumerate(class_names)]


def pr_curve_tags(class_names) -> list[str]:
    return class_tags("eval_pr", class_names)


def _hparam_value(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float, str)):
        return v
    return json.dumps(v) if isinstance(v, (list, tuple, dict)) else str(v)


def hparams_from_config(cfg: dict) -> dict:
    """The config's key hyperparameters as a flat {name: int|float|str} (for `add_hparams`;
    VisualDL 2.5.3 rejects booleans and skips None)."""
    g = cfg.get("Global") or {}
    opt = cfg.get("Optimizer") or {}
    lr = opt.get("lr") or {}
    reg = opt.get("regularizer") or {}
    train = (cfg.get("DataLoader") or {}).get("Train") or {}
    ds, sampler = train.get("dataset") or {}, train.get("sampler") or {}
    losses = (cfg.get("Loss") or {}).get("Train") or []
    loss_name, loss_args = (
        next(iter(losses[0].items())) if losses and isinstance(losses[0], dict) else (None, None)
    )
    amp = cfg.get("AMP") or {}
    shape = g.get("image_shape")
    raw = {
        "arch": (cfg.get("Arch") or {}).get("name"),
        "epochs": g.get("epochs"),
        "batch_size": sampler.get("batch_size"),
        "optimizer": opt.get("name"),
        "lr": lr.get("learning_rate"),
        "lr_schedule": lr.get("name"),
        "warmup_epoch": lr.get("warmup_epoch"),
        "momentum": opt.get("momentum"),
        "nesterov": opt.get("use_nesterov"),
        "weight_decay": opt.get("weight_decay")
        if opt.get("weight_decay") is not None
        else reg.get("coeff"),
        "regularizer": reg.get("name") if reg else None,
        "loss": loss_name,
        "label_smoothing": (loss_args or {}).get("epsilon"),
        "image_shape": "x".join(str(s) for s in shape) if shape else None,
        "dataset": ds.get("name"),
        "train_samples": ds.get("num_samples"),
        "seed": g.get("seed"),
        "amp": bool(amp.get("use_amp")) if amp else False,
    }
    out = {}
    for k, v in raw.items():
        v = _hparam_value(v)
        if v is not None:
            out[k] = v
    return out
