"""The generation layer without a model: the `generate` contract and the OpenAI-compatible client's error
paths against real local sockets (refusing, stalling, failing, recovering)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest

import stagekit as sk
from stagekit.generate import GenerationError, OpenAIGenerator, Sampling


class Echo:
    """A deterministic in-process backend: completion = prompt + the sample index."""

    name = "echo"

    def generate(self, prompts, *, n, sampling):
        return [[f"{p if isinstance(p, str) else p[-1]['content']} \\boxed{{{i + sampling.seed}}}" for i in range(n)] for p in prompts]


def test_generate_long_format_and_passthrough():
    t = pa.table({"problem_id": [10, 11], "prompt": ["a", "b"], "answer": ["0", "5"]})
    out = sk.generate(t, Echo(), n=3, seed=0)
    assert out.column_names == ["problem_id", "prompt", "answer", "sample", "completion"]
    assert out["problem_id"].to_pylist() == [10, 10, 10, 11, 11, 11]
    assert out["sample"].to_pylist() == [0, 1, 2] * 2
    assert sk.score(out)["correct"].to_pylist() == [True, False, False, False, False, False]


def test_generate_conversational_prompts_and_errors():
    convo = sk.to_grpo(pa.table({"prompt": ["q1"], "answer": ["1"]}))
    assert sk.generate(convo, Echo(), n=1, seed=1)["completion"].to_pylist() == ["q1 \\boxed{1}"]
    with pytest.raises(ValueError, match="n must be"):
        sk.generate(convo, Echo(), n=0)
    with pytest.raises(ValueError, match="null in 1 rows"):
        sk.generate(pa.table({"prompt": pa.array([None], pa.string())}), Echo(), n=1)
    with pytest.raises(TypeError, match="Generator protocol"):
        sk.generate(convo, object(), n=1)
    with pytest.raises(sk.SchemaError, match="missing column 'question'"):
        sk.generate(convo, Echo(), n=1, prompt="question")
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_refused_names_the_url():
    port = _free_port()
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}", "m", max_retries=1, backoff=0.01, timeout=2)
    t0 = time.perf_counter()
    with pytest.raises(GenerationError, match=rf"cannot reach .*127\.0\.0\.1:{port}/v1/chat/completions"):
        gen.generate(["hi"], n=1, sampling=Sampling(show_progress=False))
    assert time.perf_counter() - t0 < 5


def test_openai_stalling_server_times_out():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])  # accept, never answer
            except OSError:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    port = srv.getsockname()[1]
    try:
        gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "m", timeout=0.5, max_retries=1, backoff=0.01)
        t0 = time.perf_counter()
        with pytest.raises(GenerationError, match=rf"127\.0\.0\.1:{port}"):
            gen.generate(["hi"], n=1, sampling=Sampling(show_progress=False))
        assert time.perf_counter() - t0 < 5
    finally:
        stop.set()
        th.join()
        for c in conns:
            c.close()
        srv.close()


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first request of each prompt, then a completion; 400 for prompt 'bad'."""

    seen: dict = {}
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        key = (prompt, body["seed"])
        with self.lock:
            first = key not in self.seen
            self.seen[key] = True
        if prompt == "bad":
            self._send(400, {"error": "bad request: no such model"})
        elif first:
            self._send(503, {"error": "busy"})
        else:
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": f"{prompt}-{body['seed']}"}}]})

    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    _Flaky.seen = {}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_openai_retries_then_succeeds_in_order(flaky_server):
    gen = OpenAIGenerator(flaky_server, "m", concurrency=4, max_retries=2, backoff=0.01)
    out = gen.generate(["x", "y", "z"], n=2, sampling=Sampling(seed=5, show_progress=False))
    assert out == [["x-5", "x-6"], ["y-5", "y-6"], ["z-5", "z-6"]]


def test_openai_client_error_is_not_retried(flaky_server):
    gen = OpenAIGenerator(flaky_server, "m", max_retries=3, backoff=0.01)
    with pytest.raises(GenerationError, match="HTTP 400.*no such model"):
        gen.generate(["bad"], n=1, sampling=Sampling(show_progress=False))
    assert len(_Flaky.seen) == 1
