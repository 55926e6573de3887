"""The CLI on hostile input: every subcommand on every kind of bad input file, option and output path.

Each case checks the exit code (2: bad input; 0 where the input is merely unusual and must simply work, such
as numeric gold answers), that the message names the file (and the line or column where there is one), that
there is no traceback, and that no existing file changed and no file appeared (the tree is hashed before
and after)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stagekit.cli import main

GOOD = [{"problem_id": f"p{i // 2}", "prompt": f"What is {i // 2} + 1?", "completion": f"so \\boxed{{{i // 2 + (i % 2)}}}",
         "answer": str(i // 2 + 1)} for i in range(8)]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _parquet_bytes(records: list[dict], *, rows: int | None = None) -> bytes:
    """A Parquet file of ``records`` (its first ``rows`` of them: 0 makes a file with a schema and no rows)."""
    table = pa.Table.from_pylist(records)
    sink = io.BytesIO()
    pq.write_table(table if rows is None else table.slice(0, rows), sink)
    return sink.getvalue()


def _csv(rows: list[dict]) -> str:
    cols = list(rows[0])
    return ",".join(cols) + "\n" + "".join(",".join(json.dumps(str(r[c])) for c in cols) + "\n" for r in rows)


PROBLEMS = [{"problem_id": f"p{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1),
             "solution": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(4)]

Rows = list[dict]


def _write(make: Callable[[Rows], str | bytes]) -> Callable[[Path, Rows], None]:
    def build(p: Path, rows: Rows) -> None:
        data = make(rows)
        if isinstance(data, str):
            p.write_text(data, encoding="utf-8")
        else:
            p.write_bytes(data)

    return build


def _big_jsonl_with_bad_line(p: Path, rows: Rows) -> None:
    lines = [json.dumps({**rows[i % len(rows)], "problem_id": f"p{i}"}) for i in range(40_000)]
    lines[31_336] = lines[31_336][:-5]  # line 31337: cut inside the object
    p.write_text("\n".join(lines) + "\n")


def _fifo(p: Path, rows: Rows) -> None:
    os.mkfifo(p)


def _device(p: Path, rows: Rows) -> None:
    p.symlink_to("/dev/zero")


def _bad_footer(rows: Rows) -> bytes:
    data = bytearray(_parquet_bytes(rows))
    data[-8:-4] = b"\xff\xff\xff\x7f"  # the footer's length: past the start of the file
    return bytes(data)


def _int_answers(rows: Rows) -> Rows:
    return [{**r, "answer": int(r["answer"])} for r in rows]


def _bad_utf8(rows: Rows) -> bytes:
    bad = json.dumps({**rows[0], "problem_id": "p9", "prompt": "x"}).encode().replace(b'"x"', b'"\xff\xfe"')
    return _jsonl(rows[:2]).encode() + bad + b"\n" + _jsonl(rows[2:]).encode()


# name -> (file name, builder(path, rows), exit code, fragments the message must hold ({f}: the file, {n}: the
# last line), exit code when the file is a problems file (None: the same))
BAD_INPUTS: dict[str, tuple[str, Callable[[Path, Rows], None], int, tuple[str, ...], int | None]] = {
    # numbers as gold answers simply work (cast to text)
    "integer answers (JSONL)": ("r.jsonl", _write(lambda rows: _jsonl(_int_answers(rows))), 0, (), None),
    "integer answers (CSV)": ("r.csv", _write(_csv), 0, (), None),
    "mixed int/str answers (JSONL)": ("r.jsonl", _write(lambda rows: _jsonl([{**r, "answer": int(r["answer"]) if i % 2
                                                                              else r["answer"]} for i, r in enumerate(rows)])),
                                      0, (), None),
    "integer answers (Parquet)": ("r.parquet", _write(lambda rows: _parquet_bytes(_int_answers(rows))), 0, (), None),
    # bad files
    "missing file": ("nope.jsonl", lambda p, rows: None, 2, ("{f}", "no such file"), None),
    "unknown suffix": ("r.txt", _write(_jsonl), 2, ("{f}", "unknown file format"), None),
    "mixed types in another column": ("r.jsonl", _write(lambda rows: _jsonl([{**r, "score": 1 if i != 2 else "high"}
                                                                             for i, r in enumerate(rows)])),
                                      2, ("{f}:3", "score"), None),
    "completion not text": ("r.jsonl", _write(lambda rows: _jsonl([{**r, "completion": [1, 2]} for r in rows])), 2,
                            ("{f}", "completion"), 0),
    "invalid UTF-8 (JSONL)": ("r.jsonl", _write(_bad_utf8), 2, ("{f}:3", "UTF-8"), None),
    "invalid UTF-8 (CSV)": ("r.csv", _write(lambda rows: _csv(rows[:2]).encode() + b'"p9"' + b',"\xff\xfe"' * (len(rows[0]) - 1)
                                            + b"\n"), 2, ("{f}:4", "UTF-8"), None),
    "empty JSONL": ("r.jsonl", _write(lambda rows: ""), 2, ("{f}", "empty"), None),
    "blank JSONL": ("r.jsonl", _write(lambda rows: "\n  \n\n"), 2, ("{f}", "no rows"), None),
    "empty CSV": ("r.csv", _write(lambda rows: ""), 2, ("{f}", "empty"), None),
    "CSV header only": ("r.csv", _write(lambda rows: ",".join(rows[0]) + "\n"), 2, ("{f}", "no rows"), None),
    "CSV row with too many fields": ("r.csv", _write(lambda rows: _csv(rows[:3]) + '"p9"' + ',"x"' * len(rows[0]) + "\n"
                                                     + _csv(rows[:2]).split("\n", 1)[1]), 2, ("{f}:5",), None),
    "CSV unterminated quote": ("r.csv", _write(lambda rows: _csv(rows[:3]) + '"p9","x,"y\n'), 2, ("{f}",), None),
    "empty Parquet": ("r.parquet", _write(lambda rows: b""), 2, ("{f}", "empty"), None),
    "Parquet without rows": ("r.parquet", _write(lambda rows: _parquet_bytes(rows, rows=0)), 2, ("{f}", "no rows"), None),
    "truncated Parquet": ("r.parquet", _write(lambda rows: _parquet_bytes(rows)[: len(_parquet_bytes(rows)) // 2]), 2,
                          ("{f}", "Parquet"), None),
    "corrupt Parquet footer": ("r.parquet", _write(_bad_footer), 2, ("{f}", "Parquet"), None),
    "not Parquet at all": ("r.parquet", _write(_jsonl), 2, ("{f}", "Parquet"), None),
    "JSON list that is not a list": ("r.json", _write(lambda rows: '{"a": 1}'), 2, ("{f}",), None),
    "JSON list truncated": ("r.json", _write(lambda rows: json.dumps(rows)[:-10]), 2, ("{f}",), None),
    "a FIFO": ("r.jsonl", _fifo, 2, ("{f}", "not a regular file"), None),
    "a symlink to a device": ("r.jsonl", _device, 2, ("{f}", "not a regular file"), None),
    "a line that is not an object": ("r.jsonl", _write(lambda rows: _jsonl(rows[:3]) + "[1, 2]\n" + _jsonl(rows[3:])), 2,
                                     ("{f}:4", "object"), None),
    "file ending mid-line": ("r.jsonl", _write(lambda rows: _jsonl(rows) + '{"problem_id": "p9", "completion": "\\\\box'),
                             2, ("{f}:{n}", "invalid JSON"), None),
    "bad line in the middle of a large JSONL": ("r.jsonl", _big_jsonl_with_bad_line, 2, ("{f}:31337", "invalid JSON"),
                                                None),
    "an empty directory": ("d", lambda p, rows: p.mkdir(), 2, ("{f}",), None),
    "missing column": ("r.jsonl", _write(lambda rows: _jsonl([{k: v for k, v in r.items() if k != "completion"}
                                                              for r in rows])), 2, ("{f}", "'completion'"), 0),
    "duplicate problem ids": ("r.jsonl", _write(lambda rows: _jsonl(rows + rows[:1])), 0, (), 2),
}


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink() or not p.is_file():
                out[rel] = "dir" if p.is_dir() and not p.is_symlink() else "special"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class _NoGenerator:
    """A generator factory that must not be called: bad input stops a run before any sampling."""

    def __call__(self, *a: object) -> None:
        raise AssertionError("a generator was built for bad input")


def _stand_in(tmp: Path) -> object:
    from stand_in import StandInFactory

    problems = pa.table({"problem_id": [f"p{i}" for i in range(4)], "prompt": [f"What is {i} + 1?" for i in range(4)],
                         "answer": [str(i + 1) for i in range(4)]})
    return StandInFactory(problems)


def _cli(argv: list[str], factory: object = None) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv, generator_factory=factory)
        except SystemExit as e:  # argparse refusing an option
            code = int(e.code or 0)
    return code, err.getvalue()


def _commands(f: Path, tmp: Path) -> dict[str, list[str]]:
    good = tmp / "good.jsonl"
    out = tmp / "out"
    return {
        "verify": ["verify", str(f)],
        "verify -o": ["verify", str(f), "-o", str(tmp / "verdicts.parquet")],
        "plan": ["plan", str(f), "-o", str(out)],
        "plan --problems": ["plan", str(good), "--problems", str(f), "-o", str(out)],
        "run --rollouts": ["run", "--no-train", "--no-progress", "--rollouts", str(f), "--out", str(out)],
        "run --problems": ["run", "--no-train", "--no-progress", "--rollouts", str(good), "--problems", str(f),
                           "--out", str(out)],
        "eval --data": ["eval", "--data", str(f), "--prompt-column", "prompt", "--answer-column", "answer",
                        "--id-column", "problem_id", "--k", "1", "--no-progress", "--model", "stand-in", "--out", str(out)],
    }


@pytest.mark.parametrize("command", ["verify", "verify -o", "plan", "plan --problems", "run --rollouts", "run --problems",
                                     "eval --data"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_files(tmp_path, case, command):
    name, build, code, fragments, problems_code = BAD_INPUTS[case]
    is_problems = command.endswith(("--problems", "--data"))
    if is_problems and problems_code is not None:
        code = problems_code
    rows = PROBLEMS if is_problems else GOOD
    f = tmp_path / name
    build(f, rows)
    (tmp_path / "good.jsonl").write_text(_jsonl(GOOD))
    argv = _commands(f, tmp_path)[command]
    before = _tree(tmp_path)
    factory = _stand_in(tmp_path) if code == 0 else _NoGenerator()
    got, err = _cli(argv, factory)
    assert "Traceback" not in err
    assert got == code, (got, err)
    if code == 0:
        return
    if case == "duplicate problem ids":
        fragments = ("{f}", "'p0'")
    for frag in fragments:
        frag = frag.format(f=f, n=len(rows) + 1)
        assert frag in err, (frag, err)
    assert _tree(tmp_path) == before  # nothing changed, nothing new


# ------------------------------------------------------------------------------------------------ output paths


def _unwritable_dir(tmp: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp / "ro"
        d.mkdir()
        d.chmod(0o555)
        return d
    if os.access("/sys", os.W_OK) and Path("/sys").stat().st_mode & 0o222 and _can_create("/sys"):
        pytest.skip("no unwritable directory for root here")
    return Path("/sys")


def _can_create(d: str) -> bool:
    try:
        Path(d, ".stagekit-probe").touch()
    except OSError:
        return False
    Path(d, ".stagekit-probe").unlink()
    return True


@pytest.mark.parametrize("where", ["unwritable directory", "under a file", "on a directory", "on a file"])
@pytest.mark.parametrize("command", ["verify -o", "plan -o", "run --out"])
def test_bad_output_paths(tmp_path, where, command):
    good = tmp_path / "good.jsonl"
    good.write_text(_jsonl(GOOD))
    (tmp_path / "a-file.txt").write_text("mine")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-dir" / "keep.txt").write_text("mine")
    base = {"unwritable directory": _unwritable_dir(tmp_path) / "stagekit-out", "under a file": tmp_path / "a-file.txt" / "out",
            "on a directory": tmp_path / "a-dir", "on a file": tmp_path / "a-file.txt"}[where]
    if command == "verify -o":
        target = base if where in ("on a directory", "on a file") else base.with_suffix(".parquet")
        if where == "on a file":
            return  # verify -o replaces a file on purpose (atomically): not an error
        argv = ["verify", str(good), "-o", str(target)]
    elif command == "plan -o":
        target = base
        argv = ["plan", str(good), "-o", str(target)]
    else:
        target = base
        argv = ["run", "--no-train", "--no-progress", "--rollouts", str(good), "--out", str(target)]
    before = _tree(tmp_path)
    got, err = _cli(argv, _NoGenerator())
    assert "Traceback" not in err
    assert got == 2, (got, err)
    assert str(target) in err or str(target.parent) in err, err
    assert _tree(tmp_path) == before


def test_verify_output_replaces_a_file_atomically(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(_jsonl(GOOD))
    out = tmp_path / "v.jsonl"
    out.write_text("old\n")
    out.chmod(0o644)
    assert _cli(["verify", str(good), "-o", str(out)])[0] == 0
    assert len(out.read_text().splitlines()) == len(GOOD) and out.stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize("k, fragment", [("0", "k"), ("1,0", "k"), ("-2", "k"), ("", "k"), ("a", "k")])
def test_bad_k(tmp_path, k, fragment):
    good = tmp_path / "good.jsonl"
    good.write_text(_jsonl(GOOD))
    before = _tree(tmp_path)
    for argv in (["plan", str(good), "-o", str(tmp_path / "out"), "--k", k],
                 ["run", "--no-train", "--no-progress", "--rollouts", str(good), "--out", str(tmp_path / "out"), "--k", k]):
        got, err = _cli(argv, _NoGenerator())
        assert "Traceback" not in err
        assert got == 2 and fragment in err, (argv, got, err)
    assert _tree(tmp_path) == before


# ------------------------------------------------------------------------------------------------ report


def _planned(tmp: Path) -> Path:
    good = tmp / "good.jsonl"
    good.write_text(_jsonl(GOOD))
    assert _cli(["plan", str(good), "-o", str(tmp / "run")])[0] == 0
    return tmp / "run"


def _set(manifest: Path, fn: Callable[[dict], object]) -> None:
    d = json.loads(manifest.read_text())
    fn(d)
    manifest.write_text(json.dumps(d))


REPORT_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated manifest": (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:100]),
                           ("manifest.json",)),
    "manifest not an object": (lambda d: (d / "manifest.json").write_text("[1, 2]"), ("manifest.json",)),
    "manifest empty": (lambda d: (d / "manifest.json").write_text(""), ("manifest.json",)),
    "manifest invalid UTF-8": (lambda d: (d / "manifest.json").write_bytes(b'{"command": "\xff"}'), ("manifest.json",)),
    "steps of the wrong type": (lambda d: _set(d / "manifest.json", lambda m: m.update(steps=[1, 2])), ("manifest.json",)),
    "rounds of the wrong type": (lambda d: _set(d / "manifest.json", lambda m: m.update(rounds={"a": 1})),
                                 ("manifest.json",)),
    "a round without a number": (lambda d: _set(d / "manifest.json", lambda m: m["rounds"][0].pop("round")),
                                 ("manifest.json",)),
    "a newer schema": (lambda d: _set(d / "manifest.json", lambda m: m.update(schema_version=99)), ("newer",)),
    "schema version not a number": (lambda d: _set(d / "manifest.json", lambda m: m.update(schema_version="x")),
                                    ("manifest.json",)),
    "a table removed": (lambda d: (d / "round-0" / "stats.parquet").unlink(), ("stats", "round-0/plan")),
    "a table replaced": (lambda d: pq.write_table(pa.table({"problem_id": ["x"]}), d / "round-0" / "stats.parquet"),
                         ("stats", "round-0/plan")),
    "a table corrupt": (lambda d: (d / "round-0" / "sft.parquet").write_bytes(b"PAR1 not really"), ("sft", "round-0/plan")),
    "no manifest": (lambda d: (d / "manifest.json").unlink(), ("not a stagekit run directory",)),
    "not a directory": (lambda d: None, ("no such",)),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_report_on_a_damaged_run_directory(tmp_path, case):
    d = _planned(tmp_path)
    (d / "report.html").unlink()
    spoil, fragments = REPORT_CASES[case]
    spoil(d)
    target = tmp_path / "missing-dir" if case == "not a directory" else d
    before = _tree(tmp_path)
    got, err = _cli(["report", str(target)])
    assert "Traceback" not in err
    assert got == 2, (got, err)
    assert str(target) in err, err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert _tree(tmp_path) == before
