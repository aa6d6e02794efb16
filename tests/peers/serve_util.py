"""Starting and stopping `slm serve` for the server tests: the server is asked for a free port
(--port 0), its stdout line gives the URL, its stderr goes to a file (never a pipe that could
fill), and stop() checks that SIGTERM ends it cleanly (exit code 0: under ASan, no leaks)."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time

from conftest import BIN


class Server:
    def __init__(self, *args, startup_timeout=120, env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="slm-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(BIN), "serve", "--port", "0", *[str(a) for a in args]],
                                     stdout=subprocess.PIPE, stderr=self.log, env=dict(os.environ, **(env or {})))
        line = b""
        deadline = time.time() + startup_timeout
        while b"\n" not in line:
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                self.proc.kill()
                raise AssertionError(f"slm serve did not start: {self.stderr()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                line += chunk
        m = re.search(rb"http://(\S+):(\d+)", line)
        assert m, line
        self.port = int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}"

    def stderr(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("slm serve did not stop within 60 s of SIGTERM")
        self.proc.stdout.close()
        rc = self.proc.returncode
        err = self.stderr()
        os.unlink(self.log.name)
        if check:
            assert rc == 0, f"slm serve exited with {rc}: {err[-4000:]}"


def http(url, method="GET", path="/", body=None, headers=None, timeout=120):
    """One request over a fresh connection: (status, headers dict, body bytes)."""
    import http.client
    from urllib.parse import urlparse
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def raw_request(port, data, read=True, timeout=30):
    """Sends raw bytes on a new socket; returns what came back (b"" if the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_of(response):
    """The status code of a raw HTTP response, or None for no response."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(m.group(1)) if m else None
