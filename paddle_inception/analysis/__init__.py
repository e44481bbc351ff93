"""Model inspection: the `paddle.summary` table with parameter counts and stages
(`summary.py`), and a MAC/FLOP counter that works with NumPy 2 (`flops.py`)."""

from .flops import count_flops
from .summary import (
    BLOCK_NAME,
    AuxOutputs,
    build_inception_block,
    format_all,
    format_report,
    hook_summary,
    param_counts,
    stage_table,
    summarize,
    summarize_all,
    summary_table,
)

__all__ = [
    "count_flops",
    "BLOCK_NAME",
    "AuxOutputs",
    "build_inception_block",
    "format_all",
    "format_report",
    "hook_summary",
    "param_counts",
    "stage_table",
    "summarize",
    "summarize_all",
    "summary_table",
]
