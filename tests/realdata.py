"""Loaders for the public real-data files in ``../shared/data`` (see its README.md and MANIFEST.jsonl).

The data lives next to the repository, never inside it: ``<repo>/../shared/data``, or the folder named by
the ``STAGEKIT_SHARED_DATA`` environment variable. The loaders return plain Python values (golds, labelled
completions, equivalence vectors) and check the files' structure as they read them; they call stagekit
only where an answer must be taken out of a reference (``sk.extract_gold``), never to decide a verdict.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import stagekit as sk

ENV_VAR = "STAGEKIT_SHARED_DATA"


def data_dir() -> Path:
    """The shared data folder (it may not exist; see :func:`missing_reason`)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def missing_reason() -> str | None:
    """Why the real-data tests cannot run here, or ``None`` when the data is present."""
    d = data_dir()
    if not (d / "MANIFEST.jsonl").is_file():
        return f"real data not found at {d} (set {ENV_VAR} to the shared data folder)"
    return None


def path(rel: str) -> Path:
    return data_dir() / rel


def read_jsonl(rel: str) -> list[dict[str, Any]]:
    with path(rel).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(rel: str) -> Any:
    with path(rel).open(encoding="utf-8") as f:
        return json.load(f)


def read_csv(rel: str) -> list[dict[str, str]]:
    with path(rel).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------------------
# Benchmarks: one gold per row.


@dataclass(frozen=True)
class Gold:
    """One benchmark row's gold.

    ``reference`` is what the tests pass as ``gold`` to ``sk.check`` (the full reference solution where the
    benchmark has one, so gold extraction is exercised; the bare answer otherwise). ``answer`` is the
    answer a correct completion would write (the benchmark's own answer field where it has one, else the
    answer extracted from the reference). ``kind`` is ``"numeric"`` (GSM8K-style plain numbers, which also
    get ``#### N`` / ``The answer is N.`` completions), ``"choice"`` (a multiple-choice letter) or
    ``"math"``.
    """

    row: str
    reference: str
    answer: str
    kind: str = "math"
    #: Multiple choice: the correct option's text exactly as the benchmark prints it (``A)5(√3 + 1)``).
    option: str | None = None
    #: The unit the answer is in, where the benchmark gives one apart from the answer (``km/h``).
    unit: str | None = None


def _num(x: float | int | str) -> str:
    """A float gold as a model would write it: ``43.0`` -> ``43``, ``0.5`` -> ``0.5``."""
    f = float(x)
    if f.is_integer():
        return str(int(f))
    return repr(f)


def _math500() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/math500_test.meh.jsonl"):
        yield Gold(r["unique_id"], r["solution"], r["answer"])


def _math5000() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/math_full5000_test.meh.jsonl"):
        yield Gold(str(r["idx"]), r["solution"], sk.extract_gold(r["solution"]))


def _gsm8k() -> Iterator[Gold]:
    for i, r in enumerate(read_jsonl("benchmarks/gsm8k_test.openai.jsonl")):
        ans = r["answer"].rsplit("####", 1)[1].strip()
        yield Gold(str(i), r["answer"], ans, "numeric")


def _mawps() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/mawps_test.qwen25math.jsonl"):
        # The gold is a float; it is passed as written in the file (`43.0`), the completion writes `43`.
        yield Gold(str(r["idx"]), str(r["target"]), _num(r["target"]), "numeric")


def _svamp() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/svamp_test.qwen25math.jsonl"):
        yield Gold(str(r["ID"]), str(r["Answer"]), _num(r["Answer"]), "numeric")


def _option_of(letter: str, options: list[str]) -> str | None:
    """The option printed for ``letter`` (``A)36``, ``B.Some text``), if exactly one option starts so."""
    hits = [o for o in options if len(o) > 1 and o[0] == letter and o[1] in ").: "]
    return hits[0] if len(hits) == 1 else None


def _aqua() -> Iterator[Gold]:
    for i, r in enumerate(read_jsonl("benchmarks/aqua_test.qwen25math.jsonl")):
        yield Gold(str(i), r["correct"], r["correct"], "choice", _option_of(r["correct"], r["options"]))


def logiqa_blocks() -> list[dict[str, Any]]:
    """LogiQA's test file: 8-line blocks (blank, answer letter a-d, context, question, options A-D)."""
    lines = path("benchmarks/logiqa_test.txt").read_text(encoding="utf-8").split("\n")
    out = []
    for start in range(0, len(lines) - 7, 8):
        block = lines[start : start + 8]
        assert block[0].strip() == "", f"LogiQA block at line {start + 1} does not start with a blank line"
        out.append(
            {"answer": block[1].strip(), "context": block[2], "question": block[3], "options": block[4:8]}
        )
    return out


def _logiqa() -> Iterator[Gold]:
    for i, b in enumerate(logiqa_blocks()):
        # Gold is the lowercase key as in the file; a model writes the option's capital letter. A few
        # blocks print their options out of order (A, C, B, D), with a '?' for the '.' ("B? Although",
        # blocks 10 and 15) or mangled ("When the land in City A.B", block 524); the option is the one
        # that starts with the letter and a label delimiter, and None where there is none.
        letter = b["answer"].upper()
        yield Gold(str(i), b["answer"], letter, "choice", _option_of(letter, b["options"]))


def _aime_reference(r: dict[str, Any]) -> str:
    """AIME rows carry an AoPS page of alternative solutions. Where it boxes an answer (`\\boxed{721}`,
    `\\boxed{\\textbf{(113) }}`) the last box is the gold, so the solution is the reference; the others
    (e.g. 2024 I #1, which ends without a box) have no extractable gold and use the explicit `answer`."""
    return r["solution"] if "\\boxed" in r["solution"] else r["answer"]


def _aime24() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/aime24_test.qwen25math.jsonl"):
        yield Gold(str(r["id"]), _aime_reference(r), r["answer"], "numeric")


def _still3(rel: str) -> Callable[[], Iterator[Gold]]:
    def load() -> Iterator[Gold]:
        for i, r in enumerate(read_jsonl(rel)):
            yield Gold(str(i), r["solution"], sk.extract_gold(r["solution"]))

    return load


def _amc23() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/amc23_test.qwen25math.jsonl"):
        yield Gold(str(r["id"]), str(r["answer"]), _num(r["answer"]), "numeric")


def _minerva() -> Iterator[Gold]:
    for r in read_jsonl("benchmarks/minerva_math_test.qwen25math.jsonl"):
        yield Gold(str(r["idx"]), r["solution"], sk.extract_gold(r["solution"]))


def olympiad_answer(final_answer: list[str]) -> str:
    """OlympiadBench's `final_answer` list as one answer (several answers joined with ``", "``)."""
    return ", ".join(a.strip() for a in final_answer)


def strip_math_mode(s: str) -> str:
    """``$x^2$.`` -> ``x^2``: an answer written in text mode, as a model writes it inside a box or ``$..$``."""
    t = s.strip()
    if t.endswith("$."):
        t = t[:-1]
    if len(t) >= 2 and t.startswith("$") and t.endswith("$") and "$" not in t[1:-1]:
        t = t[1:-1].strip()
    return t


def _unit(unit: str | None) -> str | None:
    """OlympiadBench's `unit` (``km``, ``$cm^2$``, ``^{\\circ}``) as plain text, or None."""
    return unit.strip().strip("$").strip() or None if unit else None


def _olympiadbench() -> Iterator[Gold]:
    # `final_answer` entries are written in text mode (`$2^{1009}$`, `$(-\infty, 0) \cup\{1\}$.`): the
    # gold is passed as written, the completion writes the math inside.
    for r in read_jsonl("benchmarks/olympiadbench_test.qwen25math.jsonl"):
        ans = olympiad_answer(r["final_answer"])
        yield Gold(str(r["id"]), ans, strip_math_mode(ans), unit=_unit(r["unit"]))


def _olymmath(rel: str) -> Callable[[], Iterator[Gold]]:
    def load() -> Iterator[Gold]:
        for r in read_jsonl(rel):
            yield Gold(r["unique_id"], r["answer"], r["answer"])

    return load


def _matharena(rel: str) -> Callable[[], Iterator[Gold]]:
    def load() -> Iterator[Gold]:
        for r in read_csv(rel):
            yield Gold(r["id"], r["answer"], r["answer"], "numeric")

    return load


def _rllm_aime() -> Iterator[Gold]:
    for r in read_json("benchmarks/rllm_test_aime.json"):
        row = f"{r['year']}-{r['aime_number']}-{r['problem_number']}"
        yield Gold(row, _aime_reference(r), r["answer"], "numeric")


def _rllm_amc() -> Iterator[Gold]:
    for i, r in enumerate(read_json("benchmarks/rllm_test_amc.json")):
        yield Gold(str(i), str(r["answer"]), _num(r["answer"]), "numeric")


def _rllm_gsm8k() -> Iterator[Gold]:
    # `answer` is null in this file; the gold is after `####` in `solution`.
    for i, r in enumerate(read_json("benchmarks/rllm_test_gsm8k.json")):
        assert r["answer"] is None
        yield Gold(str(i), r["solution"], r["solution"].rsplit("####", 1)[1].strip(), "numeric")


def _rllm_math() -> Iterator[Gold]:
    for r in read_json("benchmarks/rllm_test_math.json"):
        yield Gold(r["unique_id"], r["answer"], r["answer"])


def _rllm_minerva() -> Iterator[Gold]:
    # `answer` is a list of 1-3 accepted spellings (with trailing newlines) written by rLLM; each is a row
    # `<idx>/<k>`, checked against the Minerva reference `solution` (its last box). Some are not the
    # solution's answer at all (see `rllm_minerva_previous_box` and the test's known lists).
    for r in read_json("benchmarks/rllm_test_minerva.json"):
        for k, a in enumerate(r["answer"]):
            yield Gold(f"{r['idx']}/{k}", r["solution"], a.strip())


def rllm_minerva_previous_box() -> dict[str, str]:
    """rLLM minerva rows whose problem text quotes an earlier subproblem's solution with its box
    (``Subproblem 0: ... \\boxed{0.2} ... Subproblem 1: ...``): idx -> that box's answer."""
    out = {}
    for r in read_json("benchmarks/rllm_test_minerva.json"):
        if "\\boxed" in r["problem"]:
            out[str(r["idx"])] = sk.extract_gold(r["problem"])
    return out


def _rllm_olympiad() -> Iterator[Gold]:
    for r in read_json("benchmarks/rllm_test_olympiad_bench.json"):
        ans = olympiad_answer(r["answer"])
        yield Gold(str(r["id"]), ans, strip_math_mode(ans), unit=_unit(r["unit"]))


BENCHMARKS: dict[str, Callable[[], Iterator[Gold]]] = {
    "math500_test.meh.jsonl": _math500,
    "math_full5000_test.meh.jsonl": _math5000,
    "gsm8k_test.openai.jsonl": _gsm8k,
    "mawps_test.qwen25math.jsonl": _mawps,
    "svamp_test.qwen25math.jsonl": _svamp,
    "aqua_test.qwen25math.jsonl": _aqua,
    "logiqa_test.txt": _logiqa,
    "aime24_test.qwen25math.jsonl": _aime24,
    "aime25_test.still3.jsonl": _still3("benchmarks/aime25_test.still3.jsonl"),
    "hmmt_feb2025_test.still3.jsonl": _still3("benchmarks/hmmt_feb2025_test.still3.jsonl"),
    "amc23_test.qwen25math.jsonl": _amc23,
    "minerva_math_test.qwen25math.jsonl": _minerva,
    "olympiadbench_test.qwen25math.jsonl": _olympiadbench,
    "olymmath_EN-EASY.jsonl": _olymmath("benchmarks/olymmath_EN-EASY.jsonl"),
    "olymmath_EN-HARD.jsonl": _olymmath("benchmarks/olymmath_EN-HARD.jsonl"),
    "matharena_aime_2025_I_answers.csv": _matharena("benchmarks/matharena_aime_2025_I_answers.csv"),
    "matharena_aime_2025_II_answers.csv": _matharena("benchmarks/matharena_aime_2025_II_answers.csv"),
    "rllm_test_aime.json": _rllm_aime,
    "rllm_test_amc.json": _rllm_amc,
    "rllm_test_gsm8k.json": _rllm_gsm8k,
    "rllm_test_math.json": _rllm_math,
    "rllm_test_minerva.json": _rllm_minerva,
    "rllm_test_olympiad_bench.json": _rllm_olympiad,
}


@cache
def benchmark(name: str) -> tuple[Gold, ...]:
    """The golds of one benchmark file (a key of :data:`BENCHMARKS`)."""
    return tuple(BENCHMARKS[name]())


# --------------------------------------------------------------------------------------------------------
# Labelled generations.


@dataclass(frozen=True)
class Labelled:
    """One labelled completion: the completion, the gold passed to ``sk.check``, and the set's label."""

    key: str
    completion: str
    gold: str
    label: bool


def gsm8k_gpt3() -> list[Labelled]:
    """OpenAI's GPT-3 GSM8K solutions (4 per problem, ``is_correct`` each). Completions end with
    ``A: N``. The gold is the file's ``ground_truth``: the GSM8K test reference of the same problem with
    its ``#### N`` written ``A: N`` (checked here against the test set, row by row)."""
    tests = read_jsonl("benchmarks/gsm8k_test.openai.jsonl")
    rows = read_jsonl("generations/gsm8k_gpt3_example_model_solutions.jsonl")
    assert len(rows) == len(tests)
    out = []
    for i, (r, t) in enumerate(zip(rows, tests, strict=True)):
        body, ans = t["answer"].rsplit("####", 1)
        assert r["question"] == t["question"], f"row {i}: question differs from the GSM8K test set"
        assert r["ground_truth"] == f"{body}A: {ans.strip()}", f"row {i}: ground_truth is not the test reference"
        for model in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            s = r[model]
            out.append(Labelled(f"{i}/{model}", s["solution"], r["ground_truth"], bool(s["is_correct"])))
    return out


def qwen25math_cot(gold_field: str = "gt") -> list[Labelled]:
    """Qwen2.5-Math's 100 MATH problems x 8 sampled CoT completions (`code`) with `score` labels. The
    labels were computed against `gt`, Qwen's normalized answer (default); `solution` is the MATH
    reference they come from."""
    out = []
    for r in read_jsonl("generations/qwen25math_math_cot_100_8samples.jsonl"):
        for j, (code, score) in enumerate(zip(r["code"], r["score"], strict=True)):
            out.append(Labelled(f"{r['idx']}/{j}", code, r[gold_field], bool(score)))
    return out


def tora_gsm8k(model: str) -> list[Labelled]:
    """ToRA's greedy GSM8K outputs (`code[0]`: a program, its output and a closing sentence). The file has
    no per-item label, so the label is ToRA's own grading of its extracted `pred` against `gt`, rebuilt
    here without stagekit: numbers equal within rel_tol 1e-4, also after scaling `gt` by 1/100 or 100
    (ToRA's `math_equal(..., include_percentage=True)`). These labels reproduce the reported mean score."""
    import math

    def num(s: str) -> float | None:
        try:
            return float(s.replace(",", ""))
        except ValueError:
            return None

    out = []
    for r in read_jsonl(f"generations/tora/{model}_gsm8k_test_greedy.jsonl"):
        p, g = num(str(r["pred"][0])), num(str(r["gt"]))
        label = p is not None and g is not None and any(
            math.isclose(x, p, rel_tol=1e-4) for x in (g / 100, g, g * 100)
        )
        out.append(Labelled(str(r["idx"]), r["code"][0], str(r["gt"]), label))
    return out


def tora_reported_accuracy(model: str) -> float:
    """The `Mean score` ToRA reported for the run (percent)."""
    text = path(f"generations/tora/{model}_gsm8k_test_greedy.metrics").read_text(encoding="utf-8")
    return float(text.split("Mean score:")[1].strip().strip("[]"))


def nemo_skills(seed: int) -> list[Labelled]:
    """NeMo-Skills' test outputs on 50 MATH-train problems (`generation`, `is_correct`, `expected_answer`)."""
    out = []
    for r in read_jsonl(f"generations/nemo_skills_tests/math_train50_output-rs{seed}.jsonl"):
        out.append(Labelled(r["id"], r["generation"], r["expected_answer"], bool(r["is_correct"])))
    return out


# --------------------------------------------------------------------------------------------------------
# Equivalence vectors.


@dataclass(frozen=True)
class Vector:
    key: str
    a: str
    b: str
    expected_equal: bool


def _s(x: Any) -> str:
    return x if isinstance(x, str) else str(x)


def equivalence_vectors(name: str) -> list[Vector]:
    """`equivalence/derived/<name>`: (a, b, expected_equal) tuples; Hendrycks' files name them
    `test_in` / `test_out`. Non-string values (numbers, ``None``) become ``str(value)``."""
    out = []
    for r in read_jsonl(f"equivalence/derived/{name}"):
        a = r["a"] if "a" in r else r["test_in"]
        b = r["b"] if "b" in r else r["test_out"]
        key = f"{r.get('test_function', '?')}:{r.get('line', '?')}"
        out.append(Vector(key, _s(a), _s(b), bool(r["expected_equal"])))
    return out


def mario_annotation() -> list[dict[str, Any]]:
    """MARIO's hand-typed answers of the 5000 MATH test problems, in the order of the full MATH file."""
    return read_json("equivalence/mario_math_testset_annotation.json")

