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

__all__ = ["Change", "Metric", "majority_vote", "markdown_table", "metric_names", "paired_change", "problem_scores",
           "score", "sign_test", "summarize"]


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


# ------------------------------------------------------------------------------------------------ paired change


def sign_test(improved: int, worsened: int) -> float:
    """The two-sided exact sign test (McNemar's exact test when each problem's score is 0/1): the chance,
    were "better" and "worse" equally likely for every problem that changed, of a split at least as uneven
    as ``improved`` : ``worsened``. Problems that did not change carry no information and are left out.

    >>> sign_test(0, 0), sign_test(5, 0), round(sign_test(6, 0), 4), round(sign_test(3, 2), 4)
    (1.0, 0.0625, 0.0312, 1.0)
    """
    from math import comb

    if improved < 0 or worsened < 0:
        raise ValueError(f"sign_test needs counts >= 0, got {improved}, {worsened}")
    m = improved + worsened
    if m == 0:
        return 1.0
    tail = sum(comb(m, i) for i in range(min(improved, worsened) + 1)) / 2**m
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Change:
    """A paired comparison of two measurements of the same problems (see :func:`paired_change`)."""

    metric: str
    problems: int
    before: float
    after: float
    low: float  # the interval of after - before (paired bootstrap over problems)
    high: float
    improved: int
    worsened: int
    unchanged: int
    p_value: float  # the exact sign test on the problems that changed
    confidence: float
    resamples: int

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def significant(self) -> bool:
        """Outside the noise: the sign test rejects "no change" at ``1 - confidence``."""
        return self.p_value < 1 - self.confidence

    @property
    def verdict(self) -> str:
        """``improved``, ``worsened`` (both outside the noise) or ``within noise``."""
        if not self.significant:
            return "within noise"
        return "improved" if self.improved > self.worsened else "worsened"

    def words(self) -> str:
        """The comparison in a sentence, saying whether it is within the noise.

        >>> print(paired_change([0, 0, 0.5, 1], [0.25, 0, 0.5, 0.75], resamples=200).words())
        within noise: pass@1 37.5% -> 37.5% (+0.0 points, 95% paired-bootstrap interval [-18.8, +18.8]); 1 problem improved, 1 worsened, 2 unchanged (exact sign test p = 1.000)
        """
        conf = round(100 * self.confidence)
        head = {"within noise": "within noise", "improved": "improved beyond the noise",
                "worsened": "worsened beyond the noise"}[self.verdict]
        def s(n: int) -> str:
            return "" if n == 1 else "s"

        return (f"{head}: {self.metric} {100 * self.before:.1f}% -> {100 * self.after:.1f}% "
                f"({100 * self.delta:+.1f} points, {conf}% paired-bootstrap interval [{100 * self.low:+.1f}, "
                f"{100 * self.high:+.1f}]); {self.improved} problem{s(self.improved)} improved, {self.worsened} worsened, "
                f"{self.unchanged} unchanged (exact sign test p = {self.p_value:.3f})")

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "problems": self.problems, "before": self.before, "after": self.after,
                "delta": self.delta, "low": self.low, "high": self.high, "improved": self.improved,
                "worsened": self.worsened, "unchanged": self.unchanged, "p_value": self.p_value,
                "confidence": self.confidence, "resamples": self.resamples, "significant": self.significant,
                "verdict": self.verdict, "words": self.words()}


def paired_change(before: Sequence[float], after: Sequence[float], *, metric: str = "pass@1",
                  confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Change:
    """Compare two measurements of the same problems, problem by problem (``before[i]`` and ``after[i]`` are
    problem ``i``'s scores, e.g. its fraction of correct samples).

    - **The test**: the two-sided exact sign test (:func:`sign_test`) on the problems whose score changed:
      each is "improved" or "worsened"; the change is outside the noise when p < 1 - ``confidence``. With k
      samples per problem, comparing fractions is comparing correct-sample counts; with one 0/1 score per
      problem it is McNemar's exact test. It assumes nothing about the size of the changes, so it holds at
      any number of problems.
    - **The interval** of the change in the mean score: the paired bootstrap over problems (``resamples``
      resamples of the problems with replacement, each problem keeping its own before and after; the
      percentile interval at ``confidence``; seeded, so the same data give the same interval).

    The two can disagree at the margin (the interval is approximate at few problems); the verdict
    (:attr:`Change.verdict`) follows the test.

    >>> c = paired_change([0, 0, 0, 0, 0, 0, 0.5], [0.5, 0.25, 0.25, 0.5, 1, 0.25, 0.5])
    >>> c.improved, c.worsened, round(c.p_value, 4), c.verdict
    (6, 0, 0.0312, 'improved')
    """
    import random

    if len(before) != len(after):
        raise ValueError(f"paired_change: {len(before)} scores before, {len(after)} after: the same problems are needed")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(before)
    b = [float(x) for x in before]
    a = [float(x) for x in after]
    diffs = [y - x for x, y in zip(b, a, strict=True)]
    up = sum(d > 0 for d in diffs)
    down = sum(d < 0 for d in diffs)
    if n == 0:
        return Change(metric, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 1.0, confidence, 0)
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    lo = means[max(0, min(resamples - 1, int(tail * resamples)))]
    hi = means[max(0, min(resamples - 1, int((1 - tail) * resamples) - 1))]
    mean_b, mean_a = sum(b) / n, sum(a) / n
    delta = mean_a - mean_b
    return Change(metric, n, mean_b, mean_a, min(lo, delta), max(hi, delta), up, down, n - up - down,
                  sign_test(up, down), confidence, resamples)
