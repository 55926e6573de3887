"""Sampling a model on benchmarks, and the evaluation directory behind ``stagekit eval``.

:func:`evaluate_rows` is the whole evaluation of one benchmark in memory (sample, verify, score,
summarize) through any generator backend. :func:`run_eval` does it for several benchmarks into a directory
with the stage loop's step runner (:class:`stagekit.runner.Runner`: keys derived from what each step reads,
resume, the typed manifest, the directory lock, atomic writes). Its steps, per benchmark ``<b>``:

==================  =======================================================  ======================
step                reads                                                    writes
==================  =======================================================  ======================
``<b>/sample-<i>``  k, seed, temperature, top_p, max_new_tokens, batch_size,  ``<b>/chunks/<i>``
                    extra; takes the chunk's rows and the student
``<b>/score``       k, pass_at, confidence; takes the rows and every chunk    ``<b>/completions``,
                                                                             ``<b>/problems``
==================  =======================================================  ======================

A chunk is ``chunk_size`` problems with its own sampling seed (from ``seed``, the benchmark's name and the
chunk's index), so an interrupted evaluation keeps every chunk it finished, and the completions do not
depend on which chunks were sampled in which process. Neither function imports the stage loop; the loop
can run the same steps (or call :func:`sample` and :func:`result_from_completions`) for held-out rounds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stagekit.evaluate.benchmarks import BenchmarkRows
from stagekit.evaluate.metrics import Metric, markdown_table, problem_scores, score, summarize
from stagekit.io import InputError
from stagekit.runner import Done, Log, Runner, Step, StepContext, Value, config_json, stable_hash

if TYPE_CHECKING:
    from stagekit.engine import Engine
    from stagekit.students import Student

__all__ = ["EVAL_NOT_AFFECTING", "SAMPLE_READS", "SCORE_READS", "BenchmarkResult", "EvalRun", "EvalSettings",
           "chunk_seed", "evaluate_rows", "result_from_completions", "rows_key", "run_eval", "sample",
           "sample_chunk", "summary_table"]


@dataclass(frozen=True)
class EvalSettings:
    """How a model is sampled and scored on benchmarks (the evaluation's config: the runner's steps declare
    which fields they read).

    ``k`` samples per problem at ``temperature``/``top_p``, at most ``max_new_tokens`` each; ``seed`` fixes
    the sampling (each chunk of ``chunk_size`` problems gets its own seed drawn from it, the benchmark's
    name and the chunk's index); ``batch_size`` is the transformers backend's prompts per batch (its
    completions depend on it). ``pass_at`` lists the pass@j reported besides pass@1 (default: k);
    ``confidence`` is the intervals' level. ``extra`` holds backend-specific sampling fields;
    ``api_key_env`` names the environment variable of an OpenAI-compatible server's key.
    """

    k: int = 4
    seed: int = 0
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512
    batch_size: int = 16
    pass_at: tuple[int, ...] | None = None
    confidence: float = 0.95
    chunk_size: int = 64
    api_key_env: str = "OPENAI_API_KEY"
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise InputError(f"--k must be >= 1, got {self.k}")
        if self.k > 1 and self.temperature == 0:
            raise InputError("--k > 1 needs --temperature > 0 (greedy decoding gives k identical samples)")
        for name in ("max_new_tokens", "batch_size", "chunk_size"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise InputError(f"--temperature must be >= 0 and --top-p in (0, 1], got {self.temperature}, {self.top_p}")
        if not 0 < self.confidence < 1:
            raise InputError(f"--confidence must be in (0, 1), got {self.confidence}")
        bad = [j for j in (self.pass_at or ()) if j < 1 or j > self.k]
        if bad:
            raise InputError(f"pass@{bad[0]} needs 1 <= j <= k = {self.k}")


#: Settings that change no result, with the reason (every step may read them; the runner's free fields).
EVAL_NOT_AFFECTING = {
    "chunk_size": "a chunk's rows and index (which seeds it) are in its step's key already",
    "api_key_env": "which environment variable holds the server's API key",
    "progress": "progress bars and step lines",
}
EvalSettings.NOT_AFFECTING = tuple(EVAL_NOT_AFFECTING)  # type: ignore[attr-defined]

#: What a chunk's completions depend on (besides its rows and the student).
SAMPLE_READS = ("k", "seed", "temperature", "top_p", "max_new_tokens", "batch_size", "extra")
#: What a benchmark's verdicts, scores and metrics depend on (besides its rows and completions).
SCORE_READS = ("k", "pass_at", "confidence")


def rows_key(rows: pa.Table) -> str:
    """A content key of a benchmark's rows (ids, prompts and golds)."""
    return stable_hash(rows["problem_id"].to_pylist(), rows["prompt"].to_pylist(), rows["gold"].to_pylist())


def chunk_seed(seed: int, benchmark: str, index: int) -> int:
    """The sampling seed of chunk ``index`` of a benchmark (31 bits)."""
    h = hashlib.sha256(f"{seed}|{benchmark}|{index}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def _name(rows: pa.Table) -> str:
    return rows["benchmark"][0].as_py() if rows.num_rows and "benchmark" in rows.column_names else ""


def _factory(generator: Any) -> Callable[[], Any]:
    """A zero-argument factory of ``generator`` (a Generator, or a factory already), made at most once."""
    if hasattr(generator, "generate"):
        return lambda: generator
    made: list[Any] = []

    def once() -> Any:
        if not made:
            made.append(generator())
        return made[0]

    return once


def sample_chunk(rows: pa.Table, factory: Callable[[], Any], settings: Any, seed: int, *,
                 engine: Engine | None = None, show_progress: bool = True) -> pa.Table:
    """``settings.k`` completions of every row's ``prompt`` (``problem_id``, ``sample``, ``completion``),
    sampled on ``engine`` (default: this process) from the generator ``factory()`` makes, with ``seed``."""
    from stagekit.engine import LocalEngine

    got = (engine or LocalEngine()).generate(
        rows.select(["problem_id", "prompt"]), factory, n=settings.k, show_progress=show_progress,
        temperature=settings.temperature, top_p=settings.top_p, max_new_tokens=settings.max_new_tokens, seed=seed,
        extra=dict(settings.extra))
    return got.select(["problem_id", "sample", "completion"])


def _chunks(rows: pa.Table, size: int) -> list[pa.Table]:
    return [rows.slice(s, size) for s in range(0, rows.num_rows, size)]


def sample(rows: pa.Table, generator: Any, settings: EvalSettings = EvalSettings(), *,
           engine: Engine | None = None, show_progress: bool = True) -> pa.Table:
    """``settings.k`` completions of every row's ``prompt`` from ``generator`` (any
    :class:`stagekit.generate.Generator`, or a zero-argument callable making one), in row order, chunk by
    chunk with the chunks' seeds: the same completions :func:`run_eval` samples."""
    factory, name = _factory(generator), _name(rows)
    parts = [sample_chunk(c, factory, settings, chunk_seed(settings.seed, name, i), engine=engine,
                          show_progress=show_progress) for i, c in enumerate(_chunks(rows, settings.chunk_size))]
    if not parts:
        return pa.table({"problem_id": pa.array([], pa.string()), "sample": pa.array([], pa.int32()),
                         "completion": pa.array([], pa.string())})
    return pa.concat_tables(parts)


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark evaluated: every completion with its verdict, per-problem scores, the metrics."""

    name: str
    verdicts: pa.Table
    scores: pa.Table
    metrics: dict[str, Metric]


def result_from_completions(rows: pa.Table, completions: pa.Table, settings: Any, name: str = "") -> BenchmarkResult:
    """Verdicts, scores and metrics of a benchmark's completions (no model: pure). ``settings`` needs ``k``,
    ``pass_at`` and ``confidence`` (an :class:`EvalSettings`)."""
    verdicts = score(rows, completions)
    scores = problem_scores(verdicts, k=settings.k, ks=settings.pass_at)
    return BenchmarkResult(name or _name(rows), verdicts, scores, summarize(scores, confidence=settings.confidence))


def evaluate_rows(rows: pa.Table, generator: Any, settings: EvalSettings = EvalSettings(), *,
                  show_progress: bool = True) -> BenchmarkResult:
    """Sample ``generator`` on a benchmark's canonical rows and score it, in memory (no files)."""
    return result_from_completions(rows, sample(rows, generator, settings, show_progress=show_progress), settings)


# ------------------------------------------------------------------------------------------- directory


def _run_sample(ctx: StepContext) -> None:
    """A chunk of a benchmark: ``k`` completions of each of its problems from the student."""
    c = ctx.cfg
    rows = ctx.value("rows")
    seed = chunk_seed(c.seed, ctx.args["benchmark"], ctx.args["index"])
    got = sample_chunk(rows, ctx.generator(ctx.value("student")), c, seed, engine=ctx.engine, show_progress=c.progress)
    ctx.write(ctx.args["table"], got)


def _run_score(ctx: StepContext) -> None:
    """Every completion of a benchmark verified; per-problem scores; the metrics (kept in the step's notes).
    Chunk by chunk (a chunk holds all the samples of its problems): the verdicts are written as they are
    made, and only the per-problem scores are kept (the same tables as :func:`result_from_completions`)."""
    from collections import Counter

    c = ctx.cfg
    rows = ctx.value("rows")
    b: BenchmarkRows = ctx.args["bench"]
    scores: list[pa.Table] = []
    statuses: Counter[str] = Counter()
    samples = 0

    def verdicts() -> Any:
        nonlocal samples
        for chunk, table in zip(_chunks(rows, c.chunk_size), ctx.args["chunks"], strict=True):
            v = score(chunk, ctx.read(table))
            scores.append(problem_scores(v, k=c.k, ks=c.pass_at))
            statuses.update(_count(v["status"]))
            samples += v.num_rows
            yield from v.combine_chunks().to_batches()

    ctx.write_batches(f"{b.name}/completions", verdicts())
    per_problem = pa.concat_tables(scores).combine_chunks()  # (one chunk: sums in the same order as before)
    metrics = summarize(per_problem, confidence=c.confidence)
    ctx.write(f"{b.name}/problems", _attach(rows, per_problem))
    ctx.note(metrics={n: m.as_dict() for n, m in metrics.items()}, statuses=dict(sorted(statuses.items())),
             problems=rows.num_rows, samples=samples, source=b.source,
             description=b.benchmark.description, answer_type=b.benchmark.answer_type, template=b.benchmark.template,
             **b.meta)


def _sample_step(bench: str, index: int) -> Step:
    return Step(f"{bench}/sample-{index:05d}", _run_sample, SAMPLE_READS, ("rows", "student"),
                (f"{bench}/chunks/{index:05d}",), 1, _run_sample.__doc__ or "")


def _score_step(bench: str, chunks: int) -> Step:
    return Step(f"{bench}/score", _run_score, SCORE_READS, ("rows", *(f"chunk-{i:05d}" for i in range(chunks))),
                (f"{bench}/completions", f"{bench}/problems"), 1, _run_score.__doc__ or "")


@dataclass
class EvalRun:
    """What :func:`run_eval` produced: the directory, its manifest and each benchmark's result."""

    out: Path
    manifest: Any
    results: dict[str, BenchmarkResult]
    sampled: list[str]  # the benchmarks with chunks sampled by this call (the others were finished earlier)
    confidence: float = 0.95

    def markdown(self) -> str:
        return markdown_table({n: r.metrics for n, r in self.results.items()},
                              samples={n: int(r.scores["n"][0].as_py()) for n, r in self.results.items()},
                              confidence=self.confidence)


def summary_table(results: dict[str, BenchmarkResult], settings: Any) -> pa.Table:
    """One row per (benchmark, metric): value, low, high, problems, samples per problem, confidence."""
    rows = []
    for name, r in results.items():
        samples = int(r.scores["n"][0].as_py()) if r.scores.num_rows else 0
        for m in r.metrics.values():
            rows.append({"benchmark": name, "metric": m.name, "value": m.value, "low": m.low, "high": m.high,
                         "problems": m.problems, "samples": samples, "confidence": settings.confidence})
    return pa.Table.from_pylist(rows, schema=pa.schema([("benchmark", pa.string()), ("metric", pa.string()),
                                                        ("value", pa.float64()), ("low", pa.float64()),
                                                        ("high", pa.float64()), ("problems", pa.int64()),
                                                        ("samples", pa.int64()), ("confidence", pa.float64())]))


def run_eval(
    benchmarks: Sequence[BenchmarkRows],
    settings: EvalSettings,
    out: str | Path,
    *,
    student: Student,
    generator_factory: Callable[[Any, Any], Any] | None = None,
    engine: Engine | None = None,
    report: bool = True,
) -> EvalRun:
    """Evaluate ``student`` (a :class:`stagekit.students.Student`: backend, model, key) on each benchmark
    into the directory ``out``, with the step runner (see the module docstring). The generator is made by
    ``generator_factory(student, cfg)`` (default :func:`stagekit.students.make_generator`), once, and only if
    some chunk must be sampled; ``engine`` decides where sampling runs (default: this process).

    Writes ``manifest.json`` (the runner's: settings, versions, input files, each step's key, outputs and
    notes, the score steps' notes holding the metrics), ``<benchmark>/chunks/<i>.parquet`` (completions as
    sampled), ``<benchmark>/completions.parquet`` (every completion with its verdict),
    ``<benchmark>/problems.parquet`` (the rows with per-problem scores), and ``summary.parquet`` (one row per
    benchmark and metric), ``results.md`` and ``report.html``. Re-running with the same benchmarks, student
    and settings samples nothing again; an interrupted run keeps the chunks it finished."""
    from stagekit.io import atomic_write, write_table
    from stagekit.rundir import package_versions
    from stagekit.students import make_generator

    names = [b.name for b in benchmarks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"benchmark {dup[0]} is named twice")
    results: dict[str, BenchmarkResult] = {}
    sampled: list[str] = []
    with Runner(out, command="eval", config=settings, log=Log(settings.progress), engine=engine,
                generator_factory=generator_factory or make_generator) as rn:
        m = rn.manifest
        m.config, m.versions = config_json(settings), package_versions()
        m.inputs.update({b.source: b.meta["sha256"] for b in benchmarks if "sha256" in b.meta})
        m.extra["eval"] = {"order": names, "student": {"generator": student.kind, "model": student.model,
                                                       "base_url": student.base_url, "key": student.key}}
        rn.save()
        who = rn.given("student", student.key, student)
        for b in benchmarks:
            rows = b.rows
            chunks = _chunks(rows, settings.chunk_size)
            rn.log(f"{b.name}: {rows.num_rows} problems x {settings.k} samples in {len(chunks)} chunk(s) ({b.source})")
            done: dict[str, Done] = {}
            for i, chunk in enumerate(chunks):
                st = _sample_step(b.name, i)
                inputs = {"rows": Value("rows", rows_key(chunk), chunk), "student": who}
                if rn.is_done(st, None, rn.key(st, inputs)[0]) is None and b.name not in sampled:
                    sampled.append(b.name)
                done[f"chunk-{i:05d}"] = rn.run(st, inputs=inputs, args={"benchmark": b.name, "index": i,
                                                                         "table": st.writes[0]})
            sc = _score_step(b.name, len(chunks))
            rn.run(sc, inputs={"rows": Value("rows", rows_key(rows), rows), **done},
                   args={"bench": b, "chunks": [d.step.writes[0] for d in done.values()]})
            verdicts = rn.dir.read_table(None, f"{b.name}/completions")
            problems = rn.dir.read_table(None, f"{b.name}/problems")
            assert verdicts is not None and problems is not None
            scores = problems.select([c for c in problems.column_names if c not in ("question", "prompt", "gold", "solution")])
            metrics = {n: Metric(n, x["value"], x["low"], x["high"], x["problems"])
                       for n, x in m.steps[sc.name].notes["metrics"].items()}
            results[b.name] = BenchmarkResult(b.name, verdicts, scores, metrics)
            rn.log(f"{b.name}: " + ", ".join(f"{n} {100 * x.value:.1f}%" for n, x in metrics.items()))
        ev = EvalRun(Path(out), m, results, sampled, settings.confidence)
        write_table(summary_table(results, settings), Path(out) / "summary.parquet")
        atomic_write(Path(out) / "results.md", ev.markdown() + "\n")
        rn.save()
        if report:
            from stagekit.evaluate.report import write_eval_report

            write_eval_report(out)
    return ev


def _attach(rows: pa.Table, scores: pa.Table) -> pa.Table:
    """The benchmark's rows with their per-problem scores, in the rows' order."""
    idx = {pid: i for i, pid in enumerate(scores["problem_id"].to_pylist())}
    take = pa.array([idx[p] for p in rows["problem_id"].to_pylist()], pa.int64())
    s = scores.drop_columns(["benchmark", "problem_id"]).take(take)
    out = rows
    for name in s.column_names:
        out = out.append_column(name, s[name])
    return out


def _count(col: pa.ChunkedArray) -> dict[str, int]:
    from collections import Counter

    return dict(sorted(Counter(col.to_pylist()).items()))
