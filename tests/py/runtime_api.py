"""A local Lambda Runtime API for the built bootstraps (test_bootstrap, test_watcher_bootstrap): it hands out
queued events on GET /next, collects what the function POSTs back, and runs a binary under it as Lambda would."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import ROOT


def absolute_deadline() -> str:
    """`Lambda-Runtime-Deadline-Ms` as Lambda sends it: milliseconds since the epoch, 10 s from now."""
    return str(int(time.time() * 1000) + 10_000)


class RuntimeApi:
    """Hands out queued events on GET /next, each with `deadline()` as its `Lambda-Runtime-Deadline-Ms`, and
    collects the function's answers."""

    def __init__(self, events: list[dict], deadline=absolute_deadline):
        self.queue = list(events)
        self.answers: dict[str, tuple[str, dict]] = {}
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    self.send_error(404)
                    return
                while not api.queue:
                    if api.done.wait(0.05):
                        self.send_error(410)
                        return
                body = json.dumps(api.queue.pop(0)).encode()
                request_id = f"req-{len(api.answers) + len(api.queue)}-{time.monotonic_ns()}"
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", deadline())
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:sms")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.split("/")
                kind = parts[-1]
                request_id = parts[-2]
                api.answers[request_id] = (kind, payload)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.server.shutdown()

    @property
    def address(self) -> str:
        host, port = self.server.server_address
        return f"{host}:{port}"


def invoke(
    binary: Path, events: list[dict], env: dict, stderr=subprocess.STDOUT, deadline=absolute_deadline
) -> tuple[list[tuple[str, dict]], str]:
    """Starts `binary` under a fresh Runtime API with `env` (plus PATH and AWS_LAMBDA_RUNTIME_API), waits until it
    has answered every event (at most 60 s), stops it, and returns the answers (kind, payload) and its stdout."""
    with RuntimeApi(events, deadline) as api:
        full_env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": api.address, **env}
        proc = subprocess.Popen([str(binary)], env=full_env, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT)
        deadline = time.monotonic() + 60
        while len(api.answers) < len(events) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.terminate()
        stdout, _ = proc.communicate(timeout=10)
    return list(api.answers.values()), stdout.decode(errors="replace")
