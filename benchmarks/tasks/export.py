"""`export`: the exported model. Paddle: Paddle Inference with oneDNN on our export of the
model (`deploy.export.export_inference_model`); torch: a frozen TorchScript trace."""

from __future__ import annotations

import os

from benchmarks.common import case_tag

IMPL = {"paddle": "Paddle Inference (oneDNN)", "torch": "TorchScript (frozen)"}


def paddle_export_prefix(case, framework, workdir, model) -> str:
    """Export `model` once per case and framework under `workdir`; the prefix of its files."""
    from paddle_inception.deploy.export import export_inference_model

    prefix = os.path.join(workdir, case_tag(case, framework), "inference")
    if not (os.path.isfile(prefix + ".json") or os.path.isfile(prefix + ".pdmodel")):
        model.eval()
        export_inference_model(model, prefix, input_shape=case["input"])
    return prefix


def paddle_step(model, case, framework, x, y, opts, workdir, res):
    from paddle_inception.deploy.predictor import InferencePredictor

    prefix = paddle_export_prefix(case, framework, workdir, model)
    predictor = InferencePredictor(prefix, use_mkldnn=True, cpu_threads=opts.threads)
    return lambda: predictor(x)


def torch_step(model, case, framework, x, y, opts, workdir, res):
    import torch

    model.eval()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        traced = torch.jit.trace(model, xt)
        scripted = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

    def step():
        with torch.inference_mode():
            scripted(xt).numpy()

    return step
