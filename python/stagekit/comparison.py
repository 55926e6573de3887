r"""``stagekit compare``: recipes side by side on their held-out evaluations, the paper's table.

:func:`load_run` reads what a run directory of ``stagekit run`` says about its held-out evaluation (the
per-problem scores of its first and last ``evaluate`` steps); :func:`compare_runs` (pure) makes the table:
one row per run (its recipe), one column per benchmark, pass@1 with its interval, the change from the base
model as a paired comparison on the same problems, and the best recipe of each benchmark, marked only where
it beats every other recipe outside the noise (:func:`stagekit.evaluate.paired_change`: the exact sign test
on the problems). :func:`markdown` and :func:`html_page` render it; :func:`write_comparison` writes
``compare.md``, ``compare.html`` and ``compare.json``.

:func:`run_recipes` (``stagekit compare --run``) runs every recipe on the same options, each in its own run
directory under the output directory, the first one in full and the others adopting its recipe-independent
steps (:data:`SHARED_STEPS`: the held-out problems, the base model's measurement, plan and held-out
evaluation) where the runner's keys say they are the same (:meth:`stagekit.runner.Runner.adopt`).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagekit.io import TEMP_SUFFIX, InputError, atomic_write

if TYPE_CHECKING:
    import pyarrow as pa

    from stagekit.config import RunConfig
    from stagekit.evaluate.metrics import Change
    from stagekit.runner import Log

__all__ = ["COMPARE_DEFAULTS", "Cell", "Comparison", "OUTPUTS", "RunEval", "SHARED_STEPS", "compare_runs", "html_page", "load_run", "markdown",
           "run_recipes", "write_comparison"]

#: Steps every recipe's run has in common (they read no recipe-dependent option and take nothing that does):
#: what :func:`run_recipes` lets the later recipes adopt from the first.
SHARED_STEPS = ("heldout", "round-0/measure", "round-0/plan", "round-0/evaluate")

#: ``stagekit compare --run``'s own defaults over ``stagekit run``'s: the output directory, and the paper's
#: stage sets for ``staged`` (the scheme shapes only ``staged``'s sets; every recipe plans with it, so the
#: base model's plan is the same in every run and shared).
COMPARE_DEFAULTS: dict[str, Any] = {"out": "stagekit-compare", "scheme": "paper"}

#: The files a comparison writes into its directory.
OUTPUTS = ("compare.md", "compare.html", "compare.json")


@dataclass(frozen=True)
class RunEval:
    """A run's held-out evaluation: its first (the base model) and last (the trained student) ``eval_scores``
    tables (one row per benchmark problem: ``benchmark``, ``problem_id``, ``n``, ``n_correct``, ``pass@1``, ...)."""

    path: Path
    recipe: str
    label: str
    base: pa.Table = field(repr=False)
    final: pa.Table = field(repr=False)
    base_key: str
    rounds: int
    k: int
    student: str | None
    config: dict[str, Any] = field(repr=False, default_factory=dict)


def load_run(path: str | os.PathLike[str]) -> RunEval:
    """The held-out evaluation of a ``stagekit run`` directory; an :class:`InputError` naming the directory
    when it is not one, or has none (it needs ``--eval`` and training)."""
    from stagekit.rundir import RunDir, read_manifest

    p = Path(path)
    m = read_manifest(p)
    if m.command != "run":
        raise InputError(f"{p}: a `stagekit {m.command}` directory, not a `stagekit run` one")
    held = m.heldout
    if not held or len(held.get("evaluated_rounds", [])) < 2:
        raise InputError(f"{p}: has no held-out evaluation before and after training (a finished `stagekit run` with "
                         "--eval naming benchmarks, and training)")
    first, last = held["evaluated_rounds"][0], held["evaluated_rounds"][-1]
    d = RunDir(p)
    base, final = d.read_table(first, "eval_scores"), d.read_table(last, "eval_scores")
    if base is None or final is None:
        raise InputError(f"{p}: round-{first}/eval_scores.parquet or round-{last}/eval_scores.parquet is missing")
    rec = m.steps.get(f"round-{first}/evaluate")
    recipe = m.recipe or m.config.get("recipe") or "staged"
    return RunEval(p, recipe, recipe, base, final, rec.key if rec else "", last, int(held.get("k", 0)), m.student,
                   m.config)


@dataclass(frozen=True)
class Cell:
    """One recipe on one benchmark: pass@1 with its Wilson interval over problems, and its change from the
    base model (paired on the problems); for the base row ``change`` is None."""

    value: float
    low: float
    high: float
    problems: int
    change: Change | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "problems": self.problems,
                "change": None if self.change is None else self.change.as_dict()}


@dataclass
class Comparison:
    """The table of :func:`compare_runs`."""

    benchmarks: list[str]
    runs: list[RunEval]
    base: dict[str, Cell]
    shared_base: bool  # every run's base evaluation is the same (one base row); else each change is from its own
    cells: dict[str, dict[str, Cell]]  # run label -> benchmark -> cell
    best: dict[str, str | None]  # benchmark -> the label marked best (outside the noise), or None
    leader: dict[str, str]  # benchmark -> the label with the highest pass@1 (marked or not)
    versus: dict[str, dict[str, Change]]  # benchmark -> other label -> the leader against it (paired)
    left_out: list[str]  # benchmarks some runs do not have
    confidence: float = 0.95

    def words(self, bench: str) -> str:
        """What the table says about one benchmark's best recipe, in a sentence."""
        lead = self.leader[bench]
        v = self.cells[lead][bench]
        if len(self.runs) < 2:
            return f"{bench}: one recipe ({lead}), nothing to rank"
        if self.best[bench] is not None:
            worst_p = max(c.p_value for c in self.versus[bench].values())
            return (f"{bench}: {lead} is best ({100 * v.value:.1f}%), ahead of every other recipe outside the noise "
                    f"(paired sign tests, largest p = {worst_p:.3f})")
        tied = [o for o, c in self.versus[bench].items() if not c.significant]
        near = ", ".join(f"{o} (p = {self.versus[bench][o].p_value:.3f})" for o in tied)
        return (f"{bench}: {lead} has the highest pass@1 ({100 * v.value:.1f}%) but is within noise of {near}: "
                "no recipe is marked best")

    def as_dict(self) -> dict[str, Any]:
        return {"benchmarks": self.benchmarks, "confidence": self.confidence, "shared_base": self.shared_base,
                "runs": [{"label": r.label, "recipe": r.recipe, "path": str(r.path), "rounds": r.rounds, "k": r.k,
                          "student": r.student} for r in self.runs],
                "base": {b: c.as_dict() for b, c in self.base.items()},
                "cells": {lab: {b: c.as_dict() for b, c in row.items()} for lab, row in self.cells.items()},
                "best": self.best, "leader": self.leader,
                "versus": {b: {o: c.as_dict() for o, c in vs.items()} for b, vs in self.versus.items()},
                "left_out": self.left_out, "words": {b: self.words(b) for b in self.benchmarks}}


def _by_problem(t: pa.Table, bench: str) -> dict[str, float]:
    return {p: float(v) for p, v, b in zip(t["problem_id"].to_pylist(), t["pass@1"].to_pylist(),
                                           t["benchmark"].to_pylist(), strict=True) if b == bench}


def _cell(scores: dict[str, float], confidence: float, change: Change | None = None) -> Cell:
    from stagekit.transforms.difficulty import wilson_interval

    n = len(scores)
    mean = sum(scores.values()) / n
    lo, hi = wilson_interval(mean, n, confidence)
    return Cell(mean, lo, hi, n, change)


def compare_runs(runs: Sequence[RunEval], *, confidence: float = 0.95) -> Comparison:
    """The comparison table of ``runs`` (pure; see the module docstring). Runs are compared on the
    benchmarks they all evaluated, which must hold the same problems in every run (else an
    :class:`InputError` naming the runs); a benchmark some runs lack is left out and listed."""
    from stagekit.evaluate.metrics import paired_change

    if not runs:
        raise InputError("no run directories to compare")
    labels: dict[str, int] = {}
    named = []
    for r in runs:  # two runs of one recipe are told apart by their directories
        dup = sum(x.recipe == r.recipe for x in runs) > 1
        lab = f"{r.recipe} ({r.path.name})" if dup else r.recipe
        labels[lab] = labels.get(lab, 0) + 1
        named.append(replace(r, label=lab if labels[lab] == 1 else f"{lab} #{labels[lab]}"))
    runs = named
    sets = [list(dict.fromkeys(r.final["benchmark"].to_pylist())) for r in runs]
    benchmarks = [b for b in sets[0] if all(b in s for s in sets)]
    left_out = sorted({b for s in sets for b in s} - set(benchmarks))
    if not benchmarks:
        raise InputError("the runs have no held-out benchmark in common: "
                         + "; ".join(f"{r.path}: {', '.join(s)}" for r, s in zip(runs, sets, strict=True)))
    for b in benchmarks:
        id_lists = [sorted(_by_problem(r.final, b)) for r in runs]
        for r, i in zip(runs[1:], id_lists[1:], strict=True):
            if i != id_lists[0]:
                raise InputError(f"{runs[0].path} and {r.path} evaluated different held-out problems on {b}: compare "
                                 "runs made with the same --eval, --eval-problems, --seed and training problems")
    shared = all(r.base_key == runs[0].base_key and r.base.equals(runs[0].base) for r in runs[1:])
    base = {b: _cell(_by_problem(runs[0].base, b), confidence) for b in benchmarks}
    cells: dict[str, dict[str, Cell]] = {}
    for r in runs:
        row = {}
        for b in benchmarks:
            before, after = _by_problem(r.base, b), _by_problem(r.final, b)
            common = [p for p in after if p in before]
            ch = paired_change([before[p] for p in common], [after[p] for p in common], confidence=confidence)
            row[b] = _cell(after, confidence, ch)
        cells[r.label] = row
    best: dict[str, str | None] = {}
    leader: dict[str, str] = {}
    versus: dict[str, dict[str, Change]] = {}
    for b in benchmarks:
        order = sorted(runs, key=lambda r: -cells[r.label][b].value)
        lead = order[0]
        leader[b] = lead.label
        mine = _by_problem(lead.final, b)
        vs = {}
        for other in order[1:]:
            theirs = _by_problem(other.final, b)
            vs[other.label] = paired_change([theirs[p] for p in sorted(mine)], [mine[p] for p in sorted(mine)],
                                            confidence=confidence)
        versus[b] = vs
        ahead = bool(vs) and all(c.significant and c.improved > c.worsened for c in vs.values())
        best[b] = lead.label if ahead else None
    return Comparison(benchmarks, list(runs), base, shared, cells, best, leader, versus, left_out, confidence)


def _pct(c: Cell) -> str:
    return f"{100 * c.value:.1f} [{100 * c.low:.1f}, {100 * c.high:.1f}]"


def _delta(c: Cell) -> str:
    if c.change is None:
        return ""
    return f"{100 * c.change.delta:+.1f}{'*' if c.change.significant else ''}"


def _legend(comp: Comparison) -> list[str]:
    conf = round(100 * comp.confidence)
    r0 = comp.runs[0]
    n = {b: comp.base[b].problems for b in comp.benchmarks}
    lines = [
        f"pass@1 in percent on held-out problems ({', '.join(f'{b}: {n[b]}' for b in comp.benchmarks)}; k = {r0.k} "
        f"samples each), with {conf}% Wilson intervals over problems. Δ: the change from the base model in points, "
        f"paired on the same problems; * where it is outside the noise (exact sign test on the problems whose "
        f"correct-sample count changed, p < {1 - comp.confidence:.2f}). Bold: the best recipe on that benchmark, "
        "marked only where it beats every other recipe outside the noise (the same paired test).",
    ]
    if not comp.shared_base:
        lines.append("The runs' base evaluations differ (another student, seed or settings): the base row is the first "
                     "run's, and each Δ is from the run's own base evaluation.")
    if comp.left_out:
        lines.append(f"Left out (not evaluated by every run): {', '.join(comp.left_out)}.")
    lines += [comp.words(b) + "." for b in comp.benchmarks]
    return lines


def markdown(comp: Comparison) -> str:
    """The comparison as a Markdown table and its legend."""
    head = ["recipe", *(x for b in comp.benchmarks for x in (f"{b} pass@1", "Δ"))]
    lines = ["| " + " | ".join(head) + " |", "| --- | " + " | ".join("---:" for _ in head[1:]) + " |"]
    base_label = "base model" + ("" if comp.shared_base else f" ({comp.runs[0].label}'s)")
    lines.append("| " + " | ".join([base_label, *(x for b in comp.benchmarks for x in (_pct(comp.base[b]), ""))]) + " |")
    for r in comp.runs:
        row = comp.cells[r.label]
        vals = [x for b in comp.benchmarks
                for x in (f"**{_pct(row[b])}**" if comp.best[b] == r.label else _pct(row[b]), _delta(row[b]))]
        lines.append("| " + " | ".join([r.label, *vals]) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(_legend(comp))


def html_page(comp: Comparison) -> str:
    """The comparison as a self-contained HTML page: a chart of pass@1 per benchmark and recipe with
    intervals, the table, and what it says in words (drawn with :mod:`stagekit.report`'s helpers)."""
    from stagekit.report import cards, chart, grouped_bars, page_head

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    versions = {}
    from stagekit.rundir import read_manifest

    try:
        versions = read_manifest(comp.runs[0].path).versions
    except InputError:
        pass
    page = page_head("compare", created, versions)
    page.append(cards([("recipes", len(comp.runs)), ("benchmarks", len(comp.benchmarks)),
                       ("held-out problems", sum(comp.base[b].problems for b in comp.benchmarks)),
                       ("samples per problem", comp.runs[0].k)]))
    series = {"base model": [comp.base[b].value for b in comp.benchmarks]}
    ivs = {"base model": [(comp.base[b].low, comp.base[b].high) for b in comp.benchmarks]}
    for r in comp.runs:
        series[r.label] = [comp.cells[r.label][b].value for b in comp.benchmarks]
        ivs[r.label] = [(comp.cells[r.label][b].low, comp.cells[r.label][b].high) for b in comp.benchmarks]
    conf = round(100 * comp.confidence)
    width = max(620, 70 * len(comp.benchmarks) * len(series), 110 * len(series) + 80)  # bars, and the legend's row
    page.append("<div class='charts'>" + chart(grouped_bars(
        comp.benchmarks, series, f"Held-out pass@1 by recipe ({conf}% intervals)", width=width, intervals=ivs,
        colors=("#bab0ac", "#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2", "#72b7b2"))) + "</div>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["recipe", *comp.benchmarks])
    body = ["<tr><td>base model</td>" + "".join(f"<td>{_pct(comp.base[b])}</td>" for b in comp.benchmarks) + "</tr>"]
    for r in comp.runs:
        tds = []
        for b in comp.benchmarks:
            c = comp.cells[r.label][b]
            text = f"{_pct(c)}<br><span class='meta'>Δ {_delta(c)}</span>"
            tds.append(f"<td><b>{text}</b></td>" if comp.best[b] == r.label else f"<td>{text}</td>")
        body.append(f"<tr><td>{html.escape(r.label)}</td>{''.join(tds)}</tr>")
    page.append(f"<h2>pass@1 by recipe</h2><table><tr>{head}</tr>{''.join(body)}</table>")
    page.append("".join(f"<p class='meta'>{html.escape(x)}</p>" for x in _legend(comp)))
    rows = []
    for r in comp.runs:
        for b in comp.benchmarks:
            ch = comp.cells[r.label][b].change
            if ch is not None:
                rows.append(f"<tr><td>{html.escape(r.label)}</td><td>{html.escape(b)}</td><td>{html.escape(ch.words())}</td></tr>")
    page.append("<h2>Each recipe against the base model</h2><table><tr><th>recipe</th><th>benchmark</th>"
                f"<th>paired comparison</th></tr>{''.join(rows)}</table>")
    runs = "".join(f"<tr><td>{html.escape(r.label)}</td><td>{html.escape(str(r.path))}</td><td>{r.rounds}</td>"
                   f"<td>{html.escape(str(r.student))}</td></tr>" for r in comp.runs)
    page.append(f"<h2>Runs</h2><table><tr><th>recipe</th><th>directory</th><th>rounds</th><th>student</th></tr>{runs}</table>")
    page.append("</body></html>")
    return "\n".join(page)


def _check_out(out: Path, allowed: Iterable[str] = ()) -> None:
    """Refuse an output directory holding anything but a comparison's files (and ``allowed`` entries)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir():
        ok = set(OUTPUTS) | set(allowed)
        foreign = [p.name for p in out.iterdir() if p.name not in ok and not p.name.endswith(TEMP_SUFFIX)]
        if foreign:
            raise InputError(f"{out}: holds {', '.join(sorted(foreign)[:5])}, which a comparison did not write; "
                             "choose another --out")


def write_comparison(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                     allowed: Iterable[str] = ()) -> Comparison:
    """Compare the runs in ``run_dirs`` and write ``compare.md``, ``compare.html`` and ``compare.json`` into
    ``out`` (atomically; a directory holding other files is refused, except the ``allowed`` entries)."""
    o = Path(out)
    _check_out(o, allowed)
    comp = compare_runs([load_run(d) for d in run_dirs])
    o.mkdir(parents=True, exist_ok=True)
    atomic_write(o / "compare.md", markdown(comp) + "\n")
    atomic_write(o / "compare.html", html_page(comp))
    atomic_write(o / "compare.json", json.dumps(comp.as_dict(), indent=2, sort_keys=True, default=str) + "\n")
    return comp


def run_recipes(cfg: RunConfig, recipes: Sequence[str], out: str | os.PathLike[str], *, log: Log | None = None,
                generator_factory: Callable[[Any, Any], Any] | None = None, trainer: Any = None,
                engine: Any = None) -> list[Path]:
    """``stagekit compare --run``: the stage loop once per recipe with ``cfg``'s options, in
    ``out/<recipe>/``; the first recipe runs in full and each later one adopts the first one's
    :data:`SHARED_STEPS` (reused only where its own keys equal them). Re-running resumes each run."""
    from stagekit.config import RECIPES
    from stagekit.engine import get_engine
    from stagekit.loop import run

    bad = [r for r in recipes if r not in RECIPES]
    if bad or not recipes:
        raise InputError(f"--recipes: unknown recipe {bad[0]!r} (known: {', '.join(RECIPES)})" if bad
                         else "--recipes: name at least one recipe")
    root = Path(out)
    _check_out(root, allowed=RECIPES)
    eng = engine or get_engine(cfg.engine, address=cfg.address, actors=cfg.ray_actors, gpus=cfg.ray_gpus)
    dirs: list[Path] = []
    for recipe in dict.fromkeys(recipes):
        d = root / recipe
        adopt = (dirs[0], SHARED_STEPS) if dirs else None
        if log is not None:
            log(f"compare --run: recipe {recipe} -> {d}")
        run(replace(cfg, recipe=recipe, out=str(d)), log, generator_factory=generator_factory, trainer=trainer,
            engine=eng, adopt=adopt)
        dirs.append(d)
    return dirs
