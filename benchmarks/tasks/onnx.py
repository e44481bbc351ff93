"""`onnx`: ONNX Runtime on the CPU, sequential, the run's thread count. Paddle: paddle2onnx of
our Paddle Inference export; torch: `torch.onnx.export` (TorchScript exporter, opset 17)."""

from __future__ import annotations

import inspect
import os
import warnings

from benchmarks.common import case_tag
from benchmarks.tasks.export import paddle_export_prefix

IMPL = {"paddle": "paddle2onnx + ORT", "torch": "torch.onnx + ORT"}


def ort_session(path: str, threads: int):
    """A function running the ONNX file at `path` on one input array; returns the first output."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def paddle_step(model, case, framework, x, y, opts, workdir, res):
    from paddle_inception.deploy.export import export_onnx

    prefix = paddle_export_prefix(case, framework, workdir, model)
    onnx_path = os.path.splitext(prefix)[0] + ".onnx"
    if not os.path.isfile(onnx_path):
        export_onnx(prefix, onnx_path)
    run = ort_session(onnx_path, opts.threads)
    return lambda: run(x)


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def torch_step(model, case, framework, x, y, opts, workdir, res):
    import torch

    model.eval()
    path = os.path.join(workdir, case_tag(case, framework), "model.onnx")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            kw = {"dynamo": False} if _accepts(torch.onnx.export, "dynamo") else {}
            torch.onnx.export(
                model,
                (torch.from_numpy(x),),
                path,
                input_names=["x"],
                output_names=["logits"],
                opset_version=17,
                dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                **kw,
            )
    run = ort_session(path, opts.threads)
    return lambda: run(x)
