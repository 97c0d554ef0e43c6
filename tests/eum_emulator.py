"""A local stand-in for AWS End User Messaging SMS (pinpoint-sms-voice-v2), which moto does not implement.

It speaks the real wire protocol, awsJson1_0: POST / with `X-Amz-Target: PinpointSMSVoiceV2.<Operation>` and a
JSON body; errors are `{"__type": "...#<Exception>", "message": ..., "Reason": ...}` with the exception's HTTP
status. It implements SendTextMessage, DescribeAccountAttributes, DescribeSpendLimits and PutMessageFeedback.

Like tests/moto_server.py it listens on a free loopback port, prints the port, and stops when the test process
closes our stdin. For the tests it also answers:
- GET /_emulator/requests: every request so far, as {"operation", "body"}.
- POST /_emulator/fail {"match": "<DestinationPhoneNumber or Operation>", "type": "ConflictException",
  "reason": "...", "fields": [...], "status": 400, "times": 1}: the next matching requests get that error.
- POST /_emulator/account {"tier": "SANDBOXED", "enforced": 1, "max": 1}: the account the describe calls report.
"""
import json
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
account = {"tier": "PRODUCTION", "enforced": 100, "max": 100}
# The messages sent, by id: whether feedback was enabled, for PutMessageFeedback.
messages = {}


def send_text_message(body):
    for field in ("DestinationPhoneNumber", "MessageBody"):
        if not body.get(field):
            return error("ValidationException", "MISSING_PARAMETER", [{"Name": field, "Message": "required"}])
    ttl = body.get("TimeToLive")
    if ttl is not None and not 5 <= ttl <= 259200:
        return error("ValidationException", "INVALID_PARAMETER", [{"Name": "TimeToLive", "Message": "5-259200"}])
    message_id = str(uuid.uuid4())
    messages[message_id] = {"feedback": bool(body.get("MessageFeedbackEnabled"))}
    return 200, {"MessageId": message_id}


def describe_account_attributes(_body):
    return 200, {"AccountAttributes": [{"Name": "ACCOUNT_TIER", "Value": account["tier"]},
                                       {"Name": "DEFAULT_PROTECT_CONFIGURATION_ID", "Value": ""}]}


def describe_spend_limits(_body):
    limits = []
    for name in ("TEXT_MESSAGE_MONTHLY_SPEND_LIMIT", "VOICE_MESSAGE_MONTHLY_SPEND_LIMIT"):
        limits.append({"Name": name, "EnforcedLimit": account["enforced"], "MaxLimit": account["max"],
                       "Overridden": account["enforced"] != account["max"]})
    return 200, {"SpendLimits": limits}


def put_message_feedback(body):
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


def injected(operation, body):
    """The error queued for this request's number or operation, if any (used up as it is answered)."""
    keys = {operation, body.get("DestinationPhoneNumber")}
    for f in failures:
        if f["match"] in keys and f["times"] > 0:
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
                account.update(body)
                return self.reply(200, account, "application/json")
            target = self.headers.get("X-Amz-Target", "")
            operation = target[len(PREFIX):] if target.startswith(PREFIX) else None
            if operation not in OPERATIONS or self.path != "/":
                return self.reply(*error("UnknownOperationException", status=400))
            requests.append({"operation": operation, "body": body})
            status, answer = injected(operation, body) or OPERATIONS[operation](body)
        self.reply(status, answer)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()
server.shutdown()
