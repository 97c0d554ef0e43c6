"""scripts/wire-user-pool against a real moto server.

Moto's UpdateUserPool, like Cognito's, resets every setting the request omits (see
test_moto_resets_what_update_user_pool_omits), so a setting the script failed to carry over would show up here
as a changed DescribeUserPool answer."""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import subprocess
import sys

import boto3
import botocore.session
import pytest

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "wire-user-pool"
ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:stack-sms-sender"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab"


def fn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def load_script():
    loader = importlib.machinery.SourceFileLoader("wire_user_pool", str(SCRIPT))
    spec = importlib.util.spec_from_loader("wire_user_pool", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


wire = load_script()

# Every UpdateUserPool input member, from botocore's model (the same source the script uses).
UPDATE_MEMBERS = sorted(
    botocore.session.get_session()
    .get_service_model("cognito-idp")
    .operation_model("UpdateUserPool")
    .input_shape.members
)

OTHER_TRIGGERS = {
    "PreSignUp": fn("pre-sign-up"),
    "PostConfirmation": fn("post-confirmation"),
    "PreAuthentication": fn("pre-authentication"),
    "PostAuthentication": fn("post-authentication"),
    "DefineAuthChallenge": fn("define-auth-challenge"),
    "CreateAuthChallenge": fn("create-auth-challenge"),
    "VerifyAuthChallengeResponse": fn("verify-auth-challenge"),
    "UserMigration": fn("user-migration"),
    "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": fn("pre-token-generation")},
}

RICH_POOL = dict(
    PoolName="wired-pool",
    Policies={
        "PasswordPolicy": {
            "MinimumLength": 12,
            "RequireUppercase": True,
            "RequireLowercase": True,
            "RequireNumbers": True,
            "RequireSymbols": False,
            "TemporaryPasswordValidityDays": 3,
        }
    },
    DeletionProtection="ACTIVE",
    LambdaConfig=OTHER_TRIGGERS,
    AutoVerifiedAttributes=["phone_number"],
    UsernameAttributes=["phone_number"],
    SmsVerificationMessage="Your verification code is {####}.",
    EmailVerificationMessage="Email code {####}",
    EmailVerificationSubject="Verify your email",
    VerificationMessageTemplate={
        "SmsMessage": "Your verification code is {####}.",
        "EmailMessage": "Email code {####}",
        "EmailSubject": "Verify your email",
        "DefaultEmailOption": "CONFIRM_WITH_CODE",
    },
    SmsAuthenticationMessage="Your sign-in code is {####}.",
    UserAttributeUpdateSettings={"AttributesRequireVerificationBeforeUpdate": ["phone_number"]},
    MfaConfiguration="OPTIONAL",
    DeviceConfiguration={"ChallengeRequiredOnNewDevice": True, "DeviceOnlyRememberedOnUserPrompt": True},
    EmailConfiguration={"EmailSendingAccount": "COGNITO_DEFAULT", "ReplyToEmailAddress": "support@example.com"},
    SmsConfiguration={
        "SnsCallerArn": f"arn:aws:iam::{ACCOUNT}:role/cognito-sns",
        "ExternalId": "external-1",
        "SnsRegion": REGION,
    },
    UserPoolTags={"team": "identity", "env": "test"},
    AdminCreateUserConfig={
        "AllowAdminCreateUserOnly": True,
        "InviteMessageTemplate": {
            "SMSMessage": "Hi {username}, your temporary password is {####}",
            "EmailMessage": "Hi {username}, your temporary password is {####}",
            "EmailSubject": "Welcome",
        },
    },
    UserPoolAddOns={"AdvancedSecurityMode": "AUDIT"},
    AccountRecoverySetting={"RecoveryMechanisms": [{"Name": "verified_phone_number", "Priority": 1}]},
    UserPoolTier="PLUS",
)


@pytest.fixture
def cognito(aws_env):
    return boto3.client("cognito-idp", region_name=REGION)


@pytest.fixture
def rich_pool(cognito):
    return cognito.create_user_pool(**RICH_POOL)["UserPool"]["Id"]


def describe(cognito, pool_id):
    return cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]


def run(*args, env):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def wire_args(pool_id, key=KEY_ARN, *extra):
    return ["--user-pool-id", pool_id, "--lambda-arn", FUNCTION_ARN, "--kms-key-arn", key, *extra]


def updatable_settings(pool: dict) -> dict:
    """What DescribeUserPool reports for every UpdateUserPool member except the pool id and LambdaConfig."""
    out = {}
    for member in UPDATE_MEMBERS:
        if member in ("UserPoolId", "LambdaConfig"):
            continue
        source = wire.RENAMED.get(member, member)
        out[member] = copy.deepcopy(pool.get(source))
    return out


def test_moto_resets_what_update_user_pool_omits(cognito, rich_pool):
    """The premise of the other tests: an UpdateUserPool without the full configuration loses settings."""
    cognito.update_user_pool(UserPoolId=rich_pool, LambdaConfig={"KMSKeyID": KEY_ARN})
    after = describe(cognito, rich_pool)
    assert "SmsAuthenticationMessage" not in after
    assert after.get("UserPoolTags") != RICH_POOL["UserPoolTags"]
    assert "PreSignUp" not in after["LambdaConfig"]


def test_wiring_keeps_every_setting_and_adds_the_sender(cognito, rich_pool, aws_env):
    before = describe(cognito, rich_pool)
    assert before["MfaConfiguration"] == "OPTIONAL" and before["SmsConfiguration"]["SnsCallerArn"]

    result = run(*wire_args(rich_pool), env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "wired" in result.stdout

    after = describe(cognito, rich_pool)
    assert updatable_settings(after) == updatable_settings(before)
    # Spot checks of what the issue names, in case DescribeUserPool stopped returning them at all.
    for key in ("MfaConfiguration", "SmsConfiguration", "SmsAuthenticationMessage", "SmsVerificationMessage",
                "EmailVerificationMessage", "EmailVerificationSubject", "VerificationMessageTemplate",
                "UserPoolTags", "DeviceConfiguration", "AccountRecoverySetting", "DeletionProtection",
                "UserAttributeUpdateSettings", "AdminCreateUserConfig", "Policies", "UserPoolAddOns"):
        assert after[key] == RICH_POOL[key], key
    assert after["Name"] == "wired-pool"

    expected = dict(OTHER_TRIGGERS)
    expected["CustomSMSSender"] = {"LambdaArn": FUNCTION_ARN, "LambdaVersion": "V1_0"}
    expected["KMSKeyID"] = KEY_ARN
    assert after["LambdaConfig"] == expected


def test_dry_run_prints_the_change_and_changes_nothing(cognito, rich_pool, aws_env):
    before = describe(cognito, rich_pool)
    result = run(*wire_args(rich_pool, KEY_ARN, "--dry-run"), env=aws_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "--- LambdaConfig (current)" in out and "+++ LambdaConfig (after wiring)" in out
    assert '+  "CustomSMSSender": {' in out
    assert f'+    "LambdaArn": "{FUNCTION_ARN}",' in out
    assert f'+  "KMSKeyID": "{KEY_ARN}"' in out
    # The whole LambdaConfig is shown, and nothing is removed from it.
    assert f' "PreSignUp": "{fn("pre-sign-up")}",' in out
    assert [line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")] == []
    assert "\ndry run: UpdateUserPool not called" in out
    assert describe(cognito, rich_pool) == before


def test_running_twice_is_idempotent(cognito, rich_pool, aws_env):
    first = run(*wire_args(rich_pool), env=aws_env)
    assert first.returncode == 0, first.stderr
    once = describe(cognito, rich_pool)

    second = run(*wire_args(rich_pool), env=aws_env)
    assert second.returncode == 0, second.stderr
    assert "already wired" in second.stdout and "nothing to change" in second.stdout
    assert describe(cognito, rich_pool) == once


def test_replaces_another_sender_and_keeps_a_custom_email_sender_on_the_same_key(cognito, aws_env):
    config = dict(OTHER_TRIGGERS)
    config.update(
        CustomSMSSender={"LambdaArn": fn("old-sms-sender"), "LambdaVersion": "V1_0"},
        CustomEmailSender={"LambdaArn": fn("email-sender"), "LambdaVersion": "V1_0"},
        KMSKeyID=KEY_ARN,
    )
    pool_id = cognito.create_user_pool(PoolName="p", LambdaConfig=config)["UserPool"]["Id"]
    result = run(*wire_args(pool_id), env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "replaces the current custom SMS sender" in result.stderr
    after = describe(cognito, pool_id)["LambdaConfig"]
    assert after["CustomSMSSender"]["LambdaArn"] == FUNCTION_ARN
    assert after["CustomEmailSender"] == config["CustomEmailSender"]


def test_refuses_to_move_a_custom_email_sender_to_another_key(cognito, aws_env):
    config = {
        "CustomEmailSender": {"LambdaArn": fn("email-sender"), "LambdaVersion": "V1_0"},
        "KMSKeyID": OTHER_KEY_ARN,
    }
    pool_id = cognito.create_user_pool(PoolName="p", LambdaConfig=config)["UserPool"]["Id"]
    before = describe(cognito, pool_id)

    refused = run(*wire_args(pool_id), env=aws_env)
    assert refused.returncode == 2
    assert "refused" in refused.stderr and "--allow-kms-key-change" in refused.stderr
    assert describe(cognito, pool_id) == before

    allowed = run(*wire_args(pool_id, KEY_ARN, "--allow-kms-key-change"), env=aws_env)
    assert allowed.returncode == 0, allowed.stderr
    assert describe(cognito, pool_id)["LambdaConfig"]["KMSKeyID"] == KEY_ARN


@pytest.mark.parametrize(
    "key",
    [
        f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/cognito-sms",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/cognito-sms",
    ],
)
def test_refuses_aliases_and_bare_key_ids(key, aws_env):
    result = run(*wire_args("us-east-1_AbC123", key), env=aws_env)
    assert result.returncode == 2
    assert "full KMS key ARN" in result.stderr


def test_missing_pool_is_an_error(aws_env):
    result = run(*wire_args("us-east-1_DoesNotExist"), env=aws_env)
    assert result.returncode == 1
    assert "ResourceNotFoundException" in result.stderr or "not exist" in result.stderr.lower()


# ---------------------------------------------------------------------------------------- request building --

def _input_shape():
    return boto3.client("cognito-idp", region_name=REGION).meta.service_model.operation_model(
        "UpdateUserPool"
    ).input_shape


def test_request_carries_every_update_member_the_pool_reports():
    pool = {"Id": "us-east-1_AbC123", "Name": "n", "Arn": "arn:aws:cognito-idp:...", "Status": "Enabled",
            "EstimatedNumberOfUsers": 3, "SchemaAttributes": [], "UsernameAttributes": ["phone_number"]}
    for member in UPDATE_MEMBERS:
        pool.setdefault(wire.RENAMED.get(member, member), {"placeholder": True})
    request = wire.build_update_request(pool, _input_shape(), {"KMSKeyID": KEY_ARN})
    assert sorted(request) == UPDATE_MEMBERS
    assert request["UserPoolId"] == "us-east-1_AbC123" and request["PoolName"] == "n"
    # Read-only members of DescribeUserPool are not sent.
    for read_only in ("Arn", "Status", "EstimatedNumberOfUsers", "SchemaAttributes", "UsernameAttributes"):
        assert read_only not in request


def test_request_drops_members_update_user_pool_does_not_accept():
    pool = {
        "Id": "us-east-1_AbC123",
        "Name": "n",
        "LambdaConfig": {},
        "SmsConfiguration": {"SnsCallerArn": "arn:aws:iam::123456789012:role/r", "ReadOnlyThing": 1},
        "MfaConfiguration": "OFF",
    }
    request = wire.build_update_request(pool, _input_shape(), {"KMSKeyID": KEY_ARN, "Bogus": "x"})
    assert request["SmsConfiguration"] == {"SnsCallerArn": "arn:aws:iam::123456789012:role/r"}
    assert request["LambdaConfig"] == {"KMSKeyID": KEY_ARN}


def test_deprecated_unused_account_validity_days_is_dropped_only_when_superseded():
    base = {"Id": "us-east-1_AbC123", "Name": "n",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False, "UnusedAccountValidityDays": 7}}
    with_policy = dict(base, Policies={"PasswordPolicy": {"TemporaryPasswordValidityDays": 7}})
    request = wire.build_update_request(copy.deepcopy(with_policy), _input_shape(), {})
    assert request["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": False}
    request = wire.build_update_request(copy.deepcopy(base), _input_shape(), {})
    assert request["AdminCreateUserConfig"]["UnusedAccountValidityDays"] == 7
