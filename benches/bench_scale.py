#!/usr/bin/env python3
r"""The scale benchmark: peak memory and time of ``stagekit verify`` and ``stagekit plan`` on rollouts that
do not fit in memory, read from disk in batches, in this process (local streaming) and on a local Ray
cluster; the in-memory path of before as the baseline where it fits; the cost curve plotted; a projection
to 1B rollouts from the measured per-worker rates.

    python benches/bench_scale.py                    # 1M, 5M and 20M rows of 1 kB (20M: ~40 GB of disk, ~45 min on 2 cores)
    python benches/bench_scale.py --rows 1M,5M       # chosen sizes
    python benches/bench_scale.py --quick            # smoke run: 200k rows (~1 min)
    python benches/bench_scale.py --format parquet   # Parquet input instead of JSONL
    python benches/bench_scale.py --engines local    # skip Ray

Input (``scale_data.py``): ``rows`` rollouts, 1 kB completions (seeded random words and a final
``\boxed{N}``), 8 per problem, pass rates spread over [0, 1], written once per size to ``--dir`` (default a
temporary directory next to the repository) and removed afterwards. A size is skipped, with the reason,
when the disk lacks room for its input and plan's output.

Each measurement is one command in a fresh subprocess, its peak RSS read from ``wait4`` (the kernel's
``ru_maxrss`` of that process; for Ray, the driver's, plus the largest sum of the RSS of the Ray processes
sampled every 0.2 s):

* ``verify``: ``stagekit verify FILE`` (counts only; the same work with ``-o`` adds the write);
* ``plan``: ``stagekit plan FILE -o DIR`` (scored rollouts written as Parquet parts, stats, sets, report);
* ``plan --engine ray``: the same on a local Ray cluster of ``--cpus`` CPUs (start-up included; the
  driver receives per-problem counts and part records only);
* ``in-memory verify``: the way ``stagekit verify`` worked before streaming (the whole file read into one
  table, then ``check_batch`` over it): the baseline for time and memory, run only where its estimated
  memory (2.5 GB per million 1 kB rows) fits.

Throughput per core = rows / wall time / cores used. The outputs of the local and Ray plans are compared
(rows, problems, set sizes, sum of pass rates: they must be equal). Outputs (``benches/out/``):
``scale.md`` (also on stdout), ``scale.json`` and ``scale_cost.png`` (time per row and peak RSS against rows);
``--quick`` writes ``scale_quick.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from machine import basics, describe, loadavg, version
from scale_data import parse_rows, write

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benches" / "out"
ROW_BYTES = 1100  # one JSONL row of a 1 kB completion
IN_MEMORY_BYTES_PER_ROW = 2500  # the in-memory path's peak per row (measured: 2.5 GB per million rows)
#: Projection: cores per node and the rows of the target.
CORES_PER_NODE = 16
NODES = (1, 4, 16, 64)
PROJECT_ROWS = 1_000_000_000
SAMPLES = 8

IN_MEMORY = r"""
import sys, time
import stagekit as sk
from stagekit.io import read_table
t = read_table(sys.argv[1], text=("completion", "answer"))
v = sk.check_batch(t["completion"], t["answer"])
print(int(v["correct"].to_numpy(zero_copy_only=False).sum()))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")]),
            "RAY_DEDUP_LOGS": "0"}


def _ray_rss() -> int:
    """The summed RSS of this user's Ray processes (raylet, GCS, workers) now."""
    import psutil

    total = 0
    for p in psutil.process_iter(["name", "cmdline", "memory_info", "uids"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if p.info["uids"] and p.info["uids"].real == os.getuid() and (
                    "ray::" in cmd or "raylet" in cmd or "gcs_server" in cmd or "ray/_private" in cmd
                    or (p.info["name"] or "").startswith("ray::")):
                total += p.info["memory_info"].rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError):
            continue
    return total


#: Runs a command as its grandchild and writes the command's rusage to a file. A child's ``ru_maxrss`` starts
#: at its parent's resident size (the kernel carries the high-water mark across fork and exec), so the
#: command is forked from this small process, not from the benchmark (which holds generated data).
LAUNCH = r"""
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"maxrss_kb": ru.ru_maxrss, "rc": os.waitstatus_to_exitcode(status)}, f)
sys.exit(0)
"""


def run(argv: list[str], *, ray: bool = False, timeout: float = 7200) -> dict[str, Any]:
    """``argv`` in a subprocess: wall time, exit status, peak RSS (driver; plus Ray's processes), stdout."""
    stop = threading.Event()
    peak_ray = [0]

    def watch() -> None:
        while not stop.wait(0.2):
            peak_ray[0] = max(peak_ray[0], _ray_rss())

    fd, usage_file = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, usage_file, *argv], env=_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = threading.Thread(target=watch, daemon=True) if ray else None
    if watcher:
        watcher.start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    t_out = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    t_out.start()
    t_err.start()
    proc.wait(timeout=timeout)
    wall = time.perf_counter() - t0
    t_out.join()
    t_err.join()
    stop.set()
    if watcher:
        watcher.join()
    try:
        usage = json.loads(Path(usage_file).read_text())
    except (OSError, ValueError):
        usage = {"maxrss_kb": 0, "rc": proc.returncode or -1}
    Path(usage_file).unlink(missing_ok=True)
    return {"argv": argv, "seconds": wall, "rc": usage["rc"], "rss_bytes": usage["maxrss_kb"] * 1024,
            "ray_rss_bytes": peak_ray[0] if ray else None, "stdout": "".join(out_chunks)[-4000:],
            "stderr": "".join(err_chunks)[-4000:]}


def digest(d: Path) -> dict[str, Any]:
    """Counts and sums of a plan directory's outputs (equal for equal outputs, whatever the row order)."""
    import pyarrow.compute as pc

    from stagekit.rundir import RunDir

    run_ = RunDir(d)
    stats = run_.read_table(0, "stats")
    m = json.loads((d / "manifest.json").read_text())
    rows = m["rounds"][0]["rows"]
    return {"rollouts": rows["rollouts"], "problems": stats.num_rows, "n_correct": int(pc.sum(stats["n_correct"]).as_py()),
            "pass_rate_sum": round(pc.sum(stats["pass_rate"]).as_py(), 6), **{k: rows[k] for k in ("sft", "rl", "drop")}}


def driver_finish_rate(problems: int) -> float:
    """Seconds per problem of the driver's part of a plan (sum the per-piece counts, pass rates, bins,
    sets), measured on ``problems`` synthetic problems counted twice (two pieces each)."""
    import numpy as np
    import pyarrow as pa

    from stagekit.stagesets import PlanConfig, PlanCounts, finish_plan

    rng = np.random.default_rng(0)
    ids = pa.array(np.arange(problems, dtype=np.int64))
    acc = PlanCounts(PlanConfig())
    t0 = time.perf_counter()
    for _ in range(2):
        n = pa.array(np.full(problems, SAMPLES // 2, np.int64))
        acc.add_counts(pa.table({"problem_id": ids, "n": n, "n_correct": pa.array(rng.integers(0, SAMPLES // 2 + 1, problems))}))
    finish_plan(acc.total(), PlanConfig())
    return (time.perf_counter() - t0) / problems


def fmt_bytes(b: float | None) -> str:
    return "n/a" if b is None else f"{b / 2**30:.2f} GB" if b >= 2**30 else f"{b / 2**20:.0f} MB"


def fmt_rows(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,5M,20M")
    ap.add_argument("--quick", action="store_true", help="smoke run: 200k rows")
    ap.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"])
    ap.add_argument("--engines", default="local,ray", help="local, ray (comma-separated)")
    ap.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--dir", default=None, help="where the generated input and outputs go (default: a temporary "
                    "directory under the repository's parent)")
    ap.add_argument("--keep", action="store_true", help="keep the generated input files")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(raw)
    sizes = [200_000] if args.quick else [parse_rows(x) for x in args.rows.split(",") if x.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    command = "python benches/bench_scale.py" + (" " + shlex.join(raw) if raw else "")
    info = basics()
    info["pyarrow"], info["ray"] = version("pyarrow"), version("ray")
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="stagekit-scale-", dir=REPO.parent))
    base.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        for n in sizes:
            data = base / f"rollouts-{fmt_rows(n)}.{args.format}"
            need = n * ROW_BYTES * 2.1  # the input, plan's parts, a margin
            free = shutil.disk_usage(base).free + (data.stat().st_size if data.exists() else 0)
            if free < need:
                notes.append(f"{fmt_rows(n)}: skipped, {fmt_bytes(free)} free on {base}, {fmt_bytes(need)} needed")
                continue
            t0 = time.perf_counter()
            if not data.exists():
                write(data, n, samples=SAMPLES)
            gen_s = time.perf_counter() - t0
            size = data.stat().st_size
            runs: dict[str, dict[str, Any]] = {}
            print(f"[{fmt_rows(n)}] input {fmt_bytes(size)} written in {gen_s:.0f} s", file=sys.stderr, flush=True)
            if n * IN_MEMORY_BYTES_PER_ROW < 0.3 * info["memory_gb"] * 2**30 and "local" in engines:
                runs["in-memory verify"] = run([py, "-c", IN_MEMORY, str(data)])
            if "local" in engines:
                runs["verify"] = run([py, "-m", "stagekit", "verify", str(data)])
                out = base / f"plan-local-{n}"
                shutil.rmtree(out, ignore_errors=True)
                runs["plan"] = run([py, "-m", "stagekit", "plan", str(data), "-o", str(out)])
                if runs["plan"]["rc"] == 0:
                    runs["plan"]["digest"] = digest(out)
                shutil.rmtree(out, ignore_errors=True)
            if "ray" in engines:
                out = base / f"plan-ray-{n}"
                shutil.rmtree(out, ignore_errors=True)
                runs["plan --engine ray"] = run([py, "-m", "stagekit", "plan", str(data), "-o", str(out), "--engine", "ray"],
                                                ray=True)
                if runs["plan --engine ray"]["rc"] == 0:
                    runs["plan --engine ray"]["digest"] = digest(out)
                shutil.rmtree(out, ignore_errors=True)
            for name, r in runs.items():
                print(f"[{fmt_rows(n)}] {name}: {r['seconds']:.1f} s, {fmt_bytes(r['rss_bytes'])}"
                      + (f" + Ray {fmt_bytes(r['ray_rss_bytes'])}" if r.get("ray_rss_bytes") else "")
                      + ("" if r["rc"] == 0 else f", exit {r['rc']}: {r['stderr'][-500:]}"), file=sys.stderr, flush=True)
            results.append({"rows": n, "input_bytes": size, "generate_s": gen_s, "runs": runs})
            if not args.keep:
                data.unlink(missing_ok=True)
    finally:
        if not args.dir and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    info["loadavg_end"] = loadavg()
    problems = max((r["rows"] for r in results), default=1_000_000) // SAMPLES
    finish_s = driver_finish_rate(min(problems, 2_500_000))
    md = report(results, notes, info, command, args, finish_s)
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "scale_quick" if args.quick else "scale"
    (OUT / f"{stem}.md").write_text(md)
    (OUT / f"{stem}.json").write_text(json.dumps({"machine": info, "command": command, "results": results, "notes": notes,
                                                  "driver_finish_s_per_problem": finish_s}, indent=2, default=str))
    plot(results, OUT / f"{stem}_cost.png")
    print(md)
    failed = [f"{r['rows']} {k}" for r in results for k, x in r["runs"].items() if x["rc"] != 0]
    digests = [(r["runs"]["plan"].get("digest"), r["runs"]["plan --engine ray"].get("digest")) for r in results
               if "plan" in r["runs"] and "plan --engine ray" in r["runs"]]
    disagree = [d for d in digests if d[0] != d[1]]
    return 1 if failed or disagree else 0


def report(results: list[dict[str, Any]], notes: list[str], info: dict[str, Any], command: str, args: Any,
           finish_s: float) -> str:
    lines = [f"### Scale: verify and plan from disk, in batches ({args.format} input, 1 kB completions, "
             f"{SAMPLES} per problem)", "", describe(info, ("pyarrow", "ray")), f"Command: `{command}`", "",
             "| rows | input | command | time | rows/s per core | peak RSS |", "| ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in results:
        for name, x in r["runs"].items():
            cores = args.cpus if "ray" in name or "in-memory" in name or name in ("verify", "plan") else 1
            rate = r["rows"] / x["seconds"] / cores if x["rc"] == 0 else 0
            rss = fmt_bytes(x["rss_bytes"]) + (f" (+ Ray processes {fmt_bytes(x['ray_rss_bytes'])})" if x.get("ray_rss_bytes") else "")
            status = "" if x["rc"] == 0 else f" (exit {x['rc']})"
            lines.append(f"| {fmt_rows(r['rows'])} | {fmt_bytes(r['input_bytes'])} | `{name}`{status} | {x['seconds']:.1f} s | "
                         f"{rate:,.0f} | {rss} |")
    lines += [""] + [f"- {n}" for n in notes]
    for r in results:
        runs = r["runs"]
        if "plan" in runs and "plan --engine ray" in runs:
            same = runs["plan"].get("digest") == runs["plan --engine ray"].get("digest")
            lines.append(f"- {fmt_rows(r['rows'])}: local and Ray plans {'agree' if same else 'DISAGREE'} "
                         f"({runs['plan'].get('digest')})")
        if "in-memory verify" in runs and "verify" in runs and runs["in-memory verify"]["rc"] == 0:
            a, b = runs["in-memory verify"], runs["verify"]
            lines.append(f"- {fmt_rows(r['rows'])}: streaming verify {b['seconds']:.1f} s, {fmt_bytes(b['rss_bytes'])} vs "
                         f"in-memory {a['seconds']:.1f} s, {fmt_bytes(a['rss_bytes'])} (time ratio "
                         f"{b['seconds'] / a['seconds']:.2f})")
    ray_runs = [(r["rows"], r["runs"]["plan --engine ray"]) for r in results if "plan --engine ray" in r["runs"]
                and r["runs"]["plan --engine ray"]["rc"] == 0]
    if ray_runs:
        rows, x = max(ray_runs, key=lambda t: t[0])
        per_worker = rows / x["seconds"] / args.cpus
        lines += ["", f"Projection to {PROJECT_ROWS / 1e9:.0f}B rollouts (1 kB, {SAMPLES} per problem) from the largest "
                  f"Ray run ({fmt_rows(rows)} rows: {per_worker:,.0f} rows/s per worker, start-up included) and the "
                  f"driver's measured finish ({finish_s * 1e9:.0f} ns per problem: summing counts, pass rates, bins, "
                  f"sets); the driver receives ~{2 * 24} bytes per problem, never a completion:", "",
                  "| nodes × 16 cores | workers' scan | driver's finish | total |", "| ---: | ---: | ---: | ---: |"]
        for nodes in NODES:
            scan = PROJECT_ROWS / (per_worker * CORES_PER_NODE * nodes)
            fin = finish_s * PROJECT_ROWS / SAMPLES
            lines.append(f"| {nodes} | {scan:,.0f} s | {fin:,.0f} s | {scan + fin:,.0f} s |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    names = sorted({k for r in results for k in r["runs"]})
    if not names:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        pts = [(r["rows"], r["runs"][name]) for r in results if name in r["runs"] and r["runs"][name]["rc"] == 0]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        a.plot(xs, [p[1]["seconds"] / p[0] * 1e6 for p in pts], marker="o", label=name)
        b.plot(xs, [(p[1]["rss_bytes"] + (p[1].get("ray_rss_bytes") or 0)) / 2**30 for p in pts], marker="o", label=name)
    for ax, title, unit in ((a, "time per row", "µs per row"), (b, "peak memory", "GB (RSS)")):
        ax.set_xscale("log")
        ax.set_xlabel("rows (1 kB completions)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
