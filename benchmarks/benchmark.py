"""Speed benchmark (`python benchmarks/benchmark.py`, or `tools/benchmark.py`): our models
against PaddleClas, torchvision and timm implementations of the same architectures, on the same
inputs, in one run.

    python tools/benchmark.py                       # everything (long: tens of minutes on 2 cores)
    python tools/benchmark.py --quick               # a smoke run: few iterations, small inputs
    python tools/benchmark.py --models googlenet_bn --tasks infer,train --sizes config --json

What is measured, per model x input size x task x framework:

- tasks: `infer` (eager, eval mode, no grad), `export` (Paddle Inference with oneDNN for the
  Paddle models, a frozen TorchScript trace for the torch models), `onnx` (ONNX Runtime on the
  CPU; paddle2onnx / torch.onnx), `train` (forward, backward, SGD-momentum step; models with
  auxiliary heads are trained through them: GoogLeNet's three outputs with the 1/0.3/0.3 loss,
  Inception-v3's two with 1/0.3); and `data`: the config's Train DataLoader alone.
- sizes: `config` is `Global.image_shape` and `Arch.class_num` of the config (default
  configs/googlenet.yaml: Fashion-MNIST, 1x32x32, 10 classes; a 3-channel peer gets its first
  conv swapped for one taking the config's channels), `default` the model's ImageNet size
  (224 for GoogLeNet, 299 for Inception-v3/v4; 3 channels, 1000 classes), or a number.
- timing: the median of `--iters` timed iterations after `--warmup` untimed ones; images/s =
  batch / median. Every framework gets the same numpy arrays (same seed, same checksum),
  converted to its tensor type; torch's intra-op threads and ONNX Runtime's are set to
  Paddle's (`--threads`). Peers are built with random weights (no downloads).
- MACs per image: Conv2D and Linear multiply-accumulates of each framework's own model
  (`flops.count_flops` convention), in the mode the task runs (train: with the aux heads).
  Achieved GFLOP/s = 2 * MACs * images/s for inference and 6 * MACs * images/s for training
  (backward ~ 2x forward), as a fraction of the matmul peak measured in the same run (the
  largest of a big `paddle.matmul`, a numpy matmul, an ONNX Runtime matmul and a torch one).
- peak RSS: the process's VmHWM. By default (not `--quick`) every measurement runs in its own
  subprocess, so it is that measurement's alone, a crashing peer cannot take the run down, and
  one framework's thread pools do not linger into another's timing; `--no-isolate` runs
  everything in this process (RSS is then the process peak so far). `--repeat N` runs each
  measurement in N processes and keeps the median one: on a shared cloud CPU a whole process can
  run 1.5x faster or slower than the next one while steady within itself.
- settings: `runtime.configure_cpu` is called before any Paddle computation (the report says
  what it set: MKL code path, malloc, threads) and applies to ours and `paddleclas` alike (the
  malloc setting to the torch workers too), so those ratios compare implementations.
  `paddleclas-stock` runs PaddleClas' models in a process with Paddle's defaults instead
  (threads aside): what a PaddleClas user gets.

Nothing here imports Paddle or torch at module import time, so a torch worker never loads
Paddle.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = [
    "BenchOptions",
    "TASKS",
    "FRAMEWORKS",
    "PEERS",
    "build_parser",
    "parse_options",
    "plan_cases",
    "measure_peak",
    "measure",
    "run_benchmark",
    "add_ratios",
    "format_table",
    "main",
]

#: the repository root (this script lives in benchmarks/, outside the package)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "configs", "googlenet.yaml")

TASKS = ("infer", "export", "onnx", "train", "data")
FRAMEWORKS = ("ours", "paddleclas", "paddleclas-stock", "torchvision", "timm")
# PaddleClas' models again, in a process left with Paddle's defaults (threads aside): no
# configure_cpu MKL path, no malloc setting. What a PaddleClas user runs unless they tune it.
STOCK = "paddleclas-stock"


def _source(framework: str) -> str:
    """Whose model a framework entry runs ('paddleclas-stock' runs PaddleClas')."""
    return "paddleclas" if framework == STOCK else framework


DEFAULT_MODELS = ("googlenet", "googlenet_bn", "inception_v3", "inception_v4")
_RESULT_MARK = "@@PI_BENCH_RESULT@@"

#: our registry name -> {peer framework: the peer's constructor name}
PEERS = {
    "googlenet": {"paddleclas": "GoogLeNet", "torchvision": "googlenet"},
    "googlenet_bn": {"paddleclas": "GoogLeNet", "torchvision": "googlenet"},
    "inception_v3": {
        "paddleclas": "InceptionV3",
        "torchvision": "inception_v3",
        "timm": "inception_v3",
    },
    "inception_v4": {"paddleclas": "InceptionV4", "timm": "inception_v4"},
}
#: how a peer differs from our model of the same name (shown in the table's note column)
PEER_NOTES = {
    ("googlenet", "torchvision"): "BN, 3x3 in the 5x5 branch",
    ("googlenet_bn", "torchvision"): "3x3 in the 5x5 branch",
    ("googlenet", "paddleclas"): "aux heads run in eval too",
    ("googlenet_bn", "paddleclas"): "no BN; aux heads run in eval too",
    ("inception_v3", "paddleclas"): "no aux head",
}
#: input sizes (H = W) a peer accepts, where narrower than ours
PEER_SIZE_RANGE = {("paddleclas", "GoogLeNet"): (189, 236)}  # aux FC fixed to a 3x3 map

_IMPL = {
    ("paddle", "infer"): "paddle eager",
    ("paddle", "export"): "Paddle Inference (oneDNN)",
    ("paddle", "onnx"): "paddle2onnx + ORT",
    ("paddle", "train"): "paddle eager",
    ("torch", "infer"): "torch eager",
    ("torch", "export"): "TorchScript (frozen)",
    ("torch", "onnx"): "torch.onnx + ORT",
    ("torch", "train"): "torch eager",
}


@dataclass
class BenchOptions:
    models: list = field(default_factory=lambda: list(DEFAULT_MODELS))
    tasks: list = field(default_factory=lambda: list(TASKS))
    frameworks: list = field(default_factory=lambda: list(FRAMEWORKS))
    sizes: list = field(default_factory=lambda: ["config", "default"])
    batch: int = 16
    threads: int = 0  # 0: all available CPUs
    iters: int = 5
    repeat: int = 1  # isolated measurements: processes per row, median kept
    warmup: int = 2
    data_batches: int = 0  # 0: a full pass of the Train loader
    peak_n: int = 2048  # matmul size for the peak
    config: str = DEFAULT_CONFIG
    isolate: bool = True
    timeout: float = 1800.0  # per isolated measurement
    seed: int = 0
    quick: bool = False
    workdir: str | None = None  # exported models go here (default: a temporary folder)
    malloc_tune: bool = True  # runtime.tune_malloc in every worker, whatever framework


# ================================================================================ helpers
def _rss_mib() -> float:
    """Peak RSS of this process. VmHWM (Linux) rather than ru_maxrss: Linux carries ru_maxrss
    over an exec, so an isolated worker would report its parent's peak when that is larger."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _first_line(e: BaseException, limit: int = 300) -> str:
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def cpu_model() -> str:
    from paddle_inception.runtime import cpuinfo_field

    return cpuinfo_field("model name") or platform.processor() or platform.machine()


def _paddleclas_backbone():
    """PaddleClas' backbone module: `ppcls.arch.backbone` (a source checkout on sys.path) or
    `paddleclas.ppcls.arch.backbone` (the pip package)."""
    errors = []
    for name in ("ppcls.arch.backbone", "paddleclas.ppcls.arch.backbone"):
        if importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        try:
            backbone = importlib.import_module(name)
            # PaddleClas' logger is None until its engine sets it up, and InceptionV3's
            # constructor logs a deprecation warning: AttributeError without this
            log = importlib.import_module(name.replace("arch.backbone", "utils.logger"))
            if getattr(log, "_logger", True) is None:
                log.init_logger(log_level=40)  # errors only
            return backbone
        except Exception as e:  # the pip package imports cv2, sklearn, faiss... at import
            errors.append(f"{name}: {_first_line(e, 160)}")
    raise ImportError(
        "PaddleClas not importable ("
        + ("; ".join(errors) or "neither ppcls nor paddleclas is installed")
        + ")"
    )


def framework_status(frameworks) -> dict:
    """{framework: {"available", "version", "note"}} without importing anything heavy."""
    out = {}
    for fw in frameworks:
        if fw == "ours":
            out[fw] = {"available": True, "version": _version("paddlepaddle"), "note": ""}
        elif _source(fw) == "paddleclas":
            found = any(importlib.util.find_spec(n) for n in ("ppcls", "paddleclas"))
            out[fw] = {
                "available": bool(found),
                "version": _version("paddleclas"),
                "note": ""
                if found
                else "not installed (pip install paddleclas; its 2.6.0 wheel pins "
                "numpy==1.24.4, gast==0.3.3, opencv-python<=4.6.0.66)",
            }
        else:
            need = ["torch", fw]
            missing = [n for n in need if importlib.util.find_spec(n) is None]
            out[fw] = {
                "available": not missing,
                "version": _version(fw),
                "note": f"not installed ({', '.join(missing)})" if missing else "",
            }
    return out


def make_inputs(case: dict, batch: int, seed: int):
    """The batch every framework gets: float32 N(0, 1) images and int64 labels, seeded."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *case["input"]), dtype=np.float32)
    y = rng.integers(0, case["num_classes"], size=(batch,), dtype=np.int64)
    return x, y


def _checksum(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()[:12]


def _time_iterations(fn, iters: int, warmup: int) -> list:
    for _ in range(max(0, warmup)):
        fn()
    gc.collect()
    times = []
    for _ in range(max(1, iters)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


# ================================================================================ planning
def _load_cfg(path: str) -> dict:
    from paddle_inception.config import load_config

    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config: {path} not found")
    return load_config(path)


def plan_cases(options: BenchOptions, cfg: dict | None = None) -> tuple[list, list]:
    """(cases, skipped): one case per model x size, {model, size, input, num_classes}."""
    from paddle_inception.registry import get_model_cfg

    cases, skipped = [], []
    for name in options.models:
        mcfg = get_model_cfg(name)  # ValueError naming close models if unknown
        name = mcfg["name"]
        min_hw = tuple(mcfg["min_input_size"][1:])
        seen = set()
        for size in options.sizes:
            if size == "config":
                if cfg is None:
                    cfg = _load_cfg(options.config)
                shape = [int(s) for s in (cfg.get("Global") or {}).get("image_shape")]
                classes = int((cfg.get("Arch") or {}).get("class_num") or 1000)
            elif size == "default":
                shape, classes = [int(s) for s in mcfg["input_size"]], 1000
            else:
                shape, classes = [3, int(size), int(size)], 1000
            key = (tuple(shape), classes)
            if key in seen:
                continue
            seen.add(key)
            case = {"model": name, "size": str(size), "input": shape, "num_classes": classes}
            if shape[1] < min_hw[0] or shape[2] < min_hw[1]:
                skipped.append(
                    dict(case, reason=f"{name} needs at least {min_hw[0]}x{min_hw[1]} px")
                )
                continue
            cases.append(case)
    return cases, skipped


# ================================================================================ MACs
def _paddle_macs(model, shape, train: bool) -> int:
    from paddle_inception.analysis.flops import count_flops
    from paddle_inception.models import has_aux_heads

    kwargs = {"return_aux": True} if train and has_aux_heads(model) else {}
    return int(count_flops(model, [1, *shape], **kwargs)["macs"])


def _torch_macs(model, shape, train: bool) -> int:
    import torch
    import torch.nn as tnn

    total = [0]

    def hook(layer, inputs, output):
        n_out = output.numel()
        if isinstance(layer, tnn.Conv2d):
            k = layer.weight.shape
            total[0] += n_out * int(k[1] * k[2] * k[3])
        else:
            total[0] += n_out * layer.in_features

    hooks = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (tnn.Conv2d, tnn.Linear))
    ]
    was_training = model.training
    model.train(train)
    try:
        with torch.no_grad():  # batch 2: BatchNorm in train mode needs > 1 value
            model(torch.zeros([2, *shape]))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0] // 2


# ================================================================================ Paddle side
def _swap_first_conv_paddle(model, channels: int) -> bool:
    import paddle.nn as pnn

    for name, layer in model.named_sublayers(include_self=False):
        if isinstance(layer, pnn.Conv2D):
            if layer._in_channels == channels:
                return False
            parent = model
            *path, last = name.split(".")
            for p in path:
                parent = getattr(parent, p)
            new = pnn.Conv2D(
                channels,
                layer._out_channels,
                layer._kernel_size,
                layer._stride,
                layer._padding,
                layer._dilation,
                layer._groups,
                bias_attr=None if layer.bias is not None else False,
                data_format=layer._data_format,
            )
            setattr(parent, last, new)
            return True
    return False


def peer_skip_reason(case: dict, framework: str) -> str | None:
    """Why `framework`'s model cannot run `case` at all (known limits), else None."""
    ctor = PEERS.get(case["model"], {}).get(_source(framework))
    lo_hi = PEER_SIZE_RANGE.get((_source(framework), ctor))
    if lo_hi and not all(lo_hi[0] <= s <= lo_hi[1] for s in case["input"][1:]):
        return f"{_source(framework)} {ctor} runs only at {lo_hi[0]}-{lo_hi[1]} px"
    return None


def _build_paddle(case: dict, framework: str, train: bool = False):
    """(model, note) for 'ours' or 'paddleclas'."""
    C = case["input"][0]
    if framework == "ours":
        from paddle_inception.registry import create_model

        return create_model(case["model"], num_classes=case["num_classes"], in_channels=C), ""
    ctor = PEERS.get(case["model"], {}).get("paddleclas")
    reason = peer_skip_reason(case, "paddleclas")
    if reason:
        raise _Skip(reason)
    backbone = _paddleclas_backbone()
    import paddle

    # PaddleClas names its parameters explicitly (ParamAttr(name="conv1_weights")); a fresh
    # name scope lets a second instance be built in the same process.
    with paddle.utils.unique_name.guard():
        model = getattr(backbone, ctor)(pretrained=False, class_num=case["num_classes"])
    note = PEER_NOTES.get((case["model"], "paddleclas"), "")
    if framework == STOCK:
        note = "; ".join(n for n in ("Paddle defaults, no configure_cpu", note) if n)
    if C != 3 and _swap_first_conv_paddle(model, C):
        note = "; ".join(n for n in (note, f"first conv takes {C} ch") if n)
    return model, note


def _ort_session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def _paddle_export_prefix(case, framework, workdir, model):
    from paddle_inception.deploy.export import export_inference_model

    tag = f"{case['model']}_{'x'.join(map(str, case['input']))}_{case['num_classes']}"
    prefix = os.path.join(workdir, f"{tag}_{framework}", "inference")
    if not (os.path.isfile(prefix + ".json") or os.path.isfile(prefix + ".pdmodel")):
        model.eval()
        export_inference_model(model, prefix, input_shape=case["input"])
    return prefix


def _measure_paddle(case, framework, task, x, y, opts: BenchOptions, workdir: str) -> dict:
    import paddle

    paddle.seed(opts.seed)
    train = task == "train"
    t0 = time.perf_counter()
    model, note = _build_paddle(case, framework, train)
    res = {"note": note, "macs_per_image": _paddle_macs(model, case["input"], train)}
    if task == "infer":
        model.eval()
        xt = paddle.to_tensor(x)

        def step():
            with paddle.no_grad():
                out = model(xt)
            out = out[0] if isinstance(out, (list, tuple)) else out
            out.numpy()
    elif task in ("export", "onnx"):
        prefix = _paddle_export_prefix(case, framework, workdir, model)
        if task == "export":
            from paddle_inception.deploy.predictor import InferencePredictor

            predictor = InferencePredictor(prefix, use_mkldnn=True, cpu_threads=opts.threads)
            step = lambda: predictor(x)  # noqa: E731
        else:
            from paddle_inception.deploy.export import export_onnx

            onnx_path = os.path.splitext(prefix)[0] + ".onnx"
            if not os.path.isfile(onnx_path):
                export_onnx(prefix, onnx_path)
            run = _ort_session(onnx_path, opts.threads)
            step = lambda: run(x)  # noqa: E731
    elif task == "train":
        from paddle_inception.engine.losses import GoogLeNetLoss

        model.train()
        loss_fn = GoogLeNetLoss(aux_weight=0.3)
        optim = paddle.optimizer.Momentum(
            learning_rate=0.01, momentum=0.9, parameters=model.parameters()
        )
        xt, yt = paddle.to_tensor(x), paddle.to_tensor(y.reshape(-1, 1))

        def step():
            out = model(xt)
            outs = tuple(out) if isinstance(out, (list, tuple)) else (out,)
            res["outputs"] = len(outs)
            loss = loss_fn(*outs, yt)
            loss.backward()
            optim.step()
            optim.clear_grad()
            float(loss)
    else:
        raise ValueError(f"unknown task {task!r}")
    res["prepare_s"] = round(time.perf_counter() - t0, 2)
    res["times_s"] = _time_iterations(step, opts.iters, opts.warmup)
    return res


# ================================================================================ torch side
def _swap_first_conv_torch(model, channels: int) -> bool:
    import torch.nn as tnn

    for name, layer in model.named_modules():
        if isinstance(layer, tnn.Conv2d):
            if layer.in_channels == channels:
                return False
            parent = model
            *path, last = name.split(".")
            for p in path:
                parent = getattr(parent, p)
            setattr(
                parent,
                last,
                tnn.Conv2d(
                    channels,
                    layer.out_channels,
                    layer.kernel_size,
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    layer.groups,
                    bias=layer.bias is not None,
                ),
            )
            return True
    return False


def _build_torch(case: dict, framework: str, train: bool):
    C, classes = case["input"][0], case["num_classes"]
    ctor = PEERS.get(case["model"], {}).get(framework)
    note = PEER_NOTES.get((case["model"], framework), "")
    if framework == "torchvision":
        import torchvision

        kwargs = dict(weights=None, num_classes=classes, init_weights=True)
        if ctor in ("googlenet", "inception_v3"):
            kwargs["aux_logits"] = True  # aux heads only run in train mode
        model = getattr(torchvision.models, ctor)(**kwargs)
        if C != 3 and _swap_first_conv_torch(model, C):
            note = "; ".join(n for n in (note, f"first conv takes {C} ch") if n)
    else:
        import timm

        kwargs = dict(pretrained=False, num_classes=classes, in_chans=C)
        if ctor == "inception_v3" and train:
            kwargs["aux_logits"] = True  # timm computes it in eval too: train task only
        model = timm.create_model(ctor, **kwargs)
    return model, note


def _measure_torch(case, framework, task, x, y, opts: BenchOptions, workdir: str) -> dict:
    import torch
    import torch.nn.functional as TF

    torch.manual_seed(opts.seed)
    threads = opts.threads
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    train = task == "train"
    t0 = time.perf_counter()
    model, note = _build_torch(case, framework, train)
    res = {
        "note": note,
        "macs_per_image": _torch_macs(model, case["input"], train),
        "torch_threads": torch.get_num_threads(),
    }
    xt = torch.from_numpy(x)
    if task == "infer":
        model.eval()

        def step():
            with torch.inference_mode():
                out = model(xt)
            out = out[0] if isinstance(out, (list, tuple)) else out
            out.numpy()
    elif task == "export":
        model.eval()
        with torch.no_grad():
            traced = torch.jit.trace(model, xt)
            scripted = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

        def step():
            with torch.inference_mode():
                scripted(xt).numpy()
    elif task == "onnx":
        model.eval()
        path = os.path.join(
            workdir,
            f"{case['model']}_{'x'.join(map(str, case['input']))}_"
            f"{case['num_classes']}_{framework}",
            "model.onnx",
        )
        if not os.path.isfile(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            import warnings

            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                kw = {"dynamo": False} if _accepts(torch.onnx.export, "dynamo") else {}
                torch.onnx.export(
                    model,
                    (xt,),
                    path,
                    input_names=["x"],
                    output_names=["logits"],
                    opset_version=17,
                    dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                    **kw,
                )
        run = _ort_session(path, threads)
        step = lambda: run(x)  # noqa: E731
    elif task == "train":
        model.train()
        optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        yt = torch.from_numpy(y)

        def step():
            out = model(xt)
            outs = tuple(out) if isinstance(out, (list, tuple)) else (out,)
            res["outputs"] = len(outs)
            loss = TF.cross_entropy(outs[0], yt)
            for aux in outs[1:]:
                loss = loss + 0.3 * TF.cross_entropy(aux, yt)
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            loss.detach().item()
    else:
        raise ValueError(f"unknown task {task!r}")
    res["prepare_s"] = round(time.perf_counter() - t0, 2)
    res["times_s"] = _time_iterations(step, opts.iters, opts.warmup)
    return res


def _accepts(fn, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


# ================================================================================ data
def _measure_data(opts: BenchOptions) -> dict:
    from paddle_inception.data import build_dataloader

    cfg = _load_cfg(opts.config)
    class_num = (cfg.get("Arch") or {}).get("class_num")
    t0 = time.perf_counter()
    loader = build_dataloader(
        cfg["DataLoader"]["Train"], "Train", class_num=class_num, seed=opts.seed
    )
    prepare = time.perf_counter() - t0
    total = len(loader)
    limit = min(opts.data_batches, total) if opts.data_batches else total
    images, times = 0, []
    shape = None
    t_start = t = time.perf_counter()
    for i, (img, _label) in enumerate(loader):
        images += int(img.shape[0])
        shape = list(img.shape[1:])
        now = time.perf_counter()
        times.append(now - t)
        t = now
        if i + 1 >= limit:
            break
    elapsed = time.perf_counter() - t_start
    s_cfg = cfg["DataLoader"]["Train"].get("sampler") or {}
    l_cfg = cfg["DataLoader"]["Train"].get("loader") or {}
    return {
        "times_s": times,
        "images": images,
        "elapsed_s": round(elapsed, 3),
        "images_per_s": images / elapsed if elapsed > 0 else None,
        "batch": s_cfg.get("batch_size"),
        "input": shape,
        "prepare_s": round(prepare, 2),
        "note": f"{'full pass' if limit == total else f'{limit} of {total} batches'}, "
        f"num_workers {l_cfg.get('num_workers', 0)}",
    }


# ================================================================================ one measurement
class _Skip(Exception):
    """A measurement that does not apply (not an error)."""


def measure(
    case: dict, framework: str, task: str, opts: BenchOptions, workdir: str, inputs=None
) -> dict:
    """One measurement in this process; never raises: errors land in the result."""
    rec = {
        "model": case.get("model", "-"),
        "size": case.get("size"),
        "input": case.get("input"),
        "num_classes": case.get("num_classes"),
        "task": task,
        "framework": framework,
        "batch": opts.batch,
        "status": "ok",
        "error": None,
        "note": "",
    }
    try:
        if task == "data":
            res = _measure_data(opts)
            rec.update(
                model="-", impl="config Train DataLoader", iters=len(res["times_s"]), warmup=0
            )
            rec.update(res)
            rec["median_s"] = statistics.median(res["times_s"]) if res["times_s"] else None
        else:
            x, y = inputs if inputs is not None else make_inputs(case, opts.batch, opts.seed)
            rec["input_sha1"] = _checksum(x)
            kind = "paddle" if _source(framework) in ("ours", "paddleclas") else "torch"
            rec["impl"] = _IMPL[(kind, task)]
            fn = _measure_paddle if kind == "paddle" else _measure_torch
            res = fn(case, framework, task, x, y, opts, workdir)
            rec.update(res)
            rec.update(iters=len(res["times_s"]), warmup=opts.warmup)
            med = statistics.median(res["times_s"])
            rec["median_s"] = med
            rec["images_per_s"] = opts.batch / med if med > 0 else None
            macs = rec.get("macs_per_image")
            if macs and rec["images_per_s"]:
                rec["flops_per_image"] = (6 if task == "train" else 2) * macs
                rec["gflops"] = rec["flops_per_image"] * rec["images_per_s"] / 1e9
    except _Skip as e:
        rec.update(status="skipped", error=str(e))
    except Exception as e:  # one failing framework must not end the run
        rec.update(status="error", error=_first_line(e), traceback=traceback.format_exc(limit=6))
        if isinstance(e, ImportError):
            rec["import_error"] = True
    gc.collect()  # the model and its graphs go before the next one
    rec["rss_mib"] = _rss_mib()
    return rec


def _worker_main(spec_json: str) -> int:
    """Entry point of an isolated measurement (see `_run_isolated`)."""
    spec = json.loads(spec_json)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    opts = BenchOptions(**spec["options"])
    from paddle_inception.runtime import configure_cpu, tune_malloc

    if spec["framework"] == STOCK:  # threads only (the parent dropped the MKL variable)
        configure_cpu(num_threads=opts.threads, mkl_amd_fix=False, malloc=False)
    elif spec["framework"] in ("ours", "paddleclas") or spec["task"] == "data":
        configure_cpu(num_threads=opts.threads, malloc=opts.malloc_tune)
    elif opts.malloc_tune:
        tune_malloc()  # torch workers: the same process-wide allocator setting
    rec = measure(spec["case"], spec["framework"], spec["task"], opts, spec["workdir"])
    rec["rss_scope"] = "measurement"
    rec["paddle_loaded"] = "paddle" in sys.modules
    rec["torch_loaded"] = "torch" in sys.modules
    sys.stdout.write(_RESULT_MARK + json.dumps(rec, default=_json_default) + "\n")
    sys.stdout.flush()
    return 0


_BOOT = (
    "import importlib.util, sys; "
    "s = importlib.util.spec_from_file_location('_pi_benchmark_worker', sys.argv[1]); "
    "m = importlib.util.module_from_spec(s); sys.modules[s.name] = m; "
    "s.loader.exec_module(m); "
    "sys.exit(m._worker_main(sys.argv[2]))"
)


def _median_run(recs: list) -> dict:
    """The record of the median-speed process among repeated isolated runs of one row, with
    every run's images/s in `runs_images_per_s`. (On shared cloud CPUs the speed of a whole
    process can differ by 1.5x from the next one's while each is steady within itself.)"""
    ok = sorted(
        (r for r in recs if r.get("status") == "ok" and r.get("images_per_s")),
        key=lambda r: r["images_per_s"],
    )
    if not ok:
        return recs[-1]
    rec = dict(ok[(len(ok) - 1) // 2])
    rec["runs_images_per_s"] = [round(r["images_per_s"], 2) for r in ok]
    spread = "-".join(f"{r['images_per_s']:.1f}" for r in (ok[0], ok[-1]))
    rec["note"] = "; ".join(n for n in (rec.get("note"), f"{len(ok)} runs {spread}") if n)
    return rec


def _run_isolated(
    case, framework, task, opts: BenchOptions, workdir: str, mkl_set_by_us: bool = False
) -> dict:
    """`measure` in a fresh interpreter (loads this file without the package, so a torch
    worker never imports Paddle). `mkl_set_by_us`: MKL_DEBUG_CPU_TYPE in the environment is
    configure_cpu's, not the user's, and is left out of a stock worker's environment."""
    spec = {
        "case": case,
        "framework": framework,
        "task": task,
        "workdir": workdir,
        "options": asdict(opts),
    }
    base = {
        "model": case.get("model", "-"),
        "size": case.get("size"),
        "input": case.get("input"),
        "num_classes": case.get("num_classes"),
        "task": task,
        "framework": framework,
        "batch": opts.batch,
        "note": "",
        "rss_scope": "measurement",
    }
    cmd = [sys.executable, "-c", _BOOT, os.path.abspath(__file__), json.dumps(spec)]
    env = dict(os.environ)
    if framework == STOCK and mkl_set_by_us:
        env.pop("MKL_DEBUG_CPU_TYPE", None)  # ours, not the user's: stock runs without it
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(base, status="error", error=f"timed out after {opts.timeout:.0f} s")
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK) :])
    tail = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    return dict(
        base,
        status="error",
        error=f"worker exited with code {proc.returncode}"
        + (f": {tail[-1][:200]}" if tail else ""),
    )


# ================================================================================ peak, ratios
def _ort_matmul(n: int, threads: int):
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 8)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda a, b: sess.run(None, {"a": a, "b": b})


def measure_peak(
    n: int = 2048, threads: int | None = None, with_torch: bool = False, repeats: int = 3
) -> dict:
    """Float32 n x n matmul GFLOP/s (best time of at least `repeats` runs and 0.5 s) of
    paddle.matmul and numpy, plus onnxruntime's MatMul and torch.matmul (`with_torch`) with
    `threads` threads; `peak_gflops` is the largest. numpy's BLAS uses its own thread count."""
    import paddle

    out = {"n": int(n)}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2.0 * n**3
    threads = threads or 1
    pa, pb = paddle.to_tensor(a), paddle.to_tensor(b)
    candidates = [
        ("paddle", lambda: lambda: paddle.matmul(pa, pb)),
        ("numpy", lambda: lambda: a @ b),
    ]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        candidates.append(
            ("onnxruntime", lambda: (lambda run: lambda: run(a, b))(_ort_matmul(n, threads)))
        )
    if with_torch and importlib.util.find_spec("torch"):

        def torch_fn():
            import torch

            torch.set_num_threads(threads)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            return lambda: torch.matmul(ta, tb)

        candidates.append(("torch", torch_fn))
    for name, make in candidates:
        try:
            fn = make()
            fn()
            times, t_end = [], time.perf_counter() + 0.5
            while len(times) < repeats or (time.perf_counter() < t_end and len(times) < 50):
                times += _time_iterations(fn, 1, 0)
            out[f"{name}_gflops"] = flop / min(times) / 1e9
        except Exception as e:
            out[f"{name}_gflops"] = None
            out[f"{name}_error"] = _first_line(e)
    vals = {k[: -len("_gflops")]: v for k, v in out.items() if k.endswith("_gflops") and v}
    out["peak_gflops"] = max(vals.values()) if vals else None
    out["peak_from"] = max(vals, key=vals.get) if vals else None
    return out


def add_ratios(results: list, peak_gflops: float | None = None) -> list:
    """Set `ratio_ours_over_this` (ours images/s / this images/s) on each successful peer
    result of the same model, input and task, and `peak_fraction` from `gflops`."""
    ours = {}
    for r in results:
        if r.get("framework") == "ours" and r.get("status") == "ok" and r.get("images_per_s"):
            ours[(r["model"], tuple(r.get("input") or ()), r["task"])] = r["images_per_s"]
    for r in results:
        r["ratio_ours_over_this"] = None
        if r.get("framework") != "ours" and r.get("status") == "ok" and r.get("images_per_s"):
            mine = ours.get((r["model"], tuple(r.get("input") or ()), r["task"]))
            if mine:
                r["ratio_ours_over_this"] = mine / r["images_per_s"]
        if peak_gflops and r.get("gflops"):
            r["peak_fraction"] = r["gflops"] / peak_gflops
    return results


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_busy(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), or None."""

    def snap():
        with open("/proc/stat", encoding="ascii") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]), idle

    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    return round(1.0 - (i1 - i0) / (t1 - t0), 3) if t1 > t0 else None


def _mkl_status(done: dict) -> str:
    from paddle_inception.runtime import cpu_vendor

    vendor = cpu_vendor() or "unknown"
    if "MKL_DEBUG_CPU_TYPE" in done:
        return (
            f"applied: configure_cpu set MKL_DEBUG_CPU_TYPE={done['MKL_DEBUG_CPU_TYPE']} "
            f"({vendor} CPU)"
        )
    if "MKL_DEBUG_CPU_TYPE" in os.environ:
        return (
            f"MKL_DEBUG_CPU_TYPE={os.environ['MKL_DEBUG_CPU_TYPE']} already in the "
            f"environment (left as is)"
        )
    if vendor != "AuthenticAMD":
        return f"not applied: not needed on a {vendor} CPU"
    return "not applied: opted out (PADDLE_INCEPTION_MKL_FIX=0)"


# ================================================================================ the run
def run_benchmark(opts: BenchOptions, log=None) -> dict:
    """Run everything `opts` asks for; returns {"meta", "peak", "results", "skipped"}."""
    log = log or (lambda msg: None)
    paddle_before = "paddle" in sys.modules
    load_before = _loadavg()
    busy_before = _cpu_busy(0.5)  # other processes' CPU use, before we add ours
    from paddle_inception.runtime import available_cpus, configure_cpu

    if not opts.threads:
        opts = replace(opts, threads=available_cpus())
    done = configure_cpu(
        num_threads=opts.threads,  # before any Paddle computation
        malloc=opts.malloc_tune,
    )
    mkl_set_by_us = "MKL_DEBUG_CPU_TYPE" in done
    status = framework_status(opts.frameworks)
    skipped = [
        {"framework": fw, "reason": s["note"]} for fw, s in status.items() if not s["available"]
    ]
    model_tasks = [t for t in opts.tasks if t != "data"]
    cases, case_skips = plan_cases(opts) if model_tasks else ([], [])
    skipped += [dict(s, framework="all") for s in case_skips]

    own_workdir = opts.workdir is None
    workdir = opts.workdir or tempfile.mkdtemp(prefix="pi_bench_")
    os.makedirs(workdir, exist_ok=True)
    results = []
    try:
        log(f"matmul peak ({opts.peak_n}x{opts.peak_n} float32)")
        torch_peers = [
            fw
            for fw in ("torchvision", "timm")
            if fw in opts.frameworks and status.get(fw, {}).get("available")
        ]
        peak = measure_peak(opts.peak_n, opts.threads, with_torch=bool(torch_peers))
        broken = {}  # framework -> import error (skip the rest)

        def one(case, fw, task):
            if fw in broken:
                return dict(
                    model=case.get("model", "-"),
                    size=case.get("size"),
                    input=case.get("input"),
                    num_classes=case.get("num_classes"),
                    task=task,
                    framework=fw,
                    batch=opts.batch,
                    status="skipped",
                    error=f"not importable: {broken[fw]}",
                    note="",
                    rss_mib=None,
                )
            reason = peer_skip_reason(case, fw) if task != "data" else None
            if fw == STOCK and not opts.isolate:
                reason = "needs --isolate: Paddle's defaults need a process of their own"
            if reason:
                return dict(
                    model=case["model"],
                    size=case["size"],
                    input=case["input"],
                    num_classes=case["num_classes"],
                    task=task,
                    framework=fw,
                    batch=opts.batch,
                    status="skipped",
                    error=reason,
                    note="",
                    rss_mib=None,
                )
            log(f"{case.get('model', '-')} {case.get('size')} {task} {fw}")
            if opts.isolate and opts.repeat > 1:
                rec = _median_run(
                    [
                        _run_isolated(case, fw, task, opts, workdir, mkl_set_by_us)
                        for _ in range(opts.repeat)
                    ]
                )
            elif opts.isolate:
                rec = _run_isolated(case, fw, task, opts, workdir, mkl_set_by_us)
            else:
                inputs = make_inputs(case, opts.batch, opts.seed) if task != "data" else None
                rec = measure(case, fw, task, opts, workdir, inputs)
                rec["rss_scope"] = "process"
            if rec.get("import_error"):
                broken[fw] = rec["error"]
            return rec

        for case in cases:
            fws = ["ours"] + [
                fw
                for fw in opts.frameworks
                if fw != "ours"
                and status.get(fw, {}).get("available")
                and _source(fw) in PEERS.get(case["model"], {})
            ]
            if "ours" not in opts.frameworks:
                fws = fws[1:]
            for task in model_tasks:
                for fw in fws:
                    results.append(one(case, fw, task))
        if "data" in opts.tasks:
            data_case = {"model": "-", "size": "config", "input": None, "num_classes": None}
            results.append(one(data_case, "ours", "data"))
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    add_ratios(results, peak.get("peak_gflops"))
    meta = {
        "tool": "tools/benchmark.py",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loadavg_1min_at_start": load_before,
        "cpu_busy_at_start": busy_before,
        "cpu": cpu_model(),
        "cpus_available": available_cpus(),
        "threads": opts.threads,
        "mkl": _mkl_status(done),
        "configure_cpu": done,
        "malloc": (
            "glibc keeps freed memory (runtime.tune_malloc), in every framework's worker alike"
            if "malloc" in done
            else "default allocator settings"
        ),
        "paddle_imported_before_configure_cpu": paddle_before,
        "python": platform.python_version(),
        "versions": {
            d: _version(d)
            for d in (
                "paddlepaddle",
                "numpy",
                "onnxruntime",
                "paddle2onnx",
                "paddleclas",
                "torch",
                "torchvision",
                "timm",
            )
        },
        "frameworks": status,
        "options": asdict(opts),
        "rss_scope": "measurement" if opts.isolate else "process",
    }
    return {"meta": meta, "peak": peak, "results": results, "skipped": skipped}


# ================================================================================ output
def _fmt(v, spec="{:.1f}", empty="-"):
    return empty if v is None else spec.format(v)


def format_table(report: dict) -> str:
    meta, peak = report["meta"], report["peak"]
    o = meta["options"]
    v = meta["versions"]
    lines = [
        f"paddle_inception benchmark  {meta['time']}  {meta['cpu']}, {meta['threads']} "
        f"thread(s) of {meta['cpus_available']}",
        f"paddle {v.get('paddlepaddle')}, onnxruntime {v.get('onnxruntime')}, torch "
        f"{v.get('torch') or '-'}, torchvision {v.get('torchvision') or '-'}, timm "
        f"{v.get('timm') or '-'}, paddleclas {v.get('paddleclas') or '-'}",
        f"MKL: {meta['mkl']}",
        f"malloc: {meta.get('malloc', '-')}",
        f"matmul peak {peak['n']}x{peak['n']} fp32 GFLOP/s: "
        + ", ".join(
            f"{k} {_fmt(peak.get(k + '_gflops'))}"
            for k in ("paddle", "numpy", "onnxruntime", "torch")
            if k + "_gflops" in peak
        )
        + f" -> peak {_fmt(peak.get('peak_gflops'))}",
        f"batch {o['batch']} (data: the config's), median of {o['iters']} iterations after "
        f"{o['warmup']} warm-up; same seeded inputs for every framework"
        + (f"; each row the median of {o['repeat']} processes" if o.get("repeat", 1) > 1 else "")
        + ("; quick mode" if o.get("quick") else ""),
    ]
    busy = meta.get("cpu_busy_at_start")
    if busy is not None and busy > 0.2:
        lines.append(
            f"WARNING: {100 * busy:.0f}% of the CPUs were busy before the benchmark "
            f"started (1-min load {meta.get('loadavg_1min_at_start')}): timings are "
            f"low and noisy; OpenMP thread teams suffer most when oversubscribed"
        )
    for s in report.get("skipped", []):
        what = (
            s.get("model")
            and f"{s['model']} {s.get('size')} {'x'.join(map(str, s.get('input') or []))}"
            or s["framework"]
        )
        lines.append(f"skipped: {what}: {s['reason']}")
    head = [
        "model",
        "input",
        "task",
        "framework",
        "impl",
        "img/s",
        "ours/this",
        "MMAC/img",
        "GFLOP/s",
        "%peak",
        "RSS MiB",
        "note",
    ]
    rows = []
    for r in report["results"]:
        inp = "x".join(map(str, r["input"])) if r.get("input") else "-"
        if r.get("num_classes") and r["num_classes"] != 1000:
            inp += f"/{r['num_classes']}"
        note = r.get("note") or ""
        if r.get("status") != "ok":
            note = f"{r['status'].upper()}: {r.get('error')}"
        ratio = r.get("ratio_ours_over_this")
        rows.append(
            [
                r.get("model", "-"),
                inp,
                r["task"],
                r["framework"],
                r.get("impl", ""),
                _fmt(r.get("images_per_s")) if r.get("status") == "ok" else "-",
                f"{ratio:.2f}x" if ratio else "",
                _fmt(r["macs_per_image"] / 1e6 if r.get("macs_per_image") else None),
                _fmt(r.get("gflops")),
                _fmt(100 * r["peak_fraction"] if r.get("peak_fraction") else None, "{:.0f}%"),
                _fmt(r.get("rss_mib"), "{:.0f}"),
                note[:90],
            ]
        )
    widths = (
        [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        if rows
        else [len(h) for h in head]
    )
    right = {5, 6, 7, 8, 9, 10}

    def line(cells):
        return "  ".join(
            (str(c).rjust(w) if i in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    lines += ["", line(head), line(["-" * w for w in widths])]
    prev = None
    for cells in rows:
        key = tuple(cells[:3])
        shown = [
            c if prev is None or i > 2 or key[: i + 1] != prev[: i + 1] else ""
            for i, c in enumerate(cells)
        ]
        lines.append(line(shown))
        prev = key
    lines += [
        "",
        "img/s: batch / median iteration time (data: images / loader time). ours/this: "
        "our img/s over this framework's (> 1: ours is faster).",
        "MMAC/img: conv + linear multiply-accumulates of each framework's own model "
        "(train: with aux heads). GFLOP/s = 2 x MACs x img/s (train: 6 x).",
        "%peak: GFLOP/s over the matmul peak above. RSS: peak resident memory of "
        + (
            "that measurement's process."
            if meta.get("rss_scope") == "measurement"
            else "this process so far (--isolate: per measurement)."
        ),
    ]
    return "\n".join(lines)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, default=_json_default)


# ================================================================================ CLI
def _csv(text: str) -> list:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tools/benchmark.py",
        description="Images/s of our models against PaddleClas / torchvision / timm on the same "
        "inputs: eager inference, exported inference (Paddle Inference oneDNN / "
        "TorchScript), ONNX Runtime, a training step, and the config's data loader.",
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="A,B",
        help=f"registry names (default: {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--tasks", default=None, metavar="A,B", help=f"subset of {','.join(TASKS)} (default: all)"
    )
    p.add_argument(
        "--frameworks",
        default=None,
        metavar="A,B",
        help=f"subset of {','.join(FRAMEWORKS)} (default: all installed)",
    )
    p.add_argument(
        "--sizes",
        default=None,
        metavar="A,B",
        help="input sizes: 'config' (Global.image_shape and Arch.class_num of "
        "--config), 'default' (the model's: 224 / 299), or numbers "
        "(3 channels, 1000 classes). Default: config,default (--quick: config)",
    )
    p.add_argument("--batch", type=int, default=None, help="batch size (default 16; --quick 2)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for Paddle, torch and ONNX Runtime (default: all available)",
    )
    p.add_argument(
        "--iters",
        type=int,
        default=None,
        help="timed iterations, the median is reported (default 5; --quick 2)",
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed iterations first (default 2; --quick 1)"
    )
    p.add_argument(
        "--data-batches",
        type=int,
        default=None,
        metavar="N",
        help="data task: time N batches of the Train loader (default 0 = a full pass; --quick 2)",
    )
    p.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        help="config giving the 'config' size, class count and Train loader "
        "(default configs/googlenet.yaml)",
    )
    p.add_argument(
        "--peak-size",
        type=int,
        default=None,
        metavar="N",
        help="N x N matmul for the peak (default 2048; --quick 512)",
    )
    iso = p.add_mutually_exclusive_group()
    iso.add_argument(
        "--isolate",
        dest="isolate",
        action="store_true",
        default=None,
        help="one subprocess per measurement (default, except with --quick)",
    )
    iso.add_argument(
        "--no-isolate",
        dest="isolate",
        action="store_false",
        help="everything in this process (faster start; RSS is the process peak)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds allowed to one isolated measurement (default 1800)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs and weights")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: batch 2, 2 iterations after 1 warm-up, the config size only, "
        "2 loader batches, a 512 matmul peak, in-process (explicit options win)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each isolated measurement in N processes and keep the median "
        "one (default 1); the table notes the range",
    )
    p.add_argument(
        "--no-malloc-tune",
        dest="malloc_tune",
        action="store_false",
        help="leave glibc's allocator as it is (default: runtime.tune_malloc in "
        "every framework's process alike)",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="write the results as JSON: to stdout instead of the table (bare "
        "--json), or to PATH besides the table",
    )
    return p


def parse_options(argv=None) -> tuple[BenchOptions, argparse.Namespace]:
    args = build_parser().parse_args(argv)
    q = args.quick

    def pick(value, normal, quick):
        return value if value is not None else (quick if q else normal)

    opts = BenchOptions(
        models=_csv(args.models) if args.models else list(DEFAULT_MODELS),
        tasks=_csv(args.tasks) if args.tasks else list(TASKS),
        frameworks=_csv(args.frameworks) if args.frameworks else list(FRAMEWORKS),
        sizes=_csv(args.sizes) if args.sizes else (["config"] if q else ["config", "default"]),
        batch=pick(args.batch, 16, 2),
        threads=args.threads or 0,
        iters=pick(args.iters, 5, 2),
        warmup=pick(args.warmup, 2, 1),
        data_batches=pick(args.data_batches, 0, 2),
        peak_n=pick(args.peak_size, 2048, 512),
        config=args.config,
        isolate=pick(args.isolate, True, False),
        timeout=args.timeout,
        seed=args.seed,
        quick=q,
        malloc_tune=args.malloc_tune,
        repeat=args.repeat,
    )
    bad = [t for t in opts.tasks if t not in TASKS]
    if bad:
        raise ValueError(f"--tasks: unknown {bad}; choose from {', '.join(TASKS)}")
    bad = [f for f in opts.frameworks if f not in FRAMEWORKS]
    if bad:
        raise ValueError(f"--frameworks: unknown {bad}; choose from {', '.join(FRAMEWORKS)}")
    for s in opts.sizes:
        if s not in ("config", "default") and not (s.isdigit() and int(s) > 0):
            raise ValueError(
                f"--sizes: expected 'config', 'default' or a positive integer, got {s!r}"
            )
    opts.sizes = [s if s in ("config", "default") else str(int(s)) for s in opts.sizes]
    for name in ("batch", "iters", "repeat"):
        if getattr(opts, name) < 1:
            raise ValueError(f"--{name}: must be >= 1")
    if opts.warmup < 0 or opts.data_batches < 0 or (args.threads is not None and args.threads < 1):
        raise ValueError("--warmup / --data-batches must be >= 0 and --threads >= 1")
    from paddle_inception.registry import get_model_cfg

    opts.models = [get_model_cfg(m)["name"] for m in opts.models]  # unknown: ValueError
    return opts, args


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send everything written to stdout (Python and C++ alike) to stderr meanwhile, so that
    stdout carries only the table or the JSON."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv=None) -> int:
    try:
        opts, args = parse_options(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from paddle_inception.cli.common import logger, setup_tool_logging

    setup_tool_logging()
    try:
        with _stdout_to_stderr():  # paddle2onnx and others print to stdout (fd 1)
            report = run_benchmark(opts, log=lambda m: logger.info("benchmark: %s", m))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json == "-":
        print(to_json(report))
    else:
        print(format_table(report))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(to_json(report) + "\n")
            print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
