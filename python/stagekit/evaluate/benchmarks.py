r"""Benchmark definitions: where a benchmark's problems come from and how they become prompts and golds.

Each built-in :class:`Benchmark` names its prompt template, its answer type, the file it is distributed
as (looked up in a ``--data`` directory), the hub dataset it can be loaded from with ``datasets`` when
online, and one :class:`Fields` layout per source: which columns hold the id, the question (and its
context or options) and the gold, and how the gold is read. :func:`load_benchmark` turns any of them (or a
user's file with its own columns) into the canonical rows every other piece of ``stagekit.evaluate``
takes:

``benchmark`` (string), ``problem_id`` (string: ``<benchmark>/<id>``, or the user's own ids),
``question`` (string: the problem as written, with its context and options), ``prompt`` (string: the
question in the benchmark's template), ``gold`` (string: the answer the verifier compares with),
``solution`` (string or null: a reference solution where the source has one).

>>> b = BENCHMARKS["logiqa"]
>>> b.answer_type, b.files[0], b.hub
('choice', 'logiqa_test.txt', ('lighteval/logiqa_harness', 'logiqa', 'test'))
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from stagekit.io import InputError, read_table

__all__ = [
    "BENCHMARKS",
    "CHOICE_TEMPLATE",
    "MATH_TEMPLATE",
    "Benchmark",
    "BenchmarkRows",
    "Columns",
    "Fields",
    "benchmark_rows",
    "load_benchmark",
    "read_logiqa",
    "render_prompt",
    "user_benchmark",
]

#: The prompt of every math benchmark (Qwen2.5-Math's chain-of-thought instruction, which the benchmark files
#: in this family were distributed with).
MATH_TEMPLATE = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."
#: The prompt of a multiple-choice benchmark: the question, its options as ``A. ...`` lines, the letter boxed.
CHOICE_TEMPLATE = ("{question}\n{options}\nPlease reason step by step, and put the letter of the correct option "
                   "(A, B, C or D) within \\boxed{}.")

#: How a gold value is read: ``text`` as written; ``reference`` through the verifier's gold extraction
#: (``#### 72`` after a GSM8K solution, the last ``\boxed{}`` of a solution, or a bare answer); ``number``
#: a float written plainly (``43.0`` -> ``43``); ``list`` the items joined with ``", "``; ``letter`` a
#: multiple-choice key in capitals.
GOLD_FORMATS = ("text", "reference", "number", "list", "letter")

LETTERS = "ABCD"


@dataclass(frozen=True)
class Fields:
    """One source layout: the columns a benchmark's rows have there."""

    question: tuple[str, ...]
    gold: str
    gold_format: str = "text"
    id: str | None = None
    context: str | None = None  # prepended to the question (a line apart) when present and not null
    options: str | None = None  # multiple choice: a list column of option texts
    solution: str | None = None
    joiner: str = "\n"  # between the question columns

    def __post_init__(self) -> None:
        if self.gold_format not in GOLD_FORMATS:
            raise ValueError(f"gold_format must be one of {GOLD_FORMATS}, got {self.gold_format!r}")

    def required(self) -> list[str]:
        return [*self.question, self.gold, *([self.options] if self.options else [])]

    def fits(self, columns: Sequence[str]) -> bool:
        return all(c in columns for c in self.required())


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: its name, what it measures, how its rows become prompts, where its rows come from."""

    name: str
    description: str
    answer_type: str  # number | math | choice
    layouts: tuple[Fields, ...]  # the local file's layout first, then the hub's
    files: tuple[str, ...] = ()  # file names looked up in a --data directory
    hub: tuple[str, str | None, str] | None = None  # (dataset, config, split) for datasets.load_dataset
    template: str = MATH_TEMPLATE
    reader: str = "table"  # table | logiqa (LogiQA's 8-line text blocks)
    builtin: bool = True

    def __post_init__(self) -> None:
        if self.answer_type not in ("number", "math", "choice"):
            raise ValueError(f"answer_type must be number, math or choice, got {self.answer_type!r}")
        if "{question}" not in self.template:
            raise ValueError(f"benchmark {self.name}: the template has no {{question}} placeholder")

    def with_template(self, template: str | None) -> Benchmark:
        return self if template is None else replace(self, template=template)


#: The built-in benchmarks, by name. Files are those in ``../shared/data/benchmarks`` (public, with
#: provenance in its MANIFEST.jsonl); hub datasets are the ones common evaluation code loads.
BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("gsm8k", "GSM8K test: 1,319 grade-school word problems (openai/grade-school-math)", "number",
                  (Fields(("question",), "answer", "reference", solution="answer"),),
                  ("gsm8k_test.openai.jsonl",), ("openai/gsm8k", "main", "test")),
        Benchmark("gsm8k_platinum", "GSM8K-Platinum: GSM8K test with mislabelled answers revised and ambiguous "
                  "questions removed (1,209); the paper's in-domain benchmark", "number",
                  (Fields(("prompt",), "answer", "text", solution="output"),
                   Fields(("question",), "answer", "reference", solution="answer")),
                  ("gsm8k_platinum_test.trex.jsonl",), ("madrylab/gsm8k-platinum", "main", "test")),
        Benchmark("mawps", "MAWPS: 2,065 arithmetic word problems", "number",
                  (Fields(("input",), "target", "number", id="idx"),), ("mawps_test.qwen25math.jsonl",)),
        Benchmark("svamp", "SVAMP: 1,000 arithmetic word problems with varied structure (body + question)",
                  "number", (Fields(("Body", "Question"), "Answer", "number", id="ID", joiner=" "),),
                  ("svamp_test.qwen25math.jsonl",), ("ChilleD/SVAMP", None, "test")),
        Benchmark("math500", "MATH-500: 500 competition problems (PRM800K's test split of MATH)", "math",
                  (Fields(("problem",), "answer", "text", id="unique_id", solution="solution"),),
                  ("math500_test.meh.jsonl",), ("HuggingFaceH4/MATH-500", None, "test")),
        Benchmark("logiqa", "LogiQA test: 651 logical-reasoning questions, 4-way multiple choice", "choice",
                  (Fields(("question",), "label", "letter", context="context", options="options"),),
                  ("logiqa_test.txt",), ("lighteval/logiqa_harness", "logiqa", "test"),
                  template=CHOICE_TEMPLATE, reader="logiqa"),
        Benchmark("aime24", "AIME 2024 I and II: 30 problems, integer answers", "math",
                  (Fields(("problem",), "answer", "text", id="id", solution="solution"),),
                  ("aime24_test.qwen25math.jsonl",), ("HuggingFaceH4/aime_2024", None, "train")),
        Benchmark("amc23", "AMC 2023: 40 problems", "math",
                  (Fields(("question",), "answer", "number", id="id"),),
                  ("amc23_test.qwen25math.jsonl",), ("math-ai/amc23", None, "test")),
        Benchmark("minerva", "Minerva math (OCWCourses): 272 undergraduate science problems; gold inside the "
                  "solution's \\boxed{}", "math",
                  (Fields(("problem",), "solution", "reference", id="idx", solution="solution"),
                   Fields(("question",), "answer", "text")),
                  ("minerva_math_test.qwen25math.jsonl",), ("math-ai/minervamath", None, "test")),
        Benchmark("olympiadbench", "OlympiadBench (text-only, English, open-ended maths): 675 problems; "
                  "final_answer is a list", "math",
                  (Fields(("question",), "final_answer", "list", id="id", context="context", solution="solution"),),
                  ("olympiadbench_test.qwen25math.jsonl",), ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train")),
    )
}


@dataclass(frozen=True)
class Columns:
    """A user's column names (``--prompt-column``, ``--answer-column``, ``--id-column``); None keeps the
    benchmark's own (for a user's file: ``prompt``, ``answer``, ``problem_id``)."""

    prompt: str | None = None
    answer: str | None = None
    id: str | None = None

    def apply(self, f: Fields) -> Fields:
        out = f
        if self.prompt is not None:
            out = replace(out, question=(self.prompt,), context=None, options=None)
        if self.answer is not None:
            out = replace(out, gold=self.answer, gold_format="reference")
        if self.id is not None:
            out = replace(out, id=self.id)
        return out


@dataclass(frozen=True)
class BenchmarkRows:
    """A loaded benchmark: its definition, its canonical rows and where they came from."""

    benchmark: Benchmark
    rows: pa.Table
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.benchmark.name


def user_benchmark(name: str, *, template: str | None = None, answer_type: str = "math") -> Benchmark:
    """A benchmark for a user's file: columns ``prompt``, ``answer`` (a bare answer or a reference solution)
    and optionally ``problem_id``, renamed with :class:`Columns`."""
    return Benchmark(name, f"user file ({name})", answer_type,
                     (Fields(("prompt",), "answer", "reference", id="problem_id"),),
                     template=template or (CHOICE_TEMPLATE if answer_type == "choice" else MATH_TEMPLATE),
                     builtin=False)


# ------------------------------------------------------------------------------------------------- reading


def read_logiqa(path: str | os.PathLike[str]) -> pa.Table:
    """LogiQA's text file: 8-line blocks (a blank line, the answer letter a-d, the context, the question,
    options ``A.`` to ``D.``) as a table of ``label``, ``context``, ``question`` and ``options`` (a list of
    the four option texts in A-D order, their letters removed). The test file prints 21 blocks' options
    out of order (A, C, B, D; put back in order by their letters) and two with lines whose letter was lost
    in translation (taken by position)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 8:
        raise InputError(f"{p}: {len(lines)} lines, not a whole number of 8-line LogiQA blocks "
                         "(blank, answer letter, context, question, options A-D)")
    rows = []
    for start in range(0, len(lines), 8):
        b = lines[start : start + 8]
        if b[0].strip():
            raise InputError(f"{p}:{start + 1}: a LogiQA block starts with a blank line, found {b[0][:60]!r}")
        label = b[1].strip().lower()
        if label not in ("a", "b", "c", "d"):
            raise InputError(f"{p}:{start + 2}: the answer line must be a letter a-d, found {b[1][:60]!r}")
        split = [_option_letter(o) for o in b[4:8]]
        letters = [x for x, _ in split]
        if sorted(letters, key=str) == list(LETTERS):
            # Some blocks print their options out of order (A, C, B, D): the letters name them.
            options = [body for _, body in sorted(split)]
        else:
            # A few lines lost their letter in translation ("When the land in City A.B ..."): by position.
            options = [body if x == LETTERS[i] else o.strip() for i, ((x, body), o) in enumerate(zip(split, b[4:8], strict=True))]
        rows.append({"label": label, "context": b[2].strip(), "question": b[3].strip(), "options": options})
    if not rows:
        raise InputError(f"{p}: no LogiQA blocks")
    return pa.Table.from_pylist(rows)


def _option_letter(text: str) -> tuple[str | None, str]:
    """``("B", "text")`` for an option line written ``B.text``, ``B) text``, ``B text``; ``(None, text)``
    when it does not start with a letter A-D and a separator."""
    t = text.strip()
    if len(t) > 1 and t[0] in LETTERS and t[1] in ".):? ":
        return t[0], t[2:].strip()
    return None, t


def _hub_offline() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def _from_hub(b: Benchmark) -> tuple[pa.Table, str]:
    hint = f"pass --data with its file ({b.files[0]}) or a directory holding it" if b.files else "pass --data FILE"
    if b.hub is None:
        raise InputError(f"benchmark {b.name}: no hub dataset is built in for it; {hint}")
    path, config, split = b.hub
    where = f"{path}{f' ({config})' if config else ''} split {split}"
    var = _hub_offline()
    if var:
        raise InputError(f"benchmark {b.name}: no --data given, and the hub is offline ({var}={os.environ[var]}), "
                         f"so {where} cannot be downloaded: {hint}")
    try:
        import datasets
    except ImportError:
        raise InputError(f"benchmark {b.name}: loading {where} from the hub needs `datasets` "
                         f"(pip install 'stagekit[trl]'); or {hint}") from None
    from stagekit.transforms import as_table

    try:
        ds = datasets.load_dataset(path, config, split=split)
    except Exception as e:  # noqa: BLE001 - network, auth and schema errors all mean "not available"
        raise InputError(f"benchmark {b.name}: cannot load {where} from the hub ({type(e).__name__}: {e}); {hint}") from None
    return as_table(ds, b.name), f"hub:{path}{f'/{config}' if config else ''}:{split}"


def _read(b: Benchmark, path: Path, columns: Columns = Columns()) -> pa.Table:
    if b.reader == "logiqa" and path.suffix.lower() == ".txt":
        return read_logiqa(path)
    golds = [columns.apply(f).gold for f in b.layouts] + [f.solution for f in b.layouts if f.solution]
    return read_table(path, text=tuple(dict.fromkeys(golds)))  # numbers as written: golds are text


def _locate(b: Benchmark, data: Path) -> Path:
    """The benchmark's file in a directory (its distributed name, or ``<name>.jsonl|.json|.parquet|.csv``)."""
    names = [*b.files, *(f"{b.name}{ext}" for ext in (".jsonl", ".json", ".parquet", ".csv"))]
    for n in names:
        if (data / n).is_file():
            return data / n
    if (data / "state.json").is_file() or (data / "dataset_dict.json").is_file():
        return data  # a saved `datasets` directory
    raise InputError(f"benchmark {b.name}: {data} holds none of {', '.join(names)}")


# ------------------------------------------------------------------------------------------------ building


def _plain_number(v: float | int) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 2**63 else repr(f)


def _gold(value: Any, fmt: str) -> str | None:
    from stagekit.verifier import extract_gold

    if value is None:
        return None
    if isinstance(value, list):
        items = [str(x).strip() for x in value if x is not None]
        return ", ".join(items) if items else None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return _plain_number(value)
    s = str(value)
    if fmt == "reference":
        return extract_gold(s).strip() or None
    if fmt == "number":
        try:
            return _plain_number(float(s))
        except ValueError:
            return s.strip() or None
    if fmt == "letter":
        s = s.strip().strip("()").strip()
        return s.upper() if len(s) == 1 else s
    return s.strip() or None


def _option_lines(options: list[Any] | None) -> str:
    out = []
    for i, o in enumerate(options or []):
        text = str(o).strip()
        letter = LETTERS[i] if i < len(LETTERS) else chr(ord("A") + i)
        # A user's file may print the option's own letter ("A) 5"); it is not printed twice.
        if len(text) > 1 and text[0] == letter and text[1] in ".):":
            text = text[2:].strip()
        out.append(f"{letter}. {text}")
    return "\n".join(out)


def render_prompt(template: str, question: str, options: str = "") -> str:
    """The template with ``{question}`` and ``{options}`` filled in (no other braces are touched, so LaTeX
    like ``\\boxed{}`` may appear in a template as it is).

    >>> render_prompt("Q: {question}\\n{options}\\nBox it: \\\\boxed{}", "1+1?", "A. 2\\nB. 3")
    'Q: 1+1?\\nA. 2\\nB. 3\\nBox it: \\\\boxed{}'
    """
    return template.replace("{options}", options).replace("{question}", question)


def _canonical(b: Benchmark, table: pa.Table, f: Fields, where: str) -> pa.Table:
    rows = table.to_pylist()
    ids, questions, prompts, golds, solutions = [], [], [], [], []
    for i, r in enumerate(rows):
        parts = [r.get(c) for c in f.question]
        if any(p is None for p in parts) or not any(str(p).strip() for p in parts):
            raise InputError(f"{where}: row {i + 1}: no question in column {', '.join(f.question)}")
        q = f.joiner.join(str(p).strip() for p in parts)
        ctx = r.get(f.context) if f.context else None
        if ctx is not None and str(ctx).strip():
            q = f"{str(ctx).strip()}\n{q}"
        options = ""
        if f.options:
            opts = r.get(f.options)
            if not isinstance(opts, list) or not opts:
                raise InputError(f"{where}: row {i + 1}: column {f.options!r} must hold a list of options")
            options = _option_lines(opts)
            q_full = f"{q}\n{options}"
        else:
            q_full = q
        gold = _gold(r.get(f.gold), f.gold_format)
        if gold is None:
            raise InputError(f"{where}: row {i + 1}: no gold answer in column {f.gold!r}")
        raw_id = r.get(f.id) if f.id else None
        if raw_id is None:
            pid = f"{b.name}/{i}"
        elif b.builtin:
            pid = f"{b.name}/{raw_id}"
        else:
            pid = str(raw_id)
        sol = r.get(f.solution) if f.solution else None
        if isinstance(sol, list):
            sol = "\n\n".join(str(x) for x in sol)
        ids.append(pid)
        questions.append(q_full)
        prompts.append(render_prompt(b.template, q, options))
        golds.append(gold)
        solutions.append(None if sol is None else str(sol))
    seen: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen:
            raise InputError(f"{where}: rows {seen[pid] + 1} and {i + 1} have the same id {pid!r} "
                             f"(column {f.id!r}; choose another with --id-column)")
        seen[pid] = i
    return pa.table({
        "benchmark": pa.array([b.name] * len(ids), pa.string()),
        "problem_id": pa.array(ids, pa.string()),
        "question": pa.array(questions, pa.string()),
        "prompt": pa.array(prompts, pa.string()),
        "gold": pa.array(golds, pa.string()),
        "solution": pa.array(solutions, pa.string()),
    })


def _layout(b: Benchmark, table: pa.Table, columns: Columns, where: str) -> Fields:
    candidates = [columns.apply(f) for f in b.layouts]
    for f in candidates:
        if f.fits(table.column_names):
            if f.id is not None and f.id not in table.column_names:
                if columns.id is not None:
                    raise InputError(f"{where}: missing column {f.id!r} (columns: {', '.join(table.column_names)}; "
                                     "choose another with --id-column)")
                f = replace(f, id=None)  # no id column: row numbers
            return f
    f = candidates[0]
    missing = [c for c in f.required() if c not in table.column_names]
    flags = {f.gold: "--answer-column", **{c: "--prompt-column" for c in f.question}}
    hint = ", ".join(sorted({flags.get(c, "--prompt-column") for c in missing}))
    also = "".join(f"; or the layout {', '.join(g.required())}" for g in candidates[1:])
    raise InputError(f"{where}: benchmark {b.name} needs column{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(repr(c) for c in missing)}{also} (columns: {', '.join(table.column_names) or '(none)'}; "
                     f"map yours with {hint})")


def _unknown(name: str) -> InputError:
    close = difflib.get_close_matches(name, list(BENCHMARKS), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return InputError(f"unknown benchmark {name!r}{hint}: built in are {', '.join(BENCHMARKS)}; "
                      "or evaluate your own file with --data FILE and the column options")


def load_benchmark(
    benchmark: str | Benchmark,
    data: str | os.PathLike[str] | None = None,
    *,
    columns: Columns = Columns(),
    template: str | None = None,
    limit: int | None = None,
) -> BenchmarkRows:
    """The canonical rows of a benchmark (see the module docstring).

    ``benchmark`` is a built-in name (:data:`BENCHMARKS`) or a :class:`Benchmark` (e.g. from
    :func:`user_benchmark`). ``data`` is its file (JSONL, JSON, Parquet, CSV, LogiQA's text file, a saved
    `datasets` directory) or a directory holding the benchmark's file under its distributed name; without
    ``data`` the hub dataset is loaded with ``datasets`` (an offline hub, ``HF_HUB_OFFLINE=1``, is an
    error saying so). ``columns`` maps the user's columns; ``template`` replaces the prompt template
    (``{question}``, and ``{options}`` for multiple choice); ``limit`` keeps the first rows.
    Bad input raises :class:`stagekit.io.InputError` naming the benchmark, the file, the row or the column.
    """
    if isinstance(benchmark, str):
        if benchmark not in BENCHMARKS:
            raise _unknown(benchmark)
        b = BENCHMARKS[benchmark]
    else:
        b = benchmark
    b = b.with_template(template)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    if data is None:
        table, source = _from_hub(b)
        path = None
    else:
        p = Path(data)
        if not p.exists():
            raise InputError(f"benchmark {b.name}: {p}: no such file or directory")
        path = _locate(b, p) if p.is_dir() else p
        table = _read(b, path, columns)
        source = str(path)
    out = benchmark_rows(b, table, columns=columns, limit=limit, source=source)
    if path is not None and path.is_file():
        from stagekit.io import sha256_file

        out.meta["sha256"] = sha256_file(path)
    return out


def benchmark_rows(
    benchmark: Benchmark,
    table: Any,
    *,
    columns: Columns = Columns(),
    limit: int | None = None,
    source: str = "table",
) -> BenchmarkRows:
    """The canonical rows of a benchmark from a table already in memory (a ``pyarrow.Table``, a
    ``datasets.Dataset``, polars, pandas, a dict of columns), laid out as one of the benchmark's
    :class:`Fields` (after ``columns``). E.g. a held-out draw of problems with ``prompt`` and ``answer``:
    ``benchmark_rows(user_benchmark("heldout", template="{question}"), table)``.

    >>> import pyarrow as pa
    >>> t = pa.table({"prompt": ["What is 2 + 3?"], "answer": ["5"]})
    >>> benchmark_rows(user_benchmark("tiny", template="{question}"), t).rows.select(["problem_id", "prompt", "gold"]).to_pylist()
    [{'problem_id': 'tiny/0', 'prompt': 'What is 2 + 3?', 'gold': '5'}]
    """
    from stagekit.transforms import as_table

    b = benchmark
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    table = as_table(table, b.name)
    where = f"{source} (benchmark {b.name})"
    if table.num_rows == 0:
        raise InputError(f"{where}: no rows")
    f = _layout(b, table, columns, where)
    meta: dict[str, Any] = {"columns": f.required(), "rows_in_source": table.num_rows}
    if limit is not None:
        table = table.slice(0, limit)
    return BenchmarkRows(b, _canonical(b, table, f, where), source, meta)
