"""`train`: forward, backward and an SGD-momentum step (lr 0.01, momentum 0.9). A model with
auxiliary heads trains through them: GoogLeNet's three outputs with the 1/0.3/0.3 loss,
Inception-v3's two with 1/0.3. `res["outputs"]` records how many outputs the step saw."""

from __future__ import annotations

AUX_WEIGHT = 0.3
IMPL = {"paddle": "paddle eager", "torch": "torch eager"}


def _outputs(out) -> tuple:
    return tuple(out) if isinstance(out, (list, tuple)) else (out,)


def paddle_step(model, case, framework, x, y, opts, workdir, res):
    import paddle

    from paddle_inception.engine.losses import GoogLeNetLoss

    model.train()
    loss_fn = GoogLeNetLoss(aux_weight=AUX_WEIGHT)
    optim = paddle.optimizer.Momentum(
        learning_rate=0.01, momentum=0.9, parameters=model.parameters()
    )
    xt, yt = paddle.to_tensor(x), paddle.to_tensor(y.reshape(-1, 1))

    def step():
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

    def step():
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
