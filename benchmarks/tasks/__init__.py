"""One module per benchmark task. A model task (infer, export, onnx, train) gives `IMPL`
({"paddle": ..., "torch": ...}: what runs the model, shown in the table) and `paddle_step` /
`torch_step`, which prepare a built model and return the zero-argument step that is timed;
`data` times the config's Train loader on its own (`measure`)."""

from benchmarks.tasks import data, export, infer, onnx, train

#: task name -> module, for the model tasks
MODEL_TASKS = {"infer": infer, "export": export, "onnx": onnx, "train": train}

__all__ = ["MODEL_TASKS", "data"]
