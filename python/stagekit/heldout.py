r"""Held-out evaluation in ``stagekit run`` (``--eval``): which problems, and what the evaluations say.

The problems (:data:`BENCHMARKS`, a source of the step runner; :func:`select_heldout`, pure):

- ``ladder``: a draw of the built-in ladder with another seed (``--seed`` + :data:`HELDOUT_SEED_OFFSET`),
  over the run's ``--ladder-levels``, prompts written exactly as the training ladder's;
- a built-in benchmark (``gsm8k``, ``mawps``, ...): its rows from ``--eval-data`` (or the hub), through
  :func:`stagekit.evaluate.load_benchmark`.

A problem that also occurs in the training pool, by id or by normalised text (:func:`stagekit.mark_overlap`:
different seeds do not make different problems, so the text decides), is excluded and counted, and so is a
repeat of a problem already taken; the first ``--eval-problems`` that remain are evaluated (the ladder's in
the same mix of levels as a draw of that size). The student is evaluated on them before training and after
every round (the ``evaluate`` step of each round, :mod:`stagekit.steps`), always with the same sampling
seed per benchmark.

:func:`heldout_summary` turns the evaluations into the manifest's ``heldout`` record: per benchmark and
round the metrics with their intervals, and the change from the first evaluation to the last as a paired
comparison on the same problems (:func:`stagekit.evaluate.paired_change`: the exact sign test and a paired
bootstrap interval), in words.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.io import InputError
from stagekit.runner import source, stable_hash

if TYPE_CHECKING:
    from stagekit.evaluate import BenchmarkRows
    from stagekit.rundir import RunDir

__all__ = ["BENCHMARKS", "HELDOUT_COLUMNS", "HELDOUT_SEED_OFFSET", "heldout_summary", "ladder_draw", "load_heldout",
           "select_heldout"]

#: The held-out ladder's seed is the run's ``--seed`` plus this.
HELDOUT_SEED_OFFSET = 1_000_003

#: The columns of the held-out table (a benchmark's canonical rows, and the ladder level where there is one).
HELDOUT_COLUMNS = ("benchmark", "problem_id", "question", "prompt", "gold", "solution", "level")


def ladder_draw(n: int, *, seed: int, levels: list[int]) -> BenchmarkRows:
    """Candidates for the held-out ladder: enough problems of each level, drawn with ``seed`` (the run's seed
    plus :data:`HELDOUT_SEED_OFFSET`) to find ``n`` that are not training problems; ids
    ``ladder-s<seed>/<ladder id>`` (a ladder id names a problem only together with its seed)."""
    from stagekit import evaluate as ev
    from stagekit.ladder import make_ladder

    per_level = math.ceil(n / len(levels)) + 16
    table = make_ladder(per_level * len(levels), seed=seed, levels=levels)
    ids = pa.array([f"ladder-s{seed}/{x}" for x in table["problem_id"].to_pylist()], pa.string())
    table = table.set_column(0, "problem_id", ids)
    bench = ev.user_benchmark("ladder", template="{question}", answer_type="number")
    rows = ev.benchmark_rows(bench, table, source=f"ladder(levels={','.join(map(str, levels))}, seed={seed})")
    out = rows.rows.set_column(rows.rows.column_names.index("solution"), "solution", table["solution"])
    out = out.append_column("level", table["level"].cast(pa.int32()))
    return ev.BenchmarkRows(rows.benchmark, out, rows.source, {**rows.meta, "candidates": table.num_rows, "n": n,
                                                                "levels": list(levels)})


def load_heldout(cfg: Any) -> list[BenchmarkRows]:
    """The candidate rows of every ``--eval`` benchmark (see the module docstring), read through ``cfg``."""
    from stagekit import evaluate as ev

    names = cfg.eval_names()
    data = Path(cfg.eval_data) if cfg.eval_data else None
    files = [n for n in names if n != "ladder"]
    if data is not None and data.is_file() and len(files) > 1:
        raise InputError(f"--eval-data {data} is one file, but {len(files)} benchmarks are named ({', '.join(files)}): "
                         "give a directory holding their files")
    out = []
    for name in names:
        if name == "ladder":
            out.append(ladder_draw(cfg.eval_problems, seed=cfg.seed + HELDOUT_SEED_OFFSET, levels=cfg.levels()))
        else:
            try:
                out.append(ev.load_benchmark(name, data))
            except InputError as e:
                raise InputError(f"--eval {name}: {e}") from None
    return out


@source("benchmarks", reads=("eval", "eval_data", "eval_problems", "ladder_levels", "seed", "problems", "rollouts"))
def BENCHMARKS(cfg: Any) -> tuple[list[BenchmarkRows], str]:
    """The held-out benchmarks' candidate rows; the key hashes each one's name and rows."""
    from stagekit import evaluate as ev

    benches = load_heldout(cfg)
    return benches, stable_hash([(b.name, ev.rows_key(b.rows)) for b in benches])


def _quotas(levels: list[int], n: int) -> dict[int, int]:
    """How many problems of each level a ladder draw of ``n`` has (round-robin over ``levels``)."""
    out = {lv: 0 for lv in levels}
    for i in range(n):
        out[levels[i % len(levels)]] += 1
    return out


def select_heldout(benches: list[BenchmarkRows], pool: pa.Table, n: int) -> tuple[pa.Table, dict[str, dict[str, Any]]]:
    """The held-out problems (pure): of each benchmark's rows, those not in the training ``pool`` (same id,
    or same normalised text: ``question`` against the pool's ``prompt``) and not a repeat of an earlier row's
    text, the first ``n`` (a ladder draw: the first of each level, in the mix of levels a draw of ``n`` has).
    Returns the rows (:data:`HELDOUT_COLUMNS`) and, per benchmark, what was excluded:

    ``source``, ``rows`` (the benchmark's rows, or the candidates drawn), ``overlap_id``, ``overlap_text``,
    ``overlap`` (in the pool by either), ``repeats`` (the same text as an earlier row), ``evaluated``.
    """
    from stagekit.transforms import mark_overlap, normalize_text

    parts, notes = [], {}
    for b in benches:
        rows = b.rows
        if "level" not in rows.column_names:
            rows = rows.append_column("level", pa.nulls(rows.num_rows, pa.int32()))
        marked = mark_overlap(rows, pool, id="problem_id", text="question", pool_id="problem_id", pool_text="prompt")
        seen: set[str | None] = set()
        repeat = []
        for t in marked["question"].to_pylist():
            key = normalize_text(t)
            repeat.append(key in seen)
            seen.add(key)
        ok = [not o and not r for o, r in zip(marked["overlap"].to_pylist(), repeat, strict=True)]
        levels = b.meta.get("levels")
        take: list[int] = []
        if levels:
            quota = _quotas(levels, n)
            for i, (good, lv) in enumerate(zip(ok, rows["level"].to_pylist(), strict=True)):
                if good and quota.get(lv, 0) > 0:
                    quota[lv] -= 1
                    take.append(i)
        else:
            take = [i for i, good in enumerate(ok) if good][:n]
        if not take:
            raise InputError(f"--eval {b.name}: every one of its {rows.num_rows} problems is in the training pool "
                             "(or repeats one): nothing is held out")
        parts.append(rows.select(list(HELDOUT_COLUMNS)).take(pa.array(take, pa.int64())))
        notes[b.name] = {
            "source": b.source, "rows": rows.num_rows,
            "overlap_id": int(pc.sum(marked["overlap_id"]).as_py() or 0),
            "overlap_text": int(pc.sum(marked["overlap_text"]).as_py() or 0),
            "overlap": int(pc.sum(marked["overlap"]).as_py() or 0),
            "repeats": int(sum(repeat)), "evaluated": len(take),
        }
    return pa.concat_tables(parts), notes


# ------------------------------------------------------------------------------------------------ summary


def _scores(run: RunDir, round_: int) -> pa.Table | None:
    return run.read_table(round_, "eval_scores")


def heldout_summary(run: RunDir, notes: dict[str, dict[str, Any]], evaluated: list[int], *, k: int,
                    confidence: float = 0.95) -> dict[str, Any]:
    """The manifest's ``heldout`` record from the ``evaluate`` steps of rounds ``evaluated`` (their
    ``eval_scores`` tables) and the ``heldout`` step's ``notes``: ``benchmarks`` (what was excluded and
    evaluated), ``rounds`` (per round and benchmark: the metrics with intervals, and pass@1 per ladder level
    where there are levels) and ``change`` (per benchmark, the first evaluation against the last, paired on
    the problems: :func:`stagekit.evaluate.paired_change` as a dict, with its words)."""
    from stagekit.evaluate import paired_change, summarize

    rounds = []
    tables = {r: _scores(run, r) for r in evaluated}
    for r in evaluated:
        t = tables[r]
        if t is None:
            continue
        per: dict[str, Any] = {}
        for name in notes:
            s = t.filter(pc.equal(t["benchmark"], name))
            if not s.num_rows:
                continue
            metrics = {m: x.as_dict() for m, x in summarize(s, confidence=confidence).items()}
            entry: dict[str, Any] = {"metrics": metrics}
            if "level" in s.column_names and s["level"].null_count < s.num_rows:
                by: dict[str, list[float]] = {}
                for lv, v in zip(s["level"].to_pylist(), s["pass@1"].to_pylist(), strict=True):
                    by.setdefault(str(lv), []).append(v)
                entry["by_level"] = {lv: {"pass@1": sum(v) / len(v), "problems": len(v)} for lv, v in sorted(by.items())}
            per[name] = entry
        rounds.append({"round": r, "benchmarks": per})
    change = {}
    first, last = (tables.get(evaluated[0]), tables.get(evaluated[-1])) if evaluated else (None, None)
    if first is not None and last is not None and len(evaluated) > 1:
        for name in notes:
            a = {p: v for p, v, b in zip(first["problem_id"].to_pylist(), first["pass@1"].to_pylist(),
                                          first["benchmark"].to_pylist(), strict=True) if b == name}
            z = {p: v for p, v, b in zip(last["problem_id"].to_pylist(), last["pass@1"].to_pylist(),
                                          last["benchmark"].to_pylist(), strict=True) if b == name}
            ids = [p for p in a if p in z]
            change[name] = paired_change([a[p] for p in ids], [z[p] for p in ids], confidence=confidence).as_dict()
    return {"k": k, "confidence": confidence, "evaluated_rounds": list(evaluated), "benchmarks": notes,
            "rounds": rounds, "change": change}
