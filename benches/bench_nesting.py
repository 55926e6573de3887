#!/usr/bin/env python3
r"""The nesting benchmark: the worst time of any entry point on deeply nested input, per construct and depth.

    python benches/bench_nesting.py                       # 300 / 3,000 / 30,000 levels, best of 3, ~1 min
    python benches/bench_nesting.py --depths 300,3000 --repeats 5

The matrix is ``tests/nesting.py``'s (the same one ``tests/test_nesting.py`` holds to a generous bound):
every construct (``\text{``, ``\mathrm{``, ``\operatorname{``, ``\rm{``, ``\frac{``, ``\sqrt{``, ``\left(``,
``(``, ``[``, ``{``, ``^{``, ``_{``, ``\boxed{``, ``\fbox{``, ``pmatrix``, ``\hat{``, ``-``, ``\pm``, tuples,
sets, units ...) nested N deep, through every entry point (extract, normalize, compare, check, verify, the
step checker, the batch calls and ``sk.score``). Each construct runs in its own subprocess, on the main
thread and on a thread with a 64 KiB stack (entry points without pyarrow), so a crash is reported as one
(``crash``, with the call it happened in) rather than ending the benchmark. Each call's time is the best of
``--repeats`` runs; the table shows, per construct and depth, the slowest call and its time.

Outputs: the markdown table on stdout and in ``benches/out/nesting.md``, every timing in
``benches/out/nesting.json``. Target: no call over 10 ms on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import basics, describe, loadavg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import nesting  # noqa: E402

OUT = REPO / "benches" / "out"


def run_one(construct: str, depths: str, stack_kib: int, repeats: int) -> dict:
    cmd = [sys.executable, str(REPO / "tests" / "nesting.py"), "--constructs", construct, "--depths", depths]
    cmd += ["--stack-kib", str(stack_kib), "--repeats", str(repeats)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    rows, last_start = [], None
    for line in p.stdout.splitlines():
        r = json.loads(line)
        if "start" in r:
            last_start = r["start"]
        elif "seconds" in r:
            rows.append(r)
    crash = None if p.returncode == 0 else {"exit": p.returncode, "during": last_start}
    return {"construct": construct, "stack_kib": stack_kib, "rows": rows, "crash": crash}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", default=",".join(map(str, nesting.DEPTHS)))
    ap.add_argument("--constructs", default=",".join(nesting.CONSTRUCTS))
    ap.add_argument("--repeats", type=int, default=3, help="time each call this many times, keep the fastest")
    ap.add_argument("--jobs", type=int, default=1, help="subprocesses at a time (1 for clean timings)")
    args = ap.parse_args()
    info = basics()
    jobs = [(c, s) for c in args.constructs.split(",") for s in (0, 64)]
    with ThreadPoolExecutor(args.jobs) as ex:
        results = list(ex.map(lambda cs: run_one(cs[0], args.depths, cs[1], args.repeats), jobs))
    info["loadavg_end"] = loadavg()

    depths = [int(d) for d in args.depths.split(",")]
    lines = [
        "## Nesting benchmark: the slowest entry point per construct and depth",
        "",
        describe(info),
        f"Command (repository root): `python benches/{Path(__file__).name} {shlex.join(sys.argv[1:])}`".rstrip() + "  ",
        f"Each call: best of {args.repeats}; main thread: every entry point; 64 KiB thread: those without pyarrow.",
        "",
        "| construct | " + " | ".join(f"{d:,} levels: main thread | 64 KiB thread" for d in depths) + " |",
        "| --- | " + " | ".join("---: | ---:" for _ in depths) + " |",
    ]
    worst = (0.0, "")
    crashes = []
    for c in args.constructs.split(","):
        cells = []
        for d in depths:
            for s in (0, 64):
                r = next(x for x in results if x["construct"] == c and x["stack_kib"] == s)
                rows = [x for x in r["rows"] if x["depth"] == d]
                during = (r["crash"] or {}).get("during") or [c, d, "?"]
                if r["crash"] and during[1] == d:
                    cells.append(f"**crash** ({during[2]})")
                    crashes.append((c, d, s, r["crash"]))
                    continue
                if r["crash"] and not rows:
                    cells.append("not run (crashed before)")
                    continue
                if not rows:
                    cells.append("n/a")
                    continue
                top = max(rows, key=lambda x: x["seconds"])
                cells.append(f"{top['seconds'] * 1e3:.2f} ms ({top['call']})")
                if top["seconds"] > worst[0]:
                    worst = (top["seconds"], f"{c} x {d:,}, {top['call']}, {'64 KiB thread' if s else 'main thread'}")
        lines.append(f"| `{nesting.CONSTRUCTS[c][0]}` ({c}) | " + " | ".join(cells) + " |")
    lines += ["", f"Slowest call overall: **{worst[0] * 1e3:.2f} ms** ({worst[1]}); crashes: {len(crashes)}."]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "nesting.md").write_text(text)
    (OUT / "nesting.json").write_text(json.dumps({"info": info, "results": results}, indent=1))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
