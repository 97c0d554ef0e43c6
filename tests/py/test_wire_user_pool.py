"""scripts/wire-user-pool against a real moto server.

Moto's UpdateUserPool, like Cognito's, resets every setting the request omits (see
test_moto_resets_what_update_user_pool_omits), so a setting the script failed to carry over would show up here
as a changed DescribeUserPool answer."""

from __future__ import annotations

import copy
import importlib.machinery
import json
import importlib.util
import subprocess
import sys

import boto3
import botocore
import botocore.loaders
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

# Every setting has a value of its own, none of them Cognito's or moto's default, so a setting the script dropped
# (and UpdateUserPool reset) shows up as a change. The three legacy verification messages differ from
# VerificationMessageTemplate on purpose: moto fills an omitted one in from the template, which would hide its loss
# if they were equal.
RICH_POOL = dict(
    PoolName="wired-pool",
    Policies={
        "PasswordPolicy": {
            "MinimumLength": 12,
            "RequireUppercase": True,
            "RequireLowercase": False,
            "RequireNumbers": True,
            "RequireSymbols": False,
            "TemporaryPasswordValidityDays": 3,
        }
    },
    DeletionProtection="ACTIVE",
    LambdaConfig=OTHER_TRIGGERS,
    AutoVerifiedAttributes=["phone_number"],
    UsernameAttributes=["phone_number"],
    SmsVerificationMessage="Legacy SMS verification {####}.",
    EmailVerificationMessage="Legacy email verification {####}",
    EmailVerificationSubject="Legacy email subject",
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
    AcrConfiguration={"Level1": {"AcrValue": "urn:example:acr:low"}, "Level2": {"AcrValue": "urn:example:acr:high"}},
    DcrConfiguration={
        "EnableStatus": "Enabled",
        "OpenDcrEnabled": False,
        "AuthenticatedGrantTypes": ["authorization_code"],
        "AllowedScopes": ["example/read"],
    },
    IssuerConfiguration={"Type": "UPDATED"},
    KeyConfiguration={"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": OTHER_KEY_ARN},
)

# What the script must carry over: every UpdateUserPool member but the pool id and the LambdaConfig it changes,
# by the name DescribeUserPool reports it under.
PRESERVED = [m for m in UPDATE_MEMBERS if m not in ("UserPoolId", "LambdaConfig")]

# Moto's UpdateUserPool never changes these two, whatever the request says: a script that dropped them would go
# unnoticed in DescribeUserPool. They are checked in the UpdateUserPool request the script sends instead
# (test_update_request_repeats_every_setting_with_its_value), as every member is.
MOTO_KEEPS_ANYWAY = {"MfaConfiguration", "PoolName"}


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


def test_the_rich_pool_sets_every_member_the_script_must_keep(cognito, rich_pool):
    """A member without a value here would pass the tests below even if the script dropped it."""
    assert [m for m in PRESERVED if m not in RICH_POOL] == []
    before = describe(cognito, rich_pool)
    for member in PRESERVED:
        assert before[wire.RENAMED.get(member, member)] == RICH_POOL[member], member


def test_wiring_keeps_every_setting_and_adds_the_sender(cognito, rich_pool, aws_env):
    before = describe(cognito, rich_pool)

    result = run(*wire_args(rich_pool), env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "wired" in result.stdout

    after = describe(cognito, rich_pool)
    assert updatable_settings(after) == updatable_settings(before)
    for member in PRESERVED:
        if member not in MOTO_KEEPS_ANYWAY:
            assert after[wire.RENAMED.get(member, member)] == RICH_POOL[member], member

    expected = dict(OTHER_TRIGGERS)
    expected["CustomSMSSender"] = {"LambdaArn": FUNCTION_ARN, "LambdaVersion": "V1_0"}
    expected["KMSKeyID"] = KEY_ARN
    assert after["LambdaConfig"] == expected


def capture_update_requests(monkeypatch) -> list[dict]:
    """The body of every UpdateUserPool request the script sends when run in this process (main())."""
    sent: list[dict] = []
    make_client = wire.cognito_client

    def client_that_records(region):
        client = make_client(region)
        client.meta.events.register(
            "before-call.cognito-identity-provider.UpdateUserPool",
            lambda params, **_: sent.append(json.loads(params["body"])),
        )
        return client

    monkeypatch.setattr(wire, "cognito_client", client_that_records)
    return sent


def test_update_request_repeats_every_setting_with_its_value(rich_pool, aws_env, monkeypatch, capsys):
    sent = capture_update_requests(monkeypatch)
    assert wire.main(wire_args(rich_pool)) == 0, capsys.readouterr().err
    [request] = sent
    assert request["UserPoolId"] == rich_pool
    for member in PRESERVED:
        assert request.get(member) == RICH_POOL[member], member
    assert sorted(request) == UPDATE_MEMBERS


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
    assert f"It would repeat these settings unchanged: {', '.join(sorted(PRESERVED))}\n" in out
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


# --------------------------------------------------------------------------------------------- refusals --

def older_model(tmp_path, drop: str):
    """A copy of the installed Cognito model without the member `drop` ("Shape.Member"), as an older botocore
    would have it, in a directory for AWS_DATA_PATH (botocore reads models there before its own)."""
    loader = botocore.loaders.create_loader()
    model = loader.load_service_model("cognito-idp", "service-2")
    version = model["metadata"]["apiVersion"]
    shape, member = drop.split(".")
    del model["shapes"][shape]["members"][member]
    if shape == "UserPoolType":  # an older model lacked it in the request too
        del model["shapes"]["UpdateUserPoolRequest"]["members"][member]
    target = tmp_path / "models" / "cognito-idp" / version
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return str(tmp_path / "models")


@pytest.mark.parametrize(
    "drop, named",
    [
        ("UserPoolType.DeletionProtection", "DeletionProtection"),
        ("SmsConfigurationType.SnsRegion", "SmsConfiguration.SnsRegion"),
    ],
)
def test_refuses_a_pool_setting_the_installed_botocore_does_not_know(cognito, rich_pool, aws_env, tmp_path,
                                                                      drop, named):
    before = describe(cognito, rich_pool)
    env = dict(aws_env, AWS_DATA_PATH=older_model(tmp_path, drop))
    for extra in ([], ["--dry-run"]):
        result = run(*wire_args(rich_pool, KEY_ARN, *extra), env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "refused" in result.stderr and f"does not know: {named}." in result.stderr
        assert "pip install --upgrade boto3 botocore" in result.stderr
    assert describe(cognito, rich_pool) == before


def test_unknown_members_are_found_at_any_depth():
    shape = _output_shape().members["UserPool"]
    raw = {
        "Id": "us-east-1_AbC123",
        "NewTopLevel": {"x": 1},
        "LambdaConfig": {"PreSignUp": fn("p"), "NewTrigger": fn("n")},
        "SchemaAttributes": [{"Name": "sub", "NewFlag": True}],
        "UserPoolTags": {"any-tag-name": "is fine"},
    }
    assert wire.unknown_members(raw, shape) == ["LambdaConfig.NewTrigger", "NewTopLevel", "SchemaAttributes[].NewFlag"]
    assert wire.unknown_members({"Id": "x", "UserPoolTags": {"a": "b"}}, shape) == []


def test_botocore_version_check():
    assert wire.MIN_BOTOCORE <= tuple(int(n) for n in botocore.__version__.split(".")[:3])
    assert wire.botocore_too_old(".".join(map(str, wire.MIN_BOTOCORE))) is None
    assert wire.botocore_too_old("1.44.10") is None and wire.botocore_too_old("2.0.0") is None
    for old in ("1.44.2", "1.43.127", "1.35.99"):
        assert "too old" in wire.botocore_too_old(old), old
    # The test venv installs a botocore the script accepts.
    pins = dict(line.split("==") for line in (ROOT / "requirements-test.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert wire.botocore_too_old(pins["botocore"]) is None


def test_refuses_to_run_with_an_old_botocore(cognito, rich_pool, aws_env):
    before = describe(cognito, rich_pool)
    code = ("import runpy, sys, botocore; botocore.__version__ = '1.44.2'; sys.argv[0] = sys.argv[1]; del sys.argv[1];"
            " runpy.run_path(sys.argv[0], run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code, str(SCRIPT), *wire_args(rich_pool)], env=aws_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "botocore 1.44.2 is too old" in result.stderr and "1.44.3 or later" in result.stderr
    assert describe(cognito, rich_pool) == before


@pytest.mark.parametrize("qualifier", ["live", "7", "$LATEST"])
def test_refuses_a_version_or_alias_arn(qualifier, aws_env):
    result = run("--user-pool-id", "us-east-1_AbC123", "--lambda-arn", f"{FUNCTION_ARN}:{qualifier}",
                 "--kms-key-arn", KEY_ARN, env=aws_env)
    assert result.returncode == 2
    assert f"names a version or alias ({qualifier})" in result.stderr
    assert "cover only the unqualified function" in result.stderr
    assert f"pass {FUNCTION_ARN}" in result.stderr


def test_refuses_sms_mfa_without_an_sms_configuration(cognito, aws_env):
    pool_id = cognito.create_user_pool(PoolName="p", LambdaConfig={"PreSignUp": fn("pre-sign-up")})["UserPool"]["Id"]
    role = f"arn:aws:iam::{ACCOUNT}:role/mfa-sms"
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="ON",
        SmsMfaConfiguration={"SmsAuthenticationMessage": "Code {####}", "SmsConfiguration": {"SnsCallerArn": role}},
    )
    before = describe(cognito, pool_id)
    assert before["MfaConfiguration"] == "ON" and "SmsConfiguration" not in before

    result = run(*wire_args(pool_id), env=aws_env)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "refused" in err and "MFA ON with SMS as a factor but no SmsConfiguration" in err
    assert "SnsCallerArn" in err and "sns:Publish" in err and role in err
    assert describe(cognito, pool_id) == before


def test_totp_only_mfa_without_an_sms_configuration_is_wired(cognito, aws_env):
    pool_id = cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                     SoftwareTokenMfaConfiguration={"Enabled": True})
    result = run(*wire_args(pool_id), env=aws_env)
    assert result.returncode == 0, result.stderr
    assert describe(cognito, pool_id)["LambdaConfig"]["CustomSMSSender"]["LambdaArn"] == FUNCTION_ARN


# ---------------------------------------------------------------------------------------- request building --

def _output_shape():
    return boto3.client("cognito-idp", region_name=REGION).meta.service_model.operation_model(
        "DescribeUserPool"
    ).output_shape


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


CONVERSION_ARN = fn("stack-sms-conversion")


def test_wires_the_conversion_triggers_and_keeps_every_other_one(cognito, aws_env):
    pool_id = cognito.create_user_pool(PoolName="p", LambdaConfig={"PreSignUp": fn("pre-sign-up")})["UserPool"]["Id"]
    result = run(*wire_args(pool_id, KEY_ARN, "--conversion-arn", CONVERSION_ARN), env=aws_env)
    assert result.returncode == 0, result.stderr
    after = describe(cognito, pool_id)["LambdaConfig"]
    assert (after["PostConfirmation"], after["PostAuthentication"]) == (CONVERSION_ARN, CONVERSION_ARN)
    assert after["PreSignUp"] == fn("pre-sign-up") and after["CustomSMSSender"]["LambdaArn"] == FUNCTION_ARN
    again = run(*wire_args(pool_id, KEY_ARN, "--conversion-arn", CONVERSION_ARN), env=aws_env)
    assert again.returncode == 0 and "nothing to change" in again.stdout


@pytest.mark.parametrize("trigger", ["PostConfirmation", "PostAuthentication"])
def test_refuses_to_replace_a_teams_own_conversion_trigger_unless_told(cognito, aws_env, trigger):
    pool_id = cognito.create_user_pool(PoolName="p", LambdaConfig={trigger: fn("team-hook")})["UserPool"]["Id"]
    before = describe(cognito, pool_id)
    refused = run(*wire_args(pool_id, KEY_ARN, "--conversion-arn", CONVERSION_ARN), env=aws_env)
    assert refused.returncode == 2, refused.stderr
    assert f"{trigger} runs {fn('team-hook')}" in refused.stderr and "--replace-triggers" in refused.stderr
    assert "docs/deploy.md" in refused.stderr
    assert describe(cognito, pool_id) == before, "nothing written"

    told = run(*wire_args(pool_id, KEY_ARN, "--conversion-arn", CONVERSION_ARN, "--replace-triggers"), env=aws_env)
    assert told.returncode == 0, told.stderr
    assert describe(cognito, pool_id)["LambdaConfig"][trigger] == CONVERSION_ARN


def test_refuses_a_qualified_conversion_arn(aws_env):
    result = run(*wire_args("us-east-1_AbC123", KEY_ARN, "--conversion-arn", CONVERSION_ARN + ":live"), env=aws_env)
    assert result.returncode == 2 and "--conversion-arn" in result.stderr
