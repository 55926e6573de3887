#!/usr/bin/env python3
"""The verifier benchmark: stagekit against math-verify and a regex floor, on the same machine, in one run.

    python benches/bench_verifier.py                # the README's table: every pair, ~75 s on 2 cores
    python benches/bench_verifier.py --quick        # smoke run: math-verify on 40 pairs per set, ~5 s
    python benches/bench_verifier.py --mv-limit 600 # math-verify on a seeded sample of 600 pairs per set

Data sets (read in place from ``../shared`` relative to the repository root, never copied):

* ``synthetic``: 2,400 labelled pairs from ``../shared/bench/gen_bench.py --n 2400 --seed 1234``
  (36 answer categories, 8 answer formats, 30 hostile inputs; 30 rows have a null label and count for
  timing only);
* ``gsm8k_gpt3``: GSM8K test, 1,319 problems x 4 GPT-3 solutions (``is_correct``); the gold is the
  GSM8K reference solution (``... #### 18``) from ``gsm8k_test.openai.jsonl`` (same problem order);
* ``qwen25math_math``: 100 MATH problems x 8 Qwen2.5-Math CoT samples (``score``); gold is ``answer``;
* ``nemo_math_train50``: 50 MATH-train problems x 3 seeds of a NeMo-Skills test run (``is_correct``);
  gold is ``expected_answer``.

Per data set it measures, on the same pairs for every tool where a ratio is reported:

* stagekit ``verify_batch(threads=1)`` and ``verify_batch(threads=None)`` throughput (median of repeated
  runs over Python lists), per-pair latency of ``sk.check``;
* math-verify 0.9 with default settings, ``verify(parse("\\boxed{" + gold + "}"), parse(completion))``
  on the main thread, each pair timed individually (parse of both sides + verify), on every pair or a
  fixed seeded sample (``--mv-limit N``); the gold is wrapped in ``\\boxed{}`` as verl's math-verify reward does,
  because a bare gold such as ``(0, 3)`` is otherwise parsed as ``3``;
* a regex floor: the last ``\\boxed{...}`` of each side (``#### x`` or the whole string for golds),
  lightly normalised and compared as strings;
* agreement with the labels (rows with a non-null label), disagreements by category, and every
  stagekit disagreement written to ``benches/out/disagreements_<set>.jsonl``.

Outputs: the markdown table on stdout and in ``benches/out/verifier.md``, raw numbers in
``benches/out/verifier.json`` (``--quick`` writes ``verifier_quick.*`` instead).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from machine import basics, describe, loadavg, version
from typing import Any

import stagekit as sk

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benches" / "out"

#: md5 of ``gen_bench.py --n 2400 --seed 1234`` output; the labels are only comparable for this file.
SYNTHETIC_MD5 = "05c44670e92f847b7ce2bc89f87b3889"
#: Default math-verify sample per data set: every pair. Measured on 2 cores (Xeon, Python 3.11): all 8,626
#: pairs take ~70 s of math-verify (synthetic ~55 s at ~43 pairs/s; the real sets run at 150-2,400 pairs/s),
#: so the whole default run finishes in about 75 s. ``--mv-limit N`` samples N pairs per set instead.
DEFAULT_MV_LIMIT = "all"
TAIL_CHARS = 300


# --------------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Pair:
    """One labelled (completion, gold) pair."""

    id: str
    completion: str
    gold: str  # what stagekit and the regex floor receive: a bare answer or a reference solution
    gold_answer: str  # the bare gold answer; math-verify receives it wrapped in \boxed{}
    label: bool | None  # None: ambiguous, timing only
    category: str
    variant: str


@dataclass(slots=True)
class DataSet:
    name: str
    description: str
    pairs: list[Pair]
    meta: dict[str, Any] = field(default_factory=dict)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_synthetic(shared: Path) -> DataSet:
    """Generate the 2,400 synthetic pairs into a temporary file (never into the repository)."""
    gen = shared / "bench" / "gen_bench.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.jsonl"
        subprocess.run(
            [sys.executable, str(gen), "--n", "2400", "--seed", "1234", "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        md5 = hashlib.md5(out.read_bytes()).hexdigest()
        rows = _read_jsonl(out)
    if md5 != SYNTHETIC_MD5:
        print(f"WARNING: synthetic set md5 {md5} != {SYNTHETIC_MD5}; numbers are not comparable", file=sys.stderr)
    pairs = [
        Pair(
            id=str(r["id"]),
            completion=r["prediction"],
            gold=r["gold"],
            gold_answer=r["gold"],
            label=r["expected"],
            category=r["category"],
            variant=r["variant"],
        )
        for r in rows
    ]
    return DataSet("synthetic", "gen_bench.py --n 2400 --seed 1234", pairs, {"md5": md5})


GSM8K_MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def load_gsm8k_gpt3(shared: Path) -> DataSet:
    """GSM8K test x 4 GPT-3 solutions; gold = the GSM8K reference solution ending in ``#### N``."""
    gens = _read_jsonl(shared / "data" / "generations" / "gsm8k_gpt3_example_model_solutions.jsonl")
    tests = _read_jsonl(shared / "data" / "benchmarks" / "gsm8k_test.openai.jsonl")
    assert len(gens) == len(tests), "GSM8K generations and test set differ in length"
    pairs = []
    for i, (g, t) in enumerate(zip(gens, tests, strict=True)):
        assert g["question"] == t["question"], f"GSM8K problem {i}: question mismatch"
        answer = t["answer"].split("####")[-1].strip()
        for model in GSM8K_MODELS:
            sol = g[model]
            pairs.append(
                Pair(f"{i}/{model}", sol["solution"], t["answer"], answer, sol["is_correct"], "gsm8k_gpt3", model)
            )
    return DataSet("gsm8k_gpt3", "GSM8K test x 4 GPT-3 solutions (is_correct)", pairs)


def load_qwen_math(shared: Path) -> DataSet:
    """100 MATH problems x 8 Qwen2.5-Math samples; gold = MATH's ``answer`` (``gt`` is a stripped copy)."""
    rows = _read_jsonl(shared / "data" / "generations" / "qwen25math_math_cot_100_8samples.jsonl")
    pairs = []
    for r in rows:
        for k, (completion, score) in enumerate(zip(r["code"], r["score"], strict=True)):
            pairs.append(
                Pair(f"{r['idx']}/{k}", completion, r["answer"], r["answer"], score, "qwen25math_math", r["level"])
            )
    return DataSet("qwen25math_math", "100 MATH problems x 8 Qwen2.5-Math CoT samples (score)", pairs)


def load_nemo(shared: Path) -> DataSet:
    """50 MATH-train problems x 3 seeds from NeMo-Skills' tests; gold = ``expected_answer``."""
    pairs = []
    for seed in ("rs0", "rs1", "rs2"):
        path = shared / "data" / "generations" / "nemo_skills_tests" / f"math_train50_output-{seed}.jsonl"
        for i, r in enumerate(_read_jsonl(path)):
            gold = r["expected_answer"]
            pairs.append(Pair(f"{seed}/{i}", r["generation"], gold, gold, r["is_correct"], "nemo_math_train50", seed))
    return DataSet("nemo_math_train50", "50 MATH-train problems x 3 seeds, NeMo-Skills (is_correct)", pairs)


LOADERS: dict[str, Callable[[Path], DataSet]] = {
    "synthetic": load_synthetic,
    "gsm8k_gpt3": load_gsm8k_gpt3,
    "qwen25math_math": load_qwen_math,
    "nemo_math_train50": load_nemo,
}


# --------------------------------------------------------------------------------------------------
# The verifiers under test
# --------------------------------------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K = re.compile(r"####\s*(.+)")
_NOISE = re.compile(r"\s+|\$|\\left|\\right")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces balanced), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i]
    return None


def _light_norm(s: str) -> str:
    return _NOISE.sub("", s).rstrip(".")


def regex_gold(gold: str) -> str:
    """The regex floor's gold: last ``\\boxed{}``, else after ``####``, else the whole string."""
    boxed = last_boxed(gold)
    if boxed is not None:
        return boxed
    m = _GSM8K.search(gold)
    return m.group(1) if m else gold


def regex_verify(completion: str, gold: str) -> bool:
    """The floor: last ``\\boxed{}`` of the completion equals the gold after light normalisation."""
    pred = last_boxed(completion)
    return pred is not None and _light_norm(pred) == _light_norm(regex_gold(gold))


class _TimeoutCounter(logging.Handler):
    """Counts math-verify's timeout warnings and swallows its log output (it logs whole completions)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.timeouts = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Timeout" in record.getMessage():
            self.timeouts += 1


def setup_math_verify() -> tuple[Callable[[str, str], bool], _TimeoutCounter]:
    from math_verify import parse, verify

    counter = _TimeoutCounter()
    logger = logging.getLogger("math_verify")
    logger.addHandler(counter)
    logger.propagate = False
    logger.setLevel(logging.WARNING)

    def mv_verify(completion: str, gold_answer: str) -> bool:
        # Default settings (parsing_timeout=5, timeout_seconds=5, signal.alarm: main thread only).
        return bool(verify(parse("\\boxed{" + gold_answer + "}"), parse(completion)))

    mv_verify("The answer is $\\boxed{1}$.", "1")  # warm-up: imports, grammar construction
    return mv_verify, counter


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------


def per_pair(
    fn: Callable[[str, str], Any], completions: Sequence[str], golds: Sequence[str]
) -> tuple[list[Any], list[float]]:
    """Call ``fn`` on every pair, timing each call; returns (results, seconds per pair)."""
    results, times = [], []
    clock = time.perf_counter
    for c, g in zip(completions, golds, strict=True):
        t0 = clock()
        results.append(fn(c, g))
        times.append(clock() - t0)
    return results, times


def batch_rate(
    completions: list[str], golds: list[str], threads: int | None, min_seconds: float, min_reps: int
) -> dict[str, Any]:
    """Throughput of ``sk.verify_batch`` over Python lists: the median of repeated runs."""
    runs = []
    total = 0.0
    while len(runs) < min_reps or total < min_seconds:
        t0 = time.perf_counter()
        sk.verify_batch(completions, golds, threads=threads)
        dt = time.perf_counter() - t0
        runs.append(dt)
        total += dt
    med = statistics.median(runs)
    return {"pairs_per_s": len(completions) / med, "runs": len(runs), "median_s": med, "min_s": min(runs)}


def latency_stats(times: Sequence[float]) -> dict[str, float]:
    s = sorted(times)
    n = len(s)
    return {
        "pairs_per_s": n / sum(s) if sum(s) > 0 else float("inf"),
        "p50_s": s[n // 2],
        "p99_s": s[min(n - 1, int(0.99 * n))],
        "max_s": s[-1],
        "total_s": sum(s),
    }


def agreement(verdicts: Sequence[bool], labels: Sequence[bool | None]) -> dict[str, Any]:
    pairs = [(v, lab) for v, lab in zip(verdicts, labels, strict=True) if lab is not None]
    agree = sum(v == lab for v, lab in pairs)
    return {"labelled": len(pairs), "agree": agree, "rate": agree / len(pairs) if pairs else float("nan")}


def run_set(
    ds: DataSet, args: argparse.Namespace, mv: Callable[[str, str], bool] | None, mv_counter: _TimeoutCounter | None
) -> dict[str, Any]:
    comps = [p.completion for p in ds.pairs]
    golds = [p.gold for p in ds.pairs]
    labels = [p.label for p in ds.pairs]
    n = len(ds.pairs)
    print(f"[{ds.name}] {n} pairs", file=sys.stderr, flush=True)

    # stagekit: warm up, then batch throughput on 1 thread and on all cores.
    sk.verify_batch(comps[:100], golds[:100], threads=1)
    res: dict[str, Any] = {"name": ds.name, "description": ds.description, "pairs": n, "meta": ds.meta}
    res["stagekit_1t"] = batch_rate(comps, golds, 1, args.min_seconds, args.min_reps)
    res["stagekit_mt"] = batch_rate(comps, golds, None, args.min_seconds, args.min_reps)

    # stagekit per-pair latency and verdicts (check), cross-checked against the batch verdicts.
    verdicts, sk_times = per_pair(sk.check, comps, golds)
    sk_correct = [v.correct for v in verdicts]
    batch = sk.verify_batch(comps, golds, threads=None).to_pylist()
    res["batch_matches_check"] = batch == sk_correct
    res["stagekit_1t"].update({k: v for k, v in latency_stats(sk_times).items() if k != "pairs_per_s"})
    res["stagekit_agreement"] = agreement(sk_correct, labels)
    res["stagekit_status"] = dict(Counter(v.status for v in verdicts))

    # regex floor
    rx, rx_times = per_pair(regex_verify, comps, golds)
    res["regex"] = latency_stats(rx_times)
    res["regex_agreement"] = agreement(rx, labels)

    # math-verify on a fixed seeded sample, and stagekit / regex on exactly the same pairs.
    limit = n if args.mv_limit is None else min(args.mv_limit, n)
    sample = list(range(n)) if limit == n else sorted(random.Random(args.seed).sample(range(n), limit))
    mv_correct: dict[int, bool] = {}
    if mv is not None and sample:
        s_comps = [comps[i] for i in sample]
        s_golds = [golds[i] for i in sample]
        s_labels = [labels[i] for i in sample]
        timeouts0 = mv_counter.timeouts if mv_counter else 0
        print(f"[{ds.name}] math-verify on {len(sample)} pairs ...", file=sys.stderr, flush=True)
        mv_res, mv_times = per_pair(mv, s_comps, [ds.pairs[i].gold_answer for i in sample])
        mv_correct = dict(zip(sample, mv_res, strict=True))
        res["math_verify"] = latency_stats(mv_times)
        res["math_verify"]["timeouts"] = (mv_counter.timeouts - timeouts0) if mv_counter else None
        res["math_verify"]["slow_pairs_over_1s"] = sum(t > 1.0 for t in mv_times)
        res["sample"] = {
            "pairs": len(sample),
            "seed": args.seed,
            "all_rows": limit == n,
            "stagekit_1t": batch_rate(s_comps, s_golds, 1, args.min_seconds, args.min_reps),
            "stagekit_agreement": agreement([sk_correct[i] for i in sample], s_labels),
            "math_verify_agreement": agreement(mv_res, s_labels),
            "regex_agreement": agreement([rx[i] for i in sample], s_labels),
        }
        res["sample"]["speed_ratio_1t"] = (
            res["sample"]["stagekit_1t"]["pairs_per_s"] / res["math_verify"]["pairs_per_s"]
        )

    # Disagreements with the labels by category, and every stagekit disagreement to a file.
    by_cat: defaultdict[str, Counter[str]] = defaultdict(Counter)
    disagreements = []
    in_sample = set(sample) if mv_correct else set()
    for i, p in enumerate(ds.pairs):
        if p.label is None:
            continue
        c = by_cat[p.category]
        c["labelled"] += 1
        c["stagekit"] += sk_correct[i] != p.label
        c["regex"] += rx[i] != p.label
        if i in in_sample:
            c["sample_labelled"] += 1
            c["sample_stagekit"] += sk_correct[i] != p.label
            c["sample_math_verify"] += mv_correct[i] != p.label
        if sk_correct[i] != p.label:
            v = verdicts[i]
            disagreements.append(
                {
                    "set": ds.name,
                    "id": p.id,
                    "category": p.category,
                    "variant": p.variant,
                    "label": p.label,
                    "status": v.status,
                    "gold": p.gold if len(p.gold) <= 400 else p.gold[-400:],
                    "gold_answer": v.gold,
                    "predicted": v.predicted,
                    "math_verify": mv_correct.get(i),
                    "regex": rx[i],
                    "completion_tail": p.completion[-TAIL_CHARS:],
                }
            )
    res["by_category"] = {k: dict(v) for k, v in sorted(by_cat.items())}
    res["stagekit_disagreements"] = len(disagreements)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with (OUT_DIR / f"disagreements_{ds.name}.jsonl").open("w", encoding="utf-8") as f:
        for d in disagreements:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return res


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return {
        **basics(),
        "math-verify": version("math-verify"),
        "latex2sympy2_extended": version("latex2sympy2_extended"),
        "sympy": version("sympy"),
        "pyarrow": version("pyarrow"),
    }


def _t(s: float | None) -> str:
    """A duration with a readable unit."""
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _pct(a: dict[str, Any] | None) -> str:
    return "–" if not a or not a["labelled"] else f"{100 * a['rate']:.1f}% ({a['agree']}/{a['labelled']})"


def _rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:,.1f}"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(*names: str, left: int = 2) -> list[str]:
    """A markdown header; the first ``left`` columns are left-aligned, the rest right-aligned."""
    return [_row(*names), _row(*(["---"] * left + ["---:"] * (len(names) - left)))]


def _latency(d: dict[str, float]) -> tuple[str, str, str, str]:
    return _rate(d["pairs_per_s"]), _t(d["p50_s"]), _t(d["p99_s"]), _t(d["max_s"])


def render(results: list[dict[str, Any]], info: dict[str, Any], command: str, args: argparse.Namespace) -> str:
    L: list[str] = ["## Verifier benchmark: stagekit vs math-verify vs a regex floor\n"]
    L.append(describe(info, ("math-verify", "latex2sympy2_extended", "sympy", "pyarrow")))
    L.append(f"Command (repository root): `{command}`  ")
    if args.mv_limit is None:
        mv_note = "every pair"
    elif args.mv_limit == 0:
        mv_note = "no pair (skipped with `--mv-limit 0`)"
    else:
        mv_note = (
            f"a fixed random sample of {args.mv_limit} pairs per set (seed {args.seed}; every pair of a smaller set)"
        )
    L.append(
        "stagekit: `verify_batch` over Python lists, median of repeated runs; latency = `sk.check` per pair. "
        "math-verify: default settings, `verify(parse('\\boxed{' + gold + '}'), parse(completion))` per pair "
        f"on the main thread, on {mv_note}. Regex floor: last `\\boxed{{}}`, light normalisation, string equality. "
        "Agreement = verdict equals the data set's label, on labelled rows.\n"
    )

    # Table 1: every tool on every pair of each set (math-verify on its sample).
    L.append("### Throughput, latency, agreement\n")
    L += _header("data set", "verifier", "pairs", "pairs/s", "p50", "p99", "max", "agreement with labels")
    for r in results:
        n = r["pairs"]
        L.append(_row(r["name"], "stagekit, 1 thread", n, *_latency(r["stagekit_1t"]), _pct(r["stagekit_agreement"])))
        mt = _rate(r["stagekit_mt"]["pairs_per_s"])
        L.append(_row("", f"stagekit, {info['cores_usable']} threads", n, mt, "", "", "", "(same verdicts)"))
        if "math_verify" in r:
            s = r["sample"]
            mv = f"math-verify {info['math-verify']}"
            L.append(_row("", mv, s["pairs"], *_latency(r["math_verify"]), _pct(s["math_verify_agreement"])))
        L.append(_row("", "regex floor", n, *_latency(r["regex"]), _pct(r["regex_agreement"])))

    # Table 2: head to head on exactly the pairs math-verify saw.
    with_mv = [r for r in results if "sample" in r]
    if with_mv:
        L.append("\n### Head to head on the same pairs (the math-verify sample)\n")
        L += _header(
            "data set", "pairs", "stagekit 1 thread, pairs/s", "math-verify, pairs/s", "speed ratio",
            "stagekit agreement", "math-verify agreement", "regex agreement", "math-verify timeouts / pairs > 1 s",
            left=1,
        )  # fmt: skip
        for r in with_mv:
            s, mv = r["sample"], r["math_verify"]
            L.append(
                _row(
                    r["name"],
                    s["pairs"],
                    _rate(s["stagekit_1t"]["pairs_per_s"]),
                    _rate(mv["pairs_per_s"]),
                    f"{s['speed_ratio_1t']:,.0f}x",
                    _pct(s["stagekit_agreement"]),
                    _pct(s["math_verify_agreement"]),
                    _pct(s["regex_agreement"]),
                    f"{mv['timeouts']} / {mv['slow_pairs_over_1s']}",
                )  # fmt: skip
            )
        # Pooled over the sets: total pairs over total time, agreements summed.
        tot = sum(r["sample"]["pairs"] for r in with_mv)
        sk_time = sum(r["sample"]["pairs"] / r["sample"]["stagekit_1t"]["pairs_per_s"] for r in with_mv)
        mv_time = sum(r["math_verify"]["total_s"] for r in with_mv)

        def pooled(key: str) -> str:
            a = sum(r["sample"][key]["agree"] for r in with_mv)
            m = sum(r["sample"][key]["labelled"] for r in with_mv)
            return _pct({"agree": a, "labelled": m, "rate": a / m if m else float("nan")})

        timeouts = sum(r["math_verify"]["timeouts"] for r in with_mv)
        slow = sum(r["math_verify"]["slow_pairs_over_1s"] for r in with_mv)
        L.append(
            _row(
                "**all sets**",
                tot,
                _rate(tot / sk_time),
                _rate(tot / mv_time),
                f"{mv_time / sk_time:,.0f}x",
                pooled("stagekit_agreement"),
                pooled("math_verify_agreement"),
                pooled("regex_agreement"),
                f"{timeouts} / {slow}",
            )  # fmt: skip
        )
        verdicts = []
        for r in with_mv:
            s = r["sample"]
            ok = s["speed_ratio_1t"] >= 1000 and s["stagekit_agreement"]["rate"] >= s["math_verify_agreement"]["rate"]
            verdicts.append(f"{r['name']} {'met' if ok else 'NOT met'}")
        L.append(
            "\nTarget (≥1000x math-verify's single-thread throughput with ≥ its agreement, on the same pairs): "
            + "; ".join(verdicts)
            + "."
        )

    # Table 3: disagreements with the labels by category (sample columns only when math-verify sampled).
    sampled = any(not r["sample"]["all_rows"] for r in with_mv)
    L.append("\n### Disagreements with the labels by category\n")
    L.append(
        "Categories where no tool disagrees are left out (synthetic: also those where only the regex floor does). "
        + ("`sample` columns count the math-verify sample only. " if sampled else "")
        + "Every stagekit disagreement is in `benches/out/disagreements_<set>.jsonl`.\n"
    )
    if sampled:
        L += _header(
            "data set", "category", "labelled", "stagekit", "regex",
            "sample: labelled", "sample: stagekit", "sample: math-verify",
        )  # fmt: skip
    else:
        L += _header("data set", "category", "labelled", "stagekit", "math-verify", "regex")
    for r in results:
        for cat, c in r["by_category"].items():
            sk_w, mv_w, rx_w = c.get("stagekit", 0), c.get("sample_math_verify", 0), c.get("regex", 0)
            if not (sk_w or mv_w or (rx_w and r["name"] != "synthetic")):
                continue
            if sampled:
                L.append(
                    _row(
                        r["name"],
                        cat,
                        c["labelled"],
                        sk_w,
                        rx_w,
                        c.get("sample_labelled", 0),
                        c.get("sample_stagekit", 0),
                        mv_w,
                    )
                )
            else:
                L.append(_row(r["name"], cat, c["labelled"], sk_w, mv_w if "sample" in r else "–", rx_w))
    for r in results:
        if not r["batch_matches_check"]:
            L.append(f"\nWARNING: {r['name']}: verify_batch and check disagree on some pairs.")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )

    def mv_limit(value: str) -> int | None:
        if value == "all":
            return None
        if not value.isdigit():
            raise argparse.ArgumentTypeError("expected a count or 'all'")
        return int(value)

    p.add_argument(
        "--mv-limit",
        type=mv_limit,
        default=DEFAULT_MV_LIMIT,
        help="math-verify on a seeded sample of N pairs per set; 'all' for every pair, 0 to skip math-verify",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the math-verify sample")
    p.add_argument("--sets", default=",".join(LOADERS), help="comma-separated data sets")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared data folder (../shared)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: math-verify on 40 pairs per set (overrides --mv-limit), one timing run",
    )
    p.add_argument(
        "--min-seconds", type=float, default=1.0, help="repeat each stagekit batch timing for at least this long"
    )
    p.add_argument("--min-reps", type=int, default=5, help="... and at least this many times")
    args = p.parse_args(argv)
    raw_argv = list(sys.argv[1:] if argv is None else argv)

    if args.quick:
        args.mv_limit, args.min_seconds, args.min_reps = 40, 0.0, 1
    names = [s for s in args.sets.split(",") if s]
    unknown = set(names) - set(LOADERS)
    if unknown:
        p.error(f"unknown data sets: {', '.join(sorted(unknown))} (choose from {', '.join(LOADERS)})")

    mv, counter = (None, None) if args.mv_limit == 0 else setup_math_verify()
    info = machine_info()
    results = [run_set(LOADERS[name](args.shared), args, mv, counter) for name in names]

    info["loadavg_end"] = loadavg()
    command = "python benches/bench_verifier.py" + (" " + shlex.join(raw_argv) if raw_argv else "")
    table = render(results, info, command, args)
    print(table)
    stem = "verifier_quick" if args.quick else "verifier"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{stem}.md").write_text(table, encoding="utf-8")
    raw = {"command": command, "machine": info, "mv_limit": args.mv_limit, "seed": args.seed, "sets": results}
    (OUT_DIR / f"{stem}.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT_DIR.relative_to(REPO)}/{stem}.md, {stem}.json and disagreements_<set>.jsonl", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
