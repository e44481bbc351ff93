"""python tools/benchmark.py [--quick] [--models googlenet,inception_v3,inception_v4]
[--tasks infer,export,onnx,train,data] [--batch 16] [--threads 2] [--iters N --warmup M] [--json]

Images/s of our models against PaddleClas / torchvision / timm on the same inputs; the
benchmark lives outside the package, in benchmarks/benchmark.py (see its docstring).
"""

import os
import runpy

if __name__ == "__main__":
    runpy.run_path(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "benchmark.py"
        ),
        run_name="__main__",
    )
