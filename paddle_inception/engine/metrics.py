"""Top-k accuracy that is right for multi-output models.

`paddle.metric.Accuracy.compute(pred, label, *args)` takes its *second* argument as the label;
`paddle.Model` passes `(*outputs, *labels)`, so with a three-output GoogLeNet it silently scores
the main logits against aux1's logits. `TopkAcc` takes the first output and the *last* argument.
Soft labels (Mixup/CutMix) are scored against their arg-max.
"""

from __future__ import annotations

import numpy as np
import paddle

from ..config import parse_named_entry

__all__ = ["TopkAcc", "build_metrics"]


class TopkAcc(paddle.metric.Metric):
    def __init__(self, topk=(1, 5), name=None):
        super().__init__()
        self.topk = tuple(int(k) for k in (topk if isinstance(topk, (list, tuple)) else [topk]))
        self._names = name or [f"top{k}" for k in self.topk]
        self.reset()

    def compute(self, *inputs):
        pred, label = inputs[0], inputs[-1]
        if label.dtype not in (paddle.int32, paddle.int64):
            label = label.argmax(axis=-1)  # soft labels -> class ids
        label = label.reshape([-1, 1]).astype("int64")
        k = min(max(self.topk), pred.shape[-1])
        idx = paddle.topk(pred, k=k, axis=-1)[1]  # (N, k)
        return (idx == label).astype("float32")  # (N, k): hit at rank r

    def update(self, correct, *args):
        correct = np.asarray(correct)
        n = correct.shape[0]
        accs = []
        for i, k in enumerate(self.topk):
            hits = float(correct[:, :k].sum())
            self.total[i] += hits
            self.count[i] += n
            accs.append(hits / max(n, 1))
        return accs[0] if len(accs) == 1 else accs

    def accumulate(self):
        res = [t / c if c else 0.0 for t, c in zip(self.total, self.count)]
        return res[0] if len(res) == 1 else res

    def reset(self):
        self.total = [0.0] * len(self.topk)
        self.count = [0] * len(self.topk)

    def name(self):
        return list(self._names)


#: PaddleClas metric names -> ours (both score the main logits)
_METRICS = {"TopkAcc": TopkAcc, "GoogLeNetTopkAcc": TopkAcc}


def build_metrics(items, key_path: str = "Metric.Train"):
    """PaddleClas `Metric` list -> metrics (`TopkAcc` and `GoogLeNetTopkAcc` are the same here:
    both score the main logits). An empty/None list (allowed by PaddleClas) gives top-1/top-5."""
    if not items:
        return [TopkAcc((1, 5))]
    metrics = []
    for i, item in enumerate(items):
        cls, args = parse_named_entry(item, f"{key_path}[{i}]", _METRICS, "metric")
        metrics.append(cls(**args))
    return metrics
