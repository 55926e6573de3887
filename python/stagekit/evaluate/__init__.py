r"""Held-out evaluation of a model on benchmarks: ``stagekit eval`` and the pieces it is made of.

>>> from stagekit import evaluate as ev
>>> sorted(ev.BENCHMARKS)[:4]
['aime24', 'amc23', 'gsm8k', 'gsm8k_platinum']

- :mod:`~stagekit.evaluate.benchmarks`: built-in benchmark definitions (prompt template, fields, answer
  type, file and hub sources) and :func:`load_benchmark`, which makes any of them (or a user's file with
  its own columns) into canonical rows: ``benchmark, problem_id, question, prompt, gold, solution``.
- :mod:`~stagekit.evaluate.metrics`: pure functions from (rows, completions) to verdicts
  (:func:`score`), per-problem scores (:func:`problem_scores`: pass@1, unbiased pass@j, maj@k) and
  metrics with Wilson intervals over problems (:func:`summarize`); paired comparisons of two measurements of
  the same problems (:func:`paired_change`: the exact sign test and a paired bootstrap interval).
- :mod:`~stagekit.evaluate.runner`: :func:`evaluate_rows` (sample through any generator backend and
  score, in memory) and :func:`run_eval` (several benchmarks into a directory, as steps of the stage
  loop's runner: resumable chunk by chunk).
- :func:`stagekit.mark_overlap` marks benchmark problems that also occur in a training pool.
"""

from stagekit.evaluate.benchmarks import (
    BENCHMARKS,
    CHOICE_TEMPLATE,
    MATH_TEMPLATE,
    Benchmark,
    BenchmarkRows,
    Columns,
    Fields,
    benchmark_rows,
    load_benchmark,
    read_logiqa,
    render_prompt,
    user_benchmark,
)
from stagekit.evaluate.metrics import (
    Change,
    Metric,
    majority_vote,
    markdown_table,
    metric_names,
    paired_change,
    problem_scores,
    score,
    sign_test,
    summarize,
)
from stagekit.evaluate.runner import (
    BenchmarkResult,
    EvalRun,
    EvalSettings,
    chunk_seed,
    evaluate_rows,
    result_from_completions,
    rows_key,
    run_eval,
    sample,
    sample_chunk,
    summary_table,
)
from stagekit.transforms.overlap import mark_overlap, normalize_text

__all__ = [
    "BENCHMARKS",
    "CHOICE_TEMPLATE",
    "MATH_TEMPLATE",
    "Benchmark",
    "BenchmarkResult",
    "BenchmarkRows",
    "Change",
    "Columns",
    "EvalRun",
    "EvalSettings",
    "Fields",
    "Metric",
    "benchmark_rows",
    "chunk_seed",
    "evaluate_rows",
    "load_benchmark",
    "majority_vote",
    "mark_overlap",
    "markdown_table",
    "metric_names",
    "normalize_text",
    "paired_change",
    "problem_scores",
    "read_logiqa",
    "render_prompt",
    "result_from_completions",
    "rows_key",
    "run_eval",
    "sample",
    "sample_chunk",
    "score",
    "sign_test",
    "summarize",
    "summary_table",
    "user_benchmark",
]
