r"""Evaluation metrics: pure functions from (benchmark rows, completions) to verdicts, per-problem scores
and benchmark metrics with intervals. No I/O, no model.

Definitions (``n`` samples of a problem, ``c`` of them verified correct):

- **pass@1** = mean over problems of ``c / n`` (the mean over the k samples: the unbiased estimate of the
  chance one sample is correct);
- **pass@k** = mean over problems of ``1 - C(n-c, k) / C(n, k)``, the unbiased estimator of Chen et al.
  (2021), which equals the average, over every k-subset of the n samples, of "some sample in the subset is
  correct";
- **maj@k** = mean over problems of "the majority answer of samples 0..k-1 is correct". Votes go to the
  extracted answers (samples without one do not vote); two answers are the same vote when their text is
  equal after the verifier's normalisation or when the verifier judges them equivalent
  (``compare(answer, representative) == "correct"``, the representative being the first answer of its
  group in sample order). The group with the most votes wins; a tie goes to the group whose first vote came
  earliest (lowest sample index). The winner is correct when its representative's verdict is; a problem
  where no sample gave an answer counts as incorrect.

Intervals: 95% (``confidence``) Wilson score intervals over the N problems of a benchmark, treating each
problem's score (in [0, 1]) as one trial. For maj@k (and pass@k at k = n) the scores are 0/1 and this is
the usual binomial interval; for pass@1 and pass@k they are fractions, whose variance is at most
``p (1 - p)`` at mean ``p``, so the interval is conservative (it never understates the spread over
problems and samples) and stays non-degenerate at 0 and 1, where a normal interval collapses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.transforms.difficulty import pass_at_k, wilson_interval

__all__ = ["Metric", "majority_vote", "markdown_table", "metric_names", "problem_scores", "score", "summarize"]


def score(rows: pa.Table, completions: pa.Table, *, threads: int | None = None) -> pa.Table:
    """Verdicts of completions against their benchmark's golds: one row per completion, in the benchmark's
    problem order then sample order, with ``benchmark``, ``problem_id``, ``sample``, ``completion``,
    ``gold``, ``correct`` (bool), ``status``, ``predicted`` (the extracted answer, null when none).

    ``rows`` are a benchmark's canonical rows (:func:`stagekit.evaluate.load_benchmark`); ``completions``
    hold ``problem_id``, ``sample`` and ``completion`` (what :func:`stagekit.generate` returns). Every
    completion must belong to a problem of ``rows``, every problem must have at least one completion, and
    no (problem, sample) pair may occur twice (ValueError names the first that breaks a rule).
    """
    from stagekit.verifier import check_batch

    for name, t, cols in (("rows", rows, ("problem_id", "gold")), ("completions", completions, ("problem_id", "sample", "completion"))):
        missing = [c for c in cols if c not in t.column_names]
        if missing:
            raise ValueError(f"score: {name} lack column(s) {missing} (columns: {', '.join(t.column_names)})")
    ids = pc.cast(rows["problem_id"], pa.string())
    order = pa.table({"problem_id": ids, "__order": pa.array(range(rows.num_rows), pa.int64()),
                      "gold": rows["gold"],
                      "benchmark": rows["benchmark"] if "benchmark" in rows.column_names else pa.nulls(rows.num_rows, pa.string())})
    comp = pa.table({"problem_id": pc.cast(completions["problem_id"], pa.string()),
                     "sample": pc.cast(completions["sample"], pa.int32()),
                     "completion": pc.cast(completions["completion"], pa.string())})
    stray = pc.invert(pc.is_in(comp["problem_id"], value_set=ids))
    if pc.any(stray).as_py():
        raise ValueError(f"score: completions for a problem not in the rows: {comp['problem_id'].filter(stray)[0].as_py()!r}")
    pairs = comp.group_by(["problem_id", "sample"]).aggregate([("completion", "count", pc.CountOptions("all"))])
    if pairs.num_rows != comp.num_rows:
        twice = pairs.filter(pc.greater(pairs["completion_count"], 1)).to_pylist()[0]
        raise ValueError(f"score: problem {twice['problem_id']!r} has sample {twice['sample']} more than once")
    answered = pc.is_in(ids, value_set=pc.unique(comp["problem_id"]))
    if not pc.all(answered).as_py():
        raise ValueError(f"score: no completion for problem {ids.filter(pc.invert(answered))[0].as_py()!r}")
    joined = comp.join(order, "problem_id").sort_by([("__order", "ascending"), ("sample", "ascending")])
    verdicts = check_batch(joined["completion"], joined["gold"], threads=threads)
    return pa.table({
        "benchmark": joined["benchmark"],
        "problem_id": joined["problem_id"],
        "sample": joined["sample"],
        "completion": joined["completion"],
        "gold": joined["gold"],
        "correct": verdicts["correct"],
        "status": verdicts["status"].cast(pa.string()),
        "predicted": verdicts["predicted"],
    })


def majority_vote(predicted: Sequence[str | None], correct: Sequence[bool]) -> tuple[int | None, int]:
    """The winning sample of a majority vote over extracted answers (see the module docstring): the index of
    the winning group's representative (its first sample), or None when no sample gave an answer, and the
    group's vote count.

    >>> majority_vote(["4", "\\\\frac{8}{2}", "5", "5", None], [True, True, False, False, False])
    (0, 2)
    >>> majority_vote(["5", "4", "4.0", "5"], [False, True, True, False])  # a 2-2 tie: 5 voted first
    (0, 2)
    >>> majority_vote([None, None], [False, False])
    (None, 0)
    """
    from stagekit.verifier import compare, normalize_answer

    reps: list[int] = []  # the first sample of each group
    keys: list[str] = []
    votes: list[int] = []
    for i, p in enumerate(predicted):
        if p is None:
            continue
        key = normalize_answer(p)
        for g, rep in enumerate(reps):
            if key == keys[g] or compare(p, predicted[rep]) == "correct":  # type: ignore[arg-type]
                votes[g] += 1
                break
        else:
            reps.append(i)
            keys.append(key)
            votes.append(1)
    if not reps:
        return None, 0
    best = max(range(len(reps)), key=lambda g: (votes[g], -reps[g]))
    return reps[best], votes[best]


def metric_names(k: int, ks: Iterable[int] | None = None) -> list[str]:
    """The metrics reported for ``k`` samples per problem: pass@1, pass@j for each j in ``ks`` (default: k)
    with 1 < j <= k, and maj@k.

    >>> metric_names(4), metric_names(8, ks=(1, 2, 8, 16))
    (['pass@1', 'pass@4', 'maj@4'], ['pass@1', 'pass@2', 'pass@8', 'maj@8'])
    """
    js = sorted({j for j in (ks if ks is not None else (k,)) if 1 < j <= k})
    return ["pass@1", *(f"pass@{j}" for j in js), f"maj@{k}"]


def problem_scores(verdicts: pa.Table, *, k: int | None = None, ks: Iterable[int] | None = None) -> pa.Table:
    """One row per problem (in the verdicts' order): ``benchmark``, ``problem_id``, ``n`` (samples),
    ``n_correct``, ``pass@1`` (= n_correct / n), ``pass@j`` for the ``ks`` (unbiased, over all n samples),
    ``maj@k`` (1.0 or 0.0, over samples 0..k-1), ``maj_answer`` and ``maj_votes``.

    ``k`` defaults to the smallest n; every problem needs at least ``k`` samples (and at least j for each
    pass@j) or ValueError names it.
    """
    rows = verdicts.select(["benchmark", "problem_id", "sample", "correct", "predicted"]).to_pylist()
    groups: dict[str, list[dict[str, Any]]] = {}
    bench: dict[str, Any] = {}
    for r in rows:
        groups.setdefault(r["problem_id"], []).append(r)
        bench[r["problem_id"]] = r["benchmark"]
    if not groups:
        raise ValueError("problem_scores: no verdicts")
    n_min = min(len(g) for g in groups.values())
    kk = n_min if k is None else k
    names = metric_names(kk, ks)
    js = [int(m.split("@")[1]) for m in names if m.startswith("pass@") and m != "pass@1"]
    out: dict[str, list[Any]] = {c: [] for c in ("benchmark", "problem_id", "n", "n_correct", *names[:-1], f"maj@{kk}",
                                                 "maj_answer", "maj_votes")}
    for pid, g in groups.items():
        g.sort(key=lambda r: r["sample"])
        n, c = len(g), sum(bool(r["correct"]) for r in g)
        if n < kk:
            raise ValueError(f"problem_scores: problem {pid!r} has {n} samples, fewer than k = {kk}")
        first = g[:kk]
        win, votes = majority_vote([r["predicted"] for r in first], [bool(r["correct"]) for r in first])
        out["benchmark"].append(bench[pid])
        out["problem_id"].append(pid)
        out["n"].append(n)
        out["n_correct"].append(c)
        out["pass@1"].append(c / n)
        for j in js:
            out[f"pass@{j}"].append(pass_at_k(n, c, j))
        out[f"maj@{kk}"].append(1.0 if win is not None and first[win]["correct"] else 0.0)
        out["maj_answer"].append(None if win is None else first[win]["predicted"])
        out["maj_votes"].append(votes)
    types = {"n": pa.int64(), "n_correct": pa.int64(), "maj_votes": pa.int64(), "maj_answer": pa.string(),
             "benchmark": pa.string(), "problem_id": pa.string()}
    return pa.table({c: pa.array(v, types.get(c, pa.float64())) for c, v in out.items()})


@dataclass(frozen=True)
class Metric:
    """One metric of one benchmark: its value (the mean over problems) and its interval."""

    name: str
    value: float
    low: float
    high: float
    problems: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "problems": self.problems}


def summarize(scores: pa.Table, *, confidence: float = 0.95) -> dict[str, Metric]:
    """Each metric column of :func:`problem_scores`' table (``pass@*``, ``maj@*``) as its mean over problems
    with a Wilson interval at ``confidence`` over the problems (see the module docstring)."""
    n = scores.num_rows
    if n == 0:
        raise ValueError("summarize: no problems")
    out = {}
    for name in scores.column_names:
        if name.startswith(("pass@", "maj@")):
            mean = float(pc.mean(scores[name]).as_py())
            lo, hi = wilson_interval(mean, n, confidence)
            out[name] = Metric(name, mean, lo, hi, n)
    return out


def _pct(m: Metric) -> str:
    return f"{100 * m.value:.1f} [{100 * m.low:.1f}, {100 * m.high:.1f}]"


def markdown_table(results: dict[str, dict[str, Metric]], *, samples: dict[str, int] | None = None,
                   confidence: float = 0.95) -> str:
    """A Markdown table: one row per benchmark, one column per metric, values in percent with their
    interval (``12.5 [5.1, 27.6]``).

    >>> m = {"gsm8k": {"pass@1": Metric("pass@1", 0.25, 0.1, 0.5, 20)}}
    >>> print(markdown_table(m, samples={"gsm8k": 4}))
    | benchmark | problems | k | pass@1 |
    | --- | ---: | ---: | ---: |
    | gsm8k | 20 | 4 | 25.0 [10.0, 50.0] |
    <BLANKLINE>
    percent, with 95% Wilson intervals over problems
    """
    names: list[str] = []
    for ms in results.values():
        for name in ms:
            if name not in names:
                names.append(name)
    names.sort(key=lambda x: (x.startswith("maj@"), int(x.split("@")[1])))
    head = ["benchmark", "problems", "k", *names]
    lines = ["| " + " | ".join(head) + " |", "| --- | " + " | ".join("---:" for _ in head[1:]) + " |"]
    for bench, ms in results.items():
        problems = next(iter(ms.values())).problems if ms else 0
        cells = [bench, str(problems), str((samples or {}).get(bench, "")), *(_pct(ms[x]) if x in ms else "" for x in names)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\npercent, with {round(100 * confidence)}% Wilson intervals over problems"
