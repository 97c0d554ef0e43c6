"""The built bootstrap, as Lambda runs it: started under a small local Lambda Runtime API, it handles sample
events end to end (development key, local outbox), answers each invocation, and its stdout — what CloudWatch
would get — holds no code and no full phone number, even at TRACE.

The binary is $BOOTSTRAP (scripts/test passes the debug build; .ci/run the `cargo lambda build --release`
artefact). Without it the test fails: it never skips."""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT
from runtime_api import invoke

sys.path.insert(0, str(ROOT / "tests"))
import scan_logs  # noqa: E402


def bootstrap() -> Path:
    path = os.environ.get("BOOTSTRAP")
    if not path:
        pytest.fail("set BOOTSTRAP to the built function (scripts/test does: the debug build)")
    p = Path(path)
    if not p.is_file():
        pytest.fail(f"BOOTSTRAP={p} does not exist: build it first")
    return p


def run(
    events: list[dict], tmp_path: Path, extra_env: dict | None = None, **invoke_args
) -> tuple[list[tuple[str, dict]], str, list[dict]]:
    outbox = tmp_path / "outbox.jsonl"
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "sms",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/sms",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LOCAL_DEV_KEY_FILE": str(ROOT / "events/DEV-ONLY-public-test-key.hex"),
        "LOCAL_OUTBOX": str(outbox),
        "SMS_PROBE": "off",
        "METRICS": "off",
        **(extra_env or {}),
    }
    answers, stdout = invoke(bootstrap(), events, env, **invoke_args)
    sent = [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []
    return answers, stdout, sent


def sample(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def test_every_sample_event_is_handled_by_the_bootstrap(tmp_path):
    names = sorted(p.name for p in (ROOT / "events").glob("*.json"))
    assert len(names) == 8
    answers, stdout, sent = run([sample(n) for n in names], tmp_path)
    assert len(answers) == 8, stdout[-2000:]
    assert all(kind == "response" and body["outcome"] == "sent" for kind, body in answers), answers
    assert sorted(m["phone_number"] for m in sent) == sorted(sample(n)["request"]["userAttributes"]["phone_number"] for n in names)
    assert any("123456" in m["message"] for m in sent)
    outcomes = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"outcome"' in line]
    assert [o["outcome"] for o in outcomes] == ["sent"] * 8


def test_transient_failures_fail_the_invocation_and_permanent_ones_do_not(tmp_path):
    bad_phone = sample("sign-up.json")
    bad_phone["request"]["userAttributes"]["phone_number"] = "not a number"
    unwritable = {"LOCAL_OUTBOX": str(tmp_path / "missing-dir" / "outbox.jsonl")}
    answers, stdout, _ = run([bad_phone], tmp_path)
    assert answers == [("response", {"outcome": "invalid_phone_number"})]
    answers, stdout, _ = run([sample("sign-up.json")], tmp_path, unwritable)
    (kind, body), = answers
    assert kind == "error" and body["errorType"] == "sns_unreachable", answers


def test_nothing_secret_reaches_stdout_even_at_trace(tmp_path):
    events = [sample("sign-up.json"), sample("admin-create-user.json")]
    answers, stdout, sent = run(events, tmp_path, {"RUST_LOG": "trace", "AWS_LAMBDA_LOG_LEVEL": "trace"})
    assert len(answers) == 2 and len(sent) == 2
    assert len(stdout.splitlines()) > 5, "TRACE produced logs"
    secrets = [e["request"]["userAttributes"]["phone_number"] for e in events] + ["123456", "Tmp<Pass&1"]
    findings = [(n, f) for n, line in enumerate(stdout.splitlines(), 1) for f in scan_logs.leaks(line, secrets)]
    assert findings == [], findings
    assert all(e["request"]["code"][:40] not in stdout for e in events), "the raw event is not logged"


def test_the_cargo_lambda_watch_recipe_sends(tmp_path):
    """README: `cargo lambda watch`, then `cargo lambda invoke cognito-sms-sender --data-file events/sign-up.json`.
    The watch server sends `Lambda-Runtime-Deadline-Ms` as a small relative value (milliseconds of timeout, not
    a time since the epoch), and sets the development settings of `[package.metadata.lambda.env]`: the same
    request and settings here must send."""
    watch_env = dict(tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["metadata"]["lambda"]["env"])
    watch_env["LOCAL_DEV_KEY_FILE"] = str(ROOT / watch_env["LOCAL_DEV_KEY_FILE"])
    answers, stdout, sent = run([sample("sign-up.json")], tmp_path, watch_env | {"LOCAL_OUTBOX": str(tmp_path / "outbox.jsonl")}, deadline=lambda: "30000")
    assert answers == [("response", {"outcome": "sent", "messageId": "local-outbox-1"})], stdout[-2000:]
    assert "IDEMPOTENCY_TABLE" not in stdout, "no error names a setting that is not set"
    assert len(sent) == 1


def emf_by_event(stdout: str) -> list[tuple[str, list[dict]]]:
    """Each outcome log line on stdout with the EMF documents written after it, before the next event's."""
    events: list[tuple[str, list[dict]]] = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        if "_aws" in doc and events:
            events[-1][1].append(doc)
        elif "outcome" in doc and "level" in doc:
            events.append((doc["outcome"], []))
    return events


def test_metrics_are_written_after_every_event_with_its_outcome(tmp_path):
    bad_phone = sample("forgot-password.json")
    bad_phone["request"]["userAttributes"]["phone_number"] = "not a number"
    events = [sample("sign-up.json"), bad_phone, sample("authentication.json")]
    answers, stdout, _ = run(events, tmp_path, {"METRICS": "on", "METRICS_NAMESPACE": "SmsTest"})
    assert len(answers) == 3, stdout[-2000:]
    by_event = emf_by_event(stdout)
    assert [outcome for outcome, _ in by_event] == ["sent", "invalid_phone_number", "sent"], stdout[-3000:]
    for i, (outcome, docs) in enumerate(by_event):
        assert docs, f"event {i} ({outcome}): no EMF document was flushed after it"
        assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SmsTest" for d in docs)
        rollup = [d for d in docs if d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]]
        assert len(rollup) == 1, f"event {i}: one Service-level document per event: {docs}"
        counted = "Sent" if outcome == "sent" else "Failures"
        assert rollup[0][counted] == 1, rollup
        assert ("ColdStart" in rollup[0]) == (i == 0), "the cold start is counted with the first event only"
        by_outcome = [d.get("Outcome") for d in docs if "Outcome" in d]
        assert by_outcome == ([] if outcome == "sent" else [outcome, outcome]), docs


def test_a_deployed_function_refuses_the_local_outbox(tmp_path):
    """LOCAL_OUTBOX with a KMS key (no development key) stops the function at init: a deployed function can
    never write real codes to a file instead of sending them."""
    deployed = {"LOCAL_DEV_KEY_FILE": "", "KMS_KEY_ARN": "arn:aws:kms:us-east-1:111122223333:key/0f0f0f0f-1111-2222-3333-444444444444"}
    answers, stdout, sent = run([sample("sign-up.json")], tmp_path, deployed)
    assert answers == [] and sent == [], "no event is handled"
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    refusals = [l for l in lines if l.get("outcome") == "config_error"]
    assert len(refusals) == 1, stdout[-2000:]
    assert "LOCAL_OUTBOX" in refusals[0]["reason"] and "LOCAL_DEV_KEY_FILE" in refusals[0]["reason"], refusals
