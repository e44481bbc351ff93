"""Predictors with one calling convention, `predictor(batch float32 [N, C, H, W]) -> ndarray`:
the eager model (`EagerPredictor`), Paddle Inference (`InferencePredictor`, oneDNN on the CPU)
and ONNX Runtime (`OnnxPredictor`)."""

from __future__ import annotations

import numpy as np
import paddle

from ..runtime import available_cpus
from .files import check_export, model_files, read_meta

__all__ = [
    "EagerPredictor",
    "InferencePredictor",
    "create_predictor",
    "OnnxPredictor",
    "onnx_predict",
]


class EagerPredictor:
    """`predictor(batch) -> main logits` with a dygraph model (eval mode, no gradients)."""

    def __init__(self, model):
        self.model = model
        model.eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            out = self.model(paddle.to_tensor(np.ascontiguousarray(batch, np.float32)))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.numpy()


class InferencePredictor:
    """A Paddle Inference predictor: `predictor(batch float32 [N, C, H, W]) -> ndarray`.

    On the CPU it enables oneDNN (`enable_mkldnn`) unless `use_mkldnn=False`; `bf16=True`
    runs oneDNN's bfloat16 kernels (CPUs with AVX512_BF16 / AMX: `runtimes.check_precision`);
    `gpu=True` uses GPU 0 where Paddle has CUDA.
    """

    def __init__(
        self,
        prefix: str,
        use_mkldnn: bool = True,
        cpu_threads: int | None = None,
        gpu: bool = False,
        bf16: bool = False,
    ):
        from paddle import inference

        self.program, self.params = model_files(prefix)
        self.meta = read_meta(prefix)  # validated before Paddle reads the program
        check_export(self.program, self.params, self.meta)  # edited shapes, truncated files
        config = inference.Config(self.program, self.params)
        if gpu and paddle.is_compiled_with_cuda():
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            if use_mkldnn or bf16:
                config.enable_mkldnn()
            if bf16:
                config.enable_mkldnn_bfloat16()
            if cpu_threads is None:
                cpu_threads = available_cpus()
            config.set_cpu_math_library_num_threads(int(cpu_threads))
        config.disable_glog_info()
        config.switch_ir_optim(True)
        self.config = config
        self.predictor = inference.create_predictor(config)
        self.input_names = self.predictor.get_input_names()
        self.output_names = self.predictor.get_output_names()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        h = self.predictor.get_input_handle(self.input_names[0])
        h.reshape(list(x.shape))
        h.copy_from_cpu(x)
        self.predictor.run()
        return self.predictor.get_output_handle(self.output_names[0]).copy_to_cpu()


def create_predictor(prefix: str, **kwargs) -> InferencePredictor:
    """Shortcut for `InferencePredictor(prefix, **kwargs)`."""
    return InferencePredictor(prefix, **kwargs)


class OnnxPredictor:
    """An ONNX model run by onnxruntime on the CPU (`pip install onnxruntime`)."""

    def __init__(self, onnx_path: str, threads: int | None = None, spin: bool = False):
        """`spin`: let idle pool threads spin-wait between ops (ONNX Runtime's default). Off
        here: on a CPU shared with other work spinning threads took cycles from the working
        ones, 1.3-1.5x slower in docs/deploy.md's measurement."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError(
                "running an ONNX model needs onnxruntime: pip install onnxruntime"
            ) from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1  # one op at a time: all threads inside each op
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, np.float32)
        return self.session.run(None, {self.input_name: x})[0]


def onnx_predict(onnx_path: str, batch: np.ndarray) -> np.ndarray:
    """Run an ONNX model on one batch with onnxruntime (CPU)."""
    return OnnxPredictor(onnx_path)(batch)
