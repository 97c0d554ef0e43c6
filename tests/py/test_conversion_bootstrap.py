"""The built bootstrap dispatching on triggerSource: post confirmation and post authentication events go to the
conversion handler and are answered with the event itself, exactly; custom SMS sender events go to the sender.
With FUNCTION_ROLE=conversion the function is built without a key, needs only STATE_TABLE, and answers a
custom SMS sender event unchanged with an error line (it is wired to the wrong function)."""

from __future__ import annotations

import json

import boto3

from test_bootstrap import run, sample


def conversion_event(trigger: str) -> dict:
    return {
        "version": "1",
        "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE",
        "userName": "f2b6d2c0-5a1e-4d7e-9e44-0a8b1c2d3e4f",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "triggerSource": trigger,
        "request": {"userAttributes": {"sub": "f2b6d2c0", "phone_number": "+12065550199", "custom:n": 1.5}},
        "response": {},
    }


def outcomes(stdout: str) -> list[str]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [l["outcome"] for l in lines if "outcome" in l]


def test_the_sender_answers_conversion_events_unchanged_and_still_sends(tmp_path):
    confirm = conversion_event("PostConfirmation_ConfirmSignUp")
    answers, stdout, sent = run([confirm, sample("sign-up.json")], tmp_path)
    assert answers[0] == ("response", confirm), answers
    assert answers[1][1]["outcome"] == "sent"
    # No state table: nothing was remembered, so nothing is outstanding.
    assert outcomes(stdout) == ["no_outstanding_message", "sent"]
    assert len(sent) == 1


def test_a_conversion_function_needs_only_the_state_table(tmp_path, aws_env):
    table = "conversion-bootstrap"
    boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    env = {
        "FUNCTION_ROLE": "conversion",
        "STATE_TABLE": table,
        "LOCAL_DEV_KEY_FILE": "",
        "LOCAL_OUTBOX": "",
        "AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"],
    }
    sign_in = conversion_event("PostAuthentication_Authentication")
    sms = sample("sign-up.json")
    answers, stdout, sent = run([sign_in, sms], tmp_path, env)
    assert answers == [("response", sign_in), ("response", sms)], stdout[-2000:]
    assert outcomes(stdout) == ["no_outstanding_message", "unknown_trigger_source"], stdout[-2000:]
    assert "FUNCTION_ROLE=conversion" in stdout and sent == []
    assert "2065550199" not in stdout

    answers, stdout, _ = run([sign_in], tmp_path, {**env, "STATE_TABLE": ""})
    assert answers == []
    assert "config_error" in outcomes(stdout) and "STATE_TABLE" in stdout
