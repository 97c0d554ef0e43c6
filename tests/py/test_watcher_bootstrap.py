"""The built delivery-status watcher, as Lambda runs it: under the local Runtime API of runtime_api.py, it reads a
CloudWatch Logs subscription event (base64 + gzip), answers with the failures by class, and its stdout — what
CloudWatch would get — holds one JSON log line per record and EMF metric lines, and no full phone number.

The binary is $WATCHER_BOOTSTRAP, else the debug build in Cargo's target directory (`cargo test --all-targets`,
which scripts/test runs, builds it). Without it the test fails: it never skips."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from runtime_api import invoke

FIXTURES = ROOT / "tests" / "fixtures" / "delivery-status"


def watcher() -> Path:
    path = os.environ.get("WATCHER_BOOTSTRAP")
    if not path:
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        path = str(Path(json.loads(meta.stdout)["target_directory"]) / "debug" / "delivery-status-watcher")
    p = Path(path)
    if not p.is_file():
        pytest.fail(f"{p} does not exist: build it (cargo build --bin delivery-status-watcher) or set WATCHER_BOOTSTRAP")
    return p


def subscription_event(data: str) -> dict:
    return {"awslogs": {"data": base64.b64encode(gzip.compress(data.encode())).decode()}}


def run(events: list[dict], extra_env: dict | None = None) -> tuple[list, list[dict]]:
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "watcher",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "METRICS_NAMESPACE": "WatcherTest",
        **(extra_env or {}),
    }
    answers, text = invoke(watcher(), events, env, stderr=subprocess.PIPE)
    assert not re.search(r"\+\d{8,}", text), "a full phone number reached stdout"
    return answers, [json.loads(line) for line in text.splitlines()]


def test_the_watcher_logs_and_counts_a_subscription_batch():
    data = (FIXTURES / "subscription-data.json").read_text()
    control = (FIXTURES / "control-message-data.json").read_text()
    answers, lines = run([subscription_event(control), subscription_event(data)])

    assert [kind for kind, _ in answers] == ["response", "response"]
    assert answers[0][1] == {"failures": {}, "delivered": 0, "unreadable": 0, "interim": 0}
    assert answers[1][1]["failures"] == {"CarrierFailure": 2, "OptedOut": 1, "SNSSandbox": 1,
                                         "SpendingLimitReached": 1, "Unknown": 1}

    outcomes = [l for l in lines if "outcome" in l]
    assert sorted(l["outcome"] for l in outcomes) == ["delivery_failed"] * 5 + ["delivery_status_unreadable"]
    emf = [l for l in lines if "_aws" in l]
    assert emf and all(l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "WatcherTest" for l in emf)
    by_class = {l["Class"]: l["DeliveryFailures"] for l in emf if "Class" in l}
    assert by_class == {"CarrierFailure": 2, "OptedOut": 1, "SNSSandbox": 1, "SpendingLimitReached": 1, "Unknown": 1}
    assert all("level" not in l for l in emf), "no level needed at INFO"
    assert len(lines) == len(outcomes) + len(emf), "every stdout line is a log line or a metric document"


def test_metric_lines_survive_lambdas_log_level_filter_and_metrics_can_be_off():
    data = (FIXTURES / "subscription-data.json").read_text()
    _, lines = run([subscription_event(data)], {"AWS_LAMBDA_LOG_LEVEL": "ERROR"})
    emf = [l for l in lines if "_aws" in l]
    assert emf and all(l["level"] == "ERROR" for l in emf)
    # At ERROR the per-number WARN lines are filtered; the account-wide ERROR ones stay.
    assert {l["class"] for l in lines if l.get("outcome") == "delivery_failed"} == {"SNSSandbox", "SpendingLimitReached"}

    answers, lines = run([subscription_event(data)], {"METRICS": "off"})
    assert answers[0][0] == "response"
    assert lines and not [l for l in lines if "_aws" in l]

    answers, lines = run([subscription_event(data)], {"METRICS": "maybe"})
    assert not answers
    assert any(l.get("outcome") == "config_error" and "METRICS" in l.get("reason", "") for l in lines)


def test_the_watcher_reads_end_user_messaging_events_beside_sns_records():
    """A configuration set's event destination feeds the same binary: each message counted once, at its final
    event, in the classes of SNS's records (tests/fixtures/end-user-messaging)."""
    data = (ROOT / "tests" / "fixtures" / "end-user-messaging" / "subscription-data-mixed.json").read_text()
    answers, lines = run([subscription_event(data)])
    assert answers[0][1] == {"failures": {"CarrierFailure": 8, "OptedOut": 2, "ProtectBlocked": 1,
                                          "SpendingLimitReached": 1, "Unknown": 2},
                             "delivered": 2, "unreadable": 1, "interim": 4}
    failed = [l for l in lines if l.get("outcome") == "delivery_failed"]
    assert len(failed) == 13 and all(l["phone"].count("*") >= 6 for l in failed)
