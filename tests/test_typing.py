"""pyright and mypy pass over the package, over the README's examples, and strictly over every public
``sk.*`` name; a misspelt keyword or name is an error for both (so these checks can fail).

The tools come with the ``dev`` extra (CI installs it); without one, its tests skip and say so. Their
settings are in pyproject.toml (``[tool.pyright]``, ``[tool.mypy]``); ``typings/`` makes pyarrow and the
heavy extras ``Any`` for pyright, as mypy's ``ignore_missing_imports`` / ``follow_imports = "skip"`` do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stagekit as sk
import stagekit.generate as skgen
from test_readme import ALL as README_BLOCKS

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _tool(name: str) -> str:
    # the interpreter's own scripts first: CI runs .venv/bin/python -m pytest without .venv/bin on PATH
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.is_file() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install 'stagekit[dev]' installs it; CI runs it)")
    return path


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "python"), MYPYPATH=str(ROOT / "python"))


def pyright(*files: Path) -> tuple[int, str]:
    r = subprocess.run([_tool("pyright"), "-p", str(PYPROJECT), "--pythonpath", sys.executable, *map(str, files)],
                       cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def mypy(*args: str) -> tuple[int, str]:
    r = subprocess.run([_tool("mypy"), "--config-file", str(PYPROJECT), *args], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def _readme_files(tmp_path: Path) -> list[Path]:
    files = []
    for i, b in enumerate(x for x in README_BLOCKS if x.lang == "python"):
        f = tmp_path / f"readme_block_{i}.py"
        f.write_text(f"# {b.id}\n{b.code}")
        files.append(f)
    assert len(files) >= 4
    return files


def _public_api_file(tmp_path: Path) -> Path:
    """Every public name, read in a strict file: a name whose type is unknown (or missing) is an error."""
    lines = ["# pyright: strict", "import stagekit as sk", "import stagekit.generate as skgen", ""]
    lines += [f"sk_{n.strip('_')} = sk.{n}" for n in sk.__all__]
    lines += [f"gen_{n} = skgen.{n}" for n in skgen.__all__]
    f = tmp_path / "public_api.py"
    f.write_text("\n".join(lines) + "\n")
    return f


MISTAKES = '''import stagekit as sk
import pyarrow as pa
from stagekit.ladder import SimulatedStudent, make_ladder

t = pa.table({"completion": ["x"], "answer": ["1"]})
sk.score(t, completon="completion")  # ERROR: misspelt keyword
sk.pass_rates(t, k=(1, 4), confidance=0.9)  # ERROR: misspelt keyword
sk.generate(t, SimulatedStudent(make_ladder(2)), nn=8)  # ERROR: misspelt keyword of the callable module
sk.scroe(t)  # ERROR: misspelt name
sk.verify("x", 1)  # ERROR: a gold must be a string
sk.default_model("x", "y")  # ERROR: too many arguments
sk.to_sft(t, format="messages", keep=["a"], target_format="boxed", sytem="s")  # ERROR: misspelt keyword
'''


def _error_lines(output: str, name: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(rf"{re.escape(name)}:(\d+)(?::\d+)?(?::| -) error", output)}


def test_public_names_are_declared_for_type_checkers():
    # the lazy names (PEP 562) are the names __init__ declares under TYPE_CHECKING and lists in __all__
    init = (ROOT / "python/stagekit/__init__.py").read_text()
    block = init.split("if TYPE_CHECKING:", 1)[1].split("\n\n")[0]
    declared = set(re.findall(r"import \w+ as (\w+)\b", block))
    lazy = {*sk._TRANSFORMS, *sk._LAZY_MODULES, "default_model"}  # noqa: SLF001 (the module's own tables)
    assert lazy == declared, (lazy ^ declared)
    assert set(sk.__all__) >= lazy
    for name in sk.__all__:
        assert getattr(sk, name) is not None, name
    assert (ROOT / "python/stagekit/py.typed").is_file()  # shipped: maturin packs every file of python/stagekit


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """One pyright run and one mypy run over the package, the README's examples, the public-surface file
    and the file of mistakes (each tool's start-up dominates: run once)."""
    tmp = tmp_path_factory.mktemp("typing")
    files = [*_readme_files(tmp), _public_api_file(tmp)]
    mistakes = tmp / "mistakes.py"
    mistakes.write_text(MISTAKES)
    return {
        "pyright": pyright(ROOT / "python" / "stagekit", *files, mistakes),
        "mypy": mypy(str(ROOT / "python" / "stagekit"), *map(str, files), str(mistakes)),
    }


def _errors_outside_mistakes(out: str) -> list[str]:
    return [line for line in out.split("\n") if re.search(r"(:| -) error", line) and "mistakes.py" not in line]


@pytest.mark.parametrize("tool", ["pyright", "mypy"])
def test_the_package_readme_examples_and_public_surface_pass(checked, tool):
    _, out = checked[tool]
    assert not _errors_outside_mistakes(out), out


@pytest.mark.parametrize("tool", ["pyright", "mypy"])
def test_mistakes_are_errors(checked, tool):
    code, out = checked[tool]
    want = {i for i, line in enumerate(MISTAKES.split("\n"), 1) if "# ERROR" in line}
    assert _error_lines(out, "mistakes.py") == want, out
    assert code != 0
