"""A fast local stand-in for the AWS calls a custom SMS sender makes: KMS GenerateDataKey / Encrypt /
Decrypt (JSON protocol, `X-Amz-Target: TrentService.<Op>`), SNS Publish (query protocol, `Action=Publish`, XML
answer), End User Messaging SendTextMessage (`X-Amz-Target: PinpointSMSVoiceV2.<Op>`) and the DynamoDB writes
of the state table (`X-Amz-Target: DynamoDB_20120810.<Op>`). Point an SDK at it with
AWS_ENDPOINT_URL=http://127.0.0.1:PORT.

DynamoDB here keeps nothing and evaluates no condition: every write succeeds and every read finds no item.
That is what the function meets when each event has its own code and number (the bench's traffic), so it
measures the function's own cost of the ledger and the abuse gate; their semantics are tested against moto.

It is stateless: a "ciphertext blob" is

    b"BENCHKMS" | u16 len(key ARN) | key ARN | 16 bytes of SHA-256(canonical encryption context) | data key

so any process can Decrypt what any other made, and a wrong encryption context or key fails as KMS would
(InvalidCiphertextException / IncorrectKeyException). Signatures are not checked. The blob is NOT secret:
this is for benchmarks only.

Published SMS are kept in memory; `GET /_stub/sms?from=N` returns them (phone, message, SMSType) as JSON,
`GET /_stub/stats` the counters.

Run: python stub.py --port 0   (prints "PORT <n>" once listening)
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import struct
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpmini import start_server  # noqa: E402

PREFIX = b"BENCHKMS"
PHONE = re.compile(r"^\+?[1-9]\d{1,14}$")
KMS_JSON = {"Content-Type": "application/x-amz-json-1.1"}
SNS_XML = {"Content-Type": "text/xml"}
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"

sms = []
stats = {"kms": 0, "sns": 0, "sms_voice": 0, "dynamodb": 0, "errors": 0}
JSON_10 = {"Content-Type": "application/x-amz-json-1.0"}


def ctx_digest(ctx):
    canon = json.dumps(ctx or {}, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canon).digest()[:16]


def seal(arn, ctx, plaintext):
    a = arn.encode()
    return PREFIX + struct.pack(">H", len(a)) + a + ctx_digest(ctx) + plaintext


def unseal(blob):
    if not blob.startswith(PREFIX) or len(blob) < len(PREFIX) + 2:
        raise ValueError
    n = struct.unpack(">H", blob[8:10])[0]
    arn = blob[10:10 + n].decode()
    return arn, blob[10 + n:26 + n], blob[26 + n:]


def kms_error(code, message, status=400):
    stats["errors"] += 1
    return status, KMS_JSON, json.dumps({"__type": code, "message": message}).encode()


def key_arn(key_id):
    if not key_id or not key_id.startswith("arn:aws:kms:") or ":key/" not in key_id:
        return None
    return key_id


def kms(op, body):
    stats["kms"] += 1
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return kms_error("SerializationException", "bad JSON")
    ctx = req.get("EncryptionContext")
    if op == "Decrypt":
        try:
            arn, digest, plaintext = unseal(base64.b64decode(req.get("CiphertextBlob", "")))
        except (ValueError, TypeError, UnicodeDecodeError, struct.error):
            return kms_error("InvalidCiphertextException", "")
        if req.get("KeyId") and req["KeyId"] != arn:
            return kms_error("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
        if digest != ctx_digest(ctx):
            return kms_error("InvalidCiphertextException", "")
        out = {"KeyId": arn, "Plaintext": base64.b64encode(plaintext).decode(), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    elif op in ("GenerateDataKey", "Encrypt"):
        arn = key_arn(req.get("KeyId"))
        if arn is None:
            return kms_error("NotFoundException", "use a full key ARN with this stub")
        if op == "Encrypt":
            plaintext = base64.b64decode(req.get("Plaintext", ""))
        else:
            n = req.get("NumberOfBytes") or {"AES_256": 32, "AES_128": 16}.get(req.get("KeySpec"), 32)
            plaintext = os.urandom(int(n))
        out = {"KeyId": arn, "CiphertextBlob": base64.b64encode(seal(arn, ctx, plaintext)).decode()}
        if op == "GenerateDataKey":
            out["Plaintext"] = base64.b64encode(plaintext).decode()
        else:
            out["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
    elif op == "DescribeKey":  # ours calls it once, at init (WARM_UP)
        arn = key_arn(req.get("KeyId"))
        if arn is None:
            return kms_error("NotFoundException", "use a full key ARN with this stub")
        out = {"KeyMetadata": {"KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "Enabled": True, "KeyState": "Enabled",
                               "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT"}}
    else:
        return kms_error("UnsupportedOperationException", f"{op} is not in the stub")
    return 200, KMS_JSON, json.dumps(out).encode()


def sns_error(code, message, status=400):
    stats["errors"] += 1
    body = (f'<ErrorResponse xmlns="{SNS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return status, SNS_XML, body.encode()


def sns(body):
    stats["sns"] += 1
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if form.get("Action") == "GetSMSAttributes":  # ours calls it once, at init (WARM_UP)
        out = (f'<GetSMSAttributesResponse xmlns="{SNS_NS}"><GetSMSAttributesResult><attributes><entry>'
               f"<key>DefaultSMSType</key><value>Transactional</value></entry></attributes></GetSMSAttributesResult>"
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetSMSAttributesResponse>")
        return 200, SNS_XML, out.encode()
    if form.get("Action") != "Publish":
        return sns_error("InvalidAction", f"{form.get('Action')} is not in the stub")
    phone, message = form.get("PhoneNumber", ""), form.get("Message", "")
    if not PHONE.match(phone):
        return sns_error("InvalidParameter", "Invalid parameter: PhoneNumber Reason: not valid to publish to")
    if not message:
        return sns_error("InvalidParameter", "Invalid parameter: Message")
    attrs = {}
    i = 1
    while f"MessageAttributes.entry.{i}.Name" in form:
        attrs[form[f"MessageAttributes.entry.{i}.Name"]] = form.get(f"MessageAttributes.entry.{i}.Value.StringValue")
        i += 1
    message_id = str(uuid.uuid4())
    sms.append({"phone_number": phone, "message": message, "sms_type": attrs.get("AWS.SNS.SMS.SMSType"), "message_id": message_id})
    out = (f'<PublishResponse xmlns="{SNS_NS}"><PublishResult><MessageId>{message_id}</MessageId></PublishResult>'
           f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></PublishResponse>")
    return 200, SNS_XML, out.encode()


def sms_voice(op, body):
    stats["sms_voice"] += 1
    req = json.loads(body or b"{}")
    if op == "DescribeAccountAttributes":  # ours calls it once, at init (WARM_UP)
        return 200, JSON_10, json.dumps({"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": "PRODUCTION"}]}).encode()
    if op != "SendTextMessage" or not PHONE.match(req.get("DestinationPhoneNumber", "")) or not req.get("MessageBody"):
        stats["errors"] += 1
        return 400, JSON_10, json.dumps({"__type": "ValidationException", "message": f"{op}: not in the stub or invalid"}).encode()
    message_id = str(uuid.uuid4())
    sms.append({"phone_number": req["DestinationPhoneNumber"], "message": req["MessageBody"],
                "sms_type": req.get("MessageType"), "message_id": message_id})
    return 200, JSON_10, json.dumps({"MessageId": message_id}).encode()


def dynamodb(op):
    stats["dynamodb"] += 1
    # UpdateItem's returned counter (monitored limits ask for it) is the first of its window: never over a limit.
    out = {"Attributes": {"n": {"N": "1"}}} if op == "UpdateItem" else {}
    return 200, JSON_10, json.dumps(out).encode()


async def app(req):
    target = req.headers.get("x-amz-target")
    if req.method == "POST" and target and target.startswith("TrentService."):
        return kms(target.split(".", 1)[1], req.body)
    if req.method == "POST" and target and target.startswith("PinpointSMSVoiceV2."):
        return sms_voice(target.split(".", 1)[1], req.body)
    if req.method == "POST" and target and target.startswith("DynamoDB_20120810."):
        return dynamodb(target.split(".", 1)[1])
    if req.method == "POST" and req.path.split("?", 1)[0] == "/" and not target:
        return sns(req.body)
    if req.method == "GET" and req.path.startswith("/_stub/"):
        url = urlsplit(req.path)
        if url.path == "/_stub/stats":
            return 200, {"Content-Type": "application/json"}, json.dumps({**stats, "sms": len(sms)}).encode()
        if url.path == "/_stub/sms":
            start = int(parse_qs(url.query).get("from", ["0"])[0])
            return 200, {"Content-Type": "application/json"}, json.dumps(sms[start:]).encode()
    stats["errors"] += 1
    return 404, {"Content-Type": "text/plain"}, b"not in the stub\n"


async def main(port):
    server = await start_server(app, port=port)
    print(f"PORT {server.port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(p.parse_args().port))
    except KeyboardInterrupt:
        pass
