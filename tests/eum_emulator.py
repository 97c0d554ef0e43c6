"""A local stand-in for AWS End User Messaging SMS (pinpoint-sms-voice-v2), which moto does not implement.

It speaks the real wire protocol, awsJson1_0: POST / with `X-Amz-Target: PinpointSMSVoiceV2.<Operation>` and a
JSON body; errors are `{"__type": "...#<Exception>", "message": ..., "Reason": ...}` with the exception's HTTP
status. It implements SendTextMessage, DescribeAccountAttributes, DescribeSpendLimits and PutMessageFeedback.

Like tests/moto_server.py it listens on a free loopback port, prints the port, and stops when the test process
closes our stdin. For the tests it also answers:
- GET /_emulator/requests: every request so far, as {"operation", "region", "body"} (the Region from the
  request's SigV4 credential scope, which must name the service's signing name, sms-voice).
- POST /_emulator/fail {"match": "<DestinationPhoneNumber or Operation>", "type": "ConflictException",
  "reason": "...", "fields": [...], "status": 400, "times": 1, "region": "eu-west-2"}: the next matching requests
  (only those signed for "region", when given) get that error.
- POST /_emulator/account {"region": "eu-west-2", "tier": "SANDBOXED", "enforced": 1, "max": 1, "overridden": true}:
  the account the describe calls report in that Region (like the real service, each Region has its own tier and
  spend limits; a Region not set reports a production account with a USD 100 text limit).
"""
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "PinpointSMSVoiceV2."
NAMESPACE = "com.amazonaws.pinpointsmsvoicev2#"
# The HTTP status of each exception, from the API reference.
STATUS = {"InternalServerException": 500}

lock = threading.Lock()
requests = []
failures = []
accounts = {}
DEFAULT_ACCOUNT = {"tier": "PRODUCTION", "enforced": 100, "max": 100, "overridden": False}
# The messages sent, by id: whether feedback was enabled, for PutMessageFeedback.
messages = {}


def send_text_message(body, _region):
    for field in ("DestinationPhoneNumber", "MessageBody"):
        if not body.get(field):
            return error("ValidationException", "MISSING_PARAMETER", [{"Name": field, "Message": "required"}])
    ttl = body.get("TimeToLive")
    if ttl is not None and not 5 <= ttl <= 259200:
        return error("ValidationException", "INVALID_PARAMETER", [{"Name": "TimeToLive", "Message": "5-259200"}])
    message_id = str(uuid.uuid4())
    messages[message_id] = {"feedback": bool(body.get("MessageFeedbackEnabled"))}
    return 200, {"MessageId": message_id}


def account(region):
    return {**DEFAULT_ACCOUNT, **accounts.get(region, {})}


def paging(body):
    """The checks the describe operations make of their paging fields (the only ones they take)."""
    unknown = sorted(set(body) - {"NextToken", "MaxResults"})
    if unknown:
        return error("ValidationException", "INVALID_PARAMETER", [{"Name": unknown[0], "Message": "unknown field"}])
    if not 1 <= body.get("MaxResults", 1) <= 100:
        return error("ValidationException", "INVALID_PARAMETER", [{"Name": "MaxResults", "Message": "1-100"}])
    if "NextToken" in body:
        return error("ValidationException", "INVALID_NEXT_TOKEN", [{"Name": "NextToken", "Message": "not issued"}])
    return None


def describe_account_attributes(body, region):
    tier = account(region)["tier"]
    return paging(body) or (200, {"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": tier},
                                                        {"Name": "DEFAULT_PROTECT_CONFIGURATION_ID", "Value": ""}]})


def describe_spend_limits(body, region):
    a = account(region)
    limits = [{"Name": "TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", "EnforcedLimit": a["enforced"], "MaxLimit": a["max"],
               "Overridden": a["overridden"]}]
    for name in ("VOICE_MESSAGE_MONTHLY_SPEND_LIMIT", "MEDIA_MESSAGE_MONTHLY_SPEND_LIMIT"):
        limits.append({"Name": name, "EnforcedLimit": 100, "MaxLimit": 100, "Overridden": False})
    return paging(body) or (200, {"SpendLimits": limits})


def put_message_feedback(body, _region):
    """As the API reference says: MessageId and MessageFeedbackStatus (RECEIVED or FAILED) are required, and
    an unknown message is a ResourceNotFoundException."""
    status = body.get("MessageFeedbackStatus")
    if not body.get("MessageId") or status not in ("RECEIVED", "FAILED"):
        field = "MessageId" if not body.get("MessageId") else "MessageFeedbackStatus"
        return error("ValidationException", "INVALID_PARAMETER", [{"Name": field, "Message": "required"}])
    if body["MessageId"] not in messages:
        return error("ResourceNotFoundException", status=404)
    return 200, {"MessageId": body["MessageId"], "MessageFeedbackStatus": status}


OPERATIONS = {
    "SendTextMessage": send_text_message,
    "DescribeAccountAttributes": describe_account_attributes,
    "DescribeSpendLimits": describe_spend_limits,
    "PutMessageFeedback": put_message_feedback,
}


def error(kind, reason=None, fields=None, status=None):
    body = {"__type": NAMESPACE + kind, "message": f"emulated {kind}"}
    if reason:
        body["Reason"] = reason
    if fields:
        body["Fields"] = fields
    return status or STATUS.get(kind, 400), body


def injected(operation, body, region):
    """The error queued for this request's number or operation, if any (used up as it is answered)."""
    keys = {operation, body.get("DestinationPhoneNumber")}
    for f in failures:
        if f["match"] in keys and f.get("region") in (None, region) and f["times"] > 0:
            f["times"] -= 1
            return error(f["type"], f.get("reason"), f.get("fields"), f.get("status"))
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.0"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def signed_region(self):
        """The Region of the SigV4 credential scope (`Credential=<key>/<date>/<region>/sms-voice/aws4_request`), or
        None when the request is not signed for this service."""
        scope = r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/sms-voice/aws4_request"
        match = re.search(scope, self.headers.get("Authorization", ""))
        return match.group(1) if match else None

    def do_GET(self):
        if self.path == "/_emulator/requests":
            with lock:
                return self.reply(200, list(requests), "application/json")
        self.reply(404, {"message": "unknown path"}, "application/json")

    def do_POST(self):
        body = self.body()
        with lock:
            if self.path == "/_emulator/fail":
                failures.append({"times": 1, **body})
                return self.reply(200, {}, "application/json")
            if self.path == "/_emulator/account":
                region = body.pop("region", "us-east-1")
                accounts.setdefault(region, {}).update(body)
                return self.reply(200, account(region), "application/json")
            target = self.headers.get("X-Amz-Target", "")
            operation = target[len(PREFIX):] if target.startswith(PREFIX) else None
            if operation not in OPERATIONS or self.path != "/":
                return self.reply(*error("UnknownOperationException", status=400))
            region = self.signed_region()
            if region is None:
                return self.reply(*error("InvalidSignatureException", status=403))
            requests.append({"operation": operation, "region": region, "body": body})
            status, answer = injected(operation, body, region) or OPERATIONS[operation](body, region)
        self.reply(status, answer)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()
server.shutdown()
