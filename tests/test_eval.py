"""`stagekit eval` and `stagekit.evaluate`: benchmark definitions on the real benchmark files in
../shared/data, metrics against their definitions (brute force, hypothesis), overlap with a training pool
(GSM8K train / test / Platinum), the evaluation directory (resume, Ctrl-C in a subprocess) and the CLI's
errors, with a deterministic stand-in generator. The real SmolLM2-135M student runs in the slow test at the
end."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import stagekit as sk
from proptest import fixed
from stagekit import evaluate as ev
from stagekit.cli import main
from stagekit.io import InputError
from stagekit.students import Student

SHARED = Path(os.environ.get("STAGEKIT_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
BENCH = SHARED / "benchmarks"
ROWS = {"gsm8k": 1319, "gsm8k_platinum": 1209, "mawps": 2065, "svamp": 1000, "math500": 500, "logiqa": 651,
        "aime24": 30, "amc23": 40, "minerva": 272, "olympiadbench": 675}


def need_data() -> None:
    if not (SHARED / "MANIFEST.jsonl").is_file():
        pytest.skip(f"real data not found at {SHARED}")


class Scripted:
    """A generator that knows the golds: sample ``i`` of a prompt is the gold (written in one of several
    equivalent forms), a wrong number, or no answer, by a hash of (prompt, i, seed). ``calls`` records the
    prompts it was asked for."""

    name = "scripted"

    def __init__(self, rows: pa.Table, *, rate: float = 0.4):
        self.gold = dict(zip(rows["prompt"].to_pylist(), rows["gold"].to_pylist(), strict=True))
        self.rate = rate
        self.calls: list[str] = []

    def generate(self, prompts, *, n, sampling):
        out = []
        for p in prompts:
            self.calls.append(p)
            gold, row = self.gold[p], []
            for i in range(n):
                h = int(hashlib.sha256(f"{p}|{i}|{sampling.seed}".encode()).hexdigest(), 16) % 1000 / 1000
                if h < self.rate:
                    row.append(f"Working.\nSo the answer is $\\boxed{{{gold}}}$." if h < self.rate / 2 else f"#### {gold}")
                elif h < 0.9:
                    row.append(f"I get \\boxed{{{int(h * 1000) + 100001}}}.")
                else:
                    row.append("I am not sure.")
            out.append(row)
        return out


def rows_of(*names: str, limit: int = 12) -> list[ev.BenchmarkRows]:
    need_data()
    return [ev.load_benchmark(n, BENCH, limit=limit) for n in names]


def all_rows(benches: list[ev.BenchmarkRows]) -> pa.Table:
    return pa.concat_tables([b.rows for b in benches])


# ============================================================================================ benchmarks


@pytest.mark.parametrize("name", sorted(ROWS))
def test_builtin_benchmark_reads_its_file_and_every_gold_verifies(name):
    need_data()
    b = ev.load_benchmark(name, BENCH)
    rows = b.rows
    assert rows.column_names == ["benchmark", "problem_id", "question", "prompt", "gold", "solution"]
    assert rows.num_rows == ROWS[name] == b.meta["rows_in_source"]
    assert len(set(rows["problem_id"].to_pylist())) == rows.num_rows
    assert all(p.startswith(f"{name}/") for p in rows["problem_id"].to_pylist())
    assert all("{question}" not in p and "\\boxed{}" in p for p in rows["prompt"].to_pylist())
    assert b.meta["sha256"] == next(json.loads(x)["sha256"] for x in (SHARED / "MANIFEST.jsonl").open()
                                    if json.loads(x)["local"] == f"benchmarks/{Path(b.source).name}")
    # The gold, boxed, is verified correct; the next row's gold is not (where the two differ).
    golds = rows["gold"].to_pylist()
    boxed = [f"The answer is $\\boxed{{{g}}}$." for g in golds]
    assert all(sk.check_batch(boxed, golds)["correct"].to_pylist())
    others = [(c, g) for c, g, g2 in zip(boxed[1:], golds, golds[1:], strict=False) if sk.compare(g2, g) != "correct"]
    assert not any(sk.check_batch([c for c, _ in others], [g for _, g in others])["correct"].to_pylist())


def test_benchmark_fields_on_known_rows():
    need_data()
    gsm = ev.load_benchmark("gsm8k", BENCH, limit=1).rows.to_pylist()[0]
    assert gsm["gold"] == "18" and gsm["question"].startswith("Janet’s ducks") and gsm["solution"].endswith("#### 18")
    assert gsm["prompt"] == gsm["question"] + "\nPlease reason step by step, and put your final answer within \\boxed{}."
    svamp = ev.load_benchmark("svamp", BENCH, limit=1).rows.to_pylist()[0]
    assert svamp["problem_id"] == "svamp/chal-777" and svamp["gold"] == "145"
    assert svamp["question"] == ("There are 87 oranges and 290 bananas in Philip's collection. If the bananas are organized "
                                 "into 2 groups and oranges are organized into 93 groups How big is each group of bananas?")
    mawps = ev.load_benchmark("mawps", BENCH).rows.to_pylist()
    assert mawps[0]["gold"] == "43" and "11.5" in [r["gold"] for r in mawps]  # floats written plainly
    minerva = ev.load_benchmark("minerva", BENCH, limit=2).rows.to_pylist()
    assert [r["gold"] for r in minerva] == ["1.6", "4.5e33"]  # inside the solution's \boxed{}
    olymp = {r["problem_id"]: r["gold"] for r in ev.load_benchmark("olympiadbench", BENCH).rows.to_pylist()}
    assert olymp["olympiadbench/1606"] == "2"
    assert "$69$,$84$" in olymp.values()  # final_answer lists joined, as written
    amc = ev.load_benchmark("amc23", BENCH, limit=1).rows.to_pylist()[0]
    assert amc["gold"] == "27" and amc["problem_id"] == "amc23/0"


def test_logiqa_blocks_options_in_letter_order():
    need_data()
    raw = ev.read_logiqa(BENCH / "logiqa_test.txt").to_pylist()
    assert len(raw) == 651 and {r["label"] for r in raw} == {"a", "b", "c", "d"}
    # Block 109 prints its options A, C, B, D: the letters name them.
    assert raw[108]["options"][1] == "No.2 valve and No.3 valve." and raw[108]["options"][2] == "No.3 valve and No.5 valve."
    rows = ev.load_benchmark("logiqa", BENCH).rows.to_pylist()
    r = rows[108]
    assert r["gold"] == "B" and r["problem_id"] == "logiqa/108"
    assert "\nA. No.2 valve and No.4 valve.\nB. No.2 valve and No.3 valve.\nC. No.3 valve and No.5 valve.\n" in r["prompt"]
    assert r["prompt"].endswith("put the letter of the correct option (A, B, C or D) within \\boxed{}.")
    assert r["question"].startswith(raw[108]["context"])
    assert sk.verify("So the answer is \\boxed{B}.", r["gold"]) and not sk.verify("\\boxed{C}", r["gold"])


def test_logiqa_malformed_file_names_the_line(tmp_path):
    p = tmp_path / "logiqa_test.txt"
    p.write_text("\na\nctx\nq?\nA.x\nB.y\nC.z\nD.w\n\ne\nctx\nq?\nA.x\nB.y\nC.z\nD.w\n")
    with pytest.raises(InputError, match=r"logiqa_test.txt:10: the answer line must be a letter a-d"):
        ev.load_benchmark("logiqa", tmp_path)


def test_hub_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=r"benchmark gsm8k: no --data given, and the hub is offline \(HF_HUB_OFFLINE=1\)"):
        ev.load_benchmark("gsm8k")
    with pytest.raises(InputError, match="benchmark mawps: no hub dataset is built in"):
        ev.load_benchmark("mawps")


class FakeDatasets:
    """`datasets` stand-in: load_dataset returns a table with the hub layout of the requested dataset."""

    def __init__(self, tables):
        self.tables, self.calls = tables, []

    def load_dataset(self, path, config=None, split=None):
        self.calls.append((path, config, split))
        if path not in self.tables:
            raise ConnectionError(f"cannot reach {path}")
        return self.tables[path]


def test_hub_layouts_through_datasets(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    fake = FakeDatasets({
        "math-ai/minervamath": pa.table({"question": ["How far?"], "answer": ["4.5e33"]}),
        "lighteval/logiqa_harness": pa.table({"context": ["c"], "question": ["q?"], "label": ["c"],
                                              "options": [["one", "two", "three", "four"]]}),
        "madrylab/gsm8k-platinum": pa.table({"question": ["2+2?"], "answer": ["2+2=4\n#### 4"], "cleaning_status": ["ok"]}),
    })
    monkeypatch.setitem(sys.modules, "datasets", fake)
    m = ev.load_benchmark("minerva")
    assert m.source == "hub:math-ai/minervamath:test" and m.rows["gold"].to_pylist() == ["4.5e33"]
    lq = ev.load_benchmark("logiqa").rows.to_pylist()[0]
    assert lq["gold"] == "C" and "c\nq?\nA. one\nB. two\nC. three\nD. four\n" in lq["prompt"]
    assert ev.load_benchmark("gsm8k_platinum").rows["gold"].to_pylist() == ["4"]
    assert ("lighteval/logiqa_harness", "logiqa", "test") in fake.calls
    with pytest.raises(InputError, match=r"benchmark gsm8k: cannot load openai/gsm8k \(main\) split test from the hub \(ConnectionError"):
        ev.load_benchmark("gsm8k")


def test_bad_names_missing_files_and_column_mismatches(tmp_path):
    need_data()
    with pytest.raises(InputError, match=r"unknown benchmark 'gsm9k' \(did you mean gsm8k\?\)"):
        ev.load_benchmark("gsm9k", BENCH)
    with pytest.raises(InputError, match=f"benchmark math500: {re.escape(str(tmp_path))} holds none of math500_test.meh.jsonl"):
        ev.load_benchmark("math500", tmp_path)
    with pytest.raises(InputError, match="no such file or directory"):
        ev.load_benchmark("math500", tmp_path / "nope.jsonl")
    f = tmp_path / "mine.jsonl"
    f.write_text('{"q": "1+1?", "a": "2"}\n')
    with pytest.raises(InputError, match=r"mine.jsonl \(benchmark math500\): benchmark math500 needs columns 'problem', 'answer'.*--answer-column, --prompt-column"):
        ev.load_benchmark("math500", f)
    with pytest.raises(InputError, match=r"needs column 'answer'.*map yours with --answer-column"):
        ev.load_benchmark("math500", f, columns=ev.Columns(prompt="q"))
    got = ev.load_benchmark("math500", f, columns=ev.Columns(prompt="q", answer="a")).rows.to_pylist()
    assert got[0]["gold"] == "2" and got[0]["problem_id"] == "math500/0"
    with pytest.raises(InputError, match=r"missing column 'pid'.*--id-column"):
        ev.load_benchmark("math500", f, columns=ev.Columns(prompt="q", answer="a", id="pid"))


def test_user_file_with_column_mapping(tmp_path):
    f = tmp_path / "set.csv"
    f.write_text("key,text,sol\n7,What is 3*4?,3*4=12\n#### 12\n")
    f.write_text('key,text,sol\n7,What is 3*4?,"3*4=12\n#### 12"\n9,What is 5-2?,3\n')
    b = ev.load_benchmark(ev.user_benchmark("set"), f, columns=ev.Columns("text", "sol", "key"))
    rows = b.rows.to_pylist()
    assert [r["problem_id"] for r in rows] == ["7", "9"] and [r["gold"] for r in rows] == ["12", "3"]
    assert rows[0]["prompt"].startswith("What is 3*4?\nPlease reason step by step")
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"problem_id": "a", "prompt": "x", "answer": "1"}\n{"problem_id": "a", "prompt": "y", "answer": "2"}\n')
    with pytest.raises(InputError, match=r"rows 1 and 2 have the same id 'a'"):
        ev.load_benchmark(ev.user_benchmark("dup"), dup)
    null = tmp_path / "null.jsonl"
    null.write_text('{"prompt": "x", "answer": "1"}\n{"prompt": "y", "answer": null}\n')
    with pytest.raises(InputError, match=r"row 2: no gold answer in column 'answer'"):
        ev.load_benchmark(ev.user_benchmark("null"), null)
    templ = ev.load_benchmark(ev.user_benchmark("null", template="Q: {question} A:"), null, limit=1).rows
    assert templ["prompt"].to_pylist() == ["Q: x A:"] and templ["problem_id"].to_pylist() == ["null/0"]


# ============================================================================================== metrics


def verdict_table(correct_by_problem: list[list[bool]], predicted: list[list[str | None]] | None = None) -> pa.Table:
    rows = []
    for i, flags in enumerate(correct_by_problem):
        for s, c in enumerate(flags):
            p = predicted[i][s] if predicted else ("1" if c else "0")
            rows.append({"benchmark": "t", "problem_id": f"p{i}", "sample": s, "correct": c, "predicted": p})
    return pa.Table.from_pylist(rows)


def test_accuracy_on_a_benchmark_file_equals_a_brute_force_count():
    """pass@1 from the evaluation = the number of completions sk.verify accepts, over all completions."""
    benches = rows_of("gsm8k", "math500", "logiqa", limit=40)
    for b in benches:
        gen = Scripted(b.rows)
        res = ev.evaluate_rows(b.rows, gen, ev.EvalSettings(k=4, chunk_size=16), show_progress=False)
        v = res.verdicts
        assert v.num_rows == 4 * b.rows.num_rows
        gold = dict(zip(b.rows["problem_id"].to_pylist(), b.rows["gold"].to_pylist(), strict=True))
        hits = [sk.verify(c, gold[p]) for p, c in zip(v["problem_id"].to_pylist(), v["completion"].to_pylist(), strict=True)]
        assert 0 < sum(hits) < len(hits)
        assert res.metrics["pass@1"].value == pytest.approx(sum(hits) / len(hits), abs=1e-12)
        per = {}
        for p, h in zip(v["problem_id"].to_pylist(), hits, strict=True):
            per.setdefault(p, []).append(h)
        assert res.metrics["pass@4"].value == pytest.approx(sum(any(x) for x in per.values()) / len(per), abs=1e-12)
        assert res.scores["n_correct"].to_pylist() == [sum(per[p]) for p in res.scores["problem_id"].to_pylist()]


@fixed(150)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=9), min_size=1, max_size=6), st.data())
def test_pass_at_k_is_the_mean_over_all_k_subsets(flags, data):
    n_min = min(len(f) for f in flags)
    k = data.draw(st.integers(1, n_min))
    scores = ev.problem_scores(verdict_table(flags), k=k, ks=range(1, k + 1))
    for j in range(1, k + 1):
        brute = [Fraction(sum(any(f[i] for i in sub) for sub in itertools.combinations(range(len(f)), j)),
                          len(list(itertools.combinations(range(len(f)), j)))) for f in flags]
        assert scores[f"pass@{j}"].to_pylist() == pytest.approx([float(b) for b in brute], abs=1e-12), (flags, j)
    assert scores["pass@1"].to_pylist() == pytest.approx([sum(f) / len(f) for f in flags])
    m = ev.summarize(scores)
    assert m["pass@1"].value == pytest.approx(sum(sum(f) / len(f) for f in flags) / len(flags))
    assert m["pass@1"].low <= m["pass@1"].value <= m["pass@1"].high


#: Equivalent spellings of a value (the verifier must group them as one vote) and near misses (it must not).
def spellings(v: int) -> list[str]:
    return [str(v), f"{v}.0", f"\\frac{{{2 * v}}}{{2}}", f"{2 * v}/2", f"$ {v} $", f"{v}.00"]


@fixed(200)
@given(st.lists(st.one_of(st.none(), st.tuples(st.integers(-3, 3), st.integers(0, 5))), min_size=1, max_size=9),
       st.integers(-3, 3), st.data())
def test_maj_at_k_is_the_definition(answers, gold, data):
    k = data.draw(st.integers(1, len(answers)))
    predicted = [None if a is None else spellings(a[0])[a[1]] for a in answers]
    correct = [a is not None and a[0] == gold for a in answers]
    t = verdict_table([correct], [predicted])
    got = ev.problem_scores(t, k=k).to_pylist()[0]
    # Brute force: votes by value among samples 0..k-1; most votes wins, a tie to the value voted first.
    first: dict[int, int] = {}
    votes: dict[int, int] = {}
    for i, a in enumerate(answers[:k]):
        if a is not None:
            first.setdefault(a[0], i)
            votes[a[0]] = votes.get(a[0], 0) + 1
    if not votes:
        assert got[f"maj@{k}"] == 0.0 and got["maj_answer"] is None and got["maj_votes"] == 0
        return
    win = max(votes, key=lambda v: (votes[v], -first[v]))
    assert got[f"maj@{k}"] == (1.0 if win == gold else 0.0), (answers, gold, k, got)
    assert got["maj_votes"] == votes[win]
    assert got["maj_answer"] == predicted[first[win]]


def test_majority_vote_groups_by_the_verifier_not_by_text():
    preds = ["0.5", "\\frac{1}{2}", "1/3", "0.33", "0.333", "\\frac12"]
    assert ev.majority_vote(preds, [False] * 6) == (0, 3)  # 1/2 three times; 1/3 and its roundings apart
    assert ev.majority_vote(["(1, 2)", "(2, 1)", "(2,1)"], [False] * 3) == (1, 2)  # ordered pairs differ


def test_score_refuses_completions_that_do_not_fit_the_rows():
    rows = pa.table({"benchmark": ["t", "t"], "problem_id": ["a", "b"], "gold": ["1", "2"]})
    comp = pa.table({"problem_id": ["a", "b"], "sample": [0, 0], "completion": ["\\boxed{1}", "\\boxed{3}"]})
    assert ev.score(rows, comp)["correct"].to_pylist() == [True, False]
    with pytest.raises(ValueError, match="no completion for problem 'b'"):
        ev.score(rows, comp.slice(0, 1))
    with pytest.raises(ValueError, match="completions for a problem not in the rows: 'z'"):
        ev.score(rows, pa.concat_tables([comp, pa.table({"problem_id": ["z"], "sample": [0], "completion": ["x"]})]))
    with pytest.raises(ValueError, match="problem 'a' has sample 0 more than once"):
        ev.score(rows, pa.concat_tables([comp, comp.slice(0, 1)]))


LIGHTEVAL = SHARED / "equivalence" / "lighteval_test_cases"


@pytest.mark.parametrize("fname", ["pass_at_k_math.json", "avg_at_k_math.json"])
def test_lighteval_vectors_through_the_evaluation(fname):
    if not (LIGHTEVAL / fname).is_file():
        pytest.skip(f"{LIGHTEVAL} absent")
    for case in json.loads((LIGHTEVAL / fname).read_text())["test_cases"]:
        texts, doc = case["model_response"]["text"], case["doc"]
        k = case["metric_params"]["k"]
        rows = pa.table({"benchmark": ["lighteval"], "problem_id": ["q"], "question": [doc["query"]],
                         "prompt": [doc["query"]], "gold": [doc["choices"][doc["gold_index"]]], "solution": [None]})
        comps = pa.table({"problem_id": ["q"] * len(texts), "sample": list(range(len(texts))), "completion": texts})
        res = ev.result_from_completions(rows, comps, ev.EvalSettings(k=len(texts), pass_at=(k,)))
        (key, want), = case["expected_output"].items()
        got = res.metrics[f"pass@{k}"].value if key.startswith("pass@k") else res.metrics["pass@1"].value
        assert got == pytest.approx(want, abs=case["tolerance"]), case["name"]


def test_wilson_intervals_over_problems_cover_the_mean():
    """Seeded simulation: problems with pass probabilities from a skewed Beta, 4 samples each; the 95%
    interval of pass@1 over 30 problems covers the population mean at least 93% of the time (it is
    conservative: the per-problem variance is below p(1 - p))."""
    rng = random.Random(7)
    reps, hits = 300, 0
    a, b = 0.4, 1.2
    mean = a / (a + b)
    for _ in range(reps):
        ps = [rng.betavariate(a, b) for _ in range(30)]
        flags = [[rng.random() < p for _ in range(4)] for p in ps]
        m = ev.summarize(ev.problem_scores(verdict_table(flags), k=4))["pass@1"]
        hits += m.low <= mean <= m.high
    assert hits / reps >= 0.93, hits / reps


# ============================================================================================== overlap


def gsm8k_pool() -> pa.Table:
    need_data()
    rows = [json.loads(x) for x in (SHARED / "pools" / "gsm8k_train.openai.jsonl").open()]
    return pa.table({"problem_id": [str(i) for i in range(len(rows))], "prompt": [r["question"] for r in rows]})


def test_overlap_gsm8k_train_vs_test_and_platinum():
    pool = gsm8k_pool()
    test = ev.load_benchmark("gsm8k", BENCH).rows
    plat = ev.load_benchmark("gsm8k_platinum", BENCH).rows
    # GSM8K train and test are disjoint, by text and (namespaced ids) by id.
    marked = sk.mark_overlap(test, pool)
    assert pc.sum(marked["overlap"]).as_py() == 0
    # Platinum is GSM8K test revised: every one of its 1,209 questions is a GSM8K test question.
    as_pool = test.select(["problem_id", "question"]).rename_columns(["problem_id", "prompt"])
    pm = sk.mark_overlap(plat, as_pool)
    assert pc.sum(pm["overlap_text"]).as_py() == 1209 and pc.sum(pm["overlap_id"]).as_py() == 0
    # A pool holding 50 test problems, rewritten in case, spacing, quotes and thousands separators, is found.
    rng = random.Random(3)
    picked = rng.sample(range(test.num_rows), 50)
    def mangle(s: str) -> str:
        s = s.replace("’", "'").replace(" ", "  ", 3)
        s = re.sub(r"\b(\d)(\d{3})\b", r"\1,\2", s)
        return s.upper() if rng.random() < 0.5 else s + " "
    leaked = pa.concat_tables([pool, pa.table({"problem_id": [f"x{i}" for i in picked],
                                               "prompt": [mangle(test["question"][i].as_py()) for i in picked]})])
    got = sk.mark_overlap(test, leaked)
    assert sorted(i for i, x in enumerate(got["overlap"].to_pylist()) if x) == sorted(picked)
    # Same ids are found whatever the text.
    ids = sk.mark_overlap(test, pa.table({"problem_id": ["gsm8k/5", "gsm8k/7"], "prompt": ["a", "b"]}))
    assert [i for i, x in enumerate(ids["overlap_id"].to_pylist()) if x] == [5, 7]


@fixed(200)
@given(st.lists(st.sampled_from(["Tom", "has", "12", "apples", "and", "1.5", "kg", "of", "rice", "?", ",", "3,000"]),
                min_size=3, max_size=12), st.randoms(use_true_random=False))
def test_overlap_survives_formatting_and_rejects_a_changed_number(words, rnd):
    assume(any(re.search(r"\w", w) for w in words))  # a text with no word or number overlaps nothing
    text = " ".join(words)
    variant = "".join(c.upper() if rnd.random() < 0.3 else c for c in text).replace(" ", rnd.choice([" ", "  ", "\n"]))
    bench = pa.table({"problem_id": ["b"], "question": [text]})
    assert sk.mark_overlap(bench, pa.table({"prompt": [variant]}))["overlap_text"].to_pylist() == [True]
    nums = [i for i, w in enumerate(words) if re.fullmatch(r"\d[\d.,]*", w)]
    if nums:
        changed = list(words)
        i = nums[0]
        changed[i] = changed[i].replace(changed[i][-1], str((int(changed[i][-1]) + 1) % 10))
        near = pa.table({"prompt": [" ".join(changed)]})
        assert sk.mark_overlap(bench, near)["overlap_text"].to_pylist() == [False], (text, changed)


# ========================================================================================= the directory


def test_run_eval_writes_every_output_and_resumes_without_sampling(tmp_path):
    benches = rows_of("gsm8k", "logiqa", limit=10)
    gen = Scripted(all_rows(benches))
    s = ev.EvalSettings(k=3, chunk_size=4, progress=False)
    student = Student("scripted", "scripted", "m1")
    first = ev.run_eval(benches, s, tmp_path / "e", student=student, generator_factory=lambda spec, cfg: gen)
    assert first.sampled == ["gsm8k", "logiqa"] and len(gen.calls) == 20
    out = tmp_path / "e"
    for b in ("gsm8k", "logiqa"):
        assert _rows(out / b / "completions.parquet") == 30 and _rows(out / b / "problems.parquet") == 10
        assert sorted(p.name for p in (out / b / "chunks").iterdir()) == ["00000.parquet", "00001.parquet", "00002.parquet"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["command"] == "eval" and m["eval"]["order"] == ["gsm8k", "logiqa"] and m["config"]["k"] == 3
    assert m["eval"]["student"]["key"] == "m1" and m["sources"]["student"]["key"] == "m1"
    assert set(m["steps"]) == {f"{b}/{x}" for b in ("gsm8k", "logiqa") for x in ("sample-00000", "sample-00001", "sample-00002", "score")}
    assert m["steps"]["gsm8k/sample-00000"]["reads"] == {"k": 3, "seed": 0, "temperature": 0.8, "top_p": 0.95,
                                                         "max_new_tokens": 512, "batch_size": 16, "extra": {}}
    assert set(m["steps"]["gsm8k/score"]["metrics"]) == {"pass@1", "pass@3", "maj@3"}
    summary = pq.read_table(out / "summary.parquet")
    assert summary.num_rows == 6 and set(summary["metric"].to_pylist()) == {"pass@1", "pass@3", "maj@3"}
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 5 and not re.search(r"""<img|src=["']|href=["']http""", html)
    assert (out / "results.md").read_text().startswith("| benchmark | problems | k | pass@1 | pass@3 | maj@3 |")
    assert not list(out.rglob(".*tmp"))
    # Again: nothing sampled; a new pass@j needs no sampling either (only the score steps run again).
    gen.calls.clear()
    s2 = ev.EvalSettings(k=3, chunk_size=4, pass_at=(2, 3), progress=False)
    again = ev.run_eval(benches, s2, out, student=student, generator_factory=lambda spec, cfg: gen)
    assert again.sampled == [] and gen.calls == []
    assert again.results["gsm8k"].verdicts.equals(first.results["gsm8k"].verdicts)
    assert "pass@2" in again.results["gsm8k"].metrics
    # Another model, or another batch size (the transformers backend's completions depend on it): sampled again.
    third = ev.run_eval(benches[:1], s, out, student=Student("scripted", "scripted", "m2"),
                        generator_factory=lambda spec, cfg: gen)
    assert third.sampled == ["gsm8k"] and len(gen.calls) == 10
    fourth = ev.run_eval(benches[:1], ev.EvalSettings(k=3, chunk_size=4, batch_size=2, progress=False), out,
                         student=Student("scripted", "scripted", "m2"), generator_factory=lambda spec, cfg: gen)
    assert fourth.sampled == ["gsm8k"] and len(gen.calls) == 20
    # The same completions in memory, without a directory.
    mem = ev.evaluate_rows(benches[0].rows, gen, s, show_progress=False)
    assert mem.verdicts.equals(first.results["gsm8k"].verdicts)
    # `stagekit report` rebuilds the evaluation's report.
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").is_file()


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def test_an_interrupted_benchmark_keeps_its_finished_chunks(tmp_path):
    (b,) = rows_of("math500", limit=10)

    class Interrupting(Scripted):
        def generate(self, prompts, *, n, sampling):
            if len(self.calls) >= 4:
                raise KeyboardInterrupt
            return super().generate(prompts, n=n, sampling=sampling)

    s = ev.EvalSettings(k=2, chunk_size=4, progress=False)
    student = Student("scripted", "scripted", "m")
    broken = Interrupting(b.rows)
    with pytest.raises(KeyboardInterrupt):
        ev.run_eval([b], s, tmp_path / "e", student=student, generator_factory=lambda spec, cfg: broken)
    assert len(list((tmp_path / "e" / "math500" / "chunks").glob("*.parquet"))) == 1
    assert not (tmp_path / "e" / "math500" / "completions.parquet").exists()
    gen = Scripted(b.rows)
    done = ev.run_eval([b], s, tmp_path / "e", student=student, generator_factory=lambda spec, cfg: gen)
    assert len(gen.calls) == 6  # the first chunk's 4 problems were not sampled again
    other = Scripted(b.rows)
    fresh = ev.run_eval([b], s, tmp_path / "f", student=student, generator_factory=lambda spec, cfg: other)
    assert done.results["math500"].verdicts.equals(fresh.results["math500"].verdicts)


# ================================================================================================== CLI


@pytest.fixture
def scripted_cli():
    """The stand-ins the CLI's generator factory made (`_cli` passes the factory to `main`)."""
    return MADE


MADE: list[Scripted] = []


def _stand_in(spec, cfg):
    need_data()
    gen = Scripted(all_rows([ev.load_benchmark(n, BENCH) for n in ("gsm8k", "logiqa", "svamp")]))
    MADE.append(gen)
    return gen


@pytest.fixture(autouse=True)
def _fresh_stand_ins():
    MADE.clear()


def _cli(capsys, *argv):
    code = main(["eval", "--no-progress", "--model", "scripted-model", *argv], generator_factory=_stand_in)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_eval_prints_the_table_and_resumes(tmp_path, scripted_cli, capsys):
    need_data()
    out = tmp_path / "e"
    code, stdout, err = _cli(capsys, "gsm8k,logiqa", "svamp", "--data", str(BENCH), "--limit", "6", "--k", "4",
                             "--out", str(out))
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "| benchmark | problems | k | pass@1 | pass@4 | maj@4 |"
    assert [x.split(" | ")[0] for x in lines[2:5]] == ["| gsm8k", "| logiqa", "| svamp"]
    assert re.match(r"\| gsm8k \| 6 \| 4 \| \d+\.\d \[\d+\.\d, \d+\.\d\] \|", lines[2])
    assert len(scripted_cli) == 1 and len(scripted_cli[0].calls) == 18
    # The Markdown accuracy is the brute-force count of verified completions in completions.parquet.
    v = pq.read_table(out / "gsm8k" / "completions.parquet")
    brute = sum(sk.verify(c, g) for c, g in zip(v["completion"].to_pylist(), v["gold"].to_pylist(), strict=True)) / v.num_rows
    assert f"| gsm8k | 6 | 4 | {100 * brute:.1f} [" in stdout
    code, stdout2, err = _cli(capsys, "gsm8k,logiqa", "svamp", "--data", str(BENCH), "--limit", "6", "--k", "4",
                              "--out", str(out))
    assert code == 0 and len(scripted_cli) == 1  # no generator made: nothing to sample
    assert "(gsm8k, logiqa, svamp sampled earlier, not again)" in stdout2
    assert stdout2.splitlines()[:5] == lines[:5]


def test_cli_user_file_with_column_mapping(tmp_path, scripted_cli, capsys):
    need_data()
    src = [json.loads(x) for x in (BENCH / "gsm8k_test.openai.jsonl").open()][:5]
    f = tmp_path / "mine.jsonl"
    f.write_text("".join(json.dumps({"key": f"k{i}", "q": r["question"], "sol": r["answer"]}) + "\n" for i, r in enumerate(src)))
    # The stand-in knows golds by prompt: this file's prompts are GSM8K's under the same template.
    code, stdout, err = _cli(capsys, "--data", str(f), "--prompt-column", "q", "--answer-column", "sol",
                             "--id-column", "key", "--k", "2", "--out", str(tmp_path / "e"))
    assert code == 0, err
    assert "| mine | 5 | 2 |" in stdout
    probs = pq.read_table(tmp_path / "e" / "mine" / "problems.parquet")
    assert probs["problem_id"].to_pylist() == [f"k{i}" for i in range(5)]
    assert probs["gold"].to_pylist() == [r["answer"].rsplit("#### ", 1)[1] for r in src]


@pytest.mark.parametrize(("argv", "message"), [
    (["gsm9k"], "unknown benchmark 'gsm9k' (did you mean gsm8k?)"),
    (["gsm8k"], "no --data given, and the hub is offline (HF_HUB_OFFLINE=1)"),
    (["math500", "--data", "{tmp}"], "benchmark math500: {tmp} holds none of math500_test.meh.jsonl"),
    (["gsm8k", "--data", "{tmp}/absent.jsonl"], "benchmark gsm8k: {tmp}/absent.jsonl: no such file or directory"),
    (["gsm8k", "--data", "{tmp}/bad.jsonl"], "benchmark gsm8k needs column 'question'"),
    (["gsm8k", "--data", "{tmp}/bad.jsonl", "--prompt-column", "text", "--answer-column", "ans"],
     "needs column 'ans'"),
    (["gsm8k", "math500", "--data", "{tmp}/bad.jsonl"], "is one file, but 2 benchmarks are named"),
    ([], "name the benchmarks to evaluate"),
    (["gsm8k", "--data", "{bench}", "--k", "0"], "--k must be >= 1"),
    (["gsm8k", "--data", "{bench}", "--k", "2", "--pass-at", "3"], "pass@3 needs 1 <= j <= k = 2"),
    (["gsm8k", "--data", "{bench}", "--generator", "openai"], "--generator openai needs --base-url"),
    (["gsm8k", "--data", "{bench}", "--out", "{tmp}"], "is not empty and is not a stagekit eval directory"),
])
def test_cli_errors_exit_2_naming_the_problem(tmp_path, capsys, monkeypatch, argv, message):
    need_data()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "bad.jsonl").write_text('{"text": "1+1?", "answer": "2"}\n')
    fill = {"{tmp}": str(tmp_path), "{bench}": str(BENCH)}
    argv = [re.sub(r"\{tmp\}|\{bench\}", lambda m: fill[m.group(0)], a) for a in argv]
    msg = re.sub(r"\{tmp\}", str(tmp_path), message)
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and msg in err, err
    assert err.startswith("stagekit eval: ")


def test_cli_refuses_a_run_directory(tmp_path, capsys):
    need_data()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text('{"command": "run", "schema_version": 2}')
    code, _, err = _cli(capsys, "gsm8k", "--data", str(BENCH), "--out", str(tmp_path / "run"))
    assert code == 2 and "holds a `stagekit run` output" in err, err


SCRIPT = r'''
import hashlib, json, os, sys, time
from stagekit.cli import main
marker, log, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "slow"

class Gen:
    name = "scripted"
    def generate(self, prompts, *, n, sampling):
        with open(log, "a") as f:
            for p in prompts:
                f.write(json.dumps(p) + "\n")
        if slow and any("Please reason step by step, and put the letter" in p for p in prompts) and os.path.exists(marker + ".first"):
            open(marker, "w").close()
            time.sleep(60)
        if any("Please reason step by step, and put the letter" in p for p in prompts):
            open(marker + ".first", "w").close()
        return [[f"\\boxed{{{i}}}" for i in range(n)] for _ in prompts]

sys.exit(main(["eval", "gsm8k", "logiqa", "--data", sys.argv[4], "--limit", "6", "--k", "2", "--chunk-size", "2",
               "--model", "scripted", "--no-progress", "--out", sys.argv[5]], generator_factory=lambda spec, cfg: Gen()))
'''


def test_ctrl_c_exits_130_and_the_rerun_samples_only_what_was_left(tmp_path):
    need_data()
    script = tmp_path / "evalscript.py"
    script.write_text(SCRIPT)
    out, marker, log = tmp_path / "e", tmp_path / "marker", tmp_path / "log1.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "HF_HUB_OFFLINE": "1"}
    p = subprocess.Popen([sys.executable, str(script), str(marker), str(log), "slow", str(BENCH), str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not marker.exists():
        assert p.poll() is None, p.communicate()
        assert time.time() - t0 < 120, "the stand-in never reached logiqa's second chunk"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "interrupted" in stderr and "re-run the same command to resume" in stderr
    assert (out / "gsm8k" / "completions.parquet").is_file()
    assert not (out / "logiqa" / "completions.parquet").exists()
    assert len(list((out / "logiqa" / "chunks").glob("*.parquet"))) == 1
    assert not list(out.rglob(".*tmp"))
    first = [json.loads(x) for x in log.open()]
    # Resume: gsm8k is not sampled again, nor logiqa's first chunk.
    log2 = tmp_path / "log2.jsonl"
    r = subprocess.run([sys.executable, str(script), str(marker), str(log2), "fast", str(BENCH), str(out)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    second = [json.loads(x) for x in log2.open()]
    logiqa = [x for x in first + second if "put the letter" in x]
    assert len(second) == 4 and all("put the letter" in x for x in second)
    assert not set(second) & set(first[:-2])  # the interrupted chunk's 2 prompts are sampled again, nothing else
    assert len(set(logiqa)) == 6
    assert "(gsm8k sampled earlier, not again)" in r.stdout and "| logiqa | 6 | 2 |" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert {"gsm8k/score", "logiqa/score"} <= set(m["steps"])


# ============================================================================================== slow


@pytest.mark.slow
def test_real_student_on_gsm8k_through_the_transformers_backend(tmp_path):
    """SmolLM2-135M (the default student) on 3 GSM8K problems, k = 2, through `stagekit eval`; then resumed."""
    from e2e_helpers import need_trl

    need_trl()
    need_data()
    out = tmp_path / "e"
    cmd = [sys.executable, "-m", "stagekit", "eval", "gsm8k", "--data", str(BENCH), "--limit", "3", "--k", "2",
           "--max-new-tokens", "48", "--threads", "1", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.startswith("| benchmark | problems | k | pass@1 | pass@2 | maj@2 |")
    v = pq.read_table(out / "gsm8k" / "completions.parquet")
    assert v.num_rows == 6 and all(len(c) > 0 for c in v["completion"].to_pylist())
    m = json.loads((out / "manifest.json").read_text())
    who = m["eval"]["student"]
    assert who["generator"] == "transformers" and "SmolLM2-135M-Instruct" in who["model"]
    brute = sum(sk.verify(c, g) for c, g in zip(v["completion"].to_pylist(), v["gold"].to_pylist(), strict=True)) / 6
    assert m["steps"]["gsm8k/score"]["metrics"]["pass@1"]["value"] == pytest.approx(brute)
    t0 = time.perf_counter()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "(gsm8k sampled earlier, not again)" in again.stdout
    assert pq.read_table(out / "gsm8k" / "completions.parquet").equals(v)
    assert time.perf_counter() - t0 < 120  # no model is loaded to resume


def test_run_eval_scores_chunk_by_chunk_as_in_memory(tmp_path):
    """The score step verifies one chunk at a time (writing verdicts as it goes): the same verdicts, scores
    and metrics as scoring every completion at once."""
    benches = rows_of("gsm8k", limit=10)
    gen = Scripted(all_rows(benches))
    s = ev.EvalSettings(k=3, chunk_size=3, pass_at=(2, 3), progress=False)
    got = ev.run_eval(benches, s, tmp_path / "e", student=Student("scripted", "scripted", "m1"),
                      generator_factory=lambda spec, cfg: gen, report=False).results["gsm8k"]
    rows = benches[0].rows
    ref = ev.result_from_completions(rows, ev.sample(rows, gen, s, show_progress=False), s)
    assert got.verdicts.equals(ref.verdicts)
    assert got.metrics == ref.metrics
    assert got.scores.to_pylist() == ref.scores.select(got.scores.column_names).to_pylist()
