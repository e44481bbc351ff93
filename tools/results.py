"""python tools/results.py [--check] [import-run RUN_DIR | import-bench JSON] --command "..."

docs/results.md and docs/benchmark.md from the run records in docs/records/; the generator
lives outside the package, in benchmarks/results.py (see its docstring).
"""

import os
import runpy

if __name__ == "__main__":
    runpy.run_path(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "results.py"
        ),
        run_name="__main__",
    )
