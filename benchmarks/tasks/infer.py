"""`infer`: eager inference, eval mode, no gradients; the main logits are fetched to numpy."""

from __future__ import annotations

IMPL = {"paddle": "paddle eager", "torch": "torch eager"}


def _main(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def paddle_step(model, case, framework, x, y, opts, workdir, res):
    import paddle

    model.eval()
    xt = paddle.to_tensor(x)

    def step():
        with paddle.no_grad():
            out = model(xt)
        _main(out).numpy()

    return step


def torch_step(model, case, framework, x, y, opts, workdir, res):
    import torch

    model.eval()
    xt = torch.from_numpy(x)

    def step():
        with torch.inference_mode():
            out = model(xt)
        _main(out).numpy()

    return step
