"""`train`: forward, backward and an SGD-momentum step (lr 0.01, momentum 0.9). A model with
auxiliary heads trains through them: GoogLeNet's three outputs with the 1/0.3/0.3 loss,
Inception-v3's two with 1/0.3. `res["outputs"]` records how many outputs the step saw.

The -bf16 rows run the forward in bfloat16 with float32 master weights and optimizer: ours
through the trainer's own `choose_precision` / `autocast_forward` (skipped with its reason
where the trainer would stay in float32), torch's under `torch.autocast("cpu",
torch.bfloat16)`, the one line a torch user adds."""

from __future__ import annotations

import contextlib

from benchmarks.common import Skip, is_bf16

AUX_WEIGHT = 0.3
IMPL = {"paddle": "paddle eager", "torch": "torch eager"}


def _outputs(out) -> tuple:
    return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def paddle_step(model, case, framework, x, y, opts, workdir, res):
    import paddle

    from paddle_inception.engine.losses import GoogLeNetLoss
    from paddle_inception.engine.precision import autocast_forward, choose_precision

    precision = choose_precision(None, "cpu")  # float32: autocast_forward does nothing
    if is_bf16(framework):
        precision = choose_precision({"use_amp": True, "dtype": "bfloat16"}, "cpu")
        if precision.dtype != "bfloat16":
            raise Skip(precision.reason)
        res["note"] = "; ".join(filter(None, [res.get("note"), precision.describe()]))
    model.train()
    loss_fn = GoogLeNetLoss(aux_weight=AUX_WEIGHT)
    optim = paddle.optimizer.Momentum(
        learning_rate=0.01, momentum=0.9, parameters=model.parameters()
    )
    xt, yt = paddle.to_tensor(x), paddle.to_tensor(y.reshape(-1, 1))

    def step():
        with autocast_forward(model, precision):  # as the trainer wraps its fit
            outs = _outputs(model(xt))
        res["outputs"] = len(outs)
        loss = loss_fn(*outs, yt)
        loss.backward()
        optim.step()
        optim.clear_grad()
        float(loss)

    return step


def torch_step(model, case, framework, x, y, opts, workdir, res):
    import torch
    import torch.nn.functional as TF

    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def autocast():
        if is_bf16(framework):
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    if is_bf16(framework):
        res["note"] = "; ".join(filter(None, [res.get("note"), "torch.autocast cpu bfloat16"]))

    def step():
        with autocast():  # the forward and the loss, as torch's AMP recipe has it
            outs = _outputs(model(xt))
            res["outputs"] = len(outs)
            loss = TF.cross_entropy(outs[0], yt)
            for aux in outs[1:]:
                loss = loss + AUX_WEIGHT * TF.cross_entropy(aux, yt)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        loss.detach().item()

    return step
