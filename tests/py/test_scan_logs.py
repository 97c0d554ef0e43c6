"""The secret scan (tests/scan_logs.py) finds a code and a phone number in every form a log line could leak
them in, and passes the lines the function really writes (masked numbers, timestamps, ids)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests"))
import scan_logs  # noqa: E402

CODE = "ZXQ482913"
PASSWORD = "Tmp<Pass&1x"
PHONE = "+12065550147"
QUOTED = 'Pw"q\\uote'
SECRETS = [CODE, PASSWORD, PHONE, QUOTED]


def line(**fields) -> str:
    return json.dumps({"timestamp": "2026-12-01T23:24:03.482913Z", "level": "INFO", **fields}, ensure_ascii=False)


def b64_inside(prefix: bytes, secret: str) -> str:
    return base64.b64encode(prefix + secret.encode() + b" and more").decode()


LEAKS = {
    "code as text": line(message=f"code {CODE}"),
    "code digits alone": line(code_digits=482913),
    "code digits in a short word": line(message="otp482913"),
    "code as byte-array Debug": line(esdk_error=f"Plaintext {{ bytes: {list(CODE.encode())} }}"),
    "code as hex": line(body=CODE.encode().hex()),
    "code as HEX": line(body=CODE.encode().hex().upper()),
    "code as base64": line(body=base64.b64encode(CODE.encode()).decode()),
    "code as base64, offset 1": line(body=b64_inside(b"x", CODE)),
    "code as base64, offset 2": line(body=b64_inside(b"xy", CODE)),
    "code as url-safe base64": line(body=base64.urlsafe_b64encode(b"\xfb\xff" + CODE.encode()).decode()),
    "code inside an escaped JSON string": line(body=json.dumps({"m": f'say "{CODE}"'})),
    "quoted password inside escaped JSON": line(body=json.dumps({"m": 'Pw"q\\uote'})),
    "password as text": line(message=PASSWORD),
    "password HTML-escaped": line(message="Tmp&lt;Pass&amp;1x"),
    "marker alone": line(message="ZXQ"),
    "phone in E.164": line(phone=PHONE),
    "phone without +": line(phone="12065550147"),
    "phone with spaces": line(phone="+1 206 555 0147"),
    "phone with dashes": line(phone="1-206-555-0147"),
    "phone with dots": line(phone="206.555.0147"),
    "phone in national format": line(phone="(206) 555-0147"),
    "phone in full-width digits": line(phone="＋１２０６５５５０１４７"),
    "phone as hex": line(phone=PHONE.encode().hex()),
    "phone as base64": line(phone=base64.b64encode(PHONE.encode()).decode()),
    "someone else's unmasked number": line(phone="+447700900123"),
}

CLEAN = [
    line(outcome="sent", phone="+1******0147", message_id="3f1e6a4c-8b1d-4a5e-9f3a-2c7d9e0b1a2f", sms_parts=1),
    line(message="retrying", call="kms", attempt=2, elapsed_ms=482, reason="ThrottlingException"),
    line(message="user pool", user_pool_id="us-east-1_X\n{\"outcome\":\"sent\"}", trigger_source="CustomSMSSender_SignUp"),
    # A SigV4 canonical request's payload hash: random hex whose digits happen to hold the code's (this one did).
    line(canonical_request="POST\n/\n\nx-amz-target:DynamoDB_20120810.TransactWriteItems\n\n"
                           "74084d482913ceb129d4067d3fc1ef201c093599f3d63d7c4f26f71901fde4fb"),
]


@pytest.mark.parametrize("name", LEAKS)
def test_each_form_of_a_secret_is_found(name):
    assert scan_logs.leaks(LEAKS[name], SECRETS), f"{name} was not flagged"


@pytest.mark.parametrize("clean", CLEAN)
def test_what_the_function_logs_passes(clean):
    assert scan_logs.leaks(clean, SECRETS) == []


def test_findings_never_repeat_the_secret(tmp_path, capsys):
    logs = tmp_path / "1.jsonl"
    logs.write_text("\n".join([*CLEAN, *LEAKS.values()]) + "\n")
    (tmp_path / "1.secrets").write_text(json.dumps(SECRETS) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "tests/scan_logs.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0
    assert f"findings in {len(CLEAN) + len(LEAKS)} captured log lines" in done.stderr
    for secret in SECRETS:
        assert secret not in done.stderr and "482913" not in done.stderr and "0147" not in done.stderr


def test_a_capture_is_checked_against_its_own_secrets(tmp_path):
    capture = tmp_path / "capture.jsonl"
    capture.write_text(LEAKS["phone with dashes"] + "\n")
    scan = [sys.executable, str(ROOT / "tests/scan_logs.py"), "--secrets"]
    assert subprocess.run([*scan, json.dumps([PHONE]), str(capture)], capture_output=True).returncode == 1
    capture.write_text("\n".join(CLEAN) + "\n")
    assert subprocess.run([*scan, json.dumps([PHONE]), str(capture)], capture_output=True).returncode == 0


def test_an_empty_log_directory_fails(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tests/scan_logs.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "capture in tests/common is broken" in done.stderr
