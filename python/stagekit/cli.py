"""The ``stagekit`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path

from stagekit.io import InputError, read_table, write_table

SAMPLE = "sample_verify.jsonl"


def _cmd_verify(args: argparse.Namespace) -> int:
    import pyarrow as pa

    import stagekit as sk

    if args.sample:
        src = resources.files("stagekit") / "data" / SAMPLE
        with resources.as_file(src) as path:
            table = read_table(path)
        name = f"bundled sample ({SAMPLE})"
    elif args.input is None:
        print("stagekit verify: give an input file or --sample", file=sys.stderr)
        return 2
    else:
        table = read_table(args.input)
        name = str(args.input)
    for col in (args.completion, args.gold):
        if col not in table.column_names:
            raise InputError(f"{name}: missing column {col!r} (columns: {', '.join(table.column_names)})")
    if table.num_rows == 0:
        raise InputError(f"{name}: no rows")
    t0 = time.perf_counter()
    verdicts = sk.check_batch(table[args.completion], table[args.gold], threads=args.threads)
    dt = time.perf_counter() - t0
    out = table
    for field in verdicts.column_names:
        col = verdicts[field]
        if field == "status":
            col = col.cast(pa.string())
        if field in out.column_names:
            out = out.drop_columns([field])
        out = out.append_column(field, col)
    counts = Counter(verdicts["status"].to_pylist())
    n = table.num_rows
    print(f"verified {n} pairs from {name} in {dt * 1e3:.1f} ms ({n / max(dt, 1e-9):,.0f} pairs/s)")
    for status in sk.STATUSES:
        k = counts.get(status, 0)
        print(f"  {status:<12} {k:>8}  {100 * k / n:5.1f}%")
    if args.show:
        for row in out.select(["gold_answer", "predicted", "status"]).to_pylist()[: args.show]:
            print(f"  gold={row['gold_answer']!r:<28} predicted={row['predicted']!r:<28} {row['status']}")
    if args.output:
        path = write_table(out, args.output)
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stagekit", description="Stage data for SFT-then-RL post-training.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser(
        "verify",
        help="verify completions against gold answers",
        description="Verify a file of completions against gold answers and print a summary by status.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    v.add_argument("input", nargs="?", type=Path, help="JSONL, JSON, Parquet or CSV file")
    v.add_argument("--sample", action="store_true", help="verify the bundled sample instead of a file")
    v.add_argument("--completion", default="completion", help="column holding the completions")
    v.add_argument("--gold", default="answer", help="column holding gold answers or reference solutions")
    v.add_argument("-o", "--output", type=Path, help="write verdicts (input columns + correct, status, predicted)")
    v.add_argument("--threads", type=int, default=None, help="verifier threads (default: all cores)")
    v.add_argument("--show", type=int, default=0, metavar="N", help="print the first N verdicts")
    v.set_defaults(func=_cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:
        print(f"stagekit {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
