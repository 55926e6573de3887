"""Every code block of the README runs as written.

Each fenced block is one of:
- ```python: run in a fresh interpreter, in an empty directory (``<!-- readme: slow (why) -->`` before it
  moves it to the slow tests);
- ```console: each ``$ command`` is run (in a directory holding the input files the text before the block
  describes) and the lines after it are its expected output (timings aside);
- marked ``<!-- readme: output of COMMAND -->``: every line of the block appears, in order, in COMMAND's
  output (the README may leave lines out);
- marked ``<!-- readme: not run (why) -->``: illustrative; the set is kept small (checked below).

An unmarked block of any other kind fails the test, so a new block is either run or marked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import realdata

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme:\s*(slow|not run|output of)\b\s*(.*?)\s*-->")
#: the blocks not run: file listings and outputs of multi-minute runs (among them a run summary's held-out
#: lines), and two lists of commands that each run for minutes (some on a GPU, a server or a cluster); see
#: test_every_block_is_run_or_marked...
MAX_NOT_RUN = 8


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None  # slow | not run | output of
    detail: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang or 'plain'}"


def blocks(text: str | None = None) -> list[Block]:
    lines = (text if text is not None else README.read_text(encoding="utf-8")).split("\n")
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j] != "```":
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mk = MARKER.search(lines[k]) if k >= 0 else None
        out.append(Block(i + 1, m.group(1), "\n".join(lines[i + 1 : j]) + "\n", mk.group(1) if mk else None,
                         mk.group(2).strip(" ()") if mk else ""))
        i = j + 1
    return out


ALL = blocks()


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "python"),
               TOKENIZERS_PARALLELISM="false", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0")
    return env


def _run_python(code: str, cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


# Checks appended to a block: what the text around it claims of its result.
CLAIMS = {
    "cft = sk.cft_records(failed)": (
        "\nimport warnings\n"
        "assert sorted(set(cft['kind'].to_pylist())) == ['diagnosis', 'new_trace', 'repair'], cft['kind'].to_pylist()\n"
        "assert sft_bridge.num_rows > 0 and stats.num_rows == 28 and 'pass@8' not in stats.column_names\n"
        "assert all('\\\\boxed{' in m[1]['content'] for m in sft_ds['messages'].to_pylist())\n"
    ),
    "rollouts = pq.read_table(\"rollouts.parquet\")": (
        "\nassert rollouts.num_rows == 112 and len(sk.verify_batch(rollouts['completion'], rollouts['answer'])) == 112\n"
    ),
}


def _python_params(slow: bool) -> list:
    return [pytest.param(b, id=b.id) for b in ALL if b.lang == "python" and (b.marker == "slow") == slow]


def _workdir(block: Block, tmp_path: Path) -> Path:
    """An empty directory to run a block in, next to a ``shared`` link to the real data (the README's
    ``../shared/data`` is the data next to the checkout)."""
    work = tmp_path / "work"
    work.mkdir()
    if "../shared" in block.code:
        if realdata.missing_reason() is not None:
            pytest.skip(str(realdata.missing_reason()))
        (tmp_path / "shared").symlink_to(realdata.data_dir().parent, target_is_directory=True)
    return work


def _check_python(block: Block, tmp_path: Path, timeout: int) -> None:
    assert block.marker in (None, "slow"), f"{block.id}: a python block is run or marked slow"
    code = block.code + "".join(extra for key, extra in CLAIMS.items() if key in block.code)
    r = _run_python(code, _workdir(block, tmp_path), timeout)
    assert r.returncode == 0, f"{block.id} failed:\n{r.stderr[-4000:]}"


@pytest.mark.parametrize("block", _python_params(slow=False))
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    _check_python(block, tmp_path, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("block", _python_params(slow=True))
def test_slow_python_block_runs(block: Block, tmp_path: Path) -> None:
    _check_python(block, tmp_path, timeout=900)


def _gsm8k_plan_inputs(cwd: Path) -> None:
    """The plan example's inputs, as the README describes them: the GSM8K test set with four GPT-3 solutions
    per problem, one row per completion (`problem_id`, `completion`, `answer` = the reference solution), and
    `problems.jsonl` (`problem_id`, `prompt`, `solution`)."""
    rows = realdata.read_jsonl("generations/gsm8k_gpt3_example_model_solutions.jsonl")
    test = realdata.read_jsonl("benchmarks/gsm8k_test.openai.jsonl")
    models = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
    with (cwd / "rollouts.jsonl").open("w") as f:
        for i, r in enumerate(rows):
            for m in models:
                f.write(json.dumps({"problem_id": i, "completion": r[m]["solution"], "answer": test[i]["answer"]}) + "\n")
    with (cwd / "problems.jsonl").open("w") as f:
        for i, t in enumerate(test):
            f.write(json.dumps({"problem_id": i, "prompt": t["question"], "solution": t["answer"]}) + "\n")


def _no_timings(text: str) -> str:
    return re.sub(r"in [0-9.]+ (m?s)\b", r"in N \1", text).strip()


@pytest.mark.skipif(realdata.missing_reason() is not None, reason=str(realdata.missing_reason()))
@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in ALL if b.lang == "console"])
def test_console_block_runs_and_prints_what_it_shows(block: Block, tmp_path: Path) -> None:
    _gsm8k_plan_inputs(tmp_path)
    steps: list[tuple[str, list[str]]] = []
    for line in block.code.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"{block.id}: output before the first $ command"
            steps[-1][1].append(line)
    assert steps
    for command, expected in steps:
        argv = shlex.split(command)
        assert argv[0] == "stagekit", f"{block.id}: only stagekit commands are run ({command!r})"
        r = subprocess.run([sys.executable, "-m", "stagekit", *argv[1:]], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{command}: {r.stderr[-2000:]}"
        assert _no_timings(r.stdout) == _no_timings("\n".join(expected)), command


@pytest.mark.skipif(realdata.missing_reason() is not None, reason=str(realdata.missing_reason()))
@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in ALL if b.marker == "output of"])
def test_output_block_is_what_the_command_prints(block: Block) -> None:
    argv = shlex.split(block.detail)
    assert argv[0] == "python", f"{block.id}: only python scripts are run ({block.detail!r})"
    r = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = [line.rstrip() for line in r.stdout.split("\n")]
    pos = 0
    for line in block.code.rstrip("\n").split("\n"):
        try:
            pos = got.index(line.rstrip(), pos) + 1
        except ValueError:
            pytest.fail(f"{block.id}: {line!r} is not printed by {block.detail} (in this order)")


def test_every_block_is_run_or_marked_and_few_are_not_run() -> None:
    runnable = {"python", "console"}
    unmarked = [b.id for b in ALL if b.lang not in runnable and b.marker is None]
    assert not unmarked, f"blocks neither run nor marked (<!-- readme: not run (why) -->): {unmarked}"
    not_run = [b for b in ALL if b.marker == "not run"]
    assert all(b.detail for b in not_run), "a block that is not run says why"
    assert len(not_run) <= MAX_NOT_RUN, [b.id for b in not_run]
    assert not [b.id for b in ALL if b.lang in runnable and b.marker == "not run"], "code blocks are run"


def test_the_block_parser_reads_markers() -> None:
    text = "x\n<!-- readme: not run (a tree) -->\n\n```text\na\n```\n```python\nprint(1)\n```\n"
    got = blocks(text)
    assert [(b.lang, b.marker, b.detail, b.code) for b in got] == [
        ("text", "not run", "a tree", "a\n"), ("python", None, "", "print(1)\n")]
