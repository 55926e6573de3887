#!/usr/bin/env python3
"""Every benchmark table the README quotes, from one command, into ``benches/out/ALL.md``.

    python benches/run_all.py              # the README's figures: verifier (every pair), transforms at
                                           # 100k, 1M and 10M rows, Ray at 1M and 10M, scale at 1M
                                           # (~12 min on 2 quiet cores, ~9 GB)
    python benches/run_all.py --quick      # smoke run of every bench (~1 min) -> out/ALL_quick.md
    python benches/run_all.py --rows 100k,1M --ray-rows 1M          # smaller sizes
    python benches/run_all.py --benches verifier,transforms,trl     # choose (trl: bench_trl.py, ~6 min, opt-in)

Each bench runs in a subprocess of its own with this interpreter, from the repository root; its markdown
(stdout) is printed as it finishes and collected, in order, into the output file, under a header naming the
machine and this command. Every section carries its own machine line and the exact command that reproduces
it alone. ``bench_ray.py`` runs only where it exists (``--rows`` from ``--ray-rows``, or ``--quick``).
The exit status is non-zero when a bench fails (e.g. the transforms' agreement check).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from machine import basics, describe, loadavg

REPO = Path(__file__).resolve().parents[1]
BENCHES = REPO / "benches"
OUT = BENCHES / "out"
ALL = ("verifier", "transforms", "ray", "scale", "trl")
DEFAULT = "verifier,transforms,ray,scale"


def commands(args: argparse.Namespace) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv after the interpreter, extra environment) of each bench to run."""
    q = ["--quick"] if args.quick else []
    out: list[tuple[str, list[str], dict[str, str]]] = []
    for name in args.benches:
        script = f"benches/bench_{name}.py"
        if name == "verifier":
            argv = [script, *q]
        elif name == "transforms":
            argv = [script, *(q or ["--rows", args.rows])]
            if args.datasets_max_rows:
                argv += ["--datasets-max-rows", args.datasets_max_rows]
        elif name == "ray":
            argv = [script, *(q or ["--rows", args.ray_rows])]
        elif name == "scale":
            argv = [script, *(q or ["--rows", args.scale_rows])]
        else:  # trl
            argv = [script, *q]
        out.append((name, argv, {"HF_HUB_OFFLINE": "1"} if name == "trl" else {}))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: every bench's --quick (~1-2 min)")
    ap.add_argument("--rows", default="100k,1M,10M", help="transforms sizes (ignored with --quick)")
    ap.add_argument("--ray-rows", default="1M,10M", help="bench_ray.py sizes (ignored with --quick)")
    ap.add_argument("--scale-rows", default="1M", help="bench_scale.py sizes (ignored with --quick; alone it "
                    "defaults to 1M,5M,20M)")
    ap.add_argument("--datasets-max-rows", default=None, help="passed to bench_transforms.py (HF datasets cap)")
    ap.add_argument("--benches", default=DEFAULT, help=f"comma-separated subset of {', '.join(ALL)}")
    ap.add_argument("--out", default=None, help="output file under benches/out/ (default ALL.md, --quick ALL_quick.md)")
    raw = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(raw)
    args.benches = [b.strip() for b in args.benches.split(",") if b.strip()]
    unknown = set(args.benches) - set(ALL)
    if unknown:
        ap.error(f"unknown --benches: {', '.join(sorted(unknown))} (choose from {', '.join(ALL)})")

    command = "python benches/run_all.py" + (" " + shlex.join(raw) if raw else "")
    info = basics()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (args.out or ("ALL_quick.md" if args.quick else "ALL.md"))
    sections: list[str] = []
    summary: list[tuple[str, str, str, float]] = []
    failed = False
    for name, bench_argv, env_extra in commands(args):
        shown = " ".join(f"{k}={v}" for k, v in env_extra.items()) + (" " if env_extra else "")
        shown += "python " + shlex.join(bench_argv)
        if not (REPO / bench_argv[0]).exists():
            sections.append(f"## {name}\n\n`{bench_argv[0]}` is not in this checkout: skipped.\n")
            summary.append((name, shown, "skipped (no script)", 0.0))
            print(f"[run_all] {name}: {bench_argv[0]} not found, skipped", file=sys.stderr)
            continue
        print(f"[run_all] {name}: {shown}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        # stderr (progress) goes straight through; stdout is the bench's markdown.
        p = subprocess.run(
            [sys.executable, *bench_argv], cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, **env_extra}
        )
        dt = time.perf_counter() - t0
        md = p.stdout.strip()
        if p.returncode != 0:
            failed = True
            md += f"\n\n**`{shown}` exited with status {p.returncode}** (see its stderr above / its section)."
        print(md + "\n", flush=True)
        sections.append(md + "\n")
        summary.append((name, shown, "ok" if p.returncode == 0 else f"exit {p.returncode}", dt))
        print(f"[run_all] {name}: exit {p.returncode} in {dt:,.0f} s", file=sys.stderr, flush=True)

    info["loadavg_end"] = loadavg()
    head = [
        "# stagekit benchmarks\n",
        describe(info),
        f"Command (repository root): `{command}` — each section below says the command that reproduces it alone.\n",
        "| bench | command | status | wall time |",
        "| --- | --- | --- | ---: |",
        *(f"| {n} | `{c}` | {s} | {dt:,.0f} s |" for n, c, s, dt in summary),
        "",
    ]
    text = "\n".join(head) + "\n" + "\n".join(sections)
    path.write_text(text, encoding="utf-8")
    print(f"[run_all] wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
