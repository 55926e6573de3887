r"""The nesting matrix: every construct nested 300 / 3,000 / 30,000 deep through every entry point.

Shared by ``tests/test_nesting.py`` (no crash, a valid result, a generous time bound) and
``benches/bench_nesting.py`` (the real worst times). :func:`main` runs in a subprocess, so a crash (a stack
overflow is a signal, not an exception) is seen as the process's exit status; it prints one line per call
*before* making it, so the last line names the call that crashed.

    python tests/nesting.py --depths 300,3000 --stack-kib 64    # one process, one mode
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator

#: construct name -> (opening, closing) around the innermost `1`.
CONSTRUCTS: dict[str, tuple[str, str]] = {
    "text": ("\\text{", "}"),
    "mathrm": ("\\mathrm{", "}"),
    "textbf": ("\\textbf{", "}"),
    "operatorname": ("\\operatorname{", "}"),
    "rm": ("\\rm{", "}"),
    "frac": ("\\frac{", "}{2}"),
    "sqrt": ("\\sqrt{", "}"),
    "left": ("\\left(", "\\right)"),
    "paren": ("(", ")"),
    "bracket": ("[", "]"),
    "brace": ("{", "}"),
    "sup": ("x^{", "}"),
    "sub": ("x_{", "}"),
    "boxed": ("\\boxed{", "}"),
    "fbox": ("\\fbox{", "}"),
    "pmatrix": ("\\begin{pmatrix}", "\\end{pmatrix}"),
    "hat": ("\\hat{", "}"),
    "minus": ("-", ""),
    "pm": ("\\pm", ""),
    # Mixed: a tuple in a set in a fraction, and a unit after a number at every level.
    "tuple": ("(1,", ")"),
    "set": ("\\{1,", "\\}"),
    "unit": ("1\\text{a ", "}"),
    "dots": ("\\text{or.", "}"),
}

DEPTHS = (300, 3000, 30000)


def nested(construct: str, depth: int) -> str:
    o, c = CONSTRUCTS[construct]
    return o * depth + "1" + c * depth


def boxed(h: str) -> str:
    return "so $\\boxed{" + h + "}$."


def plain_calls(h: str) -> list[tuple[str, Callable[[], object]]]:
    """Entry points that do not go through pyarrow (safe on a 64 KiB thread), each returning its result."""
    import stagekit as sk
    from stagekit import _core
    from stagekit.transforms.cft import diagnose

    return [
        ("extract_answer(h)", lambda: sk.extract_answer(h)),
        ("extract_answer(boxed h)", lambda: sk.extract_answer(boxed(h))),
        ("extract_gold(h)", lambda: sk.extract_gold(h)),
        ("extract_gold(boxed h)", lambda: sk.extract_gold(boxed(h))),
        ("normalize_answer(h)", lambda: sk.normalize_answer(h)),
        ("compare(h, h)", lambda: sk.compare(h, h)),
        ("compare(h, '1')", lambda: sk.compare(h, "1")),
        ("compare('1', h)", lambda: sk.compare("1", h)),
        ("check(h, '1')", lambda: sk.check(h, "1")),
        ("check(boxed h, h)", lambda: sk.check(boxed(h), h)),
        ("check(boxed h, boxed h)", lambda: sk.check(boxed(h), boxed(h))),
        ("verify(boxed h, '1')", lambda: sk.verify(boxed(h), "1")),
        ("arithmetic_claims(h = 1)", lambda: _core.arithmetic_claims(f"{h} = 1 and 2 + {h[-150:]} = 3")),
        ("diagnose(boxed h, '1')", lambda: diagnose(boxed(h), "1")),
    ]


def arrow_calls(h: str) -> list[tuple[str, Callable[[], object]]]:
    """Entry points that build or read Arrow data (pyarrow itself needs more than 64 KiB of stack)."""
    import pyarrow as pa

    import stagekit as sk
    from stagekit import _core

    comps, golds = [h, boxed(h), boxed(h)], [h, "1", h]
    table = pa.table({"problem_id": [1, 1, 2], "completion": comps, "answer": golds})
    return [
        ("verify_batch(threads=1)", lambda: sk.verify_batch(comps, golds, threads=1)),
        ("verify_batch(threads=2)", lambda: sk.verify_batch(comps, golds, threads=2)),
        ("check_batch(threads=1)", lambda: sk.check_batch(comps, golds, threads=1)),
        ("check_batch(arrow, threads=2)", lambda: sk.check_batch(pa.array(comps), pa.array(golds), threads=2)),
        ("first_false_claims", lambda: _core.first_false_claims([f"{h} = 1", f"2 + {h[-150:]} = 3"], threads=1)),
        ("sk.score", lambda: sk.score(table, threads=1)),
    ]


def valid(label: str, result: object) -> bool:
    """The result has the shape and values the entry point promises."""
    import stagekit as sk

    if label.startswith(("compare",)):
        return result in sk.STATUSES
    if label.startswith(("check(",)):
        return isinstance(result, sk.Verdict) and result.status in sk.STATUSES
    if label.startswith(("verify(",)):
        return isinstance(result, bool)
    if label.startswith("extract_answer"):
        return result is None or isinstance(result, str)
    if label.startswith(("extract_gold", "normalize_answer")):
        return isinstance(result, str)
    if label.startswith("diagnose"):
        return isinstance(result, tuple) and isinstance(result[0], str)
    if label.startswith(("verify_batch", "first_false_claims")):
        return len(result) in (2, 3, 5)  # type: ignore[arg-type]
    if label.startswith(("check_batch", "sk.score")):
        return result.num_rows == 3 and set(result.column("status").to_pylist()) <= set(sk.STATUSES)  # type: ignore[attr-defined]
    return True


def run(depths: tuple[int, ...], constructs: list[str], arrow: bool, repeats: int) -> Iterator[dict]:
    for depth in depths:
        for name in constructs:
            h = nested(name, depth)
            calls = plain_calls(h) + (arrow_calls(h) if arrow else [])
            for label, call in calls:
                print(json.dumps({"start": [name, depth, label]}), flush=True)
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    result = call()
                    best = min(best, time.perf_counter() - t0)
                yield {"construct": name, "depth": depth, "call": label, "seconds": best, "valid": valid(label, result)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    p.add_argument("--constructs", default=",".join(CONSTRUCTS))
    p.add_argument("--stack-kib", type=int, default=0, help="run on a thread with this stack (0: the main thread)")
    p.add_argument("--repeats", type=int, default=1, help="time each call this many times, keep the fastest")
    args = p.parse_args(argv)
    depths = tuple(int(d) for d in args.depths.split(","))
    constructs = args.constructs.split(",")
    import stagekit as sk

    sk.verify_batch(["\\boxed{1}"], ["1"], threads=2)  # load pyarrow and the thread pool outside the timings

    def body() -> None:
        for row in run(depths, constructs, arrow=args.stack_kib == 0, repeats=args.repeats):
            print(json.dumps(row), flush=True)

    if args.stack_kib:
        threading.stack_size(args.stack_kib * 1024)
        t = threading.Thread(target=body)
        t.start()
        t.join()
    else:
        body()
    print(json.dumps({"done": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
