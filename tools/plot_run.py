"""python tools/plot_run.py output/googlenet_bn/vdl -o docs/main_job.png [--title TEXT]

The same command as `paddle-inception plot-run ...` (paddle_inception/cli/plot_run.py).
"""

import sys

from paddle_inception.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("plot_run"))
