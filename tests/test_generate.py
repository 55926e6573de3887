"""The generation layer without a model: the `generate` contract and the OpenAI-compatible client's error
paths against real local servers on 127.0.0.1 and 127.0.0.2 (refusing, stalling, trickling, redirecting,
oversized and malformed answers, failing, recovering), and Ctrl-C in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
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
    with pytest.raises(GenerationError, match=rf"cannot connect to .*127\.0\.0\.1:{port}/v1/chat/completions"):
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
        with pytest.raises(GenerationError, match=rf"127\.0\.0\.1:{port}/v1/chat/completions timed out") as e:
            gen.generate(["hi"], n=1, sampling=Sampling(show_progress=False))
        assert "cannot connect" not in str(e.value)
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


# --------------------------------------------------------------------------------------------------------
# Hostile servers: local only, on 127.0.0.1 and 127.0.0.2.

KEY = "sk-test-5ecret-KEY-0123456789"


class _Handler(BaseHTTPRequestHandler):
    """Records every request (method, path, headers) and lets the server's `behaviour` answer it."""

    protocol_version = "HTTP/1.1"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers)))
        try:
            self.server.behaviour(self, json.loads(body) if body else None)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_POST = do_GET = _handle

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_server(behaviour, host="127.0.0.1"):
    assert host in ("127.0.0.1", "127.0.0.2")
    srv = ThreadingHTTPServer((host, 0), _Handler)
    srv.daemon_threads = True
    srv.requests, srv.lock, srv.behaviour, srv.stop = [], threading.Lock(), behaviour, threading.Event()
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    try:
        yield srv, f"http://{host}:{srv.server_address[1]}"
    finally:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()


def send_json(h, code, payload, headers=()):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def answer(text="ok"):
    return lambda h, body: send_json(h, 200, {"choices": [{"message": {"role": "assistant", "content": text}}]})


def trickle(h, body):
    """Headers at once, then one byte of the body every 0.2 s: each read is quick, the request never ends."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.flush()
    while not h.server.stop.is_set():
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(0.2)


def trickle_headers(h, body):
    """The status line and headers one byte every 0.2 s."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 10_000:
        if h.server.stop.is_set():
            return
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)


SILENT = Sampling(show_progress=False)


@pytest.mark.parametrize(
    "url, why",
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("127.0.0.1:8000", "no scheme"),
        ("localhost:8000/v1", "no scheme"),
        ("ftp://127.0.0.1/v1", "scheme 'ftp'"),
        ("http://", "no host"),
        ("http:///v1", "no host"),
        ("", "empty"),
        ("http://127.0.0.1:99999", "malformed"),
        (f"http://user:{KEY}@127.0.0.1:8000", "credentials"),
        ("http://127.0.0.1:8000/v1?x=1", "query"),
    ],
)
def test_openai_base_url_is_validated_up_front(url, why):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=why) as e:
        OpenAIGenerator(url, "m")
    assert KEY not in str(e.value)
    assert time.perf_counter() - t0 < 0.5  # no connection attempt, no retry


def test_openai_base_url_normalised():
    assert OpenAIGenerator("http://127.0.0.1:8000", "m").endpoint == "http://127.0.0.1:8000/v1/chat/completions"
    assert OpenAIGenerator("HTTPS://Example.org/v1/", "m", chat=False).endpoint == "https://example.org/v1/completions"
    assert OpenAIGenerator("http://[::1]:8000/api", "m").base_url == "http://[::1]:8000/api/v1"


@pytest.mark.parametrize("flag", ["--base-url", "--critic-base-url"])
@pytest.mark.parametrize("url", ["file:///tmp/x", "127.0.0.1:8000"])
def test_cli_rejects_a_bad_base_url_with_exit_2(tmp_path, capsys, flag, url):
    from stagekit.cli import main

    args = ["run", "--generator", "openai", "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run")]
    args += [flag, url] if flag == "--critic-base-url" else []
    if flag == "--base-url":
        args[args.index("http://127.0.0.1:9/v1")] = url
    assert main(args) == 2
    err = capsys.readouterr().err
    assert flag in err and "http:// or https://" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_is_refused_and_never_gets_the_key(code):
    with local_server(answer("from the other host"), host="127.0.0.2") as (other, other_url):
        target = f"{other_url}/v1/chat/completions"
        with local_server(lambda h, b: send_json(h, code, {}, [("Location", target)])) as (srv, url):
            gen = OpenAIGenerator(url, "m", api_key=KEY, max_retries=2, backoff=0.01)
            with pytest.raises(GenerationError) as e:
                gen.generate(["hi"], n=1, sampling=SILENT)
            msg = str(e.value)
            assert f"{url}/v1/chat/completions answered HTTP {code}, a redirect to {target}" in msg
            assert "does not follow redirects" in msg and KEY not in msg
            assert len(srv.requests) == 1  # not retried
            assert srv.requests[0][2]["Authorization"] == f"Bearer {KEY}"  # the configured host has it
        assert other.requests == []  # the other host was never contacted, so never saw the key


def test_same_host_redirect_is_refused_too():
    with local_server(lambda h, b: send_json(h, 307, {}, [("Location", "/v2/chat/completions")])) as (srv, url):
        gen = OpenAIGenerator(url, "m", api_key=KEY, max_retries=0)
        with pytest.raises(GenerationError, match=rf"redirect to {url}/v2/chat/completions"):
            gen.generate(["hi"], n=1, sampling=SILENT)
        assert [r[1] for r in srv.requests] == ["/v1/chat/completions"]


def test_api_key_is_redacted_from_every_message():
    def echo_key(h, body):  # an error page that echoes the credentials, raw, JSON- and URL-encoded
        auth = h.headers["Authorization"]
        send_json(h, 401, {"error": f"bad key {auth}", "key": KEY, "url": f"/v1?key={KEY}"})

    with local_server(echo_key) as (srv, url):
        gen = OpenAIGenerator(url, "m", api_key=KEY, max_retries=0)
        with pytest.raises(GenerationError) as e:
            gen.generate(["hi"], n=1, sampling=SILENT)
    text = "".join(traceback.format_exception(e.value))
    assert "HTTP 401" in text and "bad key Bearer ***" in text
    assert KEY not in text and KEY not in repr(e.value)
    assert KEY not in repr(gen) and "api_key=***" in repr(gen)


@pytest.mark.parametrize("behaviour", [trickle, trickle_headers], ids=["body", "headers"])
def test_trickling_server_hits_the_total_deadline(behaviour):
    with local_server(behaviour) as (srv, url):
        gen = OpenAIGenerator(url, "m", timeout=1.0, max_retries=1, backoff=0.01)
        t0 = time.perf_counter()
        with pytest.raises(GenerationError, match=r"timed out: no complete response within 1 s") as e:
            gen.generate(["hi"], n=1, sampling=SILENT)
        took = time.perf_counter() - t0
    assert "cannot connect" not in str(e.value)
    assert len(srv.requests) == 2  # a timeout is retried once
    assert 1.9 < took < 4.0, took  # two attempts of 1 s each, however slowly the bytes come


def test_huge_announced_response_is_refused_before_reading():
    def huge(h, body):
        h.send_response(200)
        h.send_header("Content-Length", str(300 * 2**20))
        h.end_headers()
        h.wfile.write(b"x" * 2**20)

    with local_server(huge) as (srv, url):
        gen = OpenAIGenerator(url, "m", max_response_bytes=2**20, max_retries=3, backoff=0.01)
        with pytest.raises(GenerationError, match=r"announced a response of 314,572,800 bytes, over max_response_bytes=1,048,576"):
            gen.generate(["hi"], n=1, sampling=SILENT)
        assert len(srv.requests) == 1  # not retried


def test_huge_streamed_response_stops_at_the_cap():
    sent = []

    def stream(h, body):  # no Content-Length: 200 MiB until the connection closes
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        block, n = b"x" * 2**16, 0
        try:
            while n < 200 * 2**20 and not h.server.stop.is_set():
                h.wfile.write(block)
                n += len(block)
        finally:
            sent.append(n)

    with local_server(stream) as (srv, url):
        gen = OpenAIGenerator(url, "m", max_response_bytes=2**20, max_retries=0)
        with pytest.raises(GenerationError, match=r"exceeds max_response_bytes=1,048,576; not read further"):
            gen.generate(["hi"], n=1, sampling=SILENT)
        for _ in range(100):
            if sent:
                break
            time.sleep(0.05)
    assert sent and sent[0] < 32 * 2**20, sent  # the client hung up long before 200 MiB


@pytest.mark.parametrize(
    "chat, payload, field",
    [
        (True, {"choices": [{"message": {"content": 42}}]}, r"'choices\[0\]\.message\.content' is a number \(42\), expected a string"),
        (True, {"choices": [{"message": {"content": None}}]}, r"'choices\[0\]\.message\.content' is null, expected a string"),
        (True, {"choices": [{"message": {"role": "assistant"}}]}, r"'choices\[0\]\.message\.content' is missing"),
        (True, {"choices": [{"text": "hi"}]}, r"'choices\[0\]\.message' is missing"),
        (True, {"choices": []}, r"'choices' is an empty list"),
        (True, {"choices": {"0": "x"}}, r"'choices' is an object, expected a list"),
        (True, {"id": "x"}, r"'choices' is missing"),
        (True, [1, 2], r"the response is a list, expected an object"),
        (True, b"<html>busy</html>", r"not JSON .*'<html>busy</html>'"),
        (True, {"error": {"message": "model not loaded"}}, r"HTTP 200 with an error: .*model not loaded"),
        (False, {"choices": [{"text": ["a"]}]}, r"'choices\[0\]\.text' is a list, expected a string"),
        (False, {"choices": [{"message": {"content": "hi"}}]}, r"'choices\[0\]\.text' is missing"),
    ],
)
def test_malformed_responses_name_the_field(chat, payload, field):
    with local_server(lambda h, b: send_json(h, 200, payload)) as (srv, url):
        gen = OpenAIGenerator(url, "m", chat=chat, max_retries=3, backoff=0.01)
        with pytest.raises(GenerationError, match=field):
            gen.generate(["hi"], n=1, sampling=SILENT)
        assert len(srv.requests) == 1  # a malformed answer is not retried


def test_a_failed_request_cancels_the_others_at_once():
    def mixed(h, body):
        if body["messages"][-1]["content"] == "bad":
            send_json(h, 400, {"error": "no such model"})
        else:
            trickle(h, body)

    with local_server(mixed) as (srv, url):
        gen = OpenAIGenerator(url, "m", concurrency=4, timeout=60, max_retries=0)
        t0 = time.perf_counter()
        with pytest.raises(GenerationError, match="HTTP 400"):
            gen.generate(["slow", "slow", "bad", "slow"], n=1, sampling=SILENT)
        assert time.perf_counter() - t0 < 3  # nothing waited for the stalled requests' 60 s deadline


def test_content_is_returned_in_order_with_concurrency():
    def by_prompt(h, body):
        time.sleep(0.01 * (body["seed"] % 3))
        answer(f"{body['messages'][-1]['content']}:{body['seed']}")(h, body)

    with local_server(by_prompt) as (srv, url):
        gen = OpenAIGenerator(url, "m", concurrency=5)
        out = gen.generate([f"p{i}" for i in range(6)], n=3, sampling=Sampling(seed=10, show_progress=False))
    assert out == [[f"p{i}:{10 + s}" for s in range(3)] for i in range(6)]


_SCRIPT = """
import sys, pyarrow as pa, stagekit as sk
from stagekit.generate import OpenAIGenerator
gen = OpenAIGenerator(sys.argv[1], "m", concurrency=4, timeout=600, max_retries=0)
sk.generate(pa.table({"prompt": ["a", "b", "c", "d", "e", "f"]}), gen, n=2, show_progress=False)
"""


def _interrupt_when_requested(cmd, srv, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    err = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while len(srv.requests) < 2:  # requests are in flight, stalled
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "the subprocess never reached the server"
            time.sleep(0.05)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not stop the run within 30 s")
        return rc, time.monotonic() - t0, (tmp_path / "stderr.txt").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


def test_ctrl_c_stops_sk_generate_within_seconds(tmp_path):
    with local_server(trickle) as (srv, url):
        rc, took, err = _interrupt_when_requested([sys.executable, "-c", _SCRIPT, url], srv, tmp_path)
    assert rc == -signal.SIGINT, (rc, err)  # an uncaught KeyboardInterrupt: killed by SIGINT
    assert took < 3, took


def test_ctrl_c_stops_stagekit_run_with_exit_130(tmp_path):
    with local_server(trickle) as (srv, url):
        cmd = [sys.executable, "-m", "stagekit", "run", "--generator", "openai", "--base-url", url, "--no-train",
               "--quick", "--out", str(tmp_path / "run")]
        rc, took, err = _interrupt_when_requested(cmd, srv, tmp_path)
    assert rc == 130, err
    assert "interrupted" in err
    assert took < 3, took


def test_cli_never_prints_the_key(tmp_path):
    def echo(h, body):
        send_json(h, 403, {"error": f"forbidden: {h.headers['Authorization']}"})

    with local_server(echo) as (srv, url):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "STAGEKIT_TEST_KEY": KEY}
        cmd = [sys.executable, "-m", "stagekit", "run", "--generator", "openai", "--base-url", url, "--no-train",
               "--quick", "--api-key-env", "STAGEKIT_TEST_KEY", "--out", str(tmp_path / "run")]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert p.returncode == 3, p.stderr
    assert "HTTP 403: " in p.stderr and "Bearer ***" in p.stderr
    assert KEY not in p.stderr + p.stdout
    assert srv.requests and all(r[2]["Authorization"] == f"Bearer {KEY}" for r in srv.requests)
