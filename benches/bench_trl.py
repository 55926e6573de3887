#!/usr/bin/env python3
"""The trl benchmark: reward-function overhead inside a real GRPO step, and ``sk.generate`` throughput per
backend, on this machine, in one run.

    HF_HUB_OFFLINE=1 python benches/bench_trl.py            # the README's table, ~6 min on 2 busy cores
    HF_HUB_OFFLINE=1 python benches/bench_trl.py --quick    # smoke run, ~1 min

1. **Reward overhead.** ``sk.trl.accuracy_reward`` + ``sk.trl.format_reward``, wrapped by
   ``sk.trl.RolloutRecorder``, then by a timer, inside a real ``trl.GRPOTrainer`` on the default model
   (SmolLM2-135M-Instruct, CPU): 16 prompts x 8 generations = 128 completions per optimizer step
   (``generation_batch_size=128``, micro-batches of ``--micro-batch``, gradient accumulation to match),
   ``max_completion_length=32``, ``beta=0``. Reports the time inside the reward functions against the
   step time (``on_step_begin`` -> ``on_step_end``; trl's generation is timed separately). The same reward
   functions are also timed alone on 128 realistic completions (synthetic, then the GRPO run's own), many
   repetitions, so the figure does not depend on trl. The recorder's Parquet parts are checked row by row
   (one row per completion; ``step``, ``problem_id``, ``correct``, ``reward_*``) and fed to
   ``sk.zero_reward_groups``.
2. **Generation throughput.** ``sk.generate`` with ``TransformersGenerator`` (batch sizes 1 and 8, n=4,
   max_new_tokens=64) and ``OpenAIGenerator`` against a local ``transformers serve`` process started here
   (concurrency 1 and 4; then a ``--continuous-batching`` server at concurrency 4, unless ``--no-cb``). Completions/s and generated
   tokens/s (tokens counted by re-tokenizing each completion with the model's tokenizer, EOS excluded).
   vLLM only where CUDA is available.

Torch threads: ``--threads auto`` uses every core on an idle machine and 1 thread when the 1-minute load
average is >= 1 (on 2 shared cores, 2 OpenMP threads competing with another process decode ~6x slower
than 1 thread). The choice is printed with the table.

Outputs: the markdown table on stdout and in ``benches/out/trl.md``, raw numbers in ``benches/out/trl.json``
(``--quick`` writes ``trl_quick.*``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from machine import cpu_model, git_commit, version
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

import stagekit as sk  # noqa: E402
from stagekit.integrations.trl import completion_text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benches" / "out"
VENV_BIN = Path(sys.executable).parent
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


# --------------------------------------------------------------------------------------------------
# Problems and realistic completions
# --------------------------------------------------------------------------------------------------


def problems(n: int, seed: int = 0) -> pa.Table:
    """Sums the 135M model gets right some of the time, with string problem ids and a reference solution."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(2, 49), rng.randint(2, 49)
        rows.append(
            {
                "problem_id": f"sum-{i:04d}",
                "prompt": f"What is {a} + {b}? Put the final answer in \\boxed{{}}.",
                "answer": str(a + b),
                "solution": f"{a} + {b} = {a + b}.\nThe final answer is $\\boxed{{{a + b}}}$.",
            }
        )
    return pa.Table.from_pylist(rows)


def synthetic_completions(table: pa.Table, k: int, seed: int = 0) -> tuple[list, list[str], list[str]]:
    """``k`` conversational completions per problem, shaped like a small model's: correct chains of thought,
    wrong sums, missing or LaTeX-dressed boxes, truncated outputs; 150-700 characters each."""
    rng = random.Random(seed)
    fill = (
        "First, add the ones digits and carry if needed. Then add the tens digits together with the carry. "
        "Let me double-check by counting up from the larger number. "
    )
    comps, golds, ids = [], [], []
    for row in table.to_pylist():
        a, b = map(int, re.findall(r"\d+", row["prompt"])[:2])
        c = a + b
        for j in range(k):
            pad = fill * rng.randint(0, 3)
            kind = j % 8
            if kind in (0, 1):
                text = f"To find {a} + {b}: {pad}{a} + {b} = {c}.\n\nThe final answer is \\boxed{{{c}}}."
            elif kind == 2:
                text = f"{pad}So the sum is $\\boxed{{{c}.0}}$"
            elif kind == 3:
                text = f"We compute {a} + {b} = {c + rng.choice([-10, -1, 1, 10])}. {pad}\\boxed{{{c + 1}}}"
            elif kind == 4:
                text = f"{a} plus {b} equals {c}. {pad}"
            elif kind == 5:
                text = f"To add {a} and {b}, we need to find a common multiple of {a} and {b}, {pad}which is"
            elif kind == 6:
                text = f"{pad}Answer: \\boxed{{\\text{{{c}}}}}"
            else:
                text = f"Step 1: {a}. Step 2: {b}. {pad}Therefore \\(\\boxed{{ {c} }}\\)."
            comps.append([{"role": "assistant", "content": text}])
            golds.append(row["answer"])
            ids.append(row["problem_id"])
    return comps, golds, ids


# --------------------------------------------------------------------------------------------------
# 1a. Reward functions alone
# --------------------------------------------------------------------------------------------------


def _time_per_call(fn: Callable[[], Any], min_time: float, repeats: int) -> dict[str, float]:
    """Median (and min/max) seconds per call over ``repeats`` measurements of >= ``min_time`` each."""
    fn()  # warm-up
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_time / 4 or n >= 1 << 16:
            break
        n *= 2
    loops = max(1, int(n * (min_time / max(dt, 1e-9))))
    per = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        per.append((time.perf_counter() - t) / loops)
    return {"median_s": statistics.median(per), "min_s": min(per), "max_s": max(per), "loops": loops, "repeats": repeats}


def bench_rewards_alone(comps: list, golds: list[str], ids: list[str], *, min_time: float, repeats: int, label: str) -> dict[str, Any]:
    n = len(comps)
    prompts = [[{"role": "user", "content": "?"}]] * n
    kw = {"prompts": prompts, "completion_ids": None, "answer": golds, "problem_id": ids, "trainer_state": None}
    res: dict[str, Any] = {"label": label, "completions": n, "mean_chars": statistics.mean(len(completion_text(c)) for c in comps)}
    res["accuracy_reward"] = _time_per_call(lambda: sk.trl.accuracy_reward(completions=comps, **kw), min_time, repeats)
    res["format_reward"] = _time_per_call(lambda: sk.trl.format_reward(completions=comps, **kw), min_time, repeats)

    with tempfile.TemporaryDirectory(prefix="sk_bench_rec_") as d:
        rec = sk.trl.RolloutRecorder(d)
        acc, fmt = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])

        def recorded() -> None:
            batch = list(comps)  # a new list per call: the recorder sees a new batch, as with trl
            acc(completions=batch, **kw)
            fmt(completions=batch, **kw)

        # Each call completes a batch (a second verify_batch + row building); a Parquet part is
        # written every chunk_rows (4096) rows, i.e. every 32 calls of 128 completions.
        res["both_recorded"] = _time_per_call(recorded, min_time, repeats)
        rec.flush()
        res["recorded_rows"] = sk.trl.RolloutRecorder.read(d).num_rows
    res["both_plain_s"] = res["accuracy_reward"]["median_s"] + res["format_reward"]["median_s"]
    res["recorder_overhead_x"] = res["both_recorded"]["median_s"] / res["both_plain_s"]
    return res


# --------------------------------------------------------------------------------------------------
# 1b. Inside a real GRPO step
# --------------------------------------------------------------------------------------------------


class TimedReward:
    """Times a reward function and keeps what trl passed (texts, step) for the recorder check."""

    def __init__(self, f: Callable[..., list], keep: bool):
        self.f, self.keep = f, keep
        self.__name__ = f.__name__
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> list:
        t = time.perf_counter()
        out = self.f(**kwargs)
        dt = time.perf_counter() - t
        state = kwargs.get("trainer_state")
        call: dict[str, Any] = {"seconds": dt, "n": len(out), "step": getattr(state, "global_step", None), "at": t}
        if self.keep:
            call.update(
                texts=[completion_text(c) for c in kwargs["completions"]],
                problem_ids=list(kwargs.get("problem_id") or []),
                answers=list(kwargs.get("answer") or []),
                values=list(out),
            )
        self.calls.append(call)
        return out


def bench_grpo(args: argparse.Namespace, model_dir: Path, work: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import torch
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    G, P = args.generations, args.prompts
    per_step = G * P
    mb = min(args.micro_batch, per_step)
    if per_step % mb:
        raise SystemExit(f"--micro-batch {mb} must divide {per_step} completions per step")
    table = problems(P * max(args.grpo_steps, 2), seed=1)
    dataset = sk.trl.grpo_dataset(table)
    tok = AutoTokenizer.from_pretrained(model_dir)
    rec_dir = work / "rollouts"
    rec = sk.trl.RolloutRecorder(rec_dir)
    wrapped = rec.wrap([sk.trl.accuracy_reward, sk.trl.format_reward])
    timed = [TimedReward(wrapped[0], keep=True), TimedReward(wrapped[1], keep=False)]
    flush_s: list[float] = []
    flush = rec.flush

    def timed_flush() -> None:  # the callback's on_save / on_train_end flush (outside the step windows)
        t0 = time.perf_counter()
        flush()
        flush_s.append(time.perf_counter() - t0)

    rec.flush = timed_flush  # type: ignore[method-assign]

    steps: list[dict[str, float]] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, a: Any, state: Any, c: Any, **kw: Any) -> None:
            steps.append({"step": state.global_step, "begin": time.perf_counter()})

        def on_step_end(self, a: Any, state: Any, c: Any, **kw: Any) -> None:
            steps[-1]["end"] = time.perf_counter()

    config = GRPOConfig(
        output_dir=str(work / "grpo"),
        max_steps=args.grpo_steps,
        per_device_train_batch_size=mb,
        gradient_accumulation_steps=per_step // mb,
        generation_batch_size=per_step,
        num_generations=G,
        max_completion_length=args.max_completion_length,
        beta=0.0,
        temperature=1.0,
        seed=0,
        reward_weights=[1.0, 0.1],
        logging_steps=1,
        save_strategy="no",
        bf16=False,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    t = time.perf_counter()
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=timed,
        args=config,
        train_dataset=dataset,
        processing_class=tok,
        callbacks=[rec.callback(), StepTimer()],
    )
    init_s = time.perf_counter() - t
    gen_calls: list[float] = []
    generate = trainer._generate

    def timed_generate(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return generate(*a, **k)
        finally:
            gen_calls.append(time.perf_counter() - t0)

    trainer._generate = timed_generate  # type: ignore[method-assign]
    la0 = loadavg()
    t = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t
    trl_step_time = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
    metrics = [h for h in trainer.state.log_history if "loss" in h]
    del trainer
    gc.collect()

    step_s = [s["end"] - s["begin"] for s in steps if "end" in s]
    reward_s = sum(c["seconds"] for f in timed for c in f.calls)
    res: dict[str, Any] = {
        "config": {
            "prompts_per_step": P,
            "num_generations": G,
            "completions_per_step": per_step,
            "per_device_train_batch_size": mb,
            "gradient_accumulation_steps": per_step // mb,
            "generation_batch_size": per_step,
            "max_completion_length": args.max_completion_length,
            "beta": 0.0,
            "steps": args.grpo_steps,
            "torch_threads": torch.get_num_threads(),
            "gradient_checkpointing": config.gradient_checkpointing,  # trl's default: on
        },
        "init_s": init_s,
        "train_s": train_s,
        "step_s": step_s,
        "trl_step_time_s": trl_step_time,
        "generate_s": gen_calls,
        "reward_calls": {f.__name__: [{"step": c["step"], "n": c["n"], "seconds": c["seconds"]} for c in f.calls] for f in timed},
        "reward_s_total": reward_s,
        "recorder_flush_s": flush_s,
        "reward_pct_of_step": 100 * reward_s / sum(step_s) if step_s else None,
        "loadavg_during": [la0, loadavg()],
        "trl_metrics": metrics,
    }
    # The optimizer step each reward call ran in, from the callback's windows (not from trainer_state).
    for c in timed[0].calls:
        c["window_step"] = next((s["step"] for s in steps if s["begin"] <= c["at"] <= s.get("end", float("inf"))), None)
    res["recorder"] = check_recorder(rec_dir, timed[0].calls, table, G)
    log(
        f"GRPO: {len(step_s)} step(s), {statistics.mean(step_s):.1f} s/step, generation {sum(gen_calls):.1f} s, "
        f"rewards {reward_s * 1e3:.2f} ms ({res['reward_pct_of_step']:.4f}% of step time)"
    )
    return res, timed[0].calls


def check_recorder(rec_dir: Path, calls: list[dict[str, Any]], table: pa.Table, G: int) -> dict[str, Any]:
    """The recorder's Parquet parts against what trl passed to the reward functions and the verifier."""
    out: dict[str, Any] = {"path": str(rec_dir)}
    try:
        rows = sk.trl.RolloutRecorder.read(rec_dir)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        out["error"] = f"read: {e!r}"
        return out
    out["files"] = sorted(p.name for p in rec_dir.glob("part-*.parquet"))
    out["tmp_left"] = sorted(p.name for p in rec_dir.glob(".*.tmp"))
    out["rows"] = rows.num_rows
    out["columns"] = rows.column_names
    expect = [(c["window_step"], t, pid, a, v) for c in calls for t, pid, a, v in zip(c["texts"], c["problem_ids"], c["answers"], c["values"], strict=True)]
    out["rows_expected"] = len(expect)
    got = rows.to_pylist()
    checks = {
        "one_row_per_completion": len(got) == len(expect),
        "completion_matches_trl": all(r["completion"] == e[1] for r, e in zip(got, expect)),
        "step_matches_step_window": all(r["step"] == e[0] for r, e in zip(got, expect)),
        "problem_id_matches_trl": all(r["problem_id"] == e[2] for r, e in zip(got, expect)),
        "answer_matches_trl": all(r["answer"] == e[3] for r, e in zip(got, expect)),
        "reward_accuracy_matches_returned": all(r["reward_accuracy"] == e[4] for r, e in zip(got, expect)),
    }
    by_id = {r["problem_id"]: r for r in table.to_pylist()}
    checks["problem_id_prompt_answer_consistent"] = all(
        r["problem_id"] in by_id and by_id[r["problem_id"]]["prompt"] == r["prompt"] and by_id[r["problem_id"]]["answer"] == r["answer"]
        for r in got
    )
    again = sk.verify_batch(rows["completion"], rows["answer"])
    checks["correct_equals_verify_batch"] = again.equals(rows["correct"].combine_chunks())
    checks["reward_accuracy_equals_correct"] = rows["reward_accuracy"].to_pylist() == [1.0 if c else 0.0 for c in rows["correct"].to_pylist()]
    fmt = sk.trl.format_reward(completions=rows["completion"].to_pylist())
    checks["reward_format_boxed_equals_format_reward"] = rows["reward_format_boxed"].to_pylist() == fmt
    # An independent floor: a completion whose last \boxed{} is literally the gold must be correct.
    boxed = [re.findall(r"\\boxed\{\s*([^{}]*?)\s*\}", c or "") for c in rows["completion"].to_pylist()]
    literal = [bool(b) and b[-1] == a for b, a in zip(boxed, rows["answer"].to_pylist(), strict=True)]
    checks["literal_boxed_gold_is_correct"] = all(c for c, lit in zip(rows["correct"].to_pylist(), literal, strict=True) if lit)
    sizes = rows.group_by(["problem_id", "step"]).aggregate([("completion", "count")])["completion_count"].to_pylist()
    checks["groups_of_num_generations"] = set(sizes) == {G}
    out["checks"] = checks
    out["all_ok"] = all(checks.values())
    out["steps"] = sorted(set(rows["step"].to_pylist()))
    out["correct_rate"] = pc.mean(rows["correct"].cast(pa.float64())).as_py()
    out["format_rate"] = statistics.mean(fmt) if fmt else None
    keep = ["step", "problem_id", "answer", "correct", "reward_accuracy", "reward_format_boxed", "completion"]
    right = [r for r in got if r["correct"]][:4]
    wrong = [r for r in got if not r["correct"]][:4]
    out["examples"] = [{k: r.get(k) for k in keep} for r in right + wrong]
    try:
        groups = sk.zero_reward_groups(sk.trl.RolloutRecorder.read(rec_dir), by=("problem_id", "step"))
        kinds = groups["kind"].to_pylist()
        out["zero_reward_groups"] = {
            "ok": True,
            "groups_total": len(set(zip(rows["problem_id"].to_pylist(), rows["step"].to_pylist()))),
            "all_zero": kinds.count("all_zero"),
            "all_correct": kinds.count("all_correct"),
            "columns": groups.column_names,
            "n_per_group": sorted(set(groups["n"].to_pylist())),
        }
    except Exception as e:  # noqa: BLE001
        out["zero_reward_groups"] = {"ok": False, "error": repr(e)}
    bad = [k for k, v in checks.items() if not v]
    log(f"recorder: {out['rows']} rows in {len(out['files'])} part(s); checks {'all ok' if not bad else 'FAILED: ' + ', '.join(bad)}")
    return out


# --------------------------------------------------------------------------------------------------
# 2. Generation throughput
# --------------------------------------------------------------------------------------------------


def _count_tokens(tok: Any, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def _gen_result(label: str, table: pa.Table, out: pa.Table, seconds: float, tok: Any, n: int, max_new: int, **extra: Any) -> dict[str, Any]:
    texts = out["completion"].to_pylist()
    ntok = _count_tokens(tok, texts)
    per_problem = [texts[i : i + n] for i in range(0, len(texts), n)]
    res = {
        "backend": label,
        "prompts": table.num_rows,
        "n": n,
        "max_new_tokens": max_new,
        "completions": len(texts),
        "seconds": seconds,
        "tokens": sum(ntok),
        "completions_per_s": len(texts) / seconds,
        "tokens_per_s": sum(ntok) / seconds,
        "mean_tokens": statistics.mean(ntok) if ntok else 0,
        "at_max_tokens": sum(1 for x in ntok if x >= max_new),
        "distinct_per_prompt": statistics.mean(len(set(p)) for p in per_problem) if per_problem else 0,
        "empty": sum(1 for x in texts if not x),
        "loadavg_end": loadavg(),
        "completion_texts": texts,
        **extra,
    }
    log(f"{label}: {res['completions']} completions in {seconds:.1f} s = {res['completions_per_s']:.2f}/s, {res['tokens_per_s']:.1f} tok/s")
    return res


def bench_transformers(args: argparse.Namespace, model_dir: Path, table: pa.Table) -> list[dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stagekit.generate import TransformersGenerator

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    count_tok = AutoTokenizer.from_pretrained(model_dir)
    results = []
    kw = {"n": args.n, "max_new_tokens": args.max_new_tokens, "temperature": 1.0, "seed": 0, "show_progress": False}
    for bs in args.batch_sizes:
        gen = TransformersGenerator(model, tokenizer=tok, batch_size=bs)
        sk.generate(table.slice(0, 1), gen, n=1, max_new_tokens=2, show_progress=False)  # warm-up
        t = time.perf_counter()
        out = sk.generate(table, gen, **kw)
        dt = time.perf_counter() - t
        results.append(_gen_result(f"transformers bs={bs}", table, out, dt, count_tok, args.n, args.max_new_tokens, batch_size=bs))
    del model, gen
    gc.collect()
    return results


class Server:
    """A ``transformers serve`` subprocess on a free local port (terminated by its own pid)."""

    def __init__(self, model: Path | None, *, threads: int, cb: bool, log_path: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.cmd = [str(VENV_BIN / "transformers"), "serve"] + ([str(model)] if model else [])
        self.cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        if cb:
            self.cmd.append("--continuous-batching")
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        self.log_path = log_path
        self._log = log_path.open("w")
        t = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.perf_counter() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError("transformers serve did not become healthy in 180 s")
            time.sleep(0.5)
        self.startup_s = time.perf_counter() - t

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def sampling_model_dir(model_dir: Path, dest: Path) -> Path:
    """A view of ``model_dir`` (symlinks) whose generation_config has ``do_sample: true``: ``transformers
    serve`` samples only when the model's generation config says so (``temperature`` alone stays greedy)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in model_dir.iterdir():
        if f.name != "generation_config.json":
            (dest / f.name).symlink_to(f.resolve())
    cfg_path = model_dir / "generation_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    cfg["do_sample"] = True
    (dest / "generation_config.json").write_text(json.dumps(cfg, indent=2))
    return dest


def bench_openai(args: argparse.Namespace, model_dir: Path, table: pa.Table, work: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from stagekit.generate import OpenAIGenerator

    tok = AutoTokenizer.from_pretrained(model_dir)
    sampled = sampling_model_dir(model_dir, work / "served" / model_dir.name)
    res: dict[str, Any] = {"runs": []}
    kw = {"n": args.n, "max_new_tokens": args.max_new_tokens, "temperature": 1.0, "seed": 0, "show_progress": False}
    modes = [("plain", False)] + ([("continuous batching", True)] if args.cb else [])
    for mode, cb in modes:
        # No FORCE_MODEL: the request's `model` picks the directory, so one server answers for the model as
        # stagekit converts it and for the do_sample view.
        server = Server(None, threads=args.threads, cb=cb, log_path=work / f"serve_{'cb' if cb else 'plain'}.log")
        try:
            log(f"transformers serve ({mode}) healthy after {server.startup_s:.1f} s: {shlex.join(server.cmd)}")
            info: dict[str, Any] = {"mode": mode, "command": shlex.join(server.cmd), "startup_s": server.startup_s}
            if not cb:
                # Is sampling honoured for the default model as stagekit converts it? n samples of one prompt.
                g = OpenAIGenerator(server.url, str(model_dir), concurrency=1)
                t = time.perf_counter()
                o = sk.generate(table.slice(0, 1), g, n=3, max_new_tokens=12, temperature=1.0, seed=0, show_progress=False)
                info["default_model_sampling_check"] = {
                    "model": str(model_dir),
                    "completions": o["completion"].to_pylist(),
                    "distinct": len(set(o["completion"].to_pylist())),
                    "seconds_incl_load": time.perf_counter() - t,
                }
                log(f"default model via serve, n=3 at temperature 1: {info['default_model_sampling_check']['distinct']} distinct")
            g = OpenAIGenerator(server.url, str(sampled), concurrency=1)
            t = time.perf_counter()
            sk.generate(table.slice(0, 1), g, n=1, max_new_tokens=4, show_progress=False)  # load + warm-up
            info["warmup_s"] = time.perf_counter() - t
            res["runs"].append(info)
            for conc in args.concurrency if not cb else [max(args.concurrency)]:
                g = OpenAIGenerator(server.url, str(sampled), concurrency=conc, timeout=600)
                t = time.perf_counter()
                out = sk.generate(table, g, **kw)
                dt = time.perf_counter() - t
                res["runs"].append(
                    _gen_result(f"openai/transformers serve{' --continuous-batching' if cb else ''} c={conc}", table, out, dt, tok, args.n, args.max_new_tokens, concurrency=conc)
                )
            if not cb:
                g = OpenAIGenerator(server.url, str(sampled), concurrency=1)
                a = sk.generate(table.slice(0, 1), g, n=2, max_new_tokens=8, seed=5, show_progress=False)["completion"].to_pylist()
                b = sk.generate(table.slice(0, 1), g, n=2, max_new_tokens=8, seed=5, show_progress=False)["completion"].to_pylist()
                res["seed_reproducible_concurrency_1"] = a == b
        finally:
            server.stop()
    return res


def bench_vllm(args: argparse.Namespace, model_dir: Path, table: pa.Table) -> dict[str, Any]:
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        return {"skipped": "no GPU"}
    try:
        from transformers import AutoTokenizer

        from stagekit.generate import VLLMGenerator

        gen = VLLMGenerator(str(model_dir))
    except ImportError as e:
        return {"skipped": f"vllm not installed ({e})"}
    tok = AutoTokenizer.from_pretrained(model_dir)
    sk.generate(table.slice(0, 1), gen, n=1, max_new_tokens=2, show_progress=False)
    t = time.perf_counter()
    out = sk.generate(table, gen, n=args.n, max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0, show_progress=False)
    return _gen_result("vllm", table, out, time.perf_counter() - t, tok, args.n, args.max_new_tokens)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def machine_info(threads: int, threads_reason: str) -> dict[str, Any]:
    cpu, commit = cpu_model(), git_commit()
    try:
        mem = next(int(x.split()[1]) // 1024**2 for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "stagekit": sk.__version__,
        "stagekit_commit": commit,
        **{d: version(d) for d in ("torch", "transformers", "trl", "pyarrow", "vllm")},
        "torch_threads": threads,
        "torch_threads_reason": threads_reason,
        "loadavg_start": loadavg(),
    }


def _us(s: float) -> str:
    return f"{s * 1e6:,.0f} µs" if s < 1e-2 else f"{s * 1e3:,.1f} ms"


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    L = [f"# stagekit trl benchmark{' (--quick)' if r['quick'] else ''}", ""]
    L.append("| CPU | cores | memory | load avg (1 min) start / end | torch threads | Python | torch | transformers | trl | pyarrow | stagekit |")
    L.append("|---|---:|---:|---|---|---|---|---|---|---|---|")
    L.append(
        f"| {m['cpu']} | {m['cores']} | {m['memory_gib']} GiB | {m['loadavg_start']:.2f} / {r.get('loadavg_end', float('nan')):.2f} | "
        f"{m['torch_threads']} ({m['torch_threads_reason']}) | {m['python']} | {m['torch']} | {m['transformers']} | {m['trl']} | "
        f"{m['pyarrow']} | {m['stagekit']} ({m['stagekit_commit']}) |"
    )
    L.append("")
    L.append(f"Command (repository root): `{r['command']}` — total wall time {r.get('wall_s', 0):.0f} s.")
    L.append("")

    L.append("## Reward functions alone (µs per call, median of repeats)")
    L.append("")
    L.append("| completions | mean chars | accuracy_reward | format_reward | both, plain | both + RolloutRecorder | recorder × | per completion (recorded) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for a in r["rewards_alone"]:
        L.append(
            f"| {a['label']} ({a['completions']}) | {a['mean_chars']:.0f} | {_us(a['accuracy_reward']['median_s'])} | "
            f"{_us(a['format_reward']['median_s'])} | {_us(a['both_plain_s'])} | {_us(a['both_recorded']['median_s'])} | "
            f"{a['recorder_overhead_x']:.1f} | {_us(a['both_recorded']['median_s'] / a['completions'])} |"
        )
    L.append("")

    g = r.get("grpo")
    if g and "error" not in g:
        c = g["config"]
        L.append(
            f"## Inside a GRPO step ({c['prompts_per_step']} prompts × {c['num_generations']} generations = "
            f"{c['completions_per_step']} completions/step, micro-batch {c['per_device_train_batch_size']} × "
            f"{c['gradient_accumulation_steps']} accumulation, max_completion_length {c['max_completion_length']}, beta 0, "
            f"gradient checkpointing {'on' if c.get('gradient_checkpointing') else 'off'}, "
            f"{c['steps']} step(s))"
        )
        L.append("")
        L.append("| step | step time | trl step_time | generation | reward functions (timed) | reward % of step | projected from microbenchmark |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|")
        calls = g["reward_calls"]
        alone = r["rewards_alone"][-1]["both_recorded"]["median_s"]
        for i, s in enumerate(g["step_s"]):
            rs = sum(x["seconds"] for f in calls.values() for x in f if x["step"] == i)
            gen = g["generate_s"][i] if i < len(g["generate_s"]) else float("nan")
            trl_t = g["trl_step_time_s"][i] if i < len(g["trl_step_time_s"]) else float("nan")
            L.append(f"| {i} | {s:.1f} s | {trl_t:.1f} s | {gen:.1f} s | {_us(rs)} | {100 * rs / s:.4f}% | {100 * alone / s:.4f}% |")
        L.append("")
        rec = g["recorder"]
        if "checks" in rec:
            bad = [k for k, v in rec["checks"].items() if not v]
            zr = rec["zero_reward_groups"]
            L.append(
                f"RolloutRecorder: {rec['rows']} rows for {rec['rows_expected']} completions in {len(rec['files'])} part(s), "
                f"steps {rec['steps']}; flush at train end {_us(sum(g.get('recorder_flush_s') or [0]))} (outside the step); correct {100 * rec['correct_rate']:.1f}%, boxed {100 * (rec['format_rate'] or 0):.1f}%; "
                f"checks: {'all passed' if not bad else 'FAILED ' + ', '.join(bad)}. "
                + (
                    f"`sk.zero_reward_groups(read(path), by=(\"problem_id\", \"step\"))`: {zr['all_zero']} all-zero and "
                    f"{zr['all_correct']} all-correct of {zr['groups_total']} groups."
                    if zr.get("ok")
                    else f"`sk.zero_reward_groups` failed: {zr.get('error')}"
                )
            )
        else:
            L.append(f"RolloutRecorder: {rec.get('error')}")
        L.append("")
    elif g:
        L.append(f"## Inside a GRPO step: failed: {g['error']}")
        L.append("")

    L.append(f"## `sk.generate` throughput (n={r['args']['n']}, max_new_tokens={r['args']['max_new_tokens']}, temperature 1)")
    L.append("")
    L.append("| backend | prompts | completions | wall | completions/s | tokens/s | mean tokens | at max | distinct/prompt |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = list(r.get("transformers", []))
    oa = r.get("openai", {})
    rows += [x for x in oa.get("runs", []) if "backend" in x]
    for x in rows:
        L.append(
            f"| {x['backend']} | {x['prompts']} | {x['completions']} | {x['seconds']:.1f} s | {x['completions_per_s']:.2f} | "
            f"{x['tokens_per_s']:.1f} | {x['mean_tokens']:.1f} | {x['at_max_tokens']} | {x['distinct_per_prompt']:.2f} |"
        )
    v = r.get("vllm", {})
    if "backend" in v:
        L.append(f"| vllm | {v['prompts']} | {v['completions']} | {v['seconds']:.1f} s | {v['completions_per_s']:.2f} | {v['tokens_per_s']:.1f} | {v['mean_tokens']:.1f} | {v['at_max_tokens']} | {v['distinct_per_prompt']:.2f} |")
    else:
        L.append(f"| vllm | – | – | – | skipped: {v.get('skipped', oa and 'not run')} | | | | |")
    L.append("")
    for info in oa.get("runs", []):
        if "mode" in info:
            L.append(f"- `{info['command']}`: healthy after {info['startup_s']:.1f} s, first request (load + warm-up) {info['warmup_s']:.1f} s.")
            chk = info.get("default_model_sampling_check")
            if chk:
                L.append(
                    f"  The default model directory as served (no `do_sample` in its generation_config): "
                    f"{chk['distinct']} distinct of 3 samples at temperature 1 — `transformers serve` decodes greedily; "
                    f"the timed runs use a view of the directory with `do_sample: true`."
                )
    if "seed_reproducible_concurrency_1" in oa:
        L.append(f"- Same seed twice at concurrency 1 gives the same completions: {oa['seed_reproducible_concurrency_1']}.")
    if "error" in oa:
        L.append(f"- OpenAIGenerator: failed: {oa['error']}")
    L.append("")
    return "\n".join(L)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny GRPO (2 steps), few prompts, short outputs")
    p.add_argument("--threads", default="auto", help="torch threads (also OMP_NUM_THREADS of the server): N or auto")
    p.add_argument("--prompts", type=int, default=16, help="GRPO prompts per step")
    p.add_argument("--generations", type=int, default=8, help="GRPO num_generations")
    p.add_argument("--micro-batch", type=int, default=32, help="GRPO per_device_train_batch_size")
    p.add_argument("--grpo-steps", type=int, default=1)
    p.add_argument("--max-completion-length", type=int, default=32)
    p.add_argument("--gen-prompts", type=int, default=8, help="prompts for TransformersGenerator")
    p.add_argument("--openai-prompts", type=int, default=2, help="prompts for OpenAIGenerator")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--concurrency", default="1,4")
    p.add_argument(
        "--cb", action=argparse.BooleanOptionalAction, default=None,
        help="also time a `transformers serve --continuous-batching` server at the highest concurrency (default: on, off with --quick)",
    )
    p.add_argument("--skip", default="", help="comma-separated phases to skip: grpo,transformers,openai")
    p.add_argument("--out", default=None, help="output stem under benches/out (default: trl, or trl_quick with --quick)")
    p.add_argument("--min-time", type=float, default=0.3, help="seconds per microbenchmark measurement")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    if args.quick:
        args.prompts, args.generations, args.micro_batch, args.grpo_steps = 4, 4, 8, 2
        args.max_completion_length, args.gen_prompts, args.openai_prompts = 16, 2, 1
        args.max_new_tokens, args.n, args.min_time, args.repeats = 16, 2, 0.1, 3
    if args.cb is None:
        args.cb = not args.quick
    args.batch_sizes = [int(x) for x in str(args.batch_sizes).split(",")]
    args.concurrency = [int(x) for x in str(args.concurrency).split(",")]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    la = loadavg()
    if args.threads == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = 1 if la >= 1 else cores
        reason = f"auto: load average {la:.2f} {'>= 1' if la >= 1 else '< 1'}"
    else:
        threads, reason = int(args.threads), "--threads"
    import torch

    torch.set_num_threads(threads)
    args.threads = threads

    command = "HF_HUB_OFFLINE=1 " + shlex.join(["python", "benches/bench_trl.py", *sys.argv[1:]])
    r: dict[str, Any] = {"command": command, "quick": args.quick, "machine": machine_info(threads, reason), "args": vars(args).copy()}
    log(f"torch threads {threads} ({reason})")
    model_dir = sk.default_model()
    work = Path(tempfile.mkdtemp(prefix="sk_bench_trl_"))
    try:
        # 1a. Reward functions alone, synthetic completions.
        comps, golds, ids = synthetic_completions(problems(args.prompts, seed=1), args.generations)
        r["rewards_alone"] = [bench_rewards_alone(comps, golds, ids, min_time=args.min_time, repeats=args.repeats, label="synthetic")]
        a = r["rewards_alone"][0]
        log(f"rewards alone: both {_us(a['both_plain_s'])}, recorded {_us(a['both_recorded']['median_s'])} per {a['completions']} completions")

        # 1b. GRPO.
        if "grpo" not in skip:
            try:
                r["grpo"], calls = bench_grpo(args, model_dir, work)
                last = calls[-1]
                real = [[{"role": "assistant", "content": t}] for t in last["texts"]]
                r["rewards_alone"].append(
                    bench_rewards_alone(real, last["answers"], last["problem_ids"], min_time=args.min_time, repeats=args.repeats, label="GRPO run's")
                )
            except Exception as e:  # noqa: BLE001 - reported in the table
                log(f"GRPO failed: {e!r}")
                r["grpo"] = {"error": repr(e)}

        # 2. Generation.
        gen_table = problems(max(args.gen_prompts, args.openai_prompts), seed=2).select(["problem_id", "prompt", "answer"])
        if "transformers" not in skip:
            r["transformers"] = bench_transformers(args, model_dir, gen_table.slice(0, args.gen_prompts))
        if "openai" not in skip:
            try:
                r["openai"] = bench_openai(args, model_dir, gen_table.slice(0, args.openai_prompts), work)
            except Exception as e:  # noqa: BLE001
                log(f"OpenAIGenerator failed: {e!r}")
                r["openai"] = {"error": repr(e)}
        r["vllm"] = bench_vllm(args, model_dir, gen_table.slice(0, args.gen_prompts))
        if "skipped" in r["vllm"]:
            print(f"vllm: skipped: {r['vllm']['skipped']}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r["loadavg_end"] = loadavg()
    r["wall_s"] = time.perf_counter() - T0
    md = render(r)
    print(md)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stem = args.out or ("trl_quick" if args.quick else "trl")
    (OUT_DIR / f"{stem}.md").write_text(md, encoding="utf-8")
    (OUT_DIR / f"{stem}.json").write_text(json.dumps(r, indent=2, default=str), encoding="utf-8")
    log(f"wrote {OUT_DIR / (stem + '.md')} and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
