#!/usr/bin/env python3
"""Latency of the conversion path (post confirmation, post authentication), which sits on the user's sign-in.

Against moto on loopback (tests/moto_server.py, one request at a time): the bootstrap sends N sign-up SMS as the
sender (development key, local outbox, STATE_TABLE in moto), which remembers each user's outstanding message;
then the same bootstrap with FUNCTION_ROLE=conversion gets, per user, PostConfirmation_ConfirmSignUp (converted),
the same event again (already_converted) and PostAuthentication_Authentication (no SMS MFA code:
no_outstanding_message). Latency is measured at a local Lambda Runtime API: from the event handed out on
GET /next to the response POSTed back. The first conversion event (cold) is reported apart.

    .venv/bin/python bench/conversion.py [--binary PATH] [--users 300]

Uses the Python of the test venv (moto, boto3). See bench/README.md.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POOL = "us-east-1_EXAMPLE"


class RuntimeApi:
    """Hands out events one at a time and records, per event, the seconds from /next to its response."""

    def __init__(self, events):
        self.events, self.handed, self.took, self.answers = list(events), {}, {}, {}
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_GET(self):
                while not api.events:
                    if api.done.wait(0.05):
                        return self.send_error(410)
                index = len(api.handed)
                body = json.dumps(api.events.pop(0)).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{index}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 3000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:c")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                api.handed[index] = time.perf_counter()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:  # the bootstrap was stopped while waiting for an event
                    pass

            def do_POST(self):
                answered = time.perf_counter()
                index = int(self.path.split("/")[-2].split("-")[1])
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.took[index] = answered - api.handed[index]
                api.answers[index] = json.loads(body or b"{}")
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run(binary, events, env):
    """Runs the bootstrap until it has answered every event; returns (seconds per event, answers)."""
    api = RuntimeApi(events)
    host, port = api.server.server_address
    full = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "METRICS": "off", "SMS_PROBE": "off", **env}
    proc = subprocess.Popen([binary], env=full, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(api.took) < len(events) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.terminate()
    proc.wait(10)
    api.done.set()
    api.server.shutdown()
    return [api.took[i] for i in sorted(api.took)], [api.answers[i] for i in sorted(api.answers)]


def conversion_event(trigger, user):
    return {"version": "1", "region": "us-east-1", "userPoolId": POOL, "userName": user, "triggerSource": trigger,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
            "request": {"userAttributes": {"sub": user}}, "response": {}}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                    "debug", "cognito-sms-sender"))
    p.add_argument("--users", type=int, default=300)
    args = p.parse_args()
    moto = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "moto_server.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    endpoint = f"http://127.0.0.1:{moto.stdout.readline().strip()}"
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    table = "conversion-bench"
    boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint).create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    users = [f"bench-user-{i:05d}" for i in range(args.users)]
    sms = [json.loads(subprocess.check_output(
        [args.binary, "make-event", "--trigger", "SignUp", "--user-name", u, "--code", f"{100000 + i}",
         "--phone", f"+55119{i:08d}"], cwd=ROOT)) for i, u in enumerate(users)]
    common = {"STATE_TABLE": table, "AWS_ENDPOINT_URL": endpoint}
    with tempfile.TemporaryDirectory() as tmp:
        sender = {**common, "LOCAL_DEV_KEY_FILE": "events/DEV-ONLY-public-test-key.hex",
                  "LOCAL_OUTBOX": os.path.join(tmp, "outbox.jsonl")}
        _, answers = run(args.binary, sms, sender)
    assert all(a.get("outcome") == "sent" for a in answers), answers[:3]
    events, kinds = [], []
    for u in users:
        confirm = conversion_event("PostConfirmation_ConfirmSignUp", u)
        for kind, event in (("converted", confirm), ("already_converted", confirm),
                            ("no_outstanding_message", conversion_event("PostAuthentication_Authentication", u))):
            events.append(event)
            kinds.append(kind)
    took, answers = run(args.binary, events, {**common, "FUNCTION_ROLE": "conversion"})
    baseline = moto_update_item(endpoint, table, len(events))
    moto.stdin.close()
    try:
        moto.wait(10)
    except subprocess.TimeoutExpired:
        moto.kill()
    assert answers == events, "every conversion event is answered unchanged"
    print(f"cold (first event): {took[0] * 1000:.1f} ms; {args.users} users, {len(events)} conversion events")
    print("| path | events | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    rows = [(k, [t for i, (t, kind) in enumerate(zip(took, kinds)) if i > 0 and k in (kind, "all")])
            for k in ("converted", "already_converted", "no_outstanding_message", "all")]
    for kind, values in rows + [("moto UpdateItem (boto3, for reference)", baseline)]:
        print(f"| {kind} | {len(values)} | {percentile(values, 50) * 1000:.1f} | {percentile(values, 99) * 1000:.1f}"
              f" | {max(values) * 1000:.1f} |")


def moto_update_item(endpoint, table, count):
    """Seconds per conditional UpdateItem that finds nothing to update, from boto3: moto's share of each event."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    took = []
    for i in range(count):
        started = time.perf_counter()
        try:
            client.update_item(TableName=table, Key={"pk": {"S": f"bench#{i}"}}, UpdateExpression="SET n = :n",
                               ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":n": {"N": "1"}})
        except client.exceptions.ConditionalCheckFailedException:
            pass
        took.append(time.perf_counter() - started)
    return took


if __name__ == "__main__":
    main()
