#!/usr/bin/env python3
r"""The Ray Data benchmark: ``stagekit.pipeline.plan`` in-process vs ``stagekit.integrations.ray.plan`` on a
local Ray cluster, on the same synthetic rollouts, on this machine, with Ray's fixed costs apart and a
written projection to N nodes.

    python benches/bench_ray.py                   # 1M and 10M rows (~5 min on 2 cores; 10M needs ~9 GB free)
    python benches/bench_ray.py --rows 1M         # chosen sizes
    python benches/bench_ray.py --quick           # smoke run: 100k rows, 1 repetition
    python benches/bench_ray.py --cpus 4          # a local cluster of 4 CPUs (default: all usable cores)

Input: ``bench_transforms.generate`` (seeded synthetic GSM8K-style rollouts, ``--samples`` per problem,
default 8), written once to an Arrow IPC file; each engine runs in a fresh subprocess that reads it
(untimed) and then:

* ``local``: ``pipeline.plan(table)`` (score on all cores in Rust, pass rates, bins, sets): the median of
  ``--repeat`` runs after a warm-up on 4,096 rows;
* ``ray``: ``ray.init(num_cpus=--cpus)`` (timed: *init*), a first ``plan`` on 1,000 rows (timed: *first
  job*, which starts the worker processes and imports stagekit in them), two more on 1,000 rows (the
  median: *per-call overhead*), then ``plan(table)`` ``--repeat`` times (the median: *steady*), and once
  more step by step, with the alternatives plan does not take: the table put into the object store in
  blocks; score in Ray tasks (plan's way) and in an actor pool (``skr.score``), each materialised;
  pass rates with the per-block counts summed on the driver (plan's way, ``collect_pass_rates``) and by
  Ray's hash aggregate (``pass_rates``), each collected; the scored rollouts collected to the driver.

Start-up = init + first job, paid once per process; steady = one ``plan`` call on a running cluster.
Memory: the machine's ``MemAvailable`` is sampled every 0.1 s during the runs; the figure is the largest
drop below the level just before (driver, Ray workers and the object store's shared memory together; other
processes on the machine add noise). Agreement: both engines' outputs are reduced to counts and sums
(rows, correct, n_correct, sum of pass rates, set sizes), which must be equal (exact equality is what
``tests/test_ray.py`` checks). A size whose estimated memory exceeds what is available is skipped, with
the reason recorded; a child that fails (or is killed) is recorded with its exit status and stderr tail.

Outputs (``benches/out/``, git-ignored): ``ray.md`` (the tables and the projection, also on stdout) and
``ray.json``; ``--quick`` writes ``ray_quick.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_transforms import generate, parse_rows
from machine import basics, describe, loadavg, version

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benches" / "out"
TINY = 1_000
STEPS = ("put", "score_tasks", "score_actors", "counts", "sum_driver", "pass_rates_shuffle", "collect")
#: Estimated peak memory per input byte for the Ray run (input in the driver and the object store, the
#: scored copy in the object store and on the driver, Ray's workers), and Ray's own base in bytes.
RAY_BYTES_PER_INPUT_BYTE = 6.0
RAY_BASE_BYTES = 2.5e9
#: Projection assumptions: cores per node, the driver's network bandwidth (10 GbE), bytes per count row.
CORES_PER_NODE = 16
NIC_BYTES_PER_S = 1.1e9
COUNT_ROW_BYTES = 24
NODES = (1, 4, 16, 64)
PROJECT_ROWS = 1_000_000_000


def mem_available() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024.0
    return float("nan")


class MemoryWatch:
    """The largest drop of the machine's available memory below its level at entry (sampled)."""

    def __enter__(self) -> MemoryWatch:
        self.start = self.low = mem_available()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.low = min(self.low, mem_available())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.low = min(self.low, mem_available())

    @property
    def peak_bytes(self) -> float:
        return self.start - self.low


def digest(tables: dict[str, Any]) -> dict[str, Any]:
    """Counts and sums of plan's outputs: equal for equal outputs, whatever their row order."""
    import pyarrow.compute as pc

    r, s = tables["rollouts"], tables["stats"]
    return {
        "rollouts": r.num_rows,
        "correct": int(pc.sum(r["correct"].cast("int64")).as_py() or 0),
        "status": {d["values"]: d["counts"] for d in pc.value_counts(r["status"]).to_pylist()} if "status" in r.column_names else {},
        "problems": s.num_rows,
        "n_correct": int(pc.sum(s["n_correct"]).as_py() or 0),
        "pass_rate_sum": round(pc.sum(s["pass_rate"]).as_py() or 0.0, 6),
        **{k: tables[k].num_rows for k in ("sft", "rl", "drop")},
    }


def _read(path: str) -> Any:
    import pyarrow as pa

    with pa.OSFile(path, "rb") as f:
        return pa.ipc.open_file(f).read_all()


def child_local(path: str, repeat: int) -> dict[str, Any]:
    from stagekit import pipeline

    table = _read(path)
    pipeline.plan(table.slice(0, 4096))
    times, peak, out = timed(pipeline.plan, table, repeat)
    return {"times_s": times, "median_s": statistics.median(times), "mem_peak_bytes": peak, "digest": digest(out)}


def timed(plan: Any, table: Any, repeat: int) -> tuple[list[float], int, Any]:
    """``plan(table)`` ``repeat`` times: the wall times, the highest memory peak, the last output."""
    times, peaks, out = [], [], None
    for _ in range(repeat):
        out = None  # the previous output is freed before the next run's peak is measured
        with MemoryWatch() as m:
            t0 = time.perf_counter()
            out = plan(table)
            times.append(time.perf_counter() - t0)
        peaks.append(m.peak_bytes)
    return times, max(peaks), out


def sum_and_finish(counts: Any) -> Any:
    """The driver's half of ``collect_pass_rates``: sum the per-block counts per problem, finish locally."""
    from stagekit.integrations.ray import sum_counts
    from stagekit.transforms.difficulty import pass_rates_from_counts

    return pass_rates_from_counts(sum_counts(counts, ["problem_id"]))


def child_ray(path: str, repeat: int, cpus: int) -> dict[str, Any]:
    table = _read(path)
    t0 = time.perf_counter()
    import ray

    from stagekit.integrations import ray as skr

    skr.init(num_cpus=cpus)
    init_s = time.perf_counter() - t0
    tiny = table.slice(0, TINY)
    t0 = time.perf_counter()
    skr.plan(tiny)
    first_s = time.perf_counter() - t0
    overhead = []
    for _ in range(2):
        t0 = time.perf_counter()
        skr.plan(tiny)
        overhead.append(time.perf_counter() - t0)
    times, peak, out = timed(skr.plan, table, repeat)
    result_digest = digest(out)
    out = None
    import stagekit as sk
    from stagekit.transforms.difficulty import pass_counts

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        value = fn()
        steps[name] = time.perf_counter() - t0
        return value

    steps: dict[str, float] = {}
    ds = timed("put", lambda: skr.dataset(table))
    scored = timed("score_tasks", lambda: skr.map_rows(ds, sk.score, threads=1).materialize())
    timed("score_actors", lambda: skr.score(ds).materialize())
    # collect_pass_rates (plan's way) in its two halves: per-block counts in the cluster, the sum on the driver
    counts = timed("counts", lambda: skr.collect(skr.map_rows(scored, pass_counts)))
    timed("sum_driver", lambda: sum_and_finish(counts))
    timed("pass_rates_shuffle", lambda: skr.collect(skr.pass_rates(scored), sort_by="problem_id"))
    timed("collect", lambda: skr.collect(scored, sort_by="problem_id"))
    blocks = ds.num_blocks()
    ray.shutdown()
    return {
        "init_s": init_s, "first_job_s": first_s, "overhead_s": statistics.median(overhead), "times_s": times,
        "median_s": statistics.median(times), "mem_peak_bytes": peak, "steps_s": steps, "blocks": blocks,
        "digest": result_digest,
    }


def run_child(kind: str, path: Path, repeat: int, cpus: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--input", str(path), "--repeat", str(repeat),
           "--cpus", str(cpus)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode != 0 or not lines:
        why = "killed (out of memory?)" if p.returncode in (-9, 137) else f"exit status {p.returncode}"
        return {"error": why, "stderr_tail": p.stderr[-2000:]}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _s(x: float) -> str:
    return f"{x * 1e3:,.0f} ms" if x < 1 else f"{x:,.2f} s"


def _rate(x: float) -> str:
    return f"{x / 1e6:,.2f} M" if x >= 1e6 else f"{x / 1e3:,.0f} k"


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f} GB" if b >= 1e9 else f"{b / 1e6:,.0f} MB"


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def report(results: list[dict[str, Any]], info: dict[str, Any], command: str, cpus: int) -> str:
    head = [f"## stagekit plan: in-process vs Ray Data (local cluster, {cpus} CPUs)", "", describe(info, ("pyarrow", "ray")),
            f"Command: `{command}`", ""]
    main = ["| rows | engine | start-up (init + first job) | per-call overhead | steady plan | rows/s | rows/s per core | peak memory | outputs agree |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    steps = ["| rows | blocks | table into the object store | score in tasks (plan) | score in an actor pool | "
             "pass rates (plan): counts per block, to the driver | pass rates (plan): sum + finish on the driver | "
             "pass rates: Ray hash aggregate instead | scored rollouts to the driver (plan) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for r in results:
        n, lab = r["rows"], _label(r["rows"])
        if "skipped" in r:
            notes.append(f"- {lab} rows: skipped: {r['skipped']}")
            continue
        loc, ray_ = r["local"], r["ray"]
        agree = "yes" if "digest" in loc and loc.get("digest") == ray_.get("digest") else "NO"
        for name, res in (("in-process", loc), ("Ray", ray_)):
            if "error" in res:
                notes.append(f"- {lab} rows, {name}: failed: {res['error']}")
                continue
            start = _s(res["init_s"]) + " + " + _s(res["first_job_s"]) if name == "Ray" else "–"
            over = _s(res["overhead_s"]) if name == "Ray" else "–"
            rate = n / res["median_s"]
            main.append(f"| {lab} | {name} | {start} | {over} | {_s(res['median_s'])} | {_rate(rate)} | {_rate(rate / cpus)} | "
                        f"{_gb(res['mem_peak_bytes'])} | {agree if name == 'Ray' else ''} |")
        if "steps_s" in ray_:
            st = ray_["steps_s"]
            steps.append(f"| {lab} | {ray_['blocks']} | " + " | ".join(_s(st[k]) for k in STEPS) + " |")
    where = f"_{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB · `{command}`_"
    body = head + main + ["", where, "", "Ray's plan step by step, with the alternatives it does not take (one run each):", ""]
    body += steps + ["", where, ""] + notes
    return "\n".join(body + [""] + projection(results, cpus) + ["", where]) + "\n"


def projection(results: list[dict[str, Any]], cpus: int) -> list[str]:
    """Time and throughput on N nodes, from the rates measured at the largest size that ran on Ray."""
    done = [r for r in results if "ray" in r and "steps_s" in r["ray"]]
    if not done:
        return ["(no Ray run: no projection)"]
    r = max(done, key=lambda x: x["rows"])
    n, ray_ = r["rows"], r["ray"]
    st = ray_["steps_s"]
    per_core = n / ((st["score_tasks"] + st["counts"]) * cpus)
    per_problem = st["sum_driver"] / (n / r["samples"]) + COUNT_ROW_BYTES / NIC_BYTES_PER_S
    driver = min(n / st["collect"], NIC_BYTES_PER_S / r["scored_bytes_per_row"])
    rows, problems = PROJECT_ROWS, PROJECT_ROWS / r["samples"]
    t_stats = problems * per_problem
    lines = [
        f"### Projection: {_label(rows)} rollouts ({r['samples']} per problem) on N nodes of {CORES_PER_NODE} cores "
        "(a model, not a measurement)",
        "",
        f"Rates from the {_label(n)}-row run on this machine: {_rate(per_core)} rows/s per core for the cluster's part "
        f"(score in tasks and the per-block counts, on {cpus} CPUs); {per_problem * 1e6:.2f} µs per problem on the driver "
        f"(the sum and finish as measured, plus {COUNT_ROW_BYTES} bytes of counts per problem over a 10 GbE link); "
        f"scored rollouts to the driver {_rate(driver)} rows/s "
        f"(the measured local rate, capped at a 10 GbE link: {r['scored_bytes_per_row']:.0f} bytes per scored row); "
        f"per-call overhead {_s(ray_['overhead_s'])}.",
        "",
        "| nodes | cores | scoring | stats on the driver | plan, stats only: time, rows/s | plan, rollouts to the driver too: time, rows/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for m in NODES:
        cores = m * CORES_PER_NODE
        t_par = rows / (per_core * cores)
        t_only = ray_["overhead_s"] + t_par + t_stats
        t_all = t_only + rows / driver
        lines.append(f"| {m} | {cores} | {_s(t_par)} | {_s(t_stats)} | {_s(t_only)}, {_rate(rows / t_only)} | "
                     f"{_s(t_all)}, {_rate(rows / t_all)} |")
    lines += [
        "",
        "Assumptions: scoring scales linearly with cores at this machine's per-core rate (same CPU speed, the input read "
        "by the workers in parallel from files rather than put by the driver), the counts as well; one count row per "
        "problem reaches the driver (rollouts grouped by problem, as written by a generator); the per-call overhead stays "
        "as measured here. The limits are the driver's: the stats step grows with the number of problems whatever the "
        "cluster (with `pass_rates`' Ray hash aggregate instead, the sum spreads over the nodes at a shuffle's fixed "
        "cost), and collecting the scored rollouts to one process does not scale at all (at 1B rows they would not fit "
        "in its memory either): at scale the rollouts should be written by the workers and only the stats collected.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="comma-separated sizes (100k, 1M, 10M, or integers)")
    ap.add_argument("--quick", action="store_true", help="100k rows, 1 repetition")
    ap.add_argument("--repeat", type=int, default=None, help="plan calls per engine (default 3 up to 1M rows, else 1)")
    ap.add_argument("--samples", type=int, default=8, help="rollouts per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: usable cores)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine run")
    ap.add_argument("--child", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cpus = args.cpus or len(os.sched_getaffinity(0))
    if args.child:
        res = child_local(args.input, args.repeat) if args.child == "local" else child_ray(args.input, args.repeat, cpus)
        print(json.dumps(res))
        return 0

    import pyarrow as pa

    sizes = [100_000] if args.quick else parse_rows(args.rows)
    command = "python benches/bench_ray.py" + (" " + shlex.join(argv) if argv else "")
    info = {**basics(), "pyarrow": version("pyarrow"), "ray": version("ray")}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        for n in sizes:
            repeat = args.repeat or (1 if args.quick or n > 1_000_000 else 3)
            table, _ = generate(n, args.seed, args.samples)
            path = Path(tmp) / f"rollouts_{n}.arrow"
            with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
                w.write_table(table)
            from stagekit import score

            sample = score(table.slice(0, 10_000))
            res: dict[str, Any] = {"rows": n, "samples": args.samples, "input_bytes": table.nbytes,
                                   "scored_bytes_per_row": sample.nbytes / sample.num_rows}
            del table, sample
            need = RAY_BYTES_PER_INPUT_BYTE * res["input_bytes"] + RAY_BASE_BYTES
            if mem_available() < need:
                res["skipped"] = (f"needs about {_gb(need)} of memory (input {_gb(res['input_bytes'])}), "
                                  f"{_gb(mem_available())} available")
            else:
                print(f"{_label(n)} rows: in-process ...", file=sys.stderr, flush=True)
                res["local"] = run_child("local", path, repeat, cpus, args.timeout)
                print(f"{_label(n)} rows: Ray ...", file=sys.stderr, flush=True)
                res["ray"] = run_child("ray", path, repeat, cpus, args.timeout)
            path.unlink()
            results.append(res)
    info["loadavg_end"] = loadavg()
    text = report(results, info, command, cpus)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    name = "ray_quick" if args.quick else "ray"
    (OUT / f"{name}.md").write_text(text)
    (OUT / f"{name}.json").write_text(json.dumps({"machine": info, "command": command, "cpus": cpus, "results": results},
                                                 indent=2, default=str) + "\n")
    bad = [r for r in results if "local" in r and (r["local"].get("digest") != r["ray"].get("digest") or "error" in r["ray"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
