"""The README figure, drawn from a training run's VisualDL records (issue 14).

    python tools/plot_run.py output/googlenet_bn/vdl -o docs/main_job.png

Three panels: the loss curves (train/loss per logged step, eval/loss per epoch), eval top-1 and
top-5 per epoch, and the confusion matrix of the last evaluated epoch (from the
`eval/confusion_matrix_counts` record `VisualDLPictures` writes). Every number drawn is read
from the records: the figure is the run's, not a mock-up. Nothing here needs paddle.
"""

from __future__ import annotations

import glob
import json
import os
import struct

import numpy as np

from .._safe_files import FileTooLargeError, check_file, open_regular
from .visual import _figure, draw_confusion_matrix, figure_to_array, save_png

__all__ = ["read_run", "plot_run"]


def _record_files(logdir: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(logdir, "vdlrecords.*.log")))
    if not files:
        raise FileNotFoundError(
            f"no VisualDL records (vdlrecords.*.log) in {logdir}; pass the "
            f"run's vdl folder, e.g. output/googlenet_bn/vdl"
        )
    return files


#: one run's record file (a 30-epoch run with pictures writes a few MB)
_MAX_RECORD_FILE = 1 << 30


def _check_record_framing(path: str) -> None:
    """A VisualDL record file is a sequence of (8-byte length, protobuf record). Walk the
    lengths first: a random or truncated file (a length past the end) is one line naming the
    file and the offset, not an OverflowError or a multi-GB allocation inside VisualDL."""
    st = check_file(path, "VisualDL records")
    if st.st_size > _MAX_RECORD_FILE:
        raise FileTooLargeError(
            f"VisualDL records: {path} is larger than 1 GiB; not a run's record file"
        )
    with open_regular(path, "VisualDL records") as f:
        offset, size = 0, st.st_size
        while offset < size:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(
                    f"{path}: damaged VisualDL record file (a record header cut at offset "
                    f"{offset}); the run may have been killed while writing"
                )
            (length,) = struct.unpack("<Q", head)
            if length > size - offset - 8:
                raise ValueError(
                    f"{path}: damaged VisualDL record file (the record at offset {offset} claims "
                    f"{length} bytes, {size - offset - 8} are left)"
                )
            f.seek(length, os.SEEK_CUR)
            offset += 8 + length


def read_run(logdir: str) -> dict:
    """Scalars and texts of a run: {'scalar': {tag: [(step, value)]}, 'text': {tag: [(step,
    text)]}}, sorted by step. All record files in the folder are read, oldest first, so a
    resumed run (which starts a new file) is read whole; a later value for a step wins."""
    from visualdl import LogReader

    scalars: dict = {}
    texts: dict = {}
    for path in _record_files(logdir):
        _check_record_framing(path)
        try:
            reader = LogReader(file_path=path)
            tags = reader.get_tags()
            for tag in tags.get("scalar", []):
                d = scalars.setdefault(tag, {})
                for rec in reader.get_data("scalar", tag):
                    d[int(rec.id)] = float(rec.value)
            for tag in tags.get("text", []):
                d = texts.setdefault(tag, {})
                for rec in reader.get_data("text", tag):
                    d[int(rec.id)] = rec.text.encoded_text_string
        except (ValueError, OverflowError, TypeError, KeyError, AttributeError) as e:
            # protobuf's DecodeError is an Exception subclass of its own: caught below
            raise ValueError(
                f"{path}: damaged VisualDL record file ({type(e).__name__}: {e})"
            ) from None
        except Exception as e:  # noqa: BLE001 - google.protobuf.message.DecodeError and kin
            if type(e).__name__ not in ("DecodeError", "EncodeError", "Error"):
                raise
            raise ValueError(
                f"{path}: damaged VisualDL record file ({type(e).__name__}: {e})"
            ) from None
    return {
        "scalar": {t: sorted(d.items()) for t, d in scalars.items()},
        "text": {t: sorted(d.items()) for t, d in texts.items()},
    }


def _xy(series):
    if not series:
        return np.zeros(0), np.zeros(0)
    a = np.asarray(series, dtype=np.float64)
    return a[:, 0], a[:, 1]


def plot_run(logdir: str, out_png: str, title: str | None = None) -> dict:
    """Draw the figure to `out_png`; return the numbers it shows (final/best eval top-1,
    epochs, the confusion matrix's epoch and accuracy)."""
    run = read_run(logdir)
    sc = run["scalar"]
    ev_x, ev_top1 = _xy(sc.get("eval/top1"))
    _, ev_top5 = _xy(sc.get("eval/top5"))
    ev_lx, ev_loss = _xy(sc.get("eval/loss"))
    tr_x, tr_loss = _xy(sc.get("train/loss"))
    lr_x, _ = _xy(sc.get("train/lr"))
    if not len(ev_x):
        raise ValueError(f"{logdir}: no eval/top1 records (was the run evaluated?)")
    # train records are per global step, eval per epoch: steps per epoch from the lr records
    # (one per step) and the last evaluated epoch (the last epoch, as train() evaluates it)
    steps_per_epoch = (lr_x.max() / ev_x.max()) if len(lr_x) and ev_x.max() > 0 else None
    counts = run["text"].get("eval/confusion_matrix_counts")

    fig = _figure(16.5, 5.2, dpi=110)
    ax1 = fig.add_subplot(1, 3, 1)
    if len(tr_x) and steps_per_epoch:
        ax1.plot(
            tr_x / steps_per_epoch,
            tr_loss,
            color="tab:blue",
            linewidth=0.8,
            alpha=0.8,
            marker="." if len(tr_x) < 30 else None,
            label="train/loss",
        )  # short runs
    if len(ev_lx):
        ax1.plot(ev_lx, ev_loss, "o-", color="tab:orange", label="eval/loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_title("loss", fontsize=11)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)

    ax2 = fig.add_subplot(1, 3, 2)
    ax2.plot(ev_x, 100 * ev_top1, "o-", color="tab:green", label="eval/top1")
    if len(ev_top5) == len(ev_x):
        ax2.plot(ev_x, 100 * ev_top5, "s--", color="tab:gray", markersize=4, label="eval/top5")
    best = int(np.argmax(ev_top1))
    ax2.annotate(
        f"{100 * ev_top1[-1]:.2f}%",
        (ev_x[-1], 100 * ev_top1[-1]),
        textcoords="offset points",
        xytext=(-10, -16),
        ha="right",
        fontsize=9,
    )
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy %")
    ax2.set_title("eval accuracy", fontsize=11)
    ax2.set_xticks(ev_x if len(ev_x) <= 20 else ax2.get_xticks())
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")

    shown = {
        "epochs": int(ev_x.max()),
        "final_top1": float(ev_top1[-1]),
        "best_top1": float(ev_top1[best]),
        "best_epoch": int(ev_x[best]),
    }
    if len(ev_top5):
        shown["final_top5"] = float(ev_top5[-1])
    ax3 = fig.add_subplot(1, 3, 3)
    if counts:
        step, text = counts[-1]
        data = json.loads(text)
        cm = np.asarray(data["matrix"], dtype=np.int64)
        acc = float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")
        draw_confusion_matrix(
            ax3, cm, data["classes"], f"confusion matrix, epoch {step} ({100 * acc:.2f}%)"
        )
        shown.update(
            confusion_epoch=int(step), confusion_accuracy=acc, confusion_images=int(cm.sum())
        )
    else:
        ax3.axis("off")
        ax3.text(
            0.5,
            0.5,
            "no eval/confusion_matrix_counts records\n(VisualDL.confusion_matrix off?)",
            ha="center",
            va="center",
        )
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    save_png(figure_to_array(fig), out_png)
    shown["png"] = out_png
    return shown
