"""Pass rates per problem, and difficulty binning into stage sets."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

import pyarrow as pa
import pyarrow.compute as pc

from stagekit.transforms._contract import Col, SchemaError, set_column, transform

__all__ = [
    "SCHEMES",
    "STAGES",
    "bin_difficulty",
    "pass_at_k",
    "pass_counts",
    "pass_rates",
    "pass_rates_from_counts",
    "split_stages",
    "wilson_interval",
    "sum_counts",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. (2021): ``1 - C(n-c, k) / C(n, k)``.

    >>> pass_at_k(8, 2, 1), round(pass_at_k(8, 2, 4), 4), pass_at_k(8, 0, 4), pass_at_k(4, 4, 4)
    (0.25, 0.7857, 0.0, 1.0)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _ks(k: int | Iterable[int]) -> list[int]:
    ks = [k] if isinstance(k, int) else list(k)
    if not ks or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in ks):
        raise ValueError(f"pass_rates: k must be positive integers, got {k!r}")
    return sorted(set(ks))


def _keys(by: str | Iterable[str], where: str) -> list[str]:
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ValueError(f"{where}: `by` names no column")
    return keys


def _check_confidence(confidence: float, where: str) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"{where}: confidence must be in (0, 1), got {confidence}")


def _counts(rollouts: pa.Table, keys: list[str], correct: str) -> pa.Table:
    hit = pc.fill_null(rollouts[correct], False).cast(pa.int64())
    t = pa.table({**{c: rollouts[c] for c in keys}, "__hit": hit})
    g = t.group_by(keys, use_threads=False).aggregate([("__hit", "count", pc.CountOptions("all")), ("__hit", "sum")])
    return pa.table(
        {
            **{key: g[key] for key in keys},
            "n": g["__hit_count"].cast(pa.int64()),
            "n_correct": g["__hit_sum"].cast(pa.int64()),
        }
    )


def _from_counts(counts: pa.Table, keys: list[str], ks: list[int], confidence: float, max_n: int | None = None) -> pa.Table:
    out = counts.select([*keys, "n", "n_correct"]).sort_by([(key, "ascending") for key in keys])
    if max_n is None and out.num_rows:
        max_n = pc.max(out["n"]).as_py() or 0
    if max_n is not None:
        # pass@k for k past every group's n would be null in every row: such columns are left out.
        ks = [kk for kk in ks if kk <= max_n]
    n = out["n"].cast(pa.float64())
    c = out["n_correct"].cast(pa.float64())
    p = pc.divide(c, n)
    out = out.append_column("pass_rate", p)
    for kk in ks:
        out = out.append_column(f"pass@{kk}", _pass_at_k_column(out["n"], out["n_correct"], kk))
    lo, hi = _wilson(p, n, confidence)
    return out.append_column("wilson_low", lo).append_column("wilson_high", hi)


@transform(
    reads=[
        Col("by", "any"),
        Col("correct", "bool", nulls="a null counts as not correct (an unscored rollout is a failure)"),
    ],
    writes=[
        ("<by columns>", "the group keys, one row per group, sorted by them"),
        ("n", "int64: rollouts in the group"),
        ("n_correct", "int64: correct rollouts"),
        ("pass_rate", "float64: n_correct / n"),
        ("pass@k", "float64 for each k up to the largest group's n: the unbiased estimator; null where k > n "
                   "(a k past every group's n gives no column: with 4 samples, k=(1, 4, 8) gives pass@1, pass@4)"),
        ("wilson_low, wilson_high", "float64: Wilson score interval of pass_rate at `confidence`"),
    ],
)
def pass_rates(
    rollouts: pa.Table,
    *,
    by: str | Iterable[str] = "problem_id",
    correct: str = "correct",
    k: int | Iterable[int] = (1, 4, 8),
    confidence: float = 0.95,
) -> pa.Table:
    """One row per group (problem) with its pass rate, the unbiased pass@k estimates and a Wilson interval.

    A ``k`` larger than every group's number of rollouts gets no ``pass@k`` column (it would be null in
    every row), as ``stagekit plan`` leaves it out; a ``k`` larger than some groups' ``n`` is null there.

    It is :func:`pass_counts` followed by :func:`pass_rates_from_counts`; a distributed engine runs the
    first on parts of the rollouts, sums ``n`` and ``n_correct`` per group, and finishes with the second.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [2, 1, 1, 1, 1], "correct": [True, True, False, False, True]})
    >>> pass_rates(t, k=(1, 2)).select(["problem_id", "n", "n_correct", "pass_rate", "pass@2"]).to_pylist()
    [{'problem_id': 1, 'n': 4, 'n_correct': 2, 'pass_rate': 0.5, 'pass@2': 0.8333333333333334}, {'problem_id': 2, 'n': 1, 'n_correct': 1, 'pass_rate': 1.0, 'pass@2': None}]
    """
    keys = _keys(by, "pass_rates")
    _check_confidence(confidence, "pass_rates")
    ks = _ks(k)
    return _from_counts(_counts(rollouts, keys, correct), keys, ks, confidence)


@transform(
    reads=[
        Col("by", "any"),
        Col("correct", "bool", nulls="a null counts as not correct (an unscored rollout is a failure)"),
    ],
    writes=[
        ("<by columns>", "the group keys, one row per group (in no particular order)"),
        ("n", "int64: rollouts in the group"),
        ("n_correct", "int64: correct rollouts"),
    ],
)
def pass_counts(rollouts: pa.Table, *, by: str | Iterable[str] = "problem_id", correct: str = "correct") -> pa.Table:
    """Rollouts and correct rollouts per group: the first phase of :func:`pass_rates`. Counts of disjoint
    parts of the rollouts add up, so a distributed engine counts each part, sums ``n`` and ``n_correct``
    per group and calls :func:`pass_rates_from_counts`, the same code :func:`pass_rates` ends with.

    >>> import pyarrow as pa
    >>> pass_counts(pa.table({"problem_id": [1, 1, 2], "correct": [True, None, False]})).to_pylist()
    [{'problem_id': 1, 'n': 2, 'n_correct': 1}, {'problem_id': 2, 'n': 1, 'n_correct': 0}]
    """
    return _counts(rollouts, _keys(by, "pass_counts"), correct)


def pass_rates_from_counts(
    counts: pa.Table,
    *,
    by: str | Iterable[str] = "problem_id",
    k: int | Iterable[int] = (1, 4, 8),
    confidence: float = 0.95,
    max_n: int | None = None,
) -> pa.Table:
    """:func:`pass_rates`' output from per-group counts (the ``by`` columns, int64 ``n`` and ``n_correct``,
    one row per group), as :func:`pass_counts` makes them; other columns are ignored.
    ``max_n`` is the largest ``n`` of all groups, for an engine that finishes part of the groups at a time
    (default: the largest in ``counts``): a ``pass@k`` column is made for each ``k <= max_n``.

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1], "n": [4], "n_correct": [2]})
    >>> pass_rates_from_counts(t, k=2).select(["pass_rate", "pass@2"]).to_pylist()
    [{'pass_rate': 0.5, 'pass@2': 0.8333333333333334}]
    """
    keys = _keys(by, "pass_rates_from_counts")
    _check_confidence(confidence, "pass_rates_from_counts")
    return _from_counts(counts, keys, _ks(k), confidence, max_n)


def sum_counts(counts: pa.Table, by: str | Iterable[str] = "problem_id") -> pa.Table:
    """Counts of disjoint parts of the rollouts (:func:`pass_counts` rows, several per group) summed per
    group: one row per group with ``n`` and ``n_correct``, in the order groups first appear, the input of
    :func:`pass_rates_from_counts`.

    >>> import pyarrow as pa
    >>> sum_counts(pa.table({"problem_id": [1, 2, 1], "n": [2, 1, 3], "n_correct": [1, 0, 2]})).to_pylist()
    [{'problem_id': 1, 'n': 5, 'n_correct': 3}, {'problem_id': 2, 'n': 1, 'n_correct': 0}]
    """
    keys = _keys(by, "sum_counts")
    g = counts.group_by(keys, use_threads=False).aggregate([("n", "sum"), ("n_correct", "sum")])
    return pa.table({**{c: g[c] for c in keys}, "n": g["n_sum"].cast(pa.int64()), "n_correct": g["n_correct_sum"].cast(pa.int64())})


def _pass_at_k_column(n: pa.ChunkedArray, c: pa.ChunkedArray, k: int) -> pa.ChunkedArray:
    """pass@k per group: computed exactly once per distinct (n, c) pair (there are few: n is the number
    of samples) with :func:`pass_at_k`, then looked up; null where k > n."""
    ni, ci = n.cast(pa.int64()), c.cast(pa.int64())
    width = (pc.max(ci).as_py() or 0) + 1
    key = pc.add(pc.multiply(ni, width), ci)
    uniq = pc.unique(key)
    values = pa.array(
        [None if nn < k else pass_at_k(nn, cc, k) for nn, cc in (divmod(x, width) for x in uniq.to_pylist())],
        pa.float64(),
    )
    return pc.take(values, pc.index_in(key, value_set=uniq))


def _wilson(p: pa.ChunkedArray, n: pa.ChunkedArray, confidence: float) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    z2n = pc.divide(z * z, n)
    denom = pc.add(1.0, z2n)
    center = pc.divide(pc.add(p, pc.divide(z2n, 2.0)), denom)
    var = pc.add(pc.divide(pc.multiply(p, pc.subtract(1.0, p)), n), pc.divide(z2n, pc.multiply(n, 4.0)))
    half = pc.divide(pc.multiply(z, pc.sqrt(var)), denom)
    # Clamp into [0, 1] and around p itself (rounding can put lo a hair above p = 0, hi below p = 1).
    lo = pc.min_element_wise(pc.max_element_wise(pc.subtract(center, half), 0.0), p)
    hi = pc.max_element_wise(pc.min_element_wise(pc.add(center, half), 1.0), p)
    return lo, hi


def wilson_interval(p: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` observed over ``n`` trials (the formula
    :func:`pass_rates` uses per problem), clamped into [0, 1] and around ``p``.

    >>> [round(x, 4) for x in wilson_interval(0.0, 20)], [round(x, 4) for x in wilson_interval(0.5, 20)]
    ([0.0, 0.1611], [0.2993, 0.7007])
    """
    _check_confidence(confidence, "wilson_interval")
    if n < 1 or not 0 <= p <= 1:
        raise ValueError(f"wilson_interval needs n >= 1 and 0 <= p <= 1, got p={p}, n={n}")
    lo, hi = _wilson(pa.chunked_array([[float(p)]]), pa.chunked_array([[float(n)]]), confidence)
    return float(lo[0].as_py()), float(hi[0].as_py())


# ------------------------------------------------------------------------------------------------ binning

#: The stage sets a problem can belong to. ``sft_bridge`` problems are SFT problems whose teacher trace is
#: made learnable by the Bridge; ``sft`` problems use the plain teacher trace.
STAGES = ("sft", "sft_bridge", "rl", "drop")


@dataclass(frozen=True)
class _Interval:
    lo: float
    hi: float
    lo_closed: bool
    hi_closed: bool

    def mask(self, p: pa.ChunkedArray) -> pa.ChunkedArray:
        lo = pc.greater_equal(p, self.lo) if self.lo_closed else pc.greater(p, self.lo)
        hi = pc.less_equal(p, self.hi) if self.hi_closed else pc.less(p, self.hi)
        return pc.and_(lo, hi)

    def __str__(self) -> str:
        return f"{'[' if self.lo_closed else '('}{self.lo:g}, {self.hi:g}{']' if self.hi_closed else ')'}"


_IV = re.compile(r"^\s*([\[(])\s*([-+]?[0-9.]+)\s*,\s*([-+]?[0-9.]+)\s*([\])])\s*$")


def _interval(spec: str | tuple[float, float], stage: str) -> _Interval:
    if isinstance(spec, tuple) and len(spec) == 2:
        lo, hi, lc, hc = float(spec[0]), float(spec[1]), True, True
    else:
        m = _IV.match(str(spec))
        if not m:
            raise ValueError(f"bin_difficulty: threshold for {stage!r} must be an interval like '[0, 0.25)', got {spec!r}")
        lo, hi, lc, hc = float(m.group(2)), float(m.group(3)), m.group(1) == "[", m.group(4) == "]"
    if not (0 <= lo <= hi <= 1):
        raise ValueError(f"bin_difficulty: interval {spec!r} for {stage!r} is not within [0, 1] with lo <= hi")
    return _Interval(lo, hi, lc, hc)


#: Named schemes: stage -> pass-rate interval. A problem belongs to every stage whose interval holds its
#: pass rate (a problem may be in several); a problem in none is dropped.
SCHEMES: dict[str, dict[str, str]] = {
    # pass rate 0 -> SFT with Bridge; 0 < p < 1 -> RL; 1 -> drop.
    "zero_partial_full": {"sft_bridge": "[0, 0]", "rl": "(0, 1)", "drop": "[1, 1]"},
    # p < 0.25 -> SFT with Bridge; 0.25 <= p <= 0.75 -> SFT with the plain trace; 0 < p < 1 -> RL; 1 -> drop.
    "medium_sft": {"sft_bridge": "[0, 0.25)", "sft": "[0.25, 0.75]", "rl": "(0, 1)", "drop": "[1, 1]"},
    # The paper's (arXiv 2606.04466, Section 3): hard p < 0.25 -> SFT with Bridge; medium 0.25 <= p < 0.75 ->
    # SFT (plain trace); RL takes every group that is not all zero, 0 < p < 1 (simple 0.75 <= p < 1 is RL only);
    # all-correct groups (p = 1) are dropped unless ``keep_all_correct``.
    "paper": {"sft_bridge": "[0, 0.25)", "sft": "[0.25, 0.75)", "rl": "(0, 1)", "drop": "[1, 1]"},
}


@transform(
    reads=[Col("pass_rate", "number", nulls="a null pass rate (no rollouts) is dropped")],
    writes=[
        ("sft", "bool: in the SFT set (plain teacher trace or Bridge)"),
        ("bridge", "bool: an SFT problem whose trace goes through the Bridge"),
        ("rl", "bool: in the RL set"),
        ("drop", "bool: in no training set"),
        ("stages", "string: the sets joined by '+', e.g. 'sft+rl', 'sft_bridge', 'drop'"),
    ],
)
def bin_difficulty(
    stats: pa.Table,
    *,
    scheme: str = "zero_partial_full",
    thresholds: Mapping[str, str | tuple[float, float]] | None = None,
    pass_rate: str = "pass_rate",
    keep_all_correct: bool = False,
) -> pa.Table:
    """Stage membership of every problem from its pass rate.

    ``scheme`` names one of :data:`SCHEMES`; ``thresholds`` (stage -> interval such as ``"[0, 0.25)"``,
    stages from :data:`STAGES`) replaces the scheme's intervals. A problem may belong to several sets
    (``medium_sft`` puts 0.25 <= p <= 0.75 in both SFT and RL); a problem in no set is dropped.
    ``keep_all_correct=True`` sends the problems every sample solved (p = 1) to RL instead of dropping them
    (their GRPO groups carry no signal from a binary reward, but may from shaped ones).

    >>> import pyarrow as pa
    >>> t = pa.table({"problem_id": [1, 2, 3, 4], "pass_rate": [0.0, 0.1, 0.5, 1.0]})
    >>> bin_difficulty(t, scheme="medium_sft")["stages"].to_pylist()
    ['sft_bridge', 'sft_bridge+rl', 'sft+rl', 'drop']
    >>> t = pa.table({"problem_id": [1, 2, 3, 4, 5], "pass_rate": [0.0, 0.25, 0.5, 0.75, 1.0]})
    >>> bin_difficulty(t, scheme="paper")["stages"].to_pylist()
    ['sft_bridge', 'sft+rl', 'sft+rl', 'rl', 'drop']
    >>> bin_difficulty(t, scheme="paper", keep_all_correct=True)["stages"].to_pylist()[-1]
    'rl'
    """
    if thresholds is None:
        if scheme not in SCHEMES:
            raise ValueError(f"bin_difficulty: unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
        spec: Mapping[str, str | tuple[float, float]] = SCHEMES[scheme]
    else:
        spec = thresholds
    unknown = set(spec) - set(STAGES)
    if unknown:
        raise ValueError(f"bin_difficulty: unknown stage(s) {sorted(unknown)} (stages: {', '.join(STAGES)})")
    ivs = {stage: _interval(v, stage) for stage, v in spec.items()}
    p = stats[pass_rate].cast(pa.float64())
    false = pc.and_(pc.is_valid(p), pa.scalar(False))
    member = {s: (pc.fill_null(ivs[s].mask(p), False) if s in ivs else false) for s in STAGES}
    if keep_all_correct:
        full = pc.fill_null(pc.equal(p, 1.0), False)
        member["rl"] = pc.or_(member["rl"], full)
        member["drop"] = pc.and_(member["drop"], pc.invert(full))
    in_any = pc.or_(pc.or_(member["sft"], member["sft_bridge"]), pc.or_(member["rl"], member["drop"]))
    drop = pc.or_(member["drop"], pc.invert(in_any))
    # A dropped problem is in no training set, whatever else matched.
    sft_plain = pc.and_(member["sft"], pc.invert(drop))
    bridge = pc.and_(member["sft_bridge"], pc.invert(drop))
    rl = pc.and_(member["rl"], pc.invert(drop))
    out = set_column(stats, "sft", pc.or_(sft_plain, bridge))
    out = set_column(out, "bridge", bridge)
    out = set_column(out, "rl", rl)
    out = set_column(out, "drop", drop)
    # Label each row by the bit pattern of its memberships (plain SFT = 1, Bridge = 2, RL = 4).
    plain_only = pc.and_(sft_plain, pc.invert(bridge))
    code = pc.add(
        pc.add(plain_only.cast(pa.int8()), pc.multiply(bridge.cast(pa.int8()), 2)),
        pc.multiply(rl.cast(pa.int8()), 4),
    )
    names = [
        "+".join(s for bit, s in ((1, "sft"), (2, "sft_bridge"), (4, "rl")) if i & bit) or "drop" for i in range(8)
    ]
    return set_column(out, "stages", pc.take(pa.array(names, pa.string()), code))


def split_stages(binned: pa.Table) -> dict[str, pa.Table]:
    """The ``sft``, ``rl`` and ``drop`` tables of a binned table (``bridge`` marks the SFT rows that go
    through the Bridge). A problem in both SFT and RL appears in both tables.

    >>> import pyarrow as pa
    >>> t = bin_difficulty(pa.table({"problem_id": [1, 2, 3], "pass_rate": [0.0, 0.5, 1.0]}))
    >>> {k: v["problem_id"].to_pylist() for k, v in split_stages(t).items()}
    {'sft': [1], 'rl': [2], 'drop': [3]}
    """
    for col in ("sft", "rl", "drop", "bridge"):
        if col not in binned.column_names:
            raise SchemaError(
                f"split_stages: missing column {col!r} (run bin_difficulty first); "
                f"columns present: {', '.join(binned.column_names)}"
            )
    return {s: binned.filter(pc.fill_null(binned[s], False)) for s in ("sft", "rl", "drop")}
