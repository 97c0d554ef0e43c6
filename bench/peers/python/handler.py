"""Benchmark peer: a Cognito custom SMS sender written the way AWS's documentation shows it for Python
(AWS Encryption SDK for Python with a strict KMS master key provider, then boto3 SNS publish), built once at
init and reused across invocations. Like the Rust function, it refuses a code whose encryption context
`userpool-id` is not the event's userPoolId. Run by awslambdaric: python -m awslambdaric handler.lambda_handler
"""

import base64
import os

import aws_encryption_sdk
import boto3
from aws_encryption_sdk.identifiers import CommitmentPolicy

KEY_ARN = os.environ.get("KEY_ARN") or os.environ["KMS_KEY_ARN"]

# Cognito encrypts with a non-committing suite (0x0378): decryption must allow it.
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
key_provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[KEY_ARN])
sns = boto3.client("sns")

MESSAGES = {
    "CustomSMSSender_SignUp": "Your verification code is {code}.",
    "CustomSMSSender_ResendCode": "Your new verification code is {code}.",
    "CustomSMSSender_ForgotPassword": "Your password reset code is {code}.",
    "CustomSMSSender_UpdateUserAttribute": "Your code to confirm this phone number is {code}.",
    "CustomSMSSender_VerifyUserAttribute": "Your phone number verification code is {code}.",
    "CustomSMSSender_Authentication": "Your sign-in code is {code}.",
    "CustomSMSSender_AdminCreateUser": "Your temporary password is {code}.",
    "CustomSMSSender_AccountTakeOverNotification": "We noticed an unusual sign-in to your account.",
}


def lambda_handler(event, context):
    request = event.get("request") or {}
    phone_number = (request.get("userAttributes") or {}).get("phone_number")
    code = ""
    if request.get("code"):
        plaintext, header = client.decrypt(source=base64.b64decode(request["code"]), key_provider=key_provider)
        if header.encryption_context.get("userpool-id") != event.get("userPoolId"):
            raise ValueError("encryption context userpool-id does not match the event's userPoolId")
        code = plaintext.decode("utf-8")
    template = MESSAGES.get(event.get("triggerSource"), "Your code is {code}.")
    response = sns.publish(
        PhoneNumber=phone_number,
        Message=template.replace("{code}", code),
        MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    )
    return {"outcome": "sent", "messageId": response["MessageId"]}
