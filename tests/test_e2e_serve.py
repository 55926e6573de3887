"""OpenAIGenerator against a real OpenAI-compatible server: `transformers serve` with the default model,
started by the test on a free local port (slow)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest

import stagekit as sk
from e2e_helpers import arithmetic_problems, need_trl
from stagekit.generate import OpenAIGenerator

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_trl()
    model = sk.default_model()
    exe = Path(sys.executable).parent / "transformers"
    if not exe.exists() and shutil.which("transformers") is None:
        pytest.skip("the `transformers` CLI is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [str(exe if exe.exists() else "transformers"), "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not answer /health in 180 s:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        yield url, str(model)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_openai_generator_against_transformers_serve(server):
    url, model = server
    problems = pa.Table.from_pylist(arithmetic_problems(2))
    gen = OpenAIGenerator(url, model, concurrency=2, timeout=120)
    rollouts = sk.generate(problems, gen, n=2, max_new_tokens=24, temperature=0.7, seed=3, show_progress=False)
    assert rollouts.num_rows == 4
    texts = rollouts["completion"].to_pylist()
    assert all(isinstance(t, str) and t.strip() for t in texts), texts
    scored = sk.score(rollouts)
    assert set(scored["status"].to_pylist()) <= set(sk.STATUSES)
