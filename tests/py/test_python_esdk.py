"""An independent producer: codes encrypted by the Python AWS Encryption SDK, in Cognito's shape (message
format 1, algorithm suite 0x0378, encryption context `userpool-id`) and in the committing suite 0x0578, under a
KMS key in moto, are decrypted by the built bootstrap against moto's KMS and sent through moto's SNS. The run is
at TRACE with real SDK traffic, and no line of its stdout holds a code, a password or a number in any form."""

from __future__ import annotations

import base64
import json
import sys
import urllib.request

import aws_encryption_sdk
import boto3
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

from conftest import ROOT
from test_bootstrap import run, sample

sys.path.insert(0, str(ROOT / "tests"))
import scan_logs  # noqa: E402

POOL = "us-east-1_PyEsdk1"
COGNITO = (CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT, Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384)
COMMITTING = (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)


def encrypt(key_arn: str, plaintext: bytes, suite) -> bytes:
    policy, algorithm = suite
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    ciphertext, _ = client.encrypt(
        source=plaintext, key_provider=provider, encryption_context={"userpool-id": POOL}, algorithm=algorithm
    )
    return ciphertext


def event(name: str, ciphertext: bytes, phone: str) -> dict:
    e = sample(name)
    e["userPoolId"] = POOL
    e["request"]["code"] = base64.b64encode(ciphertext).decode()
    e["request"]["userAttributes"]["phone_number"] = phone
    return e


def sms_sent(moto: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{moto}/moto-api/data.json", timeout=10) as r:
        data = json.load(r)
    return {m["phone_number"]: m["message"] for m in data["sns"].get("SMS", [])}


def test_codes_from_the_python_sdk_are_decrypted_and_sent_with_nothing_secret_at_trace(aws_env, tmp_path):
    moto = aws_env["AWS_ENDPOINT_URL"]
    key_arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    cases = [  # (sample event, plaintext Cognito sends, what the SMS shows, phone, suite)
        ("sign-up.json", b"ZXQ730001", "ZXQ730001", "+12065550171", COGNITO),
        ("authentication.json", b"ZXQ730002", "ZXQ730002", "+12065550172", COMMITTING),
        ("admin-create-user.json", b"ZXQ&lt;Py&amp;7", "ZXQ<Py&7", "+12065550173", COGNITO),
    ]
    events = []
    for name, plaintext, _, phone, suite in cases:
        ciphertext = encrypt(key_arn, plaintext, suite)
        # Cognito's shape: format 1 with suite 0x0378, or format 2 with 0x0578; one data key, under this key.
        assert ciphertext[:4] == b"\x01\x80\x03\x78" if suite is COGNITO else ciphertext[:3] == b"\x02\x05\x78"
        assert key_arn.encode() in ciphertext and b"userpool-id" in ciphertext
        events.append(event(name, ciphertext, phone))

    deployed = {
        "LOCAL_DEV_KEY_FILE": "",
        "LOCAL_OUTBOX": "",
        "KMS_KEY_ARN": key_arn,
        "AWS_ENDPOINT_URL": moto,
        "RUST_LOG": "trace",
        "AWS_LAMBDA_LOG_LEVEL": "trace",
    }
    answers, stdout, outbox = run(events, tmp_path, deployed)
    assert [body.get("outcome") for _, body in answers] == ["sent"] * 3, stdout[-3000:]
    assert outbox == []
    sent = sms_sent(moto)
    for _, _, shown, phone, _ in cases:
        assert shown in sent[phone], f"the SMS to {phone[:5]}… carries its code"

    lines = stdout.splitlines()
    # The SDK's own trace of each call: three Decrypts and three Publishes at least (the warm-up adds more).
    attempts = sum('"message":"beginning attempt #1"' in line for line in lines)
    assert attempts >= 6, f"TRACE shows the SDK's calls: {attempts}"
    secrets = [s for _, plaintext, shown, phone, _ in cases for s in (plaintext.decode(), shown, phone)]
    findings = [(n, f) for n, line in enumerate(lines, 1) for f in scan_logs.leaks(line, secrets)]
    assert findings == [], findings
