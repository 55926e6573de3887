"""What a user of the `stagekit` command notices: one spelling of the column options (old ones still work,
with a note), `--help` defaults shown right, `report` described, `verify --label`, output files with the
umask's mode."""

from __future__ import annotations

import json
import os
import re
import stat

import pyarrow.parquet as pq
import pytest

from stagekit import cli
from stagekit.io import new_file_mode, write_table


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ROWS = [
    {"pid": 1, "text": "so \\boxed{4}", "gold": "4", "old": "True"},
    {"pid": 1, "text": "so \\boxed{5}", "gold": "4", "old": "1"},  # the old grader was wrong here
    {"pid": 2, "text": "the answer is 7", "gold": "#### 7", "old": "yes"},
    {"pid": 2, "text": "no idea", "gold": "#### 7", "old": None},
]


def _help(*argv: str) -> None:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])


@pytest.mark.parametrize("command", ["verify", "plan", "report", "run"])
def test_help_shows_each_default_once_and_never_none(command, capsys):
    _help(command)
    out = capsys.readouterr().out
    text = " ".join(out.split())  # argparse wraps lines
    assert "(default: None)" not in text
    assert not re.search(r"default[^()]*\)\s*\(default", text), text
    assert len(out.split("\n\n")) >= 3  # usage, a description, the options
    if command == "report":
        assert "Rebuild report.html of a directory written by stagekit plan, run or eval" in text
    if command in ("verify", "plan"):
        assert "--answer-column" in text and "--completion-column" in text
        assert "--gold" not in text  # the old spellings are hidden


def test_one_spelling_of_the_column_options_and_old_ones_still_work(tmp_path, capsys):
    src = _jsonl(tmp_path / "r.jsonl", ROWS)
    assert cli.main(["verify", str(src), "--completion-column", "text", "--answer-column", "gold"]) == 0
    new = capsys.readouterr()
    assert "correct             2" in new.out and new.err == ""
    assert cli.main(["verify", str(src), "--completion", "text", "--gold", "gold"]) == 0
    old = capsys.readouterr()
    assert old.out.splitlines()[1:] == new.out.splitlines()[1:]
    assert "--completion is deprecated, use --completion-column" in old.err
    assert "--gold is deprecated, use --answer-column" in old.err

    assert cli.main(["plan", str(src), "-o", str(tmp_path / "a"), "--completion-column", "text",
                     "--answer-column", "gold", "--id-column", "pid"]) == 0
    assert cli.main(["plan", str(src), "-o", str(tmp_path / "b"), "--completion", "text", "--gold", "gold",
                     "--problem-id", "pid"]) == 0
    assert "--problem-id is deprecated, use --id-column" in capsys.readouterr().err
    for name in ("stats", "rl", "sft"):
        a = pq.read_table(tmp_path / "a" / "round-0" / f"{name}.parquet")
        b = pq.read_table(tmp_path / "b" / "round-0" / f"{name}.parquet")
        assert a.equals(b), name


def test_verify_label_reports_agreement_confusion_and_disagreements(tmp_path, capsys):
    src = _jsonl(tmp_path / "r.jsonl", ROWS)
    out_path = tmp_path / "v.parquet"
    assert cli.main(["verify", str(src), "--completion-column", "text", "--answer-column", "gold",
                     "--label", "old", "-o", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "agreement with 'old': 2/3 labelled rows (66.7%); 1 rows unlabelled" in out
    assert re.search(r"true\s+2\s+1\n", out) and re.search(r"false\s+0\s+0\n", out)
    assert "disagreement, row 2: old=True, verifier incorrect: gold='4' predicted='5'" in out
    assert pq.read_table(out_path)["agrees"].to_pylist() == [True, False, True, None]


def test_verify_label_names_a_bad_value(tmp_path, capsys):
    src = _jsonl(tmp_path / "r.jsonl", [{**ROWS[0], "old": "maybe"}])
    assert cli.main(["verify", str(src), "--completion-column", "text", "--answer-column", "gold", "--label", "old"]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "'old'" in err and "'maybe'" in err
    assert cli.main(["verify", str(src), "--completion-column", "text", "--answer-column", "gold", "--label", "nope"]) == 2
    assert "missing column 'nope'" in capsys.readouterr().err


def test_verify_reads_trls_solution_spelling(tmp_path, capsys):
    src = _jsonl(tmp_path / "r.jsonl", [{"completion": "\\boxed{7}", "solution": "#### 7"}])
    assert cli.main(["verify", str(src)]) == 0
    assert "correct             1" in capsys.readouterr().out


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_output_files_get_the_umasks_mode(tmp_path, umask, capsys):
    old = os.umask(umask)
    try:
        assert new_file_mode() == 0o666 & ~umask
        for suffix in (".parquet", ".jsonl", ".csv", ".json"):
            p = write_table(__import__("pyarrow").table({"x": [1]}), tmp_path / f"t{suffix}")
            assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, suffix
        src = _jsonl(tmp_path / "r.jsonl", ROWS)
        assert cli.main(["plan", str(src), "-o", str(tmp_path / "run"), "--completion-column", "text",
                         "--answer-column", "gold", "--id-column", "pid"]) == 0
        for f in (tmp_path / "run").rglob("*"):
            if f.is_file():
                assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
    finally:
        os.umask(old)


def test_a_jsonl_column_of_mixed_types_is_named_with_its_lines(tmp_path, capsys):
    src = tmp_path / "m.jsonl"
    src.write_text('{"completion": "1", "answer": "1", "label": true}\n\n{"completion": "2", "answer": "2", "label": "yes"}\n')
    assert cli.main(["verify", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:3: column 'label' holds a string ('yes'), but a boolean at line 1" in err
