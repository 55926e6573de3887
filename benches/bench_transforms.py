#!/usr/bin/env python3
r"""The transforms benchmark: ``score -> pass_rates -> bin_difficulty -> split_stages`` on synthetic rollouts,
against the same work in polars, pandas and Hugging Face ``datasets``, in one run on one machine.

    python benches/bench_transforms.py                      # 100k, 1M and 10M rows (~10 min on 2 cores, ~8 GB)
    python benches/bench_transforms.py --rows 100k,1M       # chosen sizes
    python benches/bench_transforms.py --quick              # smoke run: 100k rows, 3 repetitions, ~10 s
    python benches/bench_transforms.py --rows 1M --profile  # also cProfile the stagekit group part
    python benches/bench_transforms.py --datasets-max-rows 1M  # HF datasets only up to 1M rows ("capped" above)

Input: seeded synthetic rollouts (``--seed``, ``--samples`` rollouts per problem): ``problem_id`` (int64,
a shuffled id per problem), ``sample`` (int32), ``completion`` (a short GSM8K-style line of reasoning that
ends in ``The answer is N.`` or ``\boxed{N}``, or, for 2% of rows, no final answer at all) and ``answer``
(the gold, a string: integers, negatives and halves). Per-problem solve probabilities are a mixture (15%
never solved, 15% always, the rest Beta(0.6, 0.6)), so every bin is populated. The generator's own
labels are kept apart from the table and compared with ``sk.score``'s verdicts.

Every measurement runs in a fresh subprocess that reads its input from an Arrow IPC file (uncompressed,
read into memory, not memory-mapped). What is measured:

* ``score``: ``sk.score`` (the Rust batch verifier on all cores); ``check_batch``: ``sk.check_batch`` on
  the same two columns, the verifier alone, so ``score / check_batch`` is score's own overhead;
* ``stagekit``: ``pass_rates(k=(1, 4, 8)) -> bin_difficulty("zero_partial_full") -> split_stages`` on the
  scored table (per-step times are kept);
* ``polars`` (default threads, i.e. all cores), ``polars_1t`` (``POLARS_MAX_THREADS=1``) and ``pandas``:
  the same computation from the same scored Arrow table (conversion of the two columns read included):
  group by ``problem_id`` -> n, n_correct, pass_rate, pass@1/4/8 with stagekit's product formula
  ``1 - prod_{i<k} (n-c-i)/(n-i)`` (null where n < k), the Wilson interval (95%), the zero_partial_full
  membership columns and ``stages`` label, sorted by ``problem_id``; then the sft / rl / drop tables;
* ``datasets``: the same group part as a ``datasets`` user writes it: ``Dataset(scored)`` (in memory),
  ``to_pandas()`` of the two columns and a pandas group-by for n / n_correct (datasets has no group-by),
  ``Dataset.from_pandas`` of the counts, the per-problem columns in ``map(batched=True)`` (numpy format,
  default batch size, the same numpy code as ``pandas``), the three sets with ``filter(batched=True)``;
* ``pipeline``: the whole chain from the rollouts, for its end-to-end time and peak memory;
  ``datasets_pipeline``: the same chain in datasets: ``Dataset(rollouts).map(batched=True)`` adding
  ``correct`` from ``sk.verify_batch`` (Python lists in and out, default format and batch size 1,000),
  then the ``datasets`` group part. Progress bars are disabled; in-memory datasets write no cache files.

Time: after a warm-up call on the first 4,096 rows (lazy imports), the median of ``--repeat`` rounds
(default 5; score and check_batch 3, 2 above 1M rows). The kinds that are compared run interleaved in one
process, round r in an order rotated by r (check_batch with score; stagekit with polars, pandas and
datasets; pipeline with datasets_pipeline, 1 round above 1M rows), so that load from other processes falls
on all of them alike; ``polars_1t`` runs alone.
Memory: each kind alone in a fresh process, which imports only what it measures, one run: the peak RSS
(``VmHWM``, reset through ``/proc/self/clear_refs`` before the run) minus the RSS just before the call,
i.e. what the step allocates on top of holding its input (its output included), reported as
``(input + extra) / input`` where input is the Arrow ``nbytes`` of the table the step is given.

Agreement: in the parent, polars', pandas', datasets' and datasets_pipeline's outputs are compared with
stagekit's per problem: n, n_correct, pass_rate and the bins exactly, pass@k and Wilson bounds to 1e-12,
and the three sets' ids; the exit status is 1 if any differs.

Outputs (``benches/out/``, git-ignored): ``transforms.md`` (the table, also on stdout), ``transforms.json``
(raw numbers, the cost curve in ns per row), ``transforms_cost.png`` (if matplotlib is installed);
``--quick`` writes ``transforms_quick.*``, ``--out NAME`` writes ``NAME.*``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from machine import basics, describe, loadavg, version
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benches" / "out"
KS = (1, 4, 8)
CONFIDENCE = 0.95

#: Measurements: name -> (input file, description).
KINDS: dict[str, tuple[str, str]] = {
    "check_batch": ("rollouts", "sk.check_batch(completion, answer): the verifier alone"),
    "score": ("rollouts", "sk.score(rollouts)"),
    "stagekit": ("scored", "sk.pass_rates -> sk.bin_difficulty -> sk.split_stages"),
    "polars": ("scored", "polars, default threads"),
    "polars_1t": ("scored", "polars, POLARS_MAX_THREADS=1"),
    "pandas": ("scored", "pandas"),
    "datasets": ("scored", "HF datasets: Dataset -> to_pandas group-by -> Dataset.from_pandas -> map -> filter"),
    "pipeline": ("rollouts", "sk.score -> pass_rates -> bin_difficulty -> split_stages"),
    "datasets_pipeline": ("rollouts", "HF datasets: map(batched=True) with sk.verify_batch, then as `datasets`"),
}
GROUP_KINDS = ("stagekit", "polars", "polars_1t", "pandas", "datasets")
DATASETS_KINDS = ("datasets", "datasets_pipeline")


# --------------------------------------------------------------------------------------------------
# Synthetic rollouts
# --------------------------------------------------------------------------------------------------

#: Short GSM8K-style reasoning before the final answer (the numbers in them are never the gold's format
#: of a final answer: they are intermediate results, which the verifier must skip).
PREFIXES = (
    "Natalia sold 48/2 = 24 clips in May, so 48 + 24 = 72 clips in all. ",
    "Each box holds 6 eggs and there are 4 boxes, so 6 * 4 = 24 eggs. ",
    "She spends 3 * 5 = 15 dollars and has 20 - 15 = 5 left. ",
    "Let x be the number of apples. Then 3x = 27, so x = 9. ",
    "The train covers 60 * 2 = 120 km in two hours. ",
    "We subtract: 100 - 35 = 65, then add the 12 from before. ",
    "Half of 18 is 9, and 9 + 7 = 16. ",
    "Weng earns 12 / 60 = 0.2 dollars per minute. ",
    "First, 2 + 3 = 5. Next, 5 * 7 = 35. ",
    "",
)
#: (before, after) the final number.
FINALS = (
    ("The answer is ", "."),
    ("So the answer is $\\boxed{", "}$."),
    ("Final answer: \\boxed{", "}"),
    ("Therefore, the total is \\boxed{", "}."),
)
NO_ANSWER = "Let me think about this more carefully before answering."


def generate(rows: int, seed: int, samples: int, shuffle: bool = False) -> tuple[Any, Any]:
    """The rollouts table and the generator's labels (a numpy bool array), deterministic in ``seed``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    problems = -(-rows // samples)
    prob_of_row = np.repeat(np.arange(problems, dtype=np.int64), samples)[:rows]
    sample = np.tile(np.arange(samples, dtype=np.int32), problems)[:rows]
    # Problem ids: distinct, shuffled (not the row order), spread out.
    pid = rng.permutation(problems).astype(np.int64) * 7919 + 1_000_003
    # Golds: integers up to 10^5, 5% negative, 10% halves ("12.5").
    gold_int = rng.integers(0, 100_000, problems)
    gold_int = np.where(rng.random(problems) < 0.05, -gold_int, gold_int)
    half = rng.random(problems) < 0.10
    # Solve probability per problem: 15% never, 15% always, else Beta(0.6, 0.6).
    u = rng.random(problems)
    p = np.where(u < 0.15, 0.0, np.where(u < 0.30, 1.0, rng.beta(0.6, 0.6, problems)))
    correct = rng.random(rows) < p[prob_of_row]
    no_answer = (~correct) & (rng.random(rows) < 0.02)
    delta = rng.integers(1, 50, rows) * np.where(rng.random(rows) < 0.5, -1, 1)
    written = gold_int[prob_of_row] + np.where(correct, 0, delta)

    half_sfx = pa.array(["", ".5"]).take(pa.array(half.astype(np.int8)))
    gold_str = pc.binary_join_element_wise(pa.array(gold_int).cast(pa.string()), half_sfx, "")
    answer = gold_str.take(pa.array(prob_of_row))
    number = pc.binary_join_element_wise(
        pa.array(written).cast(pa.string()), half_sfx.take(pa.array(prob_of_row)), ""
    )
    fin = pa.array(rng.integers(0, len(FINALS), rows))
    before = pa.array([f[0] for f in FINALS]).take(fin)
    after = pa.array([f[1] for f in FINALS]).take(fin)
    prefix = pa.array(PREFIXES).take(pa.array(rng.integers(0, len(PREFIXES), rows)))
    completion = pc.binary_join_element_wise(prefix, before, number, after, "")
    completion = pc.if_else(pa.array(no_answer), pa.scalar(NO_ANSWER), completion)
    table = pa.table(
        {
            "problem_id": pa.array(pid[prob_of_row]),
            "sample": pa.array(sample),
            "completion": completion,
            "answer": answer,
        }
    )
    if shuffle:
        order = rng.permutation(rows)
        table = table.take(pa.array(order))
        correct = correct[order]
    return table.combine_chunks(), correct


# --------------------------------------------------------------------------------------------------
# The computations measured
# --------------------------------------------------------------------------------------------------


def run_stagekit(scored: Any, timings: dict[str, float] | None = None) -> tuple[Any, dict[str, Any]]:
    import stagekit as sk

    t0 = time.perf_counter()
    stats = sk.pass_rates(scored, k=KS, confidence=CONFIDENCE)
    t1 = time.perf_counter()
    binned = sk.bin_difficulty(stats, scheme="zero_partial_full")
    t2 = time.perf_counter()
    sets = sk.split_stages(binned)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update(pass_rates=t1 - t0, bin_difficulty=t2 - t1, split_stages=t3 - t2)
    return binned, sets


def _z() -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)


def _stage_names() -> list[str]:
    """The labels of bin_difficulty's bit code (plain SFT = 1, Bridge = 2, RL = 4)."""
    return ["+".join(s for bit, s in ((1, "sft"), (2, "sft_bridge"), (4, "rl")) if i & bit) or "drop" for i in range(8)]


def run_polars(scored: Any) -> tuple[Any, dict[str, Any]]:
    import polars as pl

    df = pl.from_arrow(scored.select(["problem_id", "correct"]))
    g = (
        df.group_by("problem_id")
        .agg(n=pl.len().cast(pl.Int64), n_correct=pl.col("correct").fill_null(False).sum().cast(pl.Int64))
        .sort("problem_id")
    )
    n = pl.col("n").cast(pl.Float64)
    c = pl.col("n_correct").cast(pl.Float64)
    p = pl.col("pass_rate")
    exprs = []
    for k in KS:
        ratio: Any = pl.lit(1.0)
        for i in range(k):
            num = pl.max_horizontal(n - c - float(i), pl.lit(0.0))
            den = n - float(i)
            ratio = ratio * pl.when(den > 0).then(num / den).otherwise(0.0)
        exprs.append(pl.when(n < float(k)).then(None).otherwise(1.0 - ratio).alias(f"pass@{k}"))
    z = _z()
    z2n = z * z / n
    denom = 1.0 + z2n
    center = (p + z2n / 2.0) / denom
    half = z * ((p * (1.0 - p) / n) + z2n / (n * 4.0)).sqrt() / denom
    exprs += [
        pl.max_horizontal(center - half, pl.lit(0.0)).alias("wilson_low"),
        pl.min_horizontal(center + half, pl.lit(1.0)).alias("wilson_high"),
    ]
    # zero_partial_full: sft_bridge [0, 0], rl (0, 1), drop [1, 1]; a problem in no interval is dropped.
    m_bridge = p == 0.0
    m_rl = (p > 0.0) & (p < 1.0)
    m_drop = p == 1.0
    drop = m_drop | ~(m_bridge | m_rl | m_drop)
    bridge = m_bridge & ~drop
    rl = m_rl & ~drop
    code = bridge.cast(pl.Int8) * 2 + rl.cast(pl.Int8) * 4
    out = (
        g.with_columns((c / n).alias("pass_rate"))
        .with_columns(*exprs)
        .with_columns(sft=bridge, bridge=bridge, rl=rl, drop=drop, stages=code)
        .with_columns(pl.col("stages").replace_strict(list(range(8)), _stage_names(), return_dtype=pl.String))
    )
    sets = {s: out.filter(pl.col(s)) for s in ("sft", "rl", "drop")}
    return out, sets


def run_pandas(scored: Any) -> tuple[Any, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    df = scored.select(["problem_id", "correct"]).to_pandas()
    hit = df["correct"]
    if hit.dtype != bool:
        hit = hit.fillna(False).astype(bool)
    g = hit.groupby(df["problem_id"], sort=True).agg(["size", "sum"])
    cols: dict[str, Any] = {"problem_id": g.index.to_numpy()}
    cols.update(_metrics(g["size"].to_numpy(np.int64), g["sum"].to_numpy(np.int64)))
    out = pd.DataFrame(cols)
    sets = {s: out[out[s]] for s in ("sft", "rl", "drop")}
    return out, sets


def _metrics(n_i: Any, c_i: Any) -> dict[str, Any]:
    """n, n_correct -> the per-problem columns (numpy): pass_rate, pass@k, Wilson, membership, stages."""
    import numpy as np

    n = n_i.astype(np.float64)
    c = c_i.astype(np.float64)
    p = c / n
    cols: dict[str, Any] = {"n": n_i, "n_correct": c_i, "pass_rate": p}
    for k in KS:
        ratio = np.ones_like(n)
        for i in range(k):
            den = n - i
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = ratio * np.where(den > 0, np.maximum(n - c - i, 0.0) / den, 0.0)
        cols[f"pass@{k}"] = np.where(n < k, np.nan, 1.0 - ratio)
    z = _z()
    z2n = z * z / n
    denom = 1.0 + z2n
    center = (p + z2n / 2.0) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z2n / (n * 4.0)) / denom
    cols["wilson_low"] = np.maximum(center - half, 0.0)
    cols["wilson_high"] = np.minimum(center + half, 1.0)
    m_bridge, m_rl, m_drop = p == 0.0, (p > 0.0) & (p < 1.0), p == 1.0
    drop = m_drop | ~(m_bridge | m_rl | m_drop)
    bridge = m_bridge & ~drop
    rl = m_rl & ~drop
    cols.update(sft=bridge, bridge=bridge, rl=rl, drop=drop)
    cols["stages"] = np.array(_stage_names(), dtype=object)[bridge.astype(np.int8) * 2 + rl.astype(np.int8) * 4]
    return cols


def _datasets() -> Any:
    import datasets

    datasets.disable_progress_bars()
    return datasets


def _metrics_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """datasets ``map(batched=True)`` function (numpy format): the per-problem columns of a batch."""
    return _metrics(batch["n"], batch["n_correct"])


def _in_set(name: str) -> Any:
    return lambda batch: batch[name]


def run_datasets(scored: Any, timings: dict[str, float] | None = None) -> tuple[Any, dict[str, Any]]:
    """The group part as a Hugging Face ``datasets`` user writes it. datasets has no group-by: the per-problem
    counts go through ``to_pandas()`` (pandas is a dependency of datasets); the per-problem columns are a
    ``map(batched=True)`` (numpy format, default batch size) and the three sets ``filter(batched=True)``.
    ``Dataset(table)`` hashes the whole in-memory table for its fingerprint: timed apart in ``timings``."""
    datasets = _datasets()

    t0 = time.perf_counter()
    ds = scored if isinstance(scored, datasets.Dataset) else datasets.Dataset(scored)
    t1 = time.perf_counter()
    df = ds.select_columns(["problem_id", "correct"]).to_pandas()
    hit = df["correct"]
    if hit.dtype != bool:
        hit = hit.fillna(False).astype(bool)
    counts = hit.groupby(df["problem_id"], sort=True).agg(n="size", n_correct="sum").reset_index()
    t2 = time.perf_counter()
    stats = datasets.Dataset.from_pandas(counts, preserve_index=False)
    stats = stats.with_format("numpy").map(_metrics_batch, batched=True).with_format(None)
    t3 = time.perf_counter()
    sets = {s: stats.filter(_in_set(s), batched=True) for s in ("sft", "rl", "drop")}
    t4 = time.perf_counter()
    if timings is not None:
        timings.update(
            {"Dataset(table)": t1 - t0, "to_pandas + group-by": t2 - t1, "from_pandas + map": t3 - t2, "filter": t4 - t3}
        )
    return stats, sets


def _verify_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """datasets ``map(batched=True)`` function: the stagekit verifier's verdict per row (all cores)."""
    import stagekit as sk

    return {"correct": sk.verify_batch(batch["completion"], batch["answer"]).to_pylist()}


def run_datasets_pipeline(rollouts: Any) -> tuple[Any, dict[str, Any]]:
    """The whole chain in datasets: ``Dataset`` over the rollouts, ``map(batched=True)`` adding ``correct``
    from ``sk.verify_batch`` (Python lists in and out, the default format and batch size), then the group part
    as in ``run_datasets``."""
    datasets = _datasets()

    scored = datasets.Dataset(rollouts).map(_verify_batch, batched=True)
    return run_datasets(scored)


# --------------------------------------------------------------------------------------------------
# Worker: one measurement in a fresh process
# --------------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _callable(kind: str, table: Any) -> Any:
    """A zero-argument function running ``kind`` on ``table`` (it returns the output and per-step times)."""
    if kind in ("check_batch", "score", "pipeline"):
        import stagekit as sk

        if kind == "check_batch":
            return lambda: (sk.check_batch(table["completion"], table["answer"]), {})
        if kind == "score":
            return lambda: (sk.score(table), {})
        return lambda: (run_stagekit(sk.score(table)), {})
    if kind == "stagekit":

        def run() -> Any:
            st: dict[str, float] = {}
            return run_stagekit(table, st), st

        return run
    if kind in ("polars", "polars_1t"):
        return lambda: (run_polars(table), {})
    if kind == "pandas":
        return lambda: (run_pandas(table), {})
    if kind == "datasets":

        def run_ds() -> Any:
            st: dict[str, float] = {}
            return run_datasets(table, st), st

        return run_ds
    if kind == "datasets_pipeline":
        return lambda: (run_datasets_pipeline(table), {})
    raise SystemExit(f"unknown kind {kind!r}")


def worker(kinds: list[str], path: str, repeat: int, profile: str | None) -> dict[str, Any]:
    """Run each of ``kinds`` ``repeat`` times on the table at ``path``. With several kinds the runs are
    interleaved (round r runs them in an order rotated by r), so that load from other processes on the
    machine falls on all of them alike; memory is only meaningful for a single kind."""
    import pyarrow as pa

    with pa.OSFile(path) as f:
        table = pa.ipc.open_file(f).read_all()
    # Warm up on a slice: imports done lazily on first use (stagekit.transforms, polars' and pandas'
    # internals) and one-time initialisation are not what is measured.
    small = table.slice(0, min(table.num_rows, 4096))
    for kind in kinds:
        _callable(kind, small)()
    fns = {kind: _callable(kind, table) for kind in kinds}
    rec: dict[str, dict[str, list]] = {k: {"times": [], "extra": [], "steps": []} for k in kinds}
    peak_ok = True
    for r in range(repeat):
        for i in range(len(kinds)):
            kind = kinds[(i + r) % len(kinds)]
            gc.collect()
            peak_ok = _reset_peak() and peak_ok
            before = _status_kb("VmRSS")
            t0 = time.perf_counter()
            out, st = fns[kind]()
            dt = time.perf_counter() - t0
            peak = _status_kb("VmHWM")
            rec[kind]["times"].append(dt)
            rec[kind]["extra"].append(max(peak - before, 0) * 1024)
            if st:
                rec[kind]["steps"].append(st)
            del out
    res: dict[str, Any] = {}
    for kind, d in rec.items():
        res[kind] = {
            "input_bytes": table.nbytes,
            "times_s": d["times"],
            "median_s": statistics.median(d["times"]),
            "min_s": min(d["times"]),
            "peak_reset_ok": peak_ok,
        }
        if len(kinds) == 1:
            # The first run is the cold one (its memory is faulted in for the first time): its peak is reported.
            res[kind]["extra_bytes"] = d["extra"]
            res[kind]["extra_bytes_first"] = d["extra"][0]
        if d["steps"]:
            res[kind]["steps_median_s"] = {k: statistics.median(s[k] for s in d["steps"]) for k in d["steps"][0]}
    if profile and "stagekit" in kinds:
        import cProfile
        import io
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        run_stagekit(table)
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(25)
        Path(profile).write_text(buf.getvalue())
    return res


def spawn(kinds: list[str], path: Path, repeat: int, timeout: float, profile: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if "polars_1t" in kinds:
        assert kinds == ["polars_1t"], "polars_1t needs a process of its own (POLARS_MAX_THREADS=1)"
        env["POLARS_MAX_THREADS"] = "1"
    cmd = [sys.executable, __file__, "--worker", ",".join(kinds), "--input", str(path), "--repeat", str(repeat)]
    if profile:
        cmd += ["--profile-out", str(profile)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {k: {"error": f"timed out after {timeout:.0f} s"} for k in kinds}
    if p.returncode != 0:
        return {k: {"error": f"exit {p.returncode}: {p.stderr.strip()[-2000:]}"} for k in kinds}
    return json.loads(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------
# Agreement (in the parent)
# --------------------------------------------------------------------------------------------------

EXACT = ("problem_id", "n", "n_correct", "pass_rate", "sft", "bridge", "rl", "drop", "stages")
CLOSE = tuple(f"pass@{k}" for k in KS) + ("wilson_low", "wilson_high")


def _columns(out: Any) -> dict[str, Any]:
    """name -> numpy array (float nulls as NaN) for a stagekit / polars / pandas output."""
    import numpy as np
    import pyarrow as pa

    if isinstance(out, pa.Table):
        t = out
    elif type(out).__module__.startswith("datasets"):
        t = out.with_format("arrow")[:]  # the rows selected (a filtered Dataset keeps an indices mapping)
    elif type(out).__module__.startswith("polars"):
        t = out.to_arrow()
    else:
        return {c: out[c].to_numpy() for c in out.columns}
    cols = {}
    for name in t.column_names:
        col = t[name]
        if pa.types.is_floating(col.type):
            cols[name] = col.to_numpy(zero_copy_only=False).astype(np.float64)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
            cols[name] = np.array(col.to_pylist(), dtype=object)
        else:
            cols[name] = col.to_numpy(zero_copy_only=False)
    return cols


def compare(ref: tuple[Any, dict[str, Any]], other: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    a, b = _columns(ref[0]), _columns(other[0])
    res: dict[str, Any] = {"problems": len(a["problem_id"]), "mismatch": {}}
    if len(a["problem_id"]) != len(b["problem_id"]):
        res["mismatch"]["rows"] = f"{len(a['problem_id'])} vs {len(b['problem_id'])}"
        res["ok"] = False
        return res
    for c in EXACT:
        bad = int(np.sum(a[c] != b[c]))
        if bad:
            res["mismatch"][c] = bad
    for c in CLOSE:
        x, y = a[c], b[c]
        same_null = np.isnan(x) == np.isnan(y)
        close = np.isclose(x, y, rtol=0, atol=1e-12, equal_nan=True)
        bad = int(np.sum(~(same_null & close)))
        if bad:
            res["mismatch"][c] = bad
    for s in ("sft", "rl", "drop"):
        ids_a = _columns(ref[1][s])["problem_id"]
        ids_b = _columns(other[1][s])["problem_id"]
        if len(ids_a) != len(ids_b) or not np.array_equal(ids_a, ids_b):
            res["mismatch"][f"set {s}"] = f"{len(ids_a)} vs {len(ids_b)}"
    res["set_sizes"] = {s: len(_columns(ref[1][s])["problem_id"]) for s in ("sft", "rl", "drop")}
    res["ok"] = not res["mismatch"]
    return res


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------


def parse_rows(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        s = part.strip().lower().replace("_", "")
        mult = {"k": 1_000, "m": 1_000_000}.get(s[-1:], 1)
        out.append(int(float(s[:-1] if mult > 1 else s) * mult))
    return out


def machine_info() -> dict[str, Any]:
    return {
        **basics(),
        **{p: version(p) for p in ("pyarrow", "polars", "pandas", "datasets", "numpy")},
    }


def _mb(b: float) -> str:
    return f"{b / 1e6:,.1f}"


def _s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x * 1e3:,.1f} ms" if x < 1 else f"{x:,.2f} s"


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    if "median_s" not in a or "median_s" not in b:
        return "–"
    return f"{a['median_s'] / b['median_s']:.2f}x"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(*names: str, left: int = 1) -> list[str]:
    return [_row(*names), _row(*(["---"] * left + ["---:"] * (len(names) - left)))]


def render(results: list[dict[str, Any]], info: dict[str, Any], command: str, args: argparse.Namespace) -> str:
    L = [
        "## Transforms benchmark: score → pass_rates → bin_difficulty → split_stages vs polars, pandas and "
        "HF datasets\n"
    ]
    L.append(describe(info, ("pyarrow", "polars", "pandas", "datasets", "numpy")))
    L.append(f"Command (repository root): `{command}`  ")
    L.append(
        f"Input: synthetic rollouts, seed {args.seed}, {args.samples} rollouts per problem"
        f"{', rows shuffled' if args.shuffle else ' (grouped by problem, ids shuffled)'}. Each measurement in a "
        "fresh process from an Arrow IPC file; time = median of the runs (n in brackets); interleaved in one "
        "process: score with check_batch, stagekit with polars and pandas, datasets with a stagekit run of its own "
        "(its ratio uses that one), pipeline with datasets_pipeline. Contenders' times include converting the "
        "columns they read from the Arrow table. Ratios = stagekit time / contender time (> 1: stagekit slower)."
        + (f" HF datasets capped at {args.datasets_max_rows} rows (`--datasets-max-rows`)." if args.datasets_max_rows else "")
        + "\n"
    )

    def t(r: dict[str, Any], name: str) -> str:
        m = r["kinds"].get(name, {})
        if "error" in m:
            return "error"
        if "capped" in m:
            return "capped"
        return f"{_s(m.get('median_s'))} ({len(m.get('times_s', []))})" if "median_s" in m else "–"

    def rate(r: dict[str, Any], name: str) -> str:
        m = r["kinds"].get(name, {})
        return f"{r['rows'] / m['median_s']:,.0f}" if "median_s" in m else "–"

    def ratio(r: dict[str, Any], a: str, b: str) -> str:
        ma, mb = r["kinds"].get(a, {}), r["kinds"].get(b, {})
        if a == "stagekit" and "paired_stagekit_s" in mb:  # datasets: against the stagekit runs it was paired with
            ma = {"median_s": mb["paired_stagekit_s"]}
        return _ratio(ma, mb)

    L.append("### Scoring: the verifier on every rollout\n")
    L += _header("rows", "problems", "input MB", "score", "score pairs/s", "check_batch pairs/s", "score / check_batch")
    for r in results:
        L.append(
            _row(
                f"{r['rows']:,}", f"{r['problems']:,}", _mb(r["rollouts_bytes"]), t(r, "score"), rate(r, "score"),
                rate(r, "check_batch"), ratio(r, "score", "check_batch"),
            )  # fmt: skip
        )
    L.append("\n### Group part: pass_rates → bin_difficulty → split_stages on the scored table\n")
    L += _header(
        "rows", "stagekit", "polars", "polars 1 thread", "pandas", "datasets", "stagekit rows/s",
        "stagekit / polars", "stagekit / polars 1t", "stagekit / pandas", "stagekit / datasets",
    )  # fmt: skip
    for r in results:
        L.append(
            _row(
                f"{r['rows']:,}", *(t(r, k) for k in GROUP_KINDS), rate(r, "stagekit"),
                *(ratio(r, "stagekit", k) for k in GROUP_KINDS[1:]),
            )  # fmt: skip
        )
    L.append("\n### Whole chain from the rollouts: score → … → split_stages\n")
    L += _header("rows", "stagekit pipeline", "rows/s", "datasets pipeline", "rows/s", "stagekit / datasets")
    for r in results:
        L.append(
            _row(
                f"{r['rows']:,}", t(r, "pipeline"), rate(r, "pipeline"), t(r, "datasets_pipeline"),
                rate(r, "datasets_pipeline"), ratio(r, "pipeline", "datasets_pipeline"),
            )  # fmt: skip
        )
    L.append("\n### stagekit group part, per step (median)\n")
    L += _header("rows", "pass_rates", "bin_difficulty", "split_stages")
    for r in results:
        st = r["kinds"].get("stagekit", {}).get("steps_median_s", {})
        L.append(_row(f"{r['rows']:,}", *(_s(st.get(s)) for s in ("pass_rates", "bin_difficulty", "split_stages"))))

    if any("steps_median_s" in r["kinds"].get("datasets", {}) for r in results):
        names = ("Dataset(table)", "to_pandas + group-by", "from_pandas + map", "filter")
        L.append("\n### datasets group part, per step (median)\n")
        L.append(
            "`Dataset(table)` is datasets hashing the whole in-memory table (every column) for its fingerprint; "
            "a Dataset that comes out of `map` or `load_from_disk` does not pay it.\n"
        )
        L += _header("rows", *names, "total without Dataset(table)", "stagekit / that")
        for r in results:
            m = r["kinds"].get("datasets", {})
            st = m.get("steps_median_s")
            if not st:
                continue
            rest = m["median_s"] - st["Dataset(table)"]
            sk_s = m.get("paired_stagekit_s", r["kinds"].get("stagekit", {}).get("median_s"))
            ratio = f"{sk_s / rest:.2f}x" if sk_s else "–"
            L.append(_row(f"{r['rows']:,}", *(_s(st[n]) for n in names), _s(rest), ratio))

    L.append("\n### Peak memory\n")
    L.append(
        "extra = peak RSS during the call minus RSS just before it (first, cold run; output included); "
        "ratio = (input + extra) / input, input = Arrow `nbytes` of the table the step is given "
        "(the rollouts for score, check_batch, pipeline and datasets_pipeline; the scored table for the group part).\n"
    )
    L += _header("rows", "step", "input MB", "extra MB", "(input + extra) / input", left=2)
    for r in results:
        for name, m in r["kinds"].items():
            if "extra_bytes_first" not in m:
                continue
            ratio = (m["input_bytes"] + m["extra_bytes_first"]) / m["input_bytes"]
            L.append(_row(f"{r['rows']:,}", name, _mb(m["input_bytes"]), _mb(m["extra_bytes_first"]), f"{ratio:.2f}"))

    L.append("\n### Cost curve: ns per rollout row (median time / rows)\n")
    sizes = [r["rows"] for r in results]
    L += _header("step", *(f"{s:,} rows" for s in sizes))
    for name in KINDS:
        cells = []
        for r in results:
            m = r["kinds"].get(name, {})
            cells.append(f"{m['median_s'] / r['rows'] * 1e9:,.1f}" if "median_s" in m else "–")
        L.append(_row(name, *cells))

    L.append("\n### Agreement with stagekit's output (per problem; exit status 1 otherwise)\n")
    L += _header(
        "rows", "problems", "sft / rl / drop", "polars", "pandas", "datasets", "datasets pipeline",
        "score = generator labels",
    )  # fmt: skip
    for r in results:
        ag = r["agreement"]

        def verdict(name: str) -> str:
            if name not in ag:
                return "capped" if "capped" in r["kinds"].get(name, {}) else "–"
            return "yes" if ag[name]["ok"] else f"NO: {ag[name]['mismatch']}"

        sz = ag["polars"].get("set_sizes", {})
        L.append(
            _row(
                f"{r['rows']:,}", f"{r['problems']:,}", " / ".join(f"{sz.get(s, 0):,}" for s in ("sft", "rl", "drop")),
                *(verdict(k) for k in ("polars", "pandas", "datasets", "datasets_pipeline")),
                f"{ag['labels']['agree'] / r['rows']:.4%} ({r['rows'] - ag['labels']['agree']} differ)",
            )  # fmt: skip
        )
    errors = [(r["rows"], n, m["error"]) for r in results for n, m in r["kinds"].items() if "error" in m]
    if errors:
        L.append("\nErrors: " + "; ".join(f"{rows:,} rows, {n}: {e[:300]}" for rows, n, e in errors))
    return "\n".join(L) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in KINDS:
        xs = [r["rows"] for r in results if "median_s" in r["kinds"].get(name, {})]
        ys = [r["kinds"][name]["median_s"] / r["rows"] * 1e9 for r in results if "median_s" in r["kinds"].get(name, {})]
        if xs:
            ax.plot(xs, ys, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rollout rows")
    ax.set_ylabel("ns per row (median)")
    ax.set_title("stagekit transforms: cost per row as rows grow")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="100k,1M,10M", help="comma-separated sizes (100k, 1M, 10M, or integers)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 100k rows, 3 repetitions (score 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=8, help="rollouts per problem")
    ap.add_argument("--shuffle", action="store_true", help="shuffle the rows (default: grouped by problem)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 5 up to 1M rows, else 3)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {', '.join(KINDS)}")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measurement subprocess")
    ap.add_argument(
        "--out", default=None, help="output name under benches/out/ (default: transforms, --quick: transforms_quick)"
    )
    ap.add_argument("--profile", action="store_true", help="cProfile the stagekit group part at the largest size")
    ap.add_argument(
        "--datasets-max-rows",
        default=None,
        help="run the HF datasets kinds only up to this many rows (e.g. 1M); larger sizes show 'capped' (default: no cap)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker.split(","), args.input, args.repeat or 1, args.profile_out)))
        return 0

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows_list = [100_000] if args.quick else parse_rows(args.rows)
    kinds = list(KINDS) if not args.only else [k.strip() for k in args.only.split(",")]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        ap.error(f"unknown --only kinds: {sorted(unknown)}")
    ds_cap = parse_rows(args.datasets_max_rows)[0] if args.datasets_max_rows else None
    if any(k in DATASETS_KINDS for k in kinds) and find_spec("datasets") is None:
        ap.error("the datasets kinds need `datasets` (pip install datasets), or leave them out with --only")
    info = machine_info()
    command = "python benches/bench_transforms.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    command = command.strip()
    OUT.mkdir(parents=True, exist_ok=True)
    stem = args.out or ("transforms_quick" if args.quick else "transforms")
    results = []
    with tempfile.TemporaryDirectory(prefix="stagekit_bench_") as tmp:
        for rows in rows_list:
            t0 = time.perf_counter()
            rollouts, labels = generate(rows, args.seed, args.samples, args.shuffle)
            gen_s = time.perf_counter() - t0
            lengths = pc.utf8_length(rollouts["completion"])
            print(
                f"\n== {rows:,} rows: generated in {gen_s:.1f} s, {_mb(rollouts.nbytes)} MB, completion length "
                f"mean {pc.mean(lengths).as_py():.0f} chars",
                file=sys.stderr,
            )
            files = {"rollouts": Path(tmp) / f"rollouts_{rows}.arrow", "scored": Path(tmp) / f"scored_{rows}.arrow"}
            import stagekit as sk

            scored = sk.score(rollouts)
            for name, t in (("rollouts", rollouts), ("scored", scored)):
                with pa.OSFile(str(files[name]), "wb") as f, pa.ipc.new_file(f, t.schema) as w:
                    w.write_table(t)
            label_agree = int(np.sum(scored["correct"].to_numpy(zero_copy_only=False) == labels))
            rep = args.repeat or (3 if args.quick else 5)
            score_rep = args.repeat or (2 if args.quick else (3 if rows <= 1_000_000 else 2))
            res: dict[str, Any] = {
                "rows": rows,
                "problems": int(pc.count_distinct(rollouts["problem_id"]).as_py()),
                "rollouts_bytes": rollouts.nbytes,
                "scored_bytes": scored.nbytes,
                "completion_mean_chars": pc.mean(lengths).as_py(),
                "generate_s": gen_s,
                "kinds": {},
            }
            # Memory: every kind alone in a fresh process, one run. Time: kinds that are compared run
            # interleaved in one process (score with check_batch; stagekit with polars, pandas and datasets;
            # pipeline with datasets_pipeline); polars_1t (its thread pool is fixed at import) runs on its own.
            prof = OUT / f"{stem}_profile_{rows}.txt" if args.profile and rows == max(rows_list) else None
            capped = ds_cap is not None and rows > ds_cap
            here = [k for k in kinds if not (capped and k in DATASETS_KINDS)]
            for name in kinds:
                if name not in here:
                    res["kinds"][name] = {"capped": f"not run above --datasets-max-rows {ds_cap:,}"}
                    print(f"   {name:<17} capped (--datasets-max-rows {ds_cap:,})", file=sys.stderr)
            groups = [
                [k for k in ("check_batch", "score") if k in here],
                [k for k in ("stagekit", "polars", "pandas") if k in here],
                # datasets, ~10x slower and allocating ~4x its input, is paired with a stagekit run of its own:
                # interleaved with polars and pandas it slowed them all down (fresh pages after its frees).
                ["datasets", "stagekit"] if "datasets" in here else [],
                [k for k in ("pipeline", "datasets_pipeline") if k in here],
            ]
            for name in here:
                alone = name == "polars_1t"
                n = rep if alone else 1
                m = spawn([name], files[KINDS[name][0]], n, args.timeout)[name]
                if not alone and "error" not in m:
                    kept = {k: v for k, v in m.items() if k.startswith(("extra", "input", "peak"))}
                    m = {"cold_s": m["median_s"], **kept}
                res["kinds"][name] = m
                msg = m.get("error") or (
                    f"extra {_mb(m['extra_bytes_first'])} MB" + (f", median {_s(m['median_s'])}" if alone else "")
                )
                print(f"   {name:<17} {msg}", file=sys.stderr)
            for group in groups:
                if not group:
                    continue
                if "score" in group or "check_batch" in group:
                    n = score_rep
                elif "pipeline" in group or "datasets_pipeline" in group:
                    n = 1 if rows > 1_000_000 else rep
                else:
                    n = rep
                paired = group[0] == "datasets"
                timed = spawn(
                    group, files[KINDS[group[0]][0]], n, args.timeout, prof if group[0] == "stagekit" else None
                )
                if paired:
                    ref = timed.pop("stagekit", {})
                    if "median_s" in ref:
                        timed["datasets"]["paired_stagekit_s"] = ref["median_s"]
                        print(f"   {'(stagekit)':<17} median {_s(ref['median_s'])} (paired with datasets)", file=sys.stderr)
                    group = ["datasets"]
                for name in group:
                    res["kinds"][name].update(timed[name])
                    m = res["kinds"][name]
                    msg = m.get("error") or f"median {_s(m['median_s'])} (interleaved, {n} rounds)"
                    print(f"   {name:<17} {msg}", file=sys.stderr)
            # Agreement, in this process: every contender against stagekit's group part on the scored table.
            sk_out = run_stagekit(scored)
            res["agreement"] = {
                "polars": compare(sk_out, run_polars(scored)),
                "pandas": compare(sk_out, run_pandas(scored)),
                "labels": {"agree": label_agree, "rows": rows},
            }
            if not capped and "datasets" in kinds:
                res["agreement"]["datasets"] = compare(sk_out, run_datasets(scored))
            if not capped and "datasets_pipeline" in kinds:
                res["agreement"]["datasets_pipeline"] = compare(sk_out, run_datasets_pipeline(rollouts))
            ag = res["agreement"]
            print(
                "   agreement         "
                + ", ".join(f"{k} {v['ok']}" for k, v in ag.items() if k != "labels")
                + f", labels {label_agree}/{rows}",
                file=sys.stderr,
            )
            results.append(res)
            del rollouts, scored, sk_out, labels
            gc.collect()
            for p in files.values():
                p.unlink(missing_ok=True)
    info["loadavg_end"] = loadavg()
    md = render(results, info, command, args)
    print(md)
    (OUT / f"{stem}.md").write_text(md)
    curve = {
        name: [
            {"rows": r["rows"], "ns_per_row": r["kinds"][name]["median_s"] / r["rows"] * 1e9}
            for r in results
            if "median_s" in r["kinds"].get(name, {})
        ]
        for name in KINDS
    }
    payload = {
        "machine": info, "command": command, "args": vars(args), "results": results, "cost_curve_ns_per_row": curve
    }
    (OUT / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str))
    if plot(results, OUT / f"{stem}_cost.png"):
        print(f"cost curve plotted to {OUT / (stem + '_cost.png')}", file=sys.stderr)
    else:
        print("matplotlib not installed: no plot (the table above has the cost curve)", file=sys.stderr)
    ok = all(v["ok"] for r in results for k, v in r["agreement"].items() if k != "labels")
    if not ok:
        print("DISAGREEMENT: a contender's output differs from stagekit's (see the Agreement table)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
