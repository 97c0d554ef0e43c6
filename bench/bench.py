#!/usr/bin/env python3
"""Benchmark of the Cognito custom SMS sender against the other ways to do the same job.

Runs our Rust bootstrap, a Node.js peer and a Python peer (bench/peers/) behind a local Lambda Runtime API
emulator, on the same Cognito-shaped events (made by our `make-event --kms-key-arn`) and the same endpoints,
against two backends for KMS and SNS: moto (`moto_server`) and a fast local stub (stub.py). Measures cold
start, warm latency, CPU per event, peak RSS and deployment sizes; writes results.json and results.md.

Normally started by `bench/run`, which installs the pinned dependencies first. See bench/README.md.
"""

import argparse
import asyncio
import datetime
import json
import shlex
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from httpmini import start_server  # noqa: E402

PEERS = os.path.join(HERE, "peers")
VENV_PY = os.path.join(HERE, ".venv", "bin", "python")
CACHE_TARGET = os.path.join(os.path.expanduser("~"), ".cache", "cognito-sms-sender", "target")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STUB_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER_POOL_ID = "us-east-1_EXAMPLE"
FUNCTION_NAME = "cognito-sms-sender-bench"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:111122223333:function:{FUNCTION_NAME}"
TRIGGERS = ["SignUp", "ResendCode", "ForgotPassword", "UpdateUserAttribute", "VerifyUserAttribute",
            "Authentication", "AdminCreateUser"]
IMPL_NAMES = {"ours": "ours (Rust)", "ours-gate": "ours, gate on", "ours-eum": "ours, End User Messaging",
              "node": "Node.js peer", "python": "Python peer"}
MIB = 1024 * 1024


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- /proc


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()  # fields from "state" (field 3) on


def process_tree(root):
    """root and its live descendants (scanning /proc for parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu(root):
    """(user, sys) seconds of root's process tree: utime/stime of each live process plus cutime/cstime
    (children already reaped). Clock-tick resolution (1/CLK_TCK s)."""
    user = system = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        user += int(f[11]) + int(f[13])
        system += int(f[12]) + int(f[14])
    return user / CLK_TCK, system / CLK_TCK


def tree_cpu_ns(root):
    """CPU time of root's process tree in nanoseconds: the first field of /proc/PID/task/TID/schedstat for every
    live thread. Used for the cold start, which can take less than one clock tick (10 ms) of CPU in all."""
    total = 0
    for pid in process_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def tree_hwm_kib(root):
    """VmHWM (peak resident set) summed over root's process tree, KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# --------------------------------------------------------------------------------- Runtime API emulator


class RuntimeAPI:
    """The Lambda Runtime API (2018-06-01) for one function process: GET /next long-polls until the driver
    queues an event; POST /response or /error completes it. Timestamps are taken in the handlers."""

    PREFIX = "/2018-06-01/runtime/invocation/"

    def __init__(self):
        self.queue = asyncio.Queue()
        self.pending = {}
        self.sent_at = {}
        self.first_next_ns = None
        self.init_error = None
        self.server = None
        self.port = None

    async def start(self):
        self.server = await start_server(self.app)
        self.port = self.server.port
        return self

    def close(self):
        """Ends a GET /next still waiting (its process is gone) and closes the connections."""
        if self.server:
            self.queue.put_nowait(None)
            self.server.close()

    async def app(self, req):
        path = req.path
        if req.method == "GET" and path == self.PREFIX + "next":
            if self.first_next_ns is None:
                self.first_next_ns = time.perf_counter_ns()
            item = await self.queue.get()
            if item is None:  # closing
                return 410, {"Content-Type": "application/json"}, b'{"errorType":"Gone"}'
            req_id, payload = item
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": req_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
            }
            self.sent_at[req_id] = time.perf_counter_ns()
            return 200, headers, payload
        if req.method == "POST" and path.startswith(self.PREFIX):
            t = time.perf_counter_ns()
            req_id, _, kind = path[len(self.PREFIX):].partition("/")
            fut = self.pending.pop(req_id, None)
            if fut is None or kind not in ("response", "error"):
                return 400, {"Content-Type": "application/json"}, b'{"errorType":"InvalidRequestID"}'
            if not fut.done():
                fut.set_result((kind, t, req.body))
            return 202, {"Content-Type": "application/json"}, b'{"status":"OK"}'
        if req.method == "POST" and path == "/2018-06-01/runtime/init/error":
            self.init_error = req.body.decode(errors="replace")
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_result(("init_error", time.perf_counter_ns(), req.body))
            return 202, {"Content-Type": "application/json"}, b'{"status":"OK"}'
        return 404, {"Content-Type": "application/json"}, b'{"errorType":"NotFound"}'

    def submit(self, payload):
        req_id = str(uuid.uuid4())
        fut = asyncio.get_running_loop().create_future()
        self.pending[req_id] = fut
        self.queue.put_nowait((req_id, payload))
        return req_id, fut


class FunctionProcess:
    """One implementation's process, started with a Lambda-like environment, driven through a RuntimeAPI."""

    def __init__(self, spec, env, log_path, timeout):
        self.spec, self.env, self.log_path, self.timeout = spec, env, log_path, timeout
        self.api = None
        self.proc = None
        self.t0 = None

    async def launch(self, first_payload=None, log_mode="ab"):
        """Starts the Runtime API, queues `first_payload` (if any) and starts the process, its output to the log
        (`log_mode` "ab" appends, "wb" starts it afresh); returns the queued request's (id, future)."""
        self.api = await RuntimeAPI().start()
        env = dict(self.env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.api.port}")
        queued = None if first_payload is None else self.api.submit(first_payload)
        self.logf = open(self.log_path, log_mode)
        self.t0 = time.perf_counter_ns()
        self.proc = subprocess.Popen(self.spec["cmd"], cwd=self.spec["cwd"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        return queued

    async def start(self, first_payload):
        """Starts the process with `first_payload` already queued; returns cold-start figures."""
        req_id, fut = await self.launch(first_payload)
        kind, t_done, body = await self._wait(fut, self.timeout * 2)
        ready_ns = (self.api.first_next_ns or t_done) - self.t0
        cpu_ns = tree_cpu_ns(self.proc.pid)
        self.api.sent_at.pop(req_id, None)
        return {
            "ready_ms": ready_ns / 1e6,
            "first_response_ms": (t_done - self.t0) / 1e6,
            "cpu_ms_to_first_response": cpu_ns / 1e6,
            "peak_rss_kib_after_first": tree_hwm_kib(self.proc.pid),
            "ok": kind == "response",
            "body": body.decode(errors="replace")[:500],
        }

    async def invoke(self, payload):
        req_id, fut = self.api.submit(payload)
        kind, t_done, body = await self._wait(fut, self.timeout)
        return kind, (t_done - self.api.sent_at.pop(req_id)) / 1e6, body

    async def _wait(self, fut, timeout):
        deadline = time.monotonic() + timeout
        while True:
            done, _ = await asyncio.wait({fut}, timeout=0.05)
            if done:
                return fut.result()
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec['name']} exited with {self.proc.returncode} "
                                   f"(init error: {self.api.init_error}); log: {self.log_path}\n{tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.spec['name']} did not answer within {timeout} s; log: {self.log_path}\n{tail(self.log_path)}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=3)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if self.api:
            self.api.close()
        if getattr(self, "logf", None):
            self.logf.close()


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------- backends


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, data=None, timeout=10):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


STATE_TABLE = "bench-state"


class Backend:
    """moto_server or stub.py, as a child process on loopback."""

    def __init__(self, kind, work):
        self.kind, self.work = kind, work
        self.proc = None
        self.port = None
        self.key_arn = None
        # moto has no End User Messaging: a stub beside it answers SendTextMessage.
        self.eum_stub = None

    def start(self):
        logf = open(os.path.join(self.work, f"{self.kind}-server.log"), "wb")
        if self.kind == "moto":
            self.port = free_port()
            self.proc = subprocess.Popen([os.path.join(HERE, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 60
            while True:
                try:
                    http_json(f"{self.url}/moto-api/data.json", timeout=2)
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"moto_server did not start; see {logf.name}")
                    time.sleep(0.2)
            import boto3  # the venv's

            kms = boto3.client("kms", region_name="us-east-1", endpoint_url=self.url,
                               aws_access_key_id="testing", aws_secret_access_key="testing")
            self.key_arn = kms.create_key(Description="cognito-sms-sender bench", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
            # The state table (ledger and abuse-gate counters), for runs with BENCH_OURS_ENV=STATE_TABLE=bench-state.
            boto3.client("dynamodb", region_name="us-east-1", endpoint_url=self.url,
                         aws_access_key_id="testing", aws_secret_access_key="testing").create_table(
                TableName=STATE_TABLE, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
            self.eum_stub = Backend("stub", self.work).start()
        else:
            self.proc = subprocess.Popen([VENV_PY, os.path.join(HERE, "stub.py"), "--port", "0"],
                                         stdout=subprocess.PIPE, stderr=logf, start_new_session=True)
            line = self.proc.stdout.readline().decode()
            if not line.startswith("PORT "):
                raise RuntimeError(f"stub did not start; see {logf.name}")
            self.port = int(line.split()[1])
            self.key_arn = STUB_KEY_ARN
        log(f"{self.kind} listening on {self.url}; key {self.key_arn}")
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def eum_url(self):
        return self.eum_stub.url if self.eum_stub else self.url

    def sms(self):
        """Every SMS published so far, oldest first, by SNS and by End User Messaging:
        ([{phone_number, message, …}], [...])."""
        if self.kind == "moto":
            # moto dumps all its state here, the state table's thousands of items included: it can take minutes.
            return (http_json(f"{self.url}/moto-api/data.json", timeout=600).get("sns", {}).get("SMS", []), self.eum_stub.sms()[0])
        return (http_json(f"{self.url}/_stub/sms?from=0", timeout=60), [])

    def sms_since(self, before):
        """The SMS published since `before` (an earlier `sms()`)."""
        return [m for now, then in zip(self.sms(), before) for m in now[len(then):]]

    def cpu(self):
        return sum(tree_cpu(self.proc.pid)) + (self.eum_stub.cpu() if self.eum_stub else 0)

    def stop(self):
        if self.eum_stub:
            self.eum_stub.stop()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ------------------------------------------------------------------------------------ implementations


def aws_env(backend):
    return {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench/secret/not/real/0000000000000000000",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_ENDPOINT_URL": backend.url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def lambda_env(backend, spec):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "LAMBDA_TASK_ROOT": spec["cwd"],
        "_HANDLER": spec["handler"],
        "KMS_KEY_ARN": backend.key_arn,
        "KEY_ARN": backend.key_arn,  # the name AWS's samples use
        "SMS_PROBE": "off",
    }
    env.update(aws_env(backend))
    env.update(spec.get("env", {}))
    if spec.get("eum"):
        env["AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2"] = backend.eum_url
    if spec["name"].startswith("ours"):
        # BENCH_OURS_ENV="METRICS=off,RUST_LOG=warn": extra settings for ours, to measure what they cost.
        env.update(kv.split("=", 1) for kv in os.environ.get("BENCH_OURS_ENV", "").split(",") if "=" in kv)
    return env


def impl_specs(binary):
    node_dir = os.path.join(PEERS, "node")
    py_dir = os.path.join(PEERS, "python")
    # BENCH_OURS_PREFIX (e.g. "perf record -g -o /tmp/ours.perf --") wraps ours for profiling; its figures
    # then include the wrapper, so use it only to find where time goes.
    ours = {"name": "ours", "cmd": shlex.split(os.environ.get("BENCH_OURS_PREFIX", "")) + [binary],
            "cwd": tempfile.gettempdir(), "handler": "bootstrap"}
    return {
        "ours": ours,
        # Ours with the state table (ledger and abuse-gate counters, the gate's default policy), and with the
        # End User Messaging transport instead of SNS.
        "ours-gate": dict(ours, name="ours-gate", env={"STATE_TABLE": STATE_TABLE}),
        "ours-eum": dict(ours, name="ours-eum", env={"SMS_TRANSPORT": "end-user-messaging"}, eum=True),
        "node": {"name": "node", "cmd": ["node", "runtime.js", "index.handler"], "cwd": node_dir, "handler": "index.handler"},
        "python": {
            "name": "python",
            "cmd": [VENV_PY, "-m", "awslambdaric", "handler.lambda_handler"],
            "cwd": py_dir,
            "handler": "handler.lambda_handler",
            # The deployment package (pip --target) first, as in Lambda; awslambdaric comes from the venv.
            "env": {"PYTHONPATH": f"{py_dir}:{os.path.join(py_dir, 'package')}"},
        },
    }


# --------------------------------------------------------------------------------------------- events


def make_events(binary, backend, count):
    """`count` distinct Cognito-shaped events, encrypted under the backend's KMS key by our make-event.
    Returns [(payload_bytes, phone, code)]."""
    env = dict(os.environ, **aws_env(backend))
    out = []
    for i in range(count):
        phone = f"+1206555{1000 + i:04d}"
        code = str(100000 + (i * 7919 + 104729) % 900000)
        trigger = TRIGGERS[i % len(TRIGGERS)]
        r = subprocess.run([binary, "make-event", "--trigger", trigger, "--phone", phone, "--code", code,
                            "--user-pool-id", USER_POOL_ID, "--kms-key-arn", backend.key_arn],
                           env=env, cwd=ROOT, capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"make-event failed: {r.stderr.decode(errors='replace')[-2000:]}")
        event = json.loads(r.stdout)
        out.append((json.dumps(event, separators=(",", ":")).encode(), phone, code))
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[k]


def median(values):
    s = sorted(values)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2) if s else None


# -------------------------------------------------------------------------------------------- measure


async def measure(impl, spec, backend, events, args, work):
    env = lambda_env(backend, spec)
    log_path = os.path.join(work, "logs", f"{backend.kind}-{impl}.log")
    handed = []  # indexes of events handed out, for the SMS check
    counter = 0

    def next_event():
        nonlocal counter
        i = counter % len(events)
        counter += 1
        handed.append(i)
        return events[i][0]

    sms_before = backend.sms()
    colds, errors = [], []
    proc = None
    try:
        for k in range(args.cold_runs):
            proc = FunctionProcess(spec, env, log_path, args.timeout)
            cold = await proc.start(next_event())
            colds.append(cold)
            if not cold["ok"]:
                errors.append(cold["body"])
            if k < args.cold_runs - 1:
                proc.stop()
                proc = None
        for _ in range(args.warmup):
            kind, _, body = await proc.invoke(next_event())
            if kind != "response":
                errors.append(body.decode(errors="replace")[:500])
        pid = proc.proc.pid
        u0, s0 = tree_cpu(pid)
        b0 = backend.cpu()
        h0 = os.times()
        log0 = os.path.getsize(log_path)
        t0 = time.perf_counter()
        latencies = []
        # Peak RSS along the warm loop (soak: memory must stay flat), sampled at 1,000, 10,000, … events.
        hwm_at = {}
        for n_done in range(1, args.events + 1):
            kind, ms, body = await proc.invoke(next_event())
            latencies.append(ms)
            if n_done in (100, 1000, 10_000, 100_000):
                hwm_at[n_done] = tree_hwm_kib(pid) / 1024
            if kind != "response":
                errors.append(body.decode(errors="replace")[:500])
        wall = time.perf_counter() - t0
        u1, s1 = tree_cpu(pid)
        b1 = backend.cpu()
        h1 = os.times()
        log1 = os.path.getsize(log_path)
        hwm = tree_hwm_kib(pid)
        threads = len(os.listdir(f"/proc/{pid}/task"))
    finally:
        if proc:
            proc.stop()

    # Every event handed out must have become exactly one SMS with the right code to the right phone.
    sent = backend.sms_since(sms_before)
    expected = sorted((events[i][1], events[i][2]) for i in handed)
    code_by_phone = {phone: code for _, phone, code in events}
    got = []
    for m in sent:
        phone = m.get("phone_number")
        code = code_by_phone.get(phone)
        got.append((phone, code if code and code in m.get("message", "") else None))
    verified = sorted(got) == expected

    n = args.events
    lat = sorted(latencies)
    return {
        "cold_runs": colds,
        "cold_ready_ms": median([c["ready_ms"] for c in colds]),
        "cold_first_response_ms": median([c["first_response_ms"] for c in colds]),
        "cold_cpu_ms_to_first_response": median([c["cpu_ms_to_first_response"] for c in colds]),
        "warm_events": n,
        "warm_p50_ms": percentile(lat, 50),
        "warm_p99_ms": percentile(lat, 99),
        "warm_mean_ms": sum(lat) / n,
        "warm_max_ms": lat[-1],
        "warm_throughput_per_s": n / wall,
        "cpu_ms_per_event": (u1 - u0 + s1 - s0) * 1000 / n,
        "cpu_user_ms_per_event": (u1 - u0) * 1000 / n,
        "cpu_sys_ms_per_event": (s1 - s0) * 1000 / n,
        "peak_rss_mib": hwm / 1024,
        "peak_rss_mib_after_warm_events": hwm_at,
        "threads": threads,
        "log_bytes_per_event": (log1 - log0) / n,
        "backend_cpu_ms_per_event": (b1 - b0) * 1000 / n,
        "harness_cpu_ms_per_event": ((h1.user - h0.user) + (h1.system - h0.system)) * 1000 / n,
        "errors": len(errors),
        "error_samples": errors[:3],
        "sms_expected": len(expected),
        "sms_published": len(sent),
        "verified": verified,
        "log": os.path.relpath(log_path, HERE),
    }


# ---------------------------------------------------------------------------------------------- sizes


def dir_files(root, skip=()):
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(files):
            yield os.path.join(base, name)


def zip_size(entries, work):
    """Bytes of a deflate zip (level 6, zip's default) of [(path, arcname)], and the bytes unzipped."""
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=work)
    os.close(fd)
    raw = 0
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for path, arc in entries:
                raw += os.path.getsize(path)
                z.write(path, arc)
        return os.path.getsize(tmp), raw
    finally:
        os.unlink(tmp)


def sizes(binary, impls, work):
    out = {}
    if "ours" in impls:
        z, raw = zip_size([(binary, "bootstrap")], work)
        out["ours"] = {"zip_bytes": z, "unzipped_bytes": raw, "contents": "bootstrap"}
    if "node" in impls:
        d = os.path.join(PEERS, "node")
        entries = [(os.path.join(d, f), f) for f in ("index.js", "package.json")]
        entries += [(p, os.path.relpath(p, d)) for p in dir_files(os.path.join(d, "node_modules"))]
        z, raw = zip_size(entries, work)
        out["node"] = {"zip_bytes": z, "unzipped_bytes": raw, "contents": "index.js, package.json, node_modules/"}
    if "python" in impls:
        d = os.path.join(PEERS, "python")
        pkg = os.path.join(d, "package")
        entries = [(os.path.join(d, "handler.py"), "handler.py")]
        entries += [(p, os.path.relpath(p, pkg)) for p in dir_files(pkg, skip=("bin",))]
        z, raw = zip_size(entries, work)
        out["python"] = {"zip_bytes": z, "unzipped_bytes": raw,
                         "contents": "handler.py + pip --target package (aws-encryption-sdk, boto3 and their dependencies)"}
    return out


# ------------------------------------------------------------------------------------------- versions


def cmd_out(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / MIB:.1f} GiB"
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model, "memory": mem,
            "kernel": platform.release(), "loadavg_at_start": os.getloadavg()}


def build_profile(binary):
    """Which cargo profile built `binary`: from its path under a target directory (`release/`, `lambda/` or
    `debug/`), else from its sections: 'debug' when it has DWARF debug information (a dev-profile build; the
    release profile strips), else 'release'."""
    import struct

    for part, profile in (("/release/", "release"), ("/lambda/", "release"), ("/debug/", "debug")):
        if part in binary:
            return profile
    try:
        with open(binary, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return "unknown"
            shoff, = struct.unpack_from("<Q", head, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQ", table, i * shentsize) for i in range(shnum)]
            _, _, _, _, str_off, str_size = sections[shstrndx]
            f.seek(str_off)
            names = f.read(str_size)
        return "debug" if any(names[n:names.index(b"\0", n)] == b".debug_info" for n, *_ in sections) else "release"
    except (OSError, ValueError, struct.error, IndexError):
        return "unknown"


def versions(binary):
    from importlib import metadata

    def pkg(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    def node_pkg(name):
        try:
            with open(os.path.join(PEERS, "node", "node_modules", name, "package.json")) as f:
                return json.load(f)["version"]
        except OSError:
            return None

    profile = build_profile(binary)
    git = cmd_out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = cmd_out(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    return {
        "ours": {"binary": binary, "version": cmd_out([binary, "--version"]), "profile": profile,
                 "git": f"{git}{'-dirty' if dirty else ''}" if git else None, "rustc": cmd_out(["rustc", "--version"])},
        "node": {"node": cmd_out(["node", "--version"]), "@aws-crypto/client-node": node_pkg("@aws-crypto/client-node"),
                 "@aws-sdk/client-sns": node_pkg("@aws-sdk/client-sns"), "@aws-sdk/client-kms": node_pkg("@aws-sdk/client-kms"),
                 "runtime client": "bench/peers/node/runtime.js (aws-lambda-ric does not install here)"},
        "python": {"python": platform.python_version(), "aws-encryption-sdk": pkg("aws-encryption-sdk"),
                   "boto3": pkg("boto3"), "botocore": pkg("botocore"), "cryptography": pkg("cryptography"),
                   "runtime client": f"awslambdaric {pkg('awslambdaric')}"},
        "backends": {"moto": pkg("moto"), "stub": "bench/stub.py"},
    }


# -------------------------------------------------------------------------------------------- reports


GOALS = [
    # (id, text, metric, implementation, how: ("ratio", against, limit) or ("abs", limit))
    ("cold_start", "cold start (process start → first response) ≤ 1/10 of Node's", "cold_first_response_ms", "ours", ("ratio", "node", 1 / 10)),
    ("cold_ready", "cold start (process start → ready, first GET /next) ≤ 1/10 of Node's", "cold_ready_ms", "ours", ("ratio", "node", 1 / 10)),
    ("warm_cpu", "warm CPU per event ≤ 1/5 of Node's", "cpu_ms_per_event", "ours", ("ratio", "node", 1 / 5)),
    ("gate_cpu", "warm CPU per event with the gate on ≤ 1/5 of Node's", "cpu_ms_per_event", "ours-gate", ("ratio", "node", 1 / 5)),
    ("eum_cpu", "warm CPU per event through End User Messaging ≤ 1.1 × through SNS", "cpu_ms_per_event", "ours-eum", ("ratio", "ours", 1.1)),
    ("peak_rss", "peak RSS ≤ 1/3 of Node's", "peak_rss_mib", "ours", ("ratio", "node", 1 / 3)),
    ("own_overhead", "our own overhead (stub run, CPU per event) ≤ 1.5 ms", "cpu_ms_per_event", "ours", ("abs", 1.5)),
]


def evaluate_goals(results):
    basis = "stub" if "stub" in results["backends"] else next(iter(results["backends"]), None)
    out = []
    b = results["backends"].get(basis, {})
    for gid, text, metric, impl, (how, *against, limit) in GOALS:
        if impl not in b or (against and against[0] not in b):
            continue  # not run this time
        ours = b[impl].get(metric)
        if how == "ratio":
            node = b[against[0]].get(metric)
            value = ours / node if ours is not None and node else None
            out.append({"goal": gid, "text": text, "basis": f"{basis} run", "value": value, "limit": limit,
                        "shown": f"{ours:.3g} / {node:.3g} = {value:.3f}" if value is not None else "n/a",
                        "met": value is not None and value <= limit})
        else:
            out.append({"goal": gid, "text": text, "basis": f"{basis} run", "value": ours, "limit": limit,
                        "shown": f"{ours:.3f} ms" if ours is not None else "n/a",
                        "met": ours is not None and ours <= limit})
    z = results["sizes"].get("ours", {}).get("zip_bytes")
    out.append({"goal": "zip", "text": "deployment zip ≤ 10 MB (10 MiB = 10,485,760 bytes)", "basis": "bootstrap zipped",
                "value": z, "limit": 10 * MIB, "shown": f"{z / MIB:.2f} MiB" if z else "n/a",
                "met": z is not None and z <= 10 * MIB})
    return out


ROWS = [
    ("cold_ready_ms", "cold start → ready (first GET /next), ms, median", "{:.1f}"),
    ("cold_first_response_ms", "cold start → first response, ms, median", "{:.1f}"),
    ("cold_cpu_ms_to_first_response", "CPU to first response (init + 1 event), ms", "{:.1f}"),
    ("warm_p50_ms", "warm latency p50, ms", "{:.2f}"),
    ("warm_p99_ms", "warm latency p99, ms", "{:.2f}"),
    ("warm_throughput_per_s", "warm events per second (one at a time)", "{:.0f}"),
    ("cpu_ms_per_event", "CPU per warm event (user+sys), ms", "{:.3f}"),
    ("cpu_user_ms_per_event", "  of which user, ms", "{:.3f}"),
    ("cpu_sys_ms_per_event", "  of which sys, ms", "{:.3f}"),
    ("peak_rss_mib", "peak RSS (VmHWM, process tree), MiB", "{:.1f}"),
    ("threads", "threads at the end", "{:d}"),
    ("log_bytes_per_event", "log output per warm event (stdout+stderr), bytes", "{:.0f}"),
    ("backend_cpu_ms_per_event", "backend server CPU per warm event, ms (not the function's)", "{:.3f}"),
    ("harness_cpu_ms_per_event", "emulator CPU per warm event, ms (not the function's)", "{:.3f}"),
    ("errors", "errors (POST /error or init error)", "{:d}"),
    ("verified", "every event → one SMS with the right code and phone", "{}"),
]


def ratio(a, b):
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or not isinstance(a, (int, float)) or not b:
        return ""
    return f"{a / b:.3f}"


def fmt(fmtstr, v):
    if v is None:
        return "n/a"
    try:
        return fmtstr.format(v)
    except (ValueError, TypeError):
        return str(v)


def ratio_columns(impls):
    """The (ours, peer) pairs the tables divide: ours against each peer, each variant of ours against Node, and End
    User Messaging against SNS."""
    peers = [i for i in impls if not i.startswith("ours")]
    pairs = [("ours", p) for p in peers if "ours" in impls]
    pairs += [(v, "node") for v in impls if v.startswith("ours-") and "node" in impls]
    return pairs + [("ours-eum", "ours")] if {"ours", "ours-eum"} <= set(impls) else pairs


def markdown(results):
    impls = results["settings"]["impls"]
    pairs = ratio_columns(impls)
    head = "| figure | " + " | ".join(IMPL_NAMES[i] for i in impls) + " | " + " | ".join(f"{a}/{b}" for a, b in pairs) + " |"
    rule = "|" + "---|" * (1 + len(impls) + len(pairs))
    v = results["versions"]
    m = results["machine"]
    s = results["settings"]
    lines = [
        "# Benchmark: cognito-sms-sender against the other ways to do this job",
        "",
        f"- Date: {results['date']} (run took {results['duration_s']:.0f} s)",
        f"- Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory']}, Linux {m['kernel']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}",
        f"- Ours: `{v['ours']['version']}`, **{v['ours']['profile']} build**, git {v['ours']['git']}, {v['ours']['rustc']}; "
        f"binary `{v['ours']['binary']}`",
        f"- Node peer: Node {v['node']['node']}, @aws-crypto/client-node {v['node']['@aws-crypto/client-node']}, "
        f"@aws-sdk/client-sns {v['node']['@aws-sdk/client-sns']}, @aws-sdk/client-kms {v['node']['@aws-sdk/client-kms']}; "
        f"runtime client: {v['node']['runtime client']}",
        f"- Python peer: Python {v['python']['python']}, aws-encryption-sdk {v['python']['aws-encryption-sdk']}, "
        f"boto3 {v['python']['boto3']}, cryptography {v['python']['cryptography']}; runtime client: {v['python']['runtime client']}",
        f"- Backends: moto {v['backends']['moto']} (`moto_server` on loopback), stub (bench/stub.py)",
        f"- Settings: {s['events']} warm events after {s['warmup']} unmeasured warm-up events; "
        f"{s['cold_runs']} cold starts (median shown); {s['distinct_events']} distinct events made by `make-event --kms-key-arn`, cycled "
        "(on moto with the gate on, one per event: a cycled event would be a redelivery there)",
        f"- Variants of ours: {IMPL_NAMES['ours-gate']} = `STATE_TABLE` set (idempotency ledger and the abuse gate's default policy "
        f"in DynamoDB); {IMPL_NAMES['ours-eum']} = `SMS_TRANSPORT=end-user-messaging`",
        "",
        "Ratios are ours / peer from this same run: below 1 means ours is smaller, which is better for every figure "
        "except events per second.",
        "",
    ]
    for backend, data in results["backends"].items():
        title = {"stub": "Stub backend (local stub of every AWS call: the function's own overhead)",
                 "moto": "moto backend (KMS, SNS and DynamoDB emulated by moto_server; End User Messaging by the stub)"}.get(backend, backend)
        lines += [f"## {title}", ""]
        lines += [head, rule]
        for key, label, f in ROWS:
            vals = [data.get(i, {}).get(key) for i in impls]
            cells = [fmt(f, x) for x in vals]
            rs = [ratio(data.get(a, {}).get(key), data.get(b, {}).get(key)) for a, b in pairs]
            if key in ("backend_cpu_ms_per_event", "harness_cpu_ms_per_event", "errors", "verified", "threads", "log_bytes_per_event",
                       "cpu_user_ms_per_event", "cpu_sys_ms_per_event"):
                rs = [""] * len(rs)
            lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(rs) + (" |" if rs else "|"))
        lines.append("")
    sz = results["sizes"]
    lines += ["## Sizes", "", head, rule]
    for key, label in (("unzipped_bytes", "binary / package unzipped, MiB"), ("zip_bytes", "deployment zip, MiB")):
        vals = [sz.get(i, {}).get(key) for i in impls]
        rs = [ratio(sz.get(a, {}).get(key), sz.get(b, {}).get(key)) for a, b in pairs]
        lines.append(f"| {label} | " + " | ".join(fmt("{:.2f}", x / MIB if x else None) for x in vals) + " | " + " | ".join(rs) + (" |" if rs else "|"))
    lines += ["", "Zip contents: " + "; ".join(f"{IMPL_NAMES[i]}: {sz[i]['contents']}" for i in impls if i in sz), ""]
    lines += ["## Goals", "", "| goal | basis | measured | met |", "|---|---|---|---|"]
    for g in results["goals"]:
        lines.append(f"| {g['text']} | {g['basis']} | {g['shown']} | {'**met**' if g['met'] else '**not met**'} |")
    lines.append("")
    if results["versions"]["ours"]["profile"] != "release":
        lines += ["> These figures are from a **debug** build of ours: its CPU, latency, cold start and size are far from "
                  "what a release build gives. Run `bench/run --binary …/target/release/cognito-sms-sender` for the real ones.", ""]
    lines += ["What each figure means, and how it is measured: bench/README.md.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- main


def default_binary():
    release = os.path.join(CACHE_TARGET, "release", "cognito-sms-sender")
    return release if os.path.exists(release) else os.path.join(CACHE_TARGET, "debug", "cognito-sms-sender")


async def run(args):
    started = time.perf_counter()
    caller = os.environ.get("BENCH_CALLER_CWD", os.getcwd())  # bench/run cds into bench/
    binary = os.path.join(caller, os.path.expanduser(args.binary))
    args.out = os.path.join(caller, os.path.expanduser(args.out))
    if not os.access(binary, os.X_OK):
        sys.exit(f"no executable at {binary}; build it or pass --binary")
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for i in impls:
        if i not in IMPL_NAMES:
            sys.exit(f"unknown implementation {i!r}; use {', '.join(IMPL_NAMES)}")
    for b in backends:
        if b not in ("stub", "moto"):
            sys.exit(f"unknown backend {b!r}; use stub, moto")
    work = os.path.join(HERE, "work")
    shutil.rmtree(os.path.join(work, "logs"), ignore_errors=True)
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    log(f"ours: {binary}")
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(binary),
        "settings": {"events": args.events, "warmup": args.warmup, "cold_runs": args.cold_runs,
                     "distinct_events": args.distinct_events, "impls": impls, "backends": backends, "timeout_s": args.timeout},
        "backends": {},
    }
    specs = impl_specs(binary)
    for kind in backends:
        backend = Backend(kind, work).start()
        try:
            t = time.perf_counter()
            # On moto the state table remembers every event and counts every number: each event is used once.
            distinct = args.distinct_events
            if kind == "moto" and "ours-gate" in impls:
                distinct = max(distinct, args.cold_runs + args.warmup + args.events)
            events = make_events(binary, backend, distinct)
            log(f"{kind}: made {len(events)} events in {time.perf_counter() - t:.1f} s")
            results["backends"][kind] = {}
            for impl in impls:
                log(f"{kind}: {impl}: {args.cold_runs} cold starts, {args.warmup} warm-up, {args.events} warm events")
                r = await measure(impl, specs[impl], backend, events, args, work)
                results["backends"][kind][impl] = r
                log(f"{kind}: {impl}: ready {r['cold_ready_ms']:.1f} ms, first response {r['cold_first_response_ms']:.1f} ms, "
                    f"p50 {r['warm_p50_ms']:.2f} ms, p99 {r['warm_p99_ms']:.2f} ms, CPU {r['cpu_ms_per_event']:.3f} ms/event, "
                    f"RSS {r['peak_rss_mib']:.1f} MiB (after warm events: "
                    + ", ".join(f"{k}: {v:.1f}" for k, v in r["peak_rss_mib_after_warm_events"].items())
                    + f"), errors {r['errors']}, verified {r['verified']}")
        finally:
            backend.stop()
    log("sizing deployment zips")
    results["sizes"] = sizes(binary, impls, work)
    results["goals"] = evaluate_goals(results)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["duration_s"] = time.perf_counter() - started
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    md = markdown(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print(md)
    bad = [f"{k}/{i}" for k, d in results["backends"].items() for i, r in d.items() if r["errors"] or not r["verified"]]
    if bad:
        log(f"FAILED: errors or unverified SMS in {', '.join(bad)}; see the logs in bench/work/logs/")
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description="Benchmark ours against Node.js and Python peers behind a local Lambda Runtime API.")
    p.add_argument("--binary", default=default_binary(),
                   help="our bootstrap (default: the release build in ~/.cache/cognito-sms-sender/target if present, else the debug one)")
    p.add_argument("--events", type=int, default=1000, help="warm events per implementation and backend (default 1000)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured warm events before the warm loop (default 10)")
    p.add_argument("--cold-runs", type=int, default=5, help="cold starts per implementation and backend; the median is reported (default 5)")
    p.add_argument("--distinct-events", type=int, default=14, help="distinct events to make and cycle through (default 14)")
    p.add_argument("--backends", default="stub,moto", help="comma-separated: stub, moto (default both)")
    p.add_argument("--impls", default=",".join(IMPL_NAMES), help=f"comma-separated: {', '.join(IMPL_NAMES)} (default all)")
    p.add_argument("--timeout", type=float, default=30, help="seconds one invocation may take (cold: twice that)")
    p.add_argument("--out", default=HERE, help="where results.json and results.md go (default bench/)")
    args = p.parse_args()
    if args.events < 1 or args.cold_runs < 1 or args.distinct_events < 1 or args.warmup < 0:
        p.error("--events, --cold-runs and --distinct-events must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
