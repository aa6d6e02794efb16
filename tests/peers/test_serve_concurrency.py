"""slm serve with several clients at once: 8 concurrent streamed completions all finish, each
with the text it gets alone (greedy decoding does not depend on what else is in the batch); a
full queue answers 429; a client that disconnects mid-stream frees its slot; --timeout ends a
generation."""
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import STORIES
from gemma import gemma_path
from serve_util import Server, http

openai = pytest.importorskip("openai", reason="the openai package is not installed (scripts/setup.sh --test)")

PROMPTS = ["Once upon a time", "The little cat", "Tom and Lily went", "One day, a bird", "The sun was",
           "A big red ball", "Sara liked to", "In the park"]


def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=300)


def test_eight_concurrent_streams():
    server = Server("-m", STORIES / "stories260K.bin", "--ctx", 256, "--parallel", 4, "--max-queue", 8)
    try:
        c = client(server)
        alone = {p: c.completions.create(model="x", prompt=p, temperature=0, max_tokens=60).choices[0].text for p in PROMPTS}

        def stream(p):
            chunks = list(c.completions.create(model="x", prompt=p, temperature=0, max_tokens=60, stream=True))
            return "".join(ch.choices[0].text for ch in chunks), chunks[-1].choices[0].finish_reason

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(stream, PROMPTS))
        for p, (text, reason) in zip(PROMPTS, results):
            assert reason in ("stop", "length")
            assert text == alone[p], p
        _, _, body = http(server.url, path="/health")
        assert json.loads(body)["slots_processing"] == 0
    finally:
        server.stop()


def read_event(sock, buf=b""):
    """Reads from a raw streamed response until one SSE event has arrived."""
    while b"data: " not in buf or not buf.split(b"data: ", 1)[1].count(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def start_stream(port, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=300)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def metric(server, name):
    _, _, body = http(server.url, path="/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_queue_full_429_and_disconnect_frees_the_slot():
    """One slot, one place in the queue: a long stream holds the slot, a second request waits,
    a third gets 429; when the stream's client goes away its slot goes to the waiting one."""
    server = Server("-m", gemma_path(), "--ctx", 512, "--parallel", 1, "--max-queue", 1)
    try:
        msgs = [{"role": "user", "content": "Write a long story about a dragon."}]
        holder = start_stream(server.port, {"messages": msgs, "max_tokens": 400, "temperature": 0, "stream": True})
        first = read_event(holder)
        assert b" 200 OK" in first.split(b"\r\n", 1)[0]
        deadline = time.time() + 120  # wait until the slot is decoding
        while metric(server, "slm_active_slots") < 1 and time.time() < deadline:
            time.sleep(0.1)
        waiting = {}

        def queued():
            waiting["r"] = client(server).chat.completions.create(model="g", messages=[{"role": "user", "content": "Hi"}],
                                                                 temperature=0, max_tokens=2)

        t = threading.Thread(target=queued)
        t.start()
        deadline = time.time() + 60
        while metric(server, "slm_queue_depth") < 1 and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(openai.RateLimitError) as e:
            client(server).chat.completions.create(model="g", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
        assert e.value.status_code == 429 and e.value.body["code"] == "queue_full"
        cancelled_before = metric(server, "slm_cancelled_total")
        holder.close()  # the client goes away mid-stream
        t.join(timeout=120)
        assert not t.is_alive() and waiting["r"].choices[0].message.role == "assistant"
        deadline = time.time() + 30
        while metric(server, "slm_cancelled_total") <= cancelled_before and time.time() < deadline:
            time.sleep(0.1)
        assert metric(server, "slm_cancelled_total") > cancelled_before
        assert metric(server, "slm_active_slots") == 0
    finally:
        server.stop()


def test_timeouts():
    """--timeout ends a generation; --idle-timeout cuts a silent upload but not a request that
    is being worked on (here silent for longer than the idle timeout)."""
    server = Server("-m", gemma_path(), "--ctx", 512, "--parallel", 1, "--timeout", 2.5, "--idle-timeout", 1)
    try:
        t0 = time.time()
        r = client(server).chat.completions.create(model="g", messages=[{"role": "user", "content": "Count to a thousand."}],
                                                   temperature=0, max_tokens=400)
        assert 2.5 <= time.time() - t0 < 30
        assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens < 400
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        t0 = time.time()
        assert s.recv(100) == b"" and time.time() - t0 < 10  # closed after about a second
        s.close()
    finally:
        server.stop()


def test_sigterm_ends_streams_and_exits_cleanly():
    server = Server("-m", gemma_path(), "--ctx", 512, "--parallel", 1)
    stopped = False
    try:
        s = start_stream(server.port, {"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 400,
                                       "stream": True})
        buf = read_event(s)
        t0 = time.time()
        server.stop()  # SIGTERM; asserts exit code 0 (under ASan: no leaks)
        stopped = True
        assert time.time() - t0 < 30
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        assert b"shutting down" in buf and b"data: [DONE]\n\n" in buf
        assert buf.endswith(b"\r\n0\r\n\r\n")  # the chunked body ends properly
    finally:
        if not stopped:
            server.stop(check=False)
