"""template.yaml: cfn-lint clean (no warnings, no informational findings), the facts the deployment relies on,
and parameters that accept exactly what the function accepts."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from conftest import ROOT, VENV_BIN

TEMPLATE = ROOT / "template.yaml"
T = cfn_yaml.load(str(TEMPLATE))
RES = T["Resources"]
PARAMS = T["Parameters"]
NO_VALUE = {"Ref": "AWS::NoValue"}


def plain(node):
    """cfn-lint's node classes as plain dicts, lists and strings."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def sub(value, **extra):
    """Resolves a `Fn::Sub` of pseudo parameters (and `extra`) for comparisons."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        names = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                 "AWS::StackName": "stack", **extra}
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)
    return value


def branches(item):
    """A statement list entry, or both branches of an `Fn::If`, without `AWS::NoValue`."""
    if isinstance(item, dict) and "Fn::If" in item:
        _, yes, no = item["Fn::If"]
        return [b for b in (yes, no) if b != NO_VALUE]
    return [item]


def statements(role):
    out = []
    for policy in plain(RES[role]["Properties"]["Policies"]):
        for item in policy["PolicyDocument"]["Statement"]:
            out.extend(branches(item))
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def find(stmts, action):
    found = [s for s in stmts if action in as_list(s["Action"])]
    assert len(found) == 1, (action, found)
    return found[0]


FN = plain(RES["SmsSenderFunction"])
ENV = FN["Properties"]["Environment"]["Variables"]
ROLE = statements("SmsSenderRole")


# ------------------------------------------------------------------------------------------------- linting --

def test_cfn_lint_reports_nothing():
    exe = VENV_BIN / "cfn-lint"
    assert exe.exists(), "cfn-lint is not installed: run scripts/setup"
    result = subprocess.run([str(exe), "--format", "parseable", str(TEMPLATE)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


# `sam validate --lint` needs aws-sam-cli, which lives in .venv-deploy: scripts/check-deploy runs it (in CI),
# so this suite never skips a check for want of it.


# ---------------------------------------------------------------------------------------- least privilege --

def test_no_wildcard_actions_in_any_iam_role():
    for name, res in RES.items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for s in statements(name):
            for action in as_list(s.get("Action", [])):
                assert "*" not in action, (name, action)
            assert "NotAction" not in s, name


def test_only_the_account_root_statement_of_the_key_policy_has_a_wildcard_action():
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    for s in plain(RES["CodeKey"]["Properties"]["KeyPolicy"]["Statement"]):
        if any("*" in a for a in as_list(s["Action"])):
            assert s["Principal"] == root, s


def test_sns_publish_is_limited_to_phone_numbers():
    publish = find(ROLE, "sns:Publish")
    assert as_list(publish["Action"]) == ["sns:Publish"]
    assert "Resource" not in publish
    assert sub(publish["NotResource"]) == "arn:aws:sns:*:*:*"


def test_decrypt_needs_this_pools_encryption_context():
    # The other kms:Decrypt is the test-number queue's own key (test_test_numbers_reach_their_queue_only).
    decrypt = find([s for s in ROLE if s.get("Resource") != {"Ref": "TestSinkKeyArn"}], "kms:Decrypt")
    assert as_list(decrypt["Action"]) == ["kms:Decrypt"]
    assert decrypt["Resource"] == {"Fn::GetAtt": ["CodeKey", "Arn"]}
    pool_id = {"Fn::If": ["CreateUserPool", {"Ref": "UserPool"}, {"Ref": "ExistingUserPoolId"}]}
    assert decrypt["Condition"] == {"StringEquals": {"kms:EncryptionContext:userpool-id": pool_id}}


def test_only_the_read_only_probe_uses_resource_star():
    star = {s["Sid"]: s for s in ROLE if "*" in as_list(s.get("Resource", []))}
    assert sorted(star) == ["ProbeSmsSandboxAndSpend", "ProbeSmsThroughSns", "ReadEndUserMessagingAccount"]
    assert sorted(as_list(star["ReadEndUserMessagingAccount"]["Action"])) == [
        "sms-voice:DescribeAccountAttributes", "sms-voice:DescribeSpendLimits"]
    assert sorted(as_list(star["ProbeSmsSandboxAndSpend"]["Action"])) == sorted([
        "sns:GetSMSSandboxAccountStatus", "sns:ListSMSSandboxPhoneNumbers", "sns:GetSMSAttributes",
        "cloudwatch:GetMetricStatistics",
    ])
    assert "Condition" not in star["ProbeSmsSandboxAndSpend"]


def test_probe_reads_end_user_messaging_only_through_sns():
    """SNS's SMS runs on AWS End User Messaging SMS: AWS's AmazonSNSReadOnlyAccess pairs the SNS reads with these
    sms-voice reads, allowed only when SNS makes the call."""
    probe = next(s for s in ROLE if s.get("Sid") == "ProbeSmsThroughSns")
    assert sorted(as_list(probe["Action"])) == [
        "sms-voice:DescribeAccountAttributes", "sms-voice:DescribeSpendLimits",
        "sms-voice:DescribeVerifiedDestinationNumbers",
    ]
    assert probe["Resource"] == "*"
    assert probe["Condition"] == {"StringEquals": {"aws:CalledViaLast": "sns.amazonaws.com"}}


def test_end_user_messaging_sends_only_from_this_accounts_resources_when_chosen():
    send = find(ROLE, "sms-voice:SendTextMessage")
    assert send["Sid"] == "SendTextMessages"
    any_of = {kind: {"Fn::Sub": f"arn:${{AWS::Partition}}:sms-voice:*:${{AWS::AccountId}}:{kind}/*"}
              for kind in ["phone-number", "pool", "sender-id", "configuration-set", "protect-configuration"]}
    # The stack's own configuration set and protect configuration, when it makes them; else the account's.
    assert send["Resource"] == [
        any_of["phone-number"], any_of["pool"], any_of["sender-id"],
        {"Fn::If": ["CreatesConfigurationSet", {"Fn::GetAtt": ["EumConfigurationSet", "Arn"]},
                    any_of["configuration-set"]]},
        {"Fn::If": ["CreatesProtectConfiguration", {"Fn::GetAtt": ["EumProtectConfiguration", "Arn"]},
                    any_of["protect-configuration"]]},
    ]
    conditions = plain(T["Conditions"])
    assert conditions["SendsThroughEum"] == {"Fn::And": [
        {"Fn::Equals": [{"Ref": "Transport"}, "end-user-messaging"]}, {"Fn::Equals": [{"Ref": "SnsCallerArn"}, ""]}]}


def test_sns_permissions_move_to_the_caller_role_when_one_is_set():
    doc = plain(RES["SmsSenderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"])
    conditional = [i["Fn::If"] for i in doc if isinstance(i, dict) and "Fn::If" in i]
    by_sid = {}
    for cond, yes, no in conditional:
        sid = (yes if yes != NO_VALUE else no)["Sid"]
        by_sid[sid] = (cond, yes != NO_VALUE)
    assert by_sid["PublishSmsToPhoneNumbersOnly"] == ("HasSnsCallerRole", False)
    assert by_sid["ProbeSmsSandboxAndSpend"] == ("HasSnsCallerRole", False)
    assert by_sid["ProbeSmsThroughSns"] == ("HasSnsCallerRole", False)
    assert by_sid["AssumeSnsCallerRole"] == ("HasSnsCallerRole", True)
    assume = find(ROLE, "sts:AssumeRole")
    assert assume["Resource"] == {"Ref": "SnsCallerArn"}
    assert assume["Condition"] == {
        "Fn::If": ["HasSnsExternalId", {"StringEquals": {"sts:ExternalId": {"Ref": "SnsExternalId"}}}, NO_VALUE]
    }
    assert T["Conditions"]["HasSnsCallerRole"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SnsCallerArn"}, ""]}]}


# The DynamoDB calls of the function's adapters and the IAM action each needs. TransactWriteItems has no action
# of its own: IAM authorises each of its items by the action of the same name
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
DYNAMODB_CALLS = {
    r"\.get_item\(\)": "dynamodb:GetItem",
    r"\.put_item\(\)": "dynamodb:PutItem",
    r"\.update_item\(\)": "dynamodb:UpdateItem",
    r"\.delete_item\(\)": "dynamodb:DeleteItem",
    r"\bPut::builder\(\)": "dynamodb:PutItem",
    r"\bUpdate::builder\(\)": "dynamodb:UpdateItem",
    r"\bDelete::builder\(\)": "dynamodb:DeleteItem",
    r"\bConditionCheck::builder\(\)": "dynamodb:ConditionCheckItem",
    r"\.transact_get_items\(\)": "dynamodb:GetItem",
    r"\.query\(\)": "dynamodb:Query",
    r"\.scan\(\)": "dynamodb:Scan",
    r"\.batch_write_item\(\)": "dynamodb:BatchWriteItem",
    r"\.batch_get_item\(\)": "dynamodb:BatchGetItem",
}


def dynamodb_actions_the_function_uses() -> set[str]:
    used = set()
    for path in [ROOT / "src" / "ledger" / "dynamodb.rs", ROOT / "src" / "gate" / "dynamodb.rs"]:
        text = path.read_text().split("#[cfg(test)]", 1)[0]
        used |= {action for call, action in DYNAMODB_CALLS.items() if re.search(call, text)}
    return used


def test_the_state_table_allows_exactly_the_item_actions_the_ledger_and_the_gate_use():
    used = dynamodb_actions_the_function_uses()
    # The scan works: the ledger's calls and the gate's transaction items are seen.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem"} <= used
    table = find(ROLE, "dynamodb:UpdateItem")
    assert table["Sid"] == "StateTableLedgerAndCounters"
    assert sorted(as_list(table["Action"])) == sorted(used)
    assert table["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert not [s for s in ROLE if any(a.startswith("dynamodb:") for a in as_list(s["Action"])) and s is not table]


def test_table_queue_and_logs_permissions_name_their_resource():
    table = find(ROLE, "dynamodb:GetItem")
    assert table["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    queue = find([s for s in ROLE if s["Sid"] != "PutTestNumbersMessagesInTheirQueue"], "sqs:SendMessage")
    assert queue["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    logs = find(ROLE, "logs:PutLogEvents")
    assert logs["Resource"] == {"Fn::GetAtt": ["SmsSenderLogGroup", "Arn"]}
    assert FN["Properties"]["Role"] == {"Fn::GetAtt": ["SmsSenderRole", "Arn"]}
    assert "Policies" not in FN["Properties"]


def test_test_numbers_reach_their_queue_only():
    """sqs:SendMessage (and the encryption check's GetQueueAttributes) on the queue named by TestSinkQueueUrl, its
    ARN rebuilt from the URL; the data key only with the queue's own KMS key; each only when set."""
    statements = plain(RES["SmsSenderRole"])["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    raw = {s["Fn::If"][1].get("Sid"): s["Fn::If"] for s in statements if "Fn::If" in s}
    queue, key = raw["PutTestNumbersMessagesInTheirQueue"], raw["EncryptTestNumbersMessages"]
    assert (queue[0], key[0]) == ("HasTestNumbers", "HasTestSinkKey")
    assert sorted(queue[1]["Action"]) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    assert sorted(key[1]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"] and key[1]["Resource"] == {"Ref": "TestSinkKeyArn"}
    arn, parts = queue[1]["Resource"]["Fn::Sub"]
    assert arn == "arn:${AWS::Partition}:sqs:${Region}:${Account}:${Name}"

    def evaluate(node, url):
        """Fn::Select / Fn::Split / Fn::Join with TestSinkQueueUrl = url, as CloudFormation evaluates them."""
        if isinstance(node, dict):
            (fn, args), = node.items()
            if fn == "Ref":
                return url
            args = [evaluate(a, url) for a in args]
            return {"Fn::Select": lambda i, xs: xs[int(i)], "Fn::Split": lambda d, v: v.split(d),
                    "Fn::Join": lambda d, xs: d.join(xs)}[fn](*args)
        return [evaluate(n, url) for n in node] if isinstance(node, list) else node

    url = "https://sqs.eu-west-1.amazonaws.com/111122223333/sms-test-sink"
    assert {k: evaluate(v, url) for k, v in parts.items()} == {
        "Region": "eu-west-1", "Account": "111122223333", "Name": "sms-test-sink"}
    evaluate(parts["Name"], "") and evaluate(parts["Region"], "")  # an empty URL still evaluates
    assert T["Conditions"]["HasTestNumbers"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TestNumbers"}, ""]}]}


# ------------------------------------------------------------------------------------------------- wiring --

def test_user_pool_and_key_outlive_the_stack_but_not_a_failed_creation():
    """Deleting or replacing the stack keeps the pool (users) and the key (the pool names it); a stack whose
    creation fails removes them, since nothing depends on them yet."""
    for name in ("UserPool", "CodeKey"):
        assert RES[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert RES[name]["UpdateReplacePolicy"] == "Retain", name


def test_key_policy_lets_cognito_encrypt_for_this_pool_only():
    key = plain(RES["CodeKey"]["Properties"])
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT" and key["KeyUsage"] == "ENCRYPT_DECRYPT"
    cognito = [s for s in key["KeyPolicy"]["Statement"]
               if s.get("Principal") == {"Service": "cognito-idp.amazonaws.com"}]
    assert len(cognito) == 1
    s = cognito[0]
    assert {"kms:Encrypt", "kms:CreateGrant"} <= set(as_list(s["Action"]))
    assert "kms:Decrypt" not in as_list(s["Action"])
    assert s["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    cond, new_pool, existing = s["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::If"]
    assert cond == "CreateUserPool"
    assert sub(new_pool) == "arn:aws:cognito-idp:us-east-1:123456789012:userpool/*"
    assert sub(existing, ExistingUserPoolId="us-east-1_AbC") == \
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC"
    assert plain(RES["CodeKeyAlias"]["Properties"]["TargetKeyId"]) == {"Ref": "CodeKey"}


def test_user_pool_signs_up_with_phone_and_uses_the_sender():
    pool = plain(RES["UserPool"])
    assert pool["Condition"] == "CreateUserPool"
    assert T["Conditions"]["CreateUserPool"] == {"Fn::Equals": [{"Ref": "ExistingUserPoolId"}, ""]}
    p = pool["Properties"]
    assert p["UsernameAttributes"] == ["phone_number"] and p["AutoVerifiedAttributes"] == ["phone_number"]
    assert {"Name": "phone_number", "AttributeDataType": "String", "Required": True, "Mutable": True} in p["Schema"]
    sender = p["LambdaConfig"]["CustomSMSSender"]
    assert sender["LambdaVersion"] == "V1_0"
    assert p["LambdaConfig"]["KMSKeyID"] == {"Fn::GetAtt": ["CodeKey", "Arn"]}
    # The pool names the function by a built ARN (a reference would be a cycle): it must be the function's name.
    name = sub(FN["Properties"]["FunctionName"])
    assert sub(sender["LambdaArn"]) == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def test_invoke_permission_is_scoped_to_the_pool_and_account():
    p = plain(RES["CognitoInvokePermission"]["Properties"])
    assert p["Principal"] == "cognito-idp.amazonaws.com" and p["Action"] == "lambda:InvokeFunction"
    assert p["FunctionName"] == {"Fn::GetAtt": ["SmsSenderFunction", "Arn"]}
    assert p["SourceAccount"] == {"Ref": "AWS::AccountId"}
    cond, new_pool, existing = p["SourceArn"]["Fn::If"]
    assert (cond, new_pool) == ("CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]})
    assert sub(existing, ExistingUserPoolId="us-east-1_AbC").endswith(":userpool/us-east-1_AbC")


def test_failed_async_invocations_go_to_an_encrypted_queue():
    cfg = FN["Properties"]["EventInvokeConfig"]
    assert cfg["MaximumRetryAttempts"] == 2
    assert 60 <= cfg["MaximumEventAgeInSeconds"] <= 21600
    assert cfg["DestinationConfig"]["OnFailure"] == {"Type": "SQS",
                                                      "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    q = plain(RES["DeadLetterQueue"]["Properties"])
    assert q["KmsMasterKeyId"] == "alias/aws/sqs"
    assert q["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_idempotency_table():
    """The state table (STATE_TABLE): the ledger and the gate's counters. It keeps its logical id and no
    TableName, so that a stack update does not replace it (and lose the ledger and the counters)."""
    t = plain(RES["IdempotencyTable"]["Properties"])
    assert "TableName" not in t
    assert t["BillingMode"] == "PAY_PER_REQUEST"
    assert t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert t["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert t["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_function_build_and_runtime():
    assert FN["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "cognito-sms-sender"}}
    p = FN["Properties"]
    assert (p["CodeUri"], p["Handler"], p["Runtime"]) == (".", "bootstrap", "provided.al2023")
    assert p["Architectures"] == [{"Ref": "Architecture"}]
    assert PARAMS["Architecture"]["Default"] == "x86_64"
    assert sorted(PARAMS["Architecture"]["AllowedValues"]) == ["arm64", "x86_64"]
    assert p["LoggingConfig"]["LogFormat"] == "JSON"
    assert (PARAMS["MemorySize"]["Default"], PARAMS["Timeout"]["Default"]) == (256, 10)


def test_outputs():
    assert {"FunctionArn", "KeyArn", "UserPoolId", "DeadLetterQueueUrl"} <= set(T["Outputs"])


def test_deploy_docs_name_every_resource_and_output():
    """docs/deploy.md's overview (before "## Tools") names, in backticks, every resource and output of the template."""
    overview = (ROOT / "docs" / "deploy.md").read_text().split("\n## Tools", 1)[0]
    named = set(re.findall(r"`([A-Za-z][A-Za-z0-9]*)`", overview))
    assert sorted(set(RES) - named) == []
    assert sorted(set(T["Outputs"]) - named) == []


# ----------------------------------------------------------------------------------- function configuration --

PER_SOURCE = re.compile(r'TriggerSource::\w+ => "(\w+)"')


def variables_the_function_reads() -> set[str]:
    names = set()
    for path in (ROOT / "src").rglob("*.rs"):
        text = path.read_text()
        names |= set(re.findall(r'\b(?:get|lookup|raw|on_off|seconds|parsed)\)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        # Variables read in a loop over a table of (name, rule): the velocity limits.
        names |= set(re.findall(r'\(\s*"([A-Z][A-Z0-9_]+)",\s*Rule::\w+\)', text))
    event = (ROOT / "src" / "message" / "event.rs").read_text()
    for suffix in PER_SOURCE.findall(event):
        names.add("SMS_TEMPLATE_" + re.sub(r"(?<!^)([A-Z])", r"_\1", suffix).upper())
    return names


# Variables the template sets from its own resources rather than from one parameter.
TEMPLATE_VALUES = {"KMS_KEY_ARN", "STATE_TABLE", "ALLOWED_USER_POOL_IDS", "SMS_POLICY_APPCONFIG",
                   "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST", "SMS_CONFIGURATION_SET", "SMS_PROTECT_CONFIGURATION_ID"}


def test_every_setting_of_the_function_is_a_parameter_and_no_local_setting_is_set():
    # Lambda itself sets these two.
    read = variables_the_function_reads() - {"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_LEVEL"}
    assert {"KMS_KEY_ARN", "SMS_TEMPLATE", "SMS_TEMPLATE_FORGOT_PASSWORD", "SMS_POLICY_MODE",
            "SMS_LIMIT_TOTAL"} <= read  # the scan works
    local = {"LOCAL_DEV_KEY_FILE", "LOCAL_OUTBOX"}
    # IDEMPOTENCY_TABLE is STATE_TABLE's old name (the function refuses both at once); the AppConfig extension's
    # port is the extension's own setting, left at its default (2772) by the template; the low-conversion rule's
    # judging unit stays at its default in a stack, whose history is kept per unit (the attack simulation sets it).
    # FUNCTION_ROLE is left at its default (sender) here; only the conversion function sets it.
    not_set = {"IDEMPOTENCY_TABLE", "AWS_APPCONFIG_EXTENSION_HTTP_PORT", "SMS_QUARANTINE_UNIT_SECONDS", "FUNCTION_ROLE"}
    assert not_set <= read
    assert not (local | not_set) & set(ENV)
    assert read - local - not_set <= set(ENV), sorted(read - local - not_set - set(ENV))
    # The extension's prefetch list is read by the extension, not the function.
    assert set(ENV) - read <= {"IDEMPOTENCY_TTL_SECONDS", "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST"}
    assert ENV["KMS_KEY_ARN"] == {"Fn::GetAtt": ["CodeKey", "Arn"]}
    assert ENV["STATE_TABLE"] == {"Ref": "IdempotencyTable"}
    assert ENV["ALLOWED_USER_POOL_IDS"] == {
        "Fn::If": ["CreateUserPool", {"Ref": "UserPool"}, {"Ref": "ExistingUserPoolId"}]}
    for name, value in ENV.items():
        if name not in TEMPLATE_VALUES:
            assert set(value) == {"Ref"} and value["Ref"] in PARAMS, name


# Each variable of the abuse gate and the parameter it comes from.
GATE_PARAMETERS = {
    "SMS_POLICY_MODE": "PolicyMode",
    "SMS_ALLOWED_COUNTRIES": "AllowedCountries",
    "SMS_BLOCKED_COUNTRIES": "BlockedCountries",
    "SMS_BLOCKED_NUMBER_TYPES": "BlockedNumberTypes",
    "SMS_LIMIT_PER_NUMBER": "LimitPerNumber",
    "SMS_LIMIT_PER_USER": "LimitPerUser",
    "SMS_LIMIT_PER_PREFIX": "LimitPerPrefix",
    "SMS_LIMIT_PER_COUNTRY": "LimitPerCountry",
    "SMS_LIMIT_TOTAL": "LimitTotal",
    "SMS_PREFIX_DIGITS": "PrefixDigits",
    "SMS_BUDGET_USD": "BudgetUsd",
    "SMS_POLICY_FAIL_OPEN": "PolicyFailOpen",
    "SMS_POLICY_FILE": "PolicyFile",
    "SMS_POLICY_REFRESH_SECONDS": "PolicyRefreshSeconds",
    "SMS_QUARANTINE": "Quarantine",
}


def test_each_abuse_gate_parameter_reaches_the_environment():
    config = (ROOT / "src" / "config" / "mod.rs").read_text()
    gate_variables = set(re.findall(r'"(SMS_(?:POLICY|LIMIT|ALLOWED|BLOCKED|PREFIX|BUDGET|QUARANTINE)\w*)"', config))
    # The judging unit is no stack parameter: it is changed only with an empty history.
    assert gate_variables == set(GATE_PARAMETERS) | {"SMS_POLICY_APPCONFIG", "SMS_QUARANTINE_UNIT_SECONDS"}, gate_variables
    for variable, param in GATE_PARAMETERS.items():
        assert ENV[variable] == {"Ref": param}, variable
    appconfig = ENV["SMS_POLICY_APPCONFIG"]["Fn::If"]
    assert appconfig[0] == "CreatesPolicyAppConfig" and appconfig[2] == {"Ref": "PolicyAppConfig"}
    group = [g for g in plain(T["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"])
             if "Abuse gate" in g["Label"]["default"]]
    assert set(group[0]["Parameters"]) >= set(GATE_PARAMETERS.values()) | {"PolicyAppConfig", "CreatePolicyAppConfig",
                                                                          "AppConfigExtensionLayerArn"}


def test_the_gate_parameters_default_to_the_functions_own_defaults():
    """Empty means "the function's default": the template does not restate (and risk contradicting) them."""
    policy = (ROOT / "src" / "gate" / "policy.rs").read_text()
    config = (ROOT / "src" / "config" / "mod.rs").read_text()
    for variable in GATE_PARAMETERS:
        p = param_for(variable)
        if variable == "SMS_POLICY_MODE":
            assert p["Default"] == "enforce" and "unwrap_or(Mode::Enforce)" in config
        elif variable == "SMS_QUARANTINE":
            assert p["Default"] == "off" and 'on_off("SMS_QUARANTINE", false)' in config
        elif variable == "SMS_POLICY_FAIL_OPEN":
            assert p["Default"] == "on" and 'on_off("SMS_POLICY_FAIL_OPEN", true)' in config
        elif variable == "SMS_POLICY_REFRESH_SECONDS":
            source = (ROOT / "src" / "gate" / "source.rs").read_text()
            assert f"from_secs({p['Default']})" in re.search(r"DEFAULT_REFRESH: Duration = [^;]+;", source).group(0)
            assert (p["MinValue"], p["MaxValue"]) == (1, 300)
            assert '"SMS_POLICY_REFRESH_SECONDS", DEFAULT_REFRESH.as_secs(), 1..=300' in config
        elif variable == "SMS_PREFIX_DIGITS":
            assert str(p["Default"]) == re.search(r"DEFAULT_PREFIX_DIGITS: usize = (\d+);", policy).group(1)
        else:
            assert p["Default"] == "", variable
    per_number = re.search(r'DEFAULT_PER_NUMBER: &str = "([^"]+)";', policy).group(1)
    assert per_number in param_for("SMS_LIMIT_PER_NUMBER")["Description"]


def param_for(variable: str) -> dict:
    value = ENV[variable]
    if "Fn::If" in value:
        value = value["Fn::If"][2]  # the parameter, when the stack makes no resource of its own instead
    return PARAMS[value["Ref"]]


def allowed(variable: str, value: str) -> bool:
    """Whether CloudFormation would accept `value` for the parameter behind `variable`."""
    p = param_for(variable)
    if "AllowedValues" in p:
        return value in [str(v) for v in p["AllowedValues"]]
    if "MaxLength" in p and len(value) > int(p["MaxLength"]):
        return False
    if "MinLength" in p and len(value) < int(p["MinLength"]):
        return False
    if p["Type"] == "Number":
        return float(p["MinValue"]) <= float(value) <= float(p["MaxValue"])
    return "AllowedPattern" not in p or re.fullmatch(p["AllowedPattern"], value) is not None


# Valid and invalid values as the function's own checks (src/destination/attributes.rs, src/message/template.rs) judge them.
CASES = {
    "SNS_REGION": (["", "us-east-1", "ap-northeast-1", "us-gov-west-1", "ap-southeast-7"],
                   ["tokyo", "us-east", "US-EAST-1", "us-east-1a", "x" * 33]),
    "SMS_TYPE": (["Transactional", "Promotional"], ["transactional", ""]),
    "SENDER_ID": (["", "MyApp", "MyApp-1", "A12", "12A", "1A2", "ABCDEFGHIJK"],
                  ["AB", "123456", "TooLongSender", "My App", "A_B"]),
    "ORIGINATION_NUMBER": (["", "+18005550100", "12345", "+12345678901234"],
                           ["1234", "+1800555010012345", "+1-800-555", "18005550100x"]),
    "MAX_PRICE": (["", "0.50", "1", "1.", ".5", "10.25", "0.01"], ["-1", "0", "0.00", "1e3", "cheap", ".", "1.2.3"]),
    "SNS_CALLER_ARN": (["", "arn:aws:iam::123456789012:role/CognitoSns", "arn:aws:iam::123456789012:role/path/r"],
                       ["role/CognitoSns", "arn:aws:kms:us-east-1:111122223333:key/x"]),
    "SMS_TEMPLATE": (["", "Code {####}", "{####}", "Hi {username}, code <####>"],
                     ["no code here", "x" * 141 + "{####}"]),
    "SMS_TEMPLATE_ACCOUNT_TAKE_OVER_NOTIFICATION": (["", "Was this you?"], ["short", "x" * 141]),
    "SMS_PROBE": (["on", "off"], ["yes", ""]),
    "WARM_UP": (["on", "off"], ["yes", "true"]),
    "SMS_PROBE_CACHE_SECONDS": (["10", "300", "86400"], ["1", "86401"]),
    # src/gate/policy.rs's limit and country checks.
    "SMS_POLICY_MODE": (["enforce", "monitor"], ["block", "Enforce", ""]),
    "SMS_ALLOWED_COUNTRIES": (["", "US", "US,CA,GB", "gb", ",".join(["FR"] * 20)],
                              ["USA", "US;CA", "U", "US,", ",".join(["FR"] * 21)]),
    "SMS_BLOCKED_COUNTRIES": (["", "CU", "CU,IR"], ["Cuba", "1A"]),
    "SMS_BLOCKED_NUMBER_TYPES": (["", "none", "premium_rate", "premium_rate,shared_cost,toll_free,uan,pager,voicemail",
                                  "mobile,fixed_line,fixed_line_or_mobile,toll_free,premium_rate,shared_cost,"
                                  "personal_number,voip,pager,uan,voicemail,other"],
                                 ["premium", "none,pager", "Pager", "pager,"]),
    "SMS_LIMIT_PER_NUMBER": (["", "off", "10/1h,30/1d", "5/1h", "1/31d", "3/744h", "9/44640m", "2/2678400s",
                              "100/1m,1000/1h,5000/1d"],
                             ["5", "5/", "0/1h", "x/1h", "5/1w", "5/0s", "5/32d", "5/745h", "5/44641m", "5/2678401s",
                              "5/h", "5/1h,", "10/1h,30/1d,100/7d,300/30d,900/31d"]),
    "SMS_LIMIT_PER_USER": (["", "5/1h,20/1d"], ["5 per hour"]),
    "SMS_LIMIT_PER_PREFIX": (["", "100/1h"], ["100/1y"]),
    "SMS_LIMIT_PER_COUNTRY": (["", "1000/1h"], ["-1/1h"]),
    "SMS_LIMIT_TOTAL": (["", "5000/1d"], ["5000"]),
    "SMS_PREFIX_DIGITS": (["1", "5", "10"], ["0", "11"]),
    "SMS_BUDGET_USD": (["", "50/1d,500/30d", "0.5/1h", "5./1h", ".5/1h"],
                       ["off", "0/1d", "0.0/1d", "-5/1d", "50", "50/32d", "$50/1d"]),
    "SMS_POLICY_FAIL_OPEN": (["on", "off"], ["true", ""]),
    "SMS_QUARANTINE": (["on", "off"], ["yes", ""]),
    "SMS_POLICY_FILE": (["", "/var/task/policy.toml", "/opt/sms/policy.toml"], ["policy.toml", "/tmp/p.toml"]),
    "SMS_TRANSPORT": (["sns", "end-user-messaging"], ["eum", ""]),
    "ORIGINATION_IDENTITY": (["", "pool-1", "arn:aws:sms-voice:us-east-1:111122223333:pool/pool-1", "+18005550100"],
                             ["my pool", "x" * 129]),
    "SMS_CONFIGURATION_SET": (["", "otp-events"], ["otp events"]),
    "SMS_DRY_RUN": (["on", "off"], ["yes", ""]),
    # src/config/mod.rs's test numbers and queue URL (the template allows three numbers of the function's ten).
    "SMS_TEST_NUMBERS": (["", "+12065550100", "+12065550100,+447700900123", "+12065550100, +447700900123,+33612345678"],
                         ["12065550100", "+1 206 555 0100", "+12065550100,", "+0123456789", ",".join(["+12065550100"] * 4)]),
    "SMS_TEST_SINK": (["", "https://sqs.us-east-1.amazonaws.com/111122223333/sms-test-sink",
                       "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q_1"],
                      ["sms-test-sink", "https://sqs.us-east-1.amazonaws.com/1111/q",
                       "https://sqs.us-east-1.amazonaws.com/111122223333/q.fifo",
                       "https://sqs.us-east-1.amazonaws.com/111122223333/a queue"]),
}


@pytest.mark.parametrize("variable", sorted(CASES))
def test_parameters_accept_what_the_function_accepts(variable):
    good, bad = CASES[variable]
    for value in good:
        assert allowed(variable, value), (variable, value)
    for value in bad:
        assert not allowed(variable, value), (variable, value)
    default = param_for(variable).get("Default", "")
    assert allowed(variable, str(default)), (variable, default)


def test_the_kinds_of_number_the_parameter_accepts_are_the_functions():
    phone = (ROOT / "src" / "destination" / "phone.rs").read_text()
    kinds = re.findall(r'NumberKind::\w+ => "(\w+)"', phone)
    assert len(kinds) == 12, kinds
    assert allowed("SMS_BLOCKED_NUMBER_TYPES", ",".join(kinds))
    for kind in kinds:
        assert allowed("SMS_BLOCKED_NUMBER_TYPES", kind), kind
    assert not allowed("SMS_BLOCKED_NUMBER_TYPES", "premium")


def test_the_appconfig_profile_parameter_takes_ids():
    """Ids, not names: the role's appconfig permissions are scoped by the ids in the profile's ARN."""
    p = PARAMS["PolicyAppConfig"]
    for good in ["", "abc1234/def5678/ghi9012", "abcd/efgh/ijkl"]:
        assert allowed_value("PolicyAppConfig", good), good
    for bad in ["my-app/prod/sms-policy", "abc1234/def5678", "ABC1234/def5678/ghi9012", "abc1234/def5678/ghi90123"]:
        assert not allowed_value("PolicyAppConfig", bad), bad
    assert p["Default"] == "" and int(p["MaxLength"]) == 23
    source = (ROOT / "src" / "gate" / "source.rs").read_text()
    assert "application/environment/profile" in source


def test_every_code_template_parameter_requires_the_code():
    for name, value in ENV.items():
        if name.startswith("SMS_TEMPLATE") and name not in ("SMS_TEMPLATE_ACCOUNT_TAKE_OVER_NOTIFICATION", "SMS_TEMPLATES_FILE"):
            assert not allowed(name, "no code in this one"), name
            assert allowed(name, "Code: {####}"), name


# Lambda refuses a configuration whose environment variables exceed 4 KB together
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); its error quotes the string it measured,
# the variables as one JSON object, {"NAME":"value",...}. Counted here in UTF-8 bytes at every value's longest.
ENV_LIMIT_BYTES = 4096
# Values the template sets itself, at their longest.
SET_BY_THE_TEMPLATE = {
    # arn:aws-us-gov:kms:<Region, at most 20>:<12 digits>:key/<36-character key id> is 93 characters.
    "KMS_KEY_ARN": 100,
    # The name CloudFormation gives the table: the stack name (at most 53 characters for the stack's other
    # names, README), a hyphen, the logical id, a hyphen and a random suffix of about 13 characters.
    "STATE_TABLE": 53 + 1 + len("IdempotencyTable") + 1 + 13,
    # A created pool's id is no longer than an existing one's.
    "ALLOWED_USER_POOL_IDS": int(PARAMS["ExistingUserPoolId"]["MaxLength"]),
    # Three AppConfig ids of at most 7 characters, from the parameter or the stack's own resources.
    "SMS_POLICY_APPCONFIG": int(PARAMS["PolicyAppConfig"]["MaxLength"]),
    "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": len("/applications//environments//configurations/") + 3 * 7,
    # The parameter's longest, or the stack's own: a configuration set's name (at most 64 characters) and a protect
    # configuration's id (protect- and 32 hex digits).
    "SMS_CONFIGURATION_SET": max(int(PARAMS["ConfigurationSet"]["MaxLength"]), 64),
    "SMS_PROTECT_CONFIGURATION_ID": max(int(PARAMS["ProtectConfigurationId"]["MaxLength"]), len("protect-") + 32),
}
# Free text (the message templates) may hold any character: CloudFormation's MaxLength counts UTF-16 units, and
# one unit is at most 3 bytes in UTF-8 (a character outside the BMP is 2 units and 4 bytes), as is an escaped " or
# \ or newline in the JSON (2 bytes). Control characters that JSON spells \u00XX are not counted at 6.
FREE_TEXT_BYTES_PER_UNIT = 3


def longest_value_bytes(variable: str) -> int:
    if variable in SET_BY_THE_TEMPLATE:
        return SET_BY_THE_TEMPLATE[variable]
    p = PARAMS[ENV[variable]["Ref"]]
    if "AllowedValues" in p:
        return max(len(str(v).encode()) for v in p["AllowedValues"])
    if p["Type"] == "Number":
        return max(len(str(p["MinValue"])), len(str(p["MaxValue"])))
    assert "MaxLength" in p, f"{variable}: a String parameter without MaxLength has no longest value"
    free_text = "AllowedPattern" not in p or r"[\s\S]" in p["AllowedPattern"]
    return int(p["MaxLength"]) * (FREE_TEXT_BYTES_PER_UNIT if free_text else 1)


def test_the_functions_environment_fits_lambdas_4_kb_at_every_parameters_longest():
    assert set(ENV) - SET_BY_THE_TEMPLATE.keys() <= {n for n, v in ENV.items() if set(v) == {"Ref"}}
    # {"NAME":"value","NAME":"value"}: two quotes around each name and each value, a colon, a comma between
    # pairs, two braces.
    size = 2 + len(ENV) - 1 + sum(len(name) + 2 + 1 + longest_value_bytes(name) + 2 for name in ENV)
    assert size < ENV_LIMIT_BYTES, (size, {name: longest_value_bytes(name) for name in ENV})


def test_ascii_template_parameters_take_one_byte_per_character():
    """The per-source templates are counted at one byte a character above: their patterns must refuse every
    character that takes more in the JSON Lambda measures (non-ASCII, ", \\, control characters)."""
    printable = [chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\']
    for name, value in ENV.items():
        if not name.startswith("SMS_TEMPLATE") or name == "SMS_TEMPLATES_FILE":
            continue
        pattern = PARAMS[value["Ref"]]["AllowedPattern"]
        if r"[\s\S]" in pattern:
            assert name == "SMS_TEMPLATE", name  # the one free-text template, counted at 3 bytes a unit
            continue
        for c in ['"', "\\", "\n", "\t", "é", "ß", "€", "😀", "\x7f"]:
            assert not allowed(name, f"Code {{####}} {c} ok"), (name, c)
            assert not allowed(name, f"Code {c} ok {{####}}"), (name, c)
        assert allowed(name, "Code {####} " + "".join(printable)[:50]), name
        assert allowed(name, "Code {####} " + "".join(printable)[50:]) or name.endswith("NOTIFICATION"), name


def test_template_parameters_send_longer_wording_to_the_catalogue_file():
    for name, value in ENV.items():
        if name.startswith("SMS_TEMPLATE") and name != "SMS_TEMPLATES_FILE":
            p = PARAMS[value["Ref"]]
            assert int(p["MaxLength"]) <= 70, name
            assert "SMS_TEMPLATES_FILE" in p["Description"], name


def test_an_external_id_requires_a_caller_role():
    rule = plain(T["Rules"]["ExternalIdNeedsCallerRole"])
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SnsExternalId"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SnsCallerArn"}, ""]}]}
    assert PARAMS["SnsExternalId"].get("NoEcho") is True


# ------------------------------------------------------------------- metrics, delivery status and alarms --

WATCHER = plain(RES["DeliveryStatusWatcherFunction"])
FAILURE_GROUP = "sns/us-east-1/123456789012/DirectPublishToPhoneNumber/Failure"
ALARM_ACTION = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
ALARMS = ["SmsSpendAlarm", "SpendingLimitReachedAlarm", "SandboxAlarm", "FailureRateAlarm", "DeadLetterQueueAlarm",
          "BlockSurgeAlarm", "BudgetReachedAlarm", "GateUnavailableAlarm", "PolicyRefusedAlarm", "LowConversionAlarm"]


def rust_const(path: str, name: str) -> str:
    """The value of `const NAME: &str = "…";` (public or not) in a source file."""
    found = re.search(rf'(?:pub )?const {name}: &str = "([^"]+)";', (ROOT / path).read_text())
    assert found, (path, name)
    return found.group(1)


def alarm_metrics(alarm: str) -> dict:
    """An alarm's metric-math inputs by id: (namespace, metric name, dimensions, stat)."""
    out = {}
    for m in plain(RES[alarm]["Properties"])["Metrics"]:
        if "MetricStat" in m:
            stat = m["MetricStat"]
            metric = stat["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            out[m["Id"]] = (metric["Namespace"], metric["MetricName"], dims, stat["Stat"])
    return out


def alarm_expression(alarm: str):
    [expr] = [m for m in plain(RES[alarm]["Properties"])["Metrics"] if m.get("ReturnData", True)]
    return expr["Expression"]


def test_watcher_function_build_and_runtime():
    assert WATCHER["Metadata"] == {"BuildMethod": "rust-cargolambda",
                                   "BuildProperties": {"Binary": "delivery-status-watcher"}}
    cargo = (ROOT / "Cargo.toml").read_text()
    assert re.search(r'\[\[bin\]\]\nname = "delivery-status-watcher"\npath = "src/bin/delivery-status-watcher.rs"',
                     cargo)
    assert (ROOT / "src" / "bin" / "delivery-status-watcher.rs").exists()
    p = WATCHER["Properties"]
    assert (p["CodeUri"], p["Handler"], p["Runtime"]) == (".", "bootstrap", "provided.al2023")
    assert p["Architectures"] == [{"Ref": "Architecture"}]
    assert p["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": {"Ref": "LogLevel"},
                                  "LogGroup": {"Ref": "DeliveryStatusWatcherLogGroup"}}
    # The watcher writes its metrics where the function does and the alarms look.
    watcher_env = p["Environment"]["Variables"]
    assert watcher_env == {"METRICS": ENV["METRICS"], "METRICS_NAMESPACE": ENV["METRICS_NAMESPACE"]}
    assert ENV["METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert PARAMS["MetricsNamespace"]["Default"] == rust_const("src/telemetry/metrics.rs", "DEFAULT_NAMESPACE")
    role = statements("DeliveryStatusWatcherRole")
    assert [s["Action"] for s in role] == [["logs:CreateLogStream", "logs:PutLogEvents"]]
    assert role[0]["Resource"] == {"Fn::GetAtt": ["DeliveryStatusWatcherLogGroup", "Arn"]}


def test_watcher_is_subscribed_to_the_delivery_status_failure_log_group():
    sub_filter = plain(RES["DeliveryStatusFailureSubscription"])
    assert sub_filter["DependsOn"] == "DeliveryStatusWatcherPermission"
    p = sub_filter["Properties"]
    assert p["DestinationArn"] == {"Fn::GetAtt": ["DeliveryStatusWatcherFunction", "Arn"]}
    cond, created, existing = p["LogGroupName"]["Fn::If"]
    assert (cond, created) == ("CreateDeliveryStatusLogGroups", {"Ref": "DeliveryStatusFailureLogGroup"})
    assert sub(existing) == FAILURE_GROUP
    assert sub(plain(RES["DeliveryStatusFailureLogGroup"]["Properties"]["LogGroupName"])) == FAILURE_GROUP
    assert sub(plain(RES["DeliveryStatusSuccessLogGroup"]["Properties"]["LogGroupName"])) == \
        FAILURE_GROUP.removesuffix("/Failure")
    for group in ("DeliveryStatusFailureLogGroup", "DeliveryStatusSuccessLogGroup"):
        assert RES[group]["Condition"] == "CreateDeliveryStatusLogGroups"
        assert plain(RES[group]["Properties"]["RetentionInDays"]) == {"Ref": "DeliveryStatusLogRetentionInDays"}
    assert T["Conditions"]["CreateDeliveryStatusLogGroups"] == \
        {"Fn::Equals": [{"Ref": "DeliveryStatusLogGroups"}, "Create"]}
    perm = plain(RES["DeliveryStatusWatcherPermission"]["Properties"])
    assert (perm["Principal"], perm["Action"]) == ("logs.amazonaws.com", "lambda:InvokeFunction")
    assert perm["FunctionName"] == {"Fn::GetAtt": ["DeliveryStatusWatcherFunction", "Arn"]}
    assert perm["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert sub(perm["SourceArn"]) == f"arn:aws:logs:us-east-1:123456789012:log-group:{FAILURE_GROUP}:*"


def test_sns_gets_a_role_to_write_delivery_status_logs():
    role = plain(RES["SnsDeliveryStatusRole"]["Properties"])
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sns.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    [allow] = statements("SnsDeliveryStatusRole")
    assert sorted(allow["Action"]) == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                       "logs:PutMetricFilter", "logs:PutRetentionPolicy"]
    assert [sub(r) for r in allow["Resource"]] == [
        "arn:aws:logs:*:123456789012:log-group:sns/*",
        "arn:aws:logs:*:123456789012:log-group:sns/*:log-stream:*",
    ]
    assert plain(T["Outputs"]["SnsDeliveryStatusRoleArn"]["Value"]) == \
        {"Fn::GetAtt": ["SnsDeliveryStatusRole", "Arn"]}


def test_every_alarm_notifies_the_alarm_topic():
    assert T["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    assert RES["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert PARAMS["AlarmTopicArn"]["Default"] == ""
    assert allowed_value("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops-alarms")
    assert not allowed_value("AlarmTopicArn", "ops-alarms")
    alarms = sorted(name for name, r in RES.items() if r["Type"] == "AWS::CloudWatch::Alarm")
    assert alarms == sorted(ALARMS)
    for name in alarms:
        assert plain(RES[name]["Properties"]["AlarmActions"]) == [ALARM_ACTION], name
    assert plain(T["Outputs"]["AlarmTopicArn"]["Value"]) == ALARM_ACTION


def test_spend_alarm_fires_at_80_percent_of_the_limit():
    m = alarm_metrics("SmsSpendAlarm")
    assert m == {"spent": ("AWS/SNS", "SMSMonthToDateSpentUSD", {}, "Maximum")}
    assert sub(alarm_expression("SmsSpendAlarm"), MonthlySpendLimit="5") == "100 * spent / 5"
    p = plain(RES["SmsSpendAlarm"]["Properties"])
    assert (p["Threshold"], p["ComparisonOperator"]) == (80, "GreaterThanOrEqualToThreshold")
    assert PARAMS["MonthlySpendLimit"]["Default"] == 1


def test_spending_limit_and_sandbox_alarms_count_the_watcher_and_the_probe():
    namespace = {"Ref": "MetricsNamespace"}
    watcher_service = rust_const("src/telemetry/metrics.rs", "WATCHER")
    delivery_failures = rust_const("src/telemetry/metrics.rs", "DELIVERY_FAILURES")
    watcher_src = (ROOT / "src" / "watcher" / "failure.rs").read_text()
    probe_src = (ROOT / "src" / "probe" / "mod.rs").read_text()
    for alarm, finding, probe_metric, log_filter in [
        ("SpendingLimitReachedAlarm", "SpendingLimitReached", "ProbeSpendingLimitReached",
         "ProbeSpendingLimitReachedFilter"),
        ("SandboxAlarm", "SNSSandbox", "ProbeSNSSandbox", "ProbeSandboxFilter"),
    ]:
        # The names the code writes: the watcher's class and the probe's outcome.
        assert f'=> "{finding}"' in watcher_src and f'=> "{finding}"' in probe_src, finding
        m = alarm_metrics(alarm)
        assert m["delivery"] == (namespace, delivery_failures, {"Service": watcher_service, "Class": finding},
                                 "Sum")
        assert m["probe"] == (namespace, probe_metric, {}, "Sum")
        assert alarm_expression(alarm) == "FILL(delivery, 0) + FILL(probe, 0)"
        p = plain(RES[alarm]["Properties"])
        assert (p["Threshold"], p["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        f = plain(RES[log_filter]["Properties"])
        assert f["LogGroupName"] == {"Ref": "SmsSenderLogGroup"}
        assert f["FilterPattern"] == f'{{ $.outcome = "{finding}" }}'
        [t] = f["MetricTransformations"]
        assert (t["MetricNamespace"], t["MetricName"], t["MetricValue"]) == (namespace, probe_metric, "1")


def test_failure_rate_alarm_divides_the_functions_failures_by_its_events():
    sender = rust_const("src/telemetry/metrics.rs", "SENDER")
    m = alarm_metrics("FailureRateAlarm")
    namespace = {"Ref": "MetricsNamespace"}
    assert m == {
        "sent": (namespace, rust_const("src/telemetry/metrics.rs", "SENT"), {"Service": sender}, "Sum"),
        "failed": (namespace, rust_const("src/telemetry/metrics.rs", "FAILURES"), {"Service": sender}, "Sum"),
    }
    expr = alarm_expression("FailureRateAlarm")
    assert "100 * FILL(failed, 0) / (FILL(sent, 0) + FILL(failed, 0))" in expr
    p = plain(RES["FailureRateAlarm"]["Properties"])
    assert p["Threshold"] == {"Ref": "FailureRateAlarmPercent"}
    assert p["ComparisonOperator"] == "GreaterThanThreshold"
    assert 1 <= PARAMS["FailureRateAlarmPercent"]["Default"] <= 100


def test_dead_letter_queue_alarm_fires_on_any_message():
    p = plain(RES["DeadLetterQueueAlarm"]["Properties"])
    assert (p["Namespace"], p["MetricName"], p["Statistic"]) == \
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert p["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    assert (p["Threshold"], p["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def allowed_value(param: str, value: str) -> bool:
    p = PARAMS[param]
    if "AllowedValues" in p:
        return value in [str(v) for v in p["AllowedValues"]]
    return re.fullmatch(p["AllowedPattern"], value) is not None and len(value) <= int(p.get("MaxLength", 10**6))


def test_metrics_parameters_accept_what_the_function_accepts():
    # The same cases as src/telemetry/metrics.rs's settings test; the template allows 64 characters of the
    # function's 255, to keep the environment under Lambda's 4 KB.
    for good in ["CognitoSmsSender", "MyApp/Sms", "a", "Prod SMS #1", "x:y_z-1.2", "n" * 64]:
        assert allowed("METRICS_NAMESPACE", good), good
    for bad in ["AWS/SNS", "", " ", "emoji😀", "semi;colon", "n" * 65]:
        assert not allowed_value("MetricsNamespace", bad), bad
    assert allowed("METRICS", "on") and allowed("METRICS", "off") and not allowed("METRICS", "yes")


# ---------------------------------------------------------------------------------- the abuse gate's alarms --

METRICS_RS = "src/telemetry/metrics.rs"


def counter_dimension_sets(function: str) -> list[tuple[str, frozenset[str]]]:
    """The (metric constant, label names) of each `counter!` in a `record_*` function of metrics.rs; every
    document also carries `Service`."""
    text = (ROOT / METRICS_RS).read_text()
    body = re.search(rf"pub fn {function}\([^)]*\) \{{(.*?)\n\}}", text, re.S).group(1)
    out = []
    for name, labels in re.findall(r"counter!\((\w+)((?:, \"\w+\" => (?:[^,()]|\([^)]*\))+)*)\)", body):
        out.append((name, frozenset(re.findall(r'"(\w+)" =>', labels)) | {"Service"}))
    return out


def test_the_gate_metrics_dimension_sets_are_the_ones_the_alarms_read():
    blocked = counter_dimension_sets("record_blocked")
    assert blocked == [("name", frozenset({"Service", "Rule", "Country"})), ("name", frozenset({"Service"}))]
    assert counter_dimension_sets("record_gate_unavailable") == [("GATE_UNAVAILABLE", frozenset({"Service"}))]
    assert counter_dimension_sets("record_policy_refused") == [("POLICY_REFUSED", frozenset({"Service", "Outcome"}))]
    failures = counter_dimension_sets("record_outcome")
    assert ("FAILURES", frozenset({"Service", "Outcome"})) in failures


def test_block_surge_alarm_adds_blocked_and_would_block_roll_ups():
    namespace = {"Ref": "MetricsNamespace"}
    sender = rust_const(METRICS_RS, "SENDER")
    assert alarm_metrics("BlockSurgeAlarm") == {
        "blocked": (namespace, rust_const(METRICS_RS, "BLOCKED"), {"Service": sender}, "Sum"),
        "would": (namespace, rust_const(METRICS_RS, "WOULD_BLOCK"), {"Service": sender}, "Sum"),
    }
    assert alarm_expression("BlockSurgeAlarm") == "FILL(blocked, 0) + FILL(would, 0)"
    p = plain(RES["BlockSurgeAlarm"]["Properties"])
    assert (p["Threshold"], p["ComparisonOperator"]) == ({"Ref": "BlockSurgeAlarmThreshold"}, "GreaterThanThreshold")
    assert [m["MetricStat"]["Period"] for m in p["Metrics"] if "MetricStat" in m] == [300, 300]


def test_budget_alarm_queries_blocked_by_the_budget_rule_in_every_country():
    policy = (ROOT / "src" / "gate" / "policy.rs").read_text()
    budget = re.search(r'Rule::Budget => "(\w+)"', policy).group(1)
    [query] = plain(RES["BudgetReachedAlarm"]["Properties"])["Metrics"]
    assert query["Period"] == 300 and query.get("ReturnData", True)
    sql = sub(query["Expression"], MetricsNamespace="CognitoSmsSender")
    found = re.fullmatch(r'SELECT SUM\((\w+)\) FROM SCHEMA\("CognitoSmsSender", ([\w, ]+)\) WHERE (.+)', sql)
    assert found, sql
    metric, schema, where = found.groups()
    assert metric == rust_const(METRICS_RS, "BLOCKED")
    # SCHEMA matches exactly one dimension set: the one record_blocked writes with Rule and Country.
    assert frozenset(d.strip() for d in schema.split(",")) == counter_dimension_sets("record_blocked")[0][1]
    assert where == f"Service = '{rust_const(METRICS_RS, 'SENDER')}' AND Rule = '{budget}'"
    p = plain(RES["BudgetReachedAlarm"]["Properties"])
    assert (p["Threshold"], p["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_gate_unavailable_alarm_counts_fail_open_and_fail_closed():
    namespace = {"Ref": "MetricsNamespace"}
    sender = rust_const(METRICS_RS, "SENDER")
    outcome = (ROOT / "src" / "sender" / "outcome.rs").read_text()
    gate_unavailable = re.search(r'GateUnavailable => "(\w+)"', outcome).group(1)
    assert alarm_metrics("GateUnavailableAlarm") == {
        "open": (namespace, rust_const(METRICS_RS, "GATE_UNAVAILABLE"), {"Service": sender}, "Sum"),
        "closed": (namespace, rust_const(METRICS_RS, "FAILURES"), {"Service": sender, "Outcome": gate_unavailable},
                   "Sum"),
    }
    assert alarm_expression("GateUnavailableAlarm") == "FILL(open, 0) + FILL(closed, 0)"
    p = plain(RES["GateUnavailableAlarm"]["Properties"])
    assert (p["Threshold"], p["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_policy_refused_alarm_counts_both_outcomes_and_exists_only_with_appconfig():
    namespace = {"Ref": "MetricsNamespace"}
    sender = rust_const(METRICS_RS, "SENDER")
    source = (ROOT / "src" / "gate" / "source.rs").read_text()
    outcomes = sorted(set(re.findall(r'refused\("(policy_\w+)"', source)))
    assert outcomes == ["policy_refused", "policy_unreachable"], outcomes
    m = alarm_metrics("PolicyRefusedAlarm")
    assert sorted(v[2]["Outcome"] for v in m.values()) == outcomes
    for v in m.values():
        assert v[:2] == (namespace, rust_const(METRICS_RS, "POLICY_REFUSED")) and v[2]["Service"] == sender
    assert alarm_expression("PolicyRefusedAlarm") == "FILL(refused, 0) + FILL(unreachable, 0)"
    assert RES["PolicyRefusedAlarm"]["Condition"] == "UsesPolicyAppConfig"


def test_operating_docs_query_blocks_by_the_fields_the_blocked_line_has():
    log = (ROOT / "src" / "sender" / "log.rs").read_text()
    blocked_line = log[log.index("SendError::Blocked { rule, reason }) => tracing::warn!"):]
    blocked_line = blocked_line[:blocked_line.index('"SMS not sent: refused by the abuse gate"')]
    fields = set(re.findall(r"(\w+) = ", blocked_line))
    assert {"outcome", "rule", "country", "phone", "reason"} <= fields
    ops = (ROOT / "docs" / "operating.md").read_text()
    assert 'filter outcome = "blocked" and rule = "per_prefix"' in ops
    for query in re.findall(r"```\n(filter outcome = \"blocked\".*?)```", ops, re.S):
        used = set(re.findall(r"\bby ([\w, ]+)", query))
        for group in used:
            for name in (n.strip() for n in group.split(",")):
                assert name in fields | {"bin"} or name.startswith("bin("), (name, query)


# ------------------------------------------------------------------------------ the abuse gate in AppConfig --

APPCONFIG_RESOURCES = ["PolicyApplication", "PolicyEnvironment", "PolicyProfile", "PolicyDeploymentStrategy",
                       "PolicyInitialVersion", "PolicyInitialDeployment"]


def policy_keys() -> set[str]:
    policy = (ROOT / "src" / "gate" / "policy.rs").read_text()
    keys = re.search(r"let keys = \[(.*?)\];", policy, re.S).group(1)
    return set(re.findall(r'"(\w+)"', keys))


def test_appconfig_resources_exist_only_when_asked_for():
    assert T["Conditions"]["CreatesPolicyAppConfig"] == {"Fn::Equals": [{"Ref": "CreatePolicyAppConfig"}, "on"]}
    assert PARAMS["CreatePolicyAppConfig"]["Default"] == "off"
    for name in APPCONFIG_RESOURCES:
        assert RES[name]["Condition"] == "CreatesPolicyAppConfig", name
    assert sorted(n for n, r in RES.items() if r["Type"].startswith("AWS::AppConfig::")) == sorted(APPCONFIG_RESOURCES)


def test_appconfig_profile_is_a_hosted_freeform_profile_deployed_at_once():
    app = {"Fn::GetAtt": ["PolicyApplication", "ApplicationId"]}
    profile = plain(RES["PolicyProfile"]["Properties"])
    assert (profile["LocationUri"], profile["Type"], profile["ApplicationId"]) == ("hosted", "AWS.Freeform", app)
    assert plain(RES["PolicyEnvironment"]["Properties"])["ApplicationId"] == app
    strategy = plain(RES["PolicyDeploymentStrategy"]["Properties"])
    assert (strategy["DeploymentDurationInMinutes"], strategy["GrowthFactor"], strategy["FinalBakeTimeInMinutes"]) == \
        (0, 100, 0)
    deployment = plain(RES["PolicyInitialDeployment"]["Properties"])
    assert deployment == {
        "ApplicationId": app,
        "EnvironmentId": {"Fn::GetAtt": ["PolicyEnvironment", "EnvironmentId"]},
        "ConfigurationProfileId": {"Fn::GetAtt": ["PolicyProfile", "ConfigurationProfileId"]},
        "ConfigurationVersion": {"Fn::GetAtt": ["PolicyInitialVersion", "VersionNumber"]},
        "DeploymentStrategyId": {"Fn::GetAtt": ["PolicyDeploymentStrategy", "Id"]},
        "Description": deployment["Description"],
    }


def test_the_initial_policy_document_sets_nothing_and_its_example_uses_only_policy_keys():
    import tomllib
    content = plain(RES["PolicyInitialVersion"]["Properties"])["Content"]
    assert tomllib.loads(content) == {}, "the stack's first version must leave the parameters in force"
    example = "\n".join(line.removeprefix("# ") for line in content.splitlines()
                        if re.match(r"# (\[|\w+ = )", line))
    doc = tomllib.loads(example)
    assert doc["limits"] and doc["modes"] and doc["countries"]
    check_policy_document(doc)


def test_appconfig_wiring_when_enabled():
    ids = {"Fn::Sub": "${PolicyApplication.ApplicationId}/${PolicyEnvironment.EnvironmentId}/"
                      "${PolicyProfile.ConfigurationProfileId}"}
    assert ENV["SMS_POLICY_APPCONFIG"] == {"Fn::If": ["CreatesPolicyAppConfig", ids, {"Ref": "PolicyAppConfig"}]}
    cond, prefetch, no = ENV["AWS_APPCONFIG_EXTENSION_PREFETCH_LIST"]["Fn::If"]
    assert (cond, no) == ("UsesPolicyAppConfig", NO_VALUE)
    template, names = prefetch["Fn::Sub"]
    # The path the function asks the extension for (src/gate/source.rs), so the prefetched profile is the one read.
    source = (ROOT / "src" / "gate" / "source.rs").read_text()
    assert '"/applications/{}/environments/{}/configurations/{}"' in source
    assert template == "/applications/${App}/environments/${Env}/configurations/${Profile}"
    created = {"App": ["PolicyApplication", "ApplicationId"], "Env": ["PolicyEnvironment", "EnvironmentId"],
               "Profile": ["PolicyProfile", "ConfigurationProfileId"]}
    for i, name in enumerate(["App", "Env", "Profile"]):
        c, made, given = names[name]["Fn::If"]
        assert (c, made) == ("CreatesPolicyAppConfig", {"Fn::GetAtt": created[name]})
        assert given["Fn::Select"][0] == i
    assert FN["Properties"]["Layers"] == {"Fn::If": ["AddsAppConfigExtension", [{"Ref": "AppConfigExtensionLayerArn"}],
                                                     NO_VALUE]}
    assert T["Conditions"]["UsesPolicyAppConfig"] == {"Fn::Or": [
        {"Condition": "CreatesPolicyAppConfig"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "PolicyAppConfig"}, ""]}]}]}
    # The role reads exactly this profile, with the two calls the extension makes.
    read = find(ROLE, "appconfig:GetLatestConfiguration")
    assert sorted(as_list(read["Action"])) == ["appconfig:GetLatestConfiguration", "appconfig:StartConfigurationSession"]
    arn, arn_names = read["Resource"]["Fn::Sub"]
    assert arn == ("arn:${AWS::Partition}:appconfig:${AWS::Region}:${AWS::AccountId}:"
                   "application/${App}/environment/${Env}/configuration/${Profile}")
    assert arn_names == names
    doc = plain(RES["SmsSenderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"])
    [conditional] = [i["Fn::If"] for i in doc if isinstance(i, dict) and "Fn::If" in i
                     and i["Fn::If"][1] != NO_VALUE and i["Fn::If"][1].get("Sid") == "ReadSmsPolicyFromAppConfig"]
    assert conditional[0] == "UsesPolicyAppConfig" and conditional[2] == NO_VALUE
    # A profile given by ids resolves to the same ids in the ARN and the prefetch path.
    given = "abc1234/def5678/ghi9012"
    joined = (given + "//").split("/")
    assert [joined[names[n]["Fn::If"][2]["Fn::Select"][0]] for n in ["App", "Env", "Profile"]] == given.split("/")


def test_appconfig_rules_need_the_extension_and_one_source():
    rules = plain(T["Rules"])
    needs = rules["AppConfigNeedsTheExtension"]
    assert needs["RuleCondition"] == {"Fn::Or": [
        {"Fn::Equals": [{"Ref": "CreatePolicyAppConfig"}, "on"]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "PolicyAppConfig"}, ""]}]}]}
    assert needs["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AppConfigExtensionLayerArn"}, ""]}]}
    one = rules["OnePolicyAppConfigSource"]
    assert one["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreatePolicyAppConfig"}, "on"]}
    assert one["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "PolicyAppConfig"}, ""]}
    assert "appconfig-integration-lambda-extensions-versions" in PARAMS["AppConfigExtensionLayerArn"]["Description"]
    assert allowed_value("AppConfigExtensionLayerArn",
                         "arn:aws:lambda:us-east-1:027255383542:layer:AWS-AppConfig-Extension:207")
    assert not allowed_value("AppConfigExtensionLayerArn", "AWS-AppConfig-Extension")


def check_policy_document(doc: dict):
    """The keys src/gate/policy.rs accepts, at every level (`with_toml`, `set_limits`, `set_modes`,
    `set_countries`)."""
    policy = (ROOT / "src" / "gate" / "policy.rs").read_text()
    rules = set(re.findall(r'Rule::\w+ => "(\w+)"', policy))
    velocity = re.search(r"matches!\(rule, ([^)]*)\)", policy).group(1)
    limits = {name for name in rules if re.search(rf'Rule::\w+ => "{name}"', policy)
              and re.search(rf'Rule::(\w+) => "{name}"', policy).group(1) in velocity} | {"budget_usd"}
    assert set(doc) <= policy_keys(), set(doc) - policy_keys()
    assert set(doc.get("limits", {})) <= limits, set(doc.get("limits", {})) - limits
    assert set(doc.get("modes", {})) <= rules, set(doc.get("modes", {})) - rules
    assert set(doc.get("modes", {}).values()) <= {"enforce", "monitor"}
    for code, section in doc.get("countries", {}).items():
        assert re.fullmatch(r"[A-Z]{2}", code) and set(section) <= {"price_usd", "per_country"}, (code, section)


def test_operating_docs_policy_examples_use_only_policy_keys():
    import tomllib
    ops = (ROOT / "docs" / "operating.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", ops, re.S)
    assert len(blocks) >= 2, "the policy file section and the runbook show TOML documents"
    for block in blocks:
        check_policy_document(tomllib.loads(block))
    # The policy file section shows every top-level key.
    assert set(tomllib.loads(blocks[0])) == policy_keys()


# ------------------------------------------------------------------ End User Messaging's own resources --

EUM_RESOURCES = ["EumEventsLogGroup", "EumEventsRole", "EumConfigurationSet", "EumEventsWatcherPermission",
                 "EumEventsSubscription"]


def test_end_user_messaging_resources_exist_only_when_asked_for_and_only_with_that_transport():
    conditions = plain(T["Conditions"])
    assert conditions["CreatesConfigurationSet"] == {"Fn::Equals": [{"Ref": "CreateConfigurationSet"}, "on"]}
    assert conditions["CreatesProtectConfiguration"] == {"Fn::Equals": [{"Ref": "CreateProtectConfiguration"}, "on"]}
    for name in EUM_RESOURCES:
        assert RES[name]["Condition"] == "CreatesConfigurationSet", name
    assert RES["EumProtectConfiguration"]["Condition"] == "CreatesProtectConfiguration"
    for param in ("CreateConfigurationSet", "CreateProtectConfiguration"):
        assert PARAMS[param]["Default"] == "off" and PARAMS[param]["AllowedValues"] == ["on", "off"]
    for rule, existing in (("CreatedConfigurationSetNeedsEum", "ConfigurationSet"),
                           ("CreatedProtectConfigurationNeedsEum", "ProtectConfigurationId")):
        r = plain(T["Rules"][rule])
        param = "CreateConfigurationSet" if existing == "ConfigurationSet" else "CreateProtectConfiguration"
        assert r["RuleCondition"] == {"Fn::Equals": [{"Ref": param}, "on"]}
        asserts = [a["Assert"] for a in r["Assertions"]]
        assert asserts == [{"Fn::Equals": [{"Ref": "Transport"}, "end-user-messaging"]},
                           {"Fn::Equals": [{"Ref": existing}, ""]}]


def test_created_end_user_messaging_resources_replace_the_parameters():
    # Ref gives the configuration set's name and the protect configuration's id.
    assert ENV["SMS_CONFIGURATION_SET"] == {"Fn::If": [
        "CreatesConfigurationSet", {"Ref": "EumConfigurationSet"}, {"Ref": "ConfigurationSet"}]}
    assert ENV["SMS_PROTECT_CONFIGURATION_ID"] == {"Fn::If": [
        "CreatesProtectConfiguration", {"Ref": "EumProtectConfiguration"}, {"Ref": "ProtectConfigurationId"}]}
    set_props = plain(RES["EumConfigurationSet"]["Properties"])
    assert set_props["ProtectConfigurationId"] == {"Fn::If": [
        "CreatesProtectConfiguration", {"Fn::GetAtt": ["EumProtectConfiguration", "ProtectConfigurationId"]},
        NO_VALUE]}


def test_the_configuration_sets_events_reach_the_watcher_through_their_own_log_group():
    [dest] = plain(RES["EumConfigurationSet"]["Properties"]["EventDestinations"])
    assert dest["Enabled"] is True and dest["MatchingEventTypes"] == ["TEXT_ALL"]
    logs = dest["CloudWatchLogsDestination"]
    assert logs["IamRoleArn"] == {"Fn::GetAtt": ["EumEventsRole", "Arn"]}
    assert sub(logs["LogGroupArn"], EumEventsLogGroup="/aws/sms-voice/stack/text-events") == \
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sms-voice/stack/text-events"
    group = plain(RES["EumEventsLogGroup"]["Properties"])
    assert sub(group["LogGroupName"]) == "/aws/sms-voice/stack/text-events"
    assert group["RetentionInDays"] == {"Ref": "DeliveryStatusLogRetentionInDays"}
    sub_filter = plain(RES["EumEventsSubscription"])
    assert sub_filter["DependsOn"] == "EumEventsWatcherPermission"
    assert sub_filter["Properties"] == {"LogGroupName": {"Ref": "EumEventsLogGroup"}, "FilterPattern": "",
                                        "DestinationArn": {"Fn::GetAtt": ["DeliveryStatusWatcherFunction", "Arn"]}}
    perm = plain(RES["EumEventsWatcherPermission"]["Properties"])
    assert (perm["Principal"], perm["Action"]) == ("logs.amazonaws.com", "lambda:InvokeFunction")
    assert perm["FunctionName"] == {"Fn::GetAtt": ["DeliveryStatusWatcherFunction", "Arn"]}
    assert perm["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert perm["SourceArn"] == {"Fn::GetAtt": ["EumEventsLogGroup", "Arn"]}


def test_end_user_messaging_gets_a_role_for_its_log_group_only():
    role = plain(RES["EumEventsRole"]["Properties"])
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sms-voice.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert sub(trust["Condition"]["ArnLike"]["aws:SourceArn"]) == \
        "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/*"
    [allow] = statements("EumEventsRole")
    assert sorted(allow["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert allow["Resource"] == {"Fn::GetAtt": ["EumEventsLogGroup", "Arn"]}


def protect_rules(blocked: str) -> list[dict]:
    """The SMS country rules the protect configuration gets for ProtectBlockedCountries=`blocked`."""
    padded = (blocked + ",,,,,,,,,,").split(",")
    rules = []
    for item in plain(RES["EumProtectConfiguration"]["Properties"]["CountryRuleSet"]["SMS"]):
        cond, rule, no = item["Fn::If"]
        assert no == NO_VALUE
        slot = int(cond.removeprefix("ProtectBlocks"))
        # The condition and the rule read the same slot of the padded list.
        assert plain(T["Conditions"][cond]) == {"Fn::Not": [{"Fn::Equals": [rule["CountryCode"], ""]}]}
        index, split = rule["CountryCode"]["Fn::Select"]
        assert index == slot and split == {"Fn::Split": [",", {"Fn::Join": ["", [
            {"Ref": "ProtectBlockedCountries"}, ",,,,,,,,,,"]]}]}
        if padded[slot]:
            rules.append({"CountryCode": padded[slot], "ProtectStatus": rule["ProtectStatus"]})
    return rules


def test_the_protect_configuration_blocks_each_country_of_the_parameter():
    assert protect_rules("") == []
    assert protect_rules("IR,KP") == [{"CountryCode": "IR", "ProtectStatus": "BLOCK"},
                                      {"CountryCode": "KP", "ProtectStatus": "BLOCK"}]
    ten = ",".join(["AA", "BB", "CC", "DD", "EE", "FF", "GG", "HH", "II", "JJ"])
    assert [r["CountryCode"] for r in protect_rules(ten)] == ten.split(",")
    pattern = re.compile(PARAMS["ProtectBlockedCountries"]["AllowedPattern"])
    assert all(pattern.fullmatch(v) for v in ("", "IR", "IR,KP", ten))
    assert not any(pattern.fullmatch(v) for v in ("ir", "IR,", "IR;KP", "IRN", ten + ",KK", "IR, KP"))
    assert len(ten) == int(PARAMS["ProtectBlockedCountries"]["MaxLength"])


# ----------------------------------------------------------------------------------- conversion feedback --
CONVERSION = plain(RES["ConversionFunction"])


def test_the_conversion_function_is_the_same_binary_in_its_role_with_its_own_short_limits():
    assert CONVERSION["Metadata"] == FN["Metadata"]
    p = CONVERSION["Properties"]
    assert (p["CodeUri"], p["Handler"], p["Runtime"]) == (".", "bootstrap", "provided.al2023")
    # Cognito waits 5 s for a synchronous trigger; the function answers within its 1 s budget.
    budget = re.search(r"BUDGET: Duration = Duration::from_secs\((\d+)\)", (ROOT / "src/conversion/mod.rs").read_text())
    assert int(budget.group(1)) < p["Timeout"] < 5
    env = p["Environment"]["Variables"]
    assert env["FUNCTION_ROLE"] == "conversion" and env["STATE_TABLE"] == ENV["STATE_TABLE"]
    assert "KMS_KEY_ARN" not in env and "EventInvokeConfig" not in p
    assert ENV["SMS_MESSAGE_FEEDBACK"] == {"Ref": "MessageFeedback"} and PARAMS["MessageFeedback"]["Default"] == "off"


def test_the_conversion_role_converts_and_reports_and_nothing_else():
    role = statements("ConversionRole")
    actions = sorted(a for s in role for a in as_list(s["Action"]))
    assert actions == sorted(["logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:UpdateItem", "dynamodb:GetItem",
                              "sms-voice:PutMessageFeedback"])
    assert find(role, "dynamodb:UpdateItem")["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert find(role, "logs:PutLogEvents")["Resource"] == {"Fn::GetAtt": ["ConversionLogGroup", "Arn"]}


def test_the_new_pool_sends_its_post_confirmation_and_post_authentication_to_the_conversion_function():
    config = plain(RES["UserPool"]["Properties"])["LambdaConfig"]
    name = sub(CONVERSION["Properties"]["FunctionName"])
    for trigger in ("PostConfirmation", "PostAuthentication"):
        assert sub(config[trigger]) == f"arn:aws:lambda:us-east-1:123456789012:function:{name}", trigger
    permission = plain(RES["ConversionInvokePermission"]["Properties"])
    assert permission["FunctionName"] == {"Fn::GetAtt": ["ConversionFunction", "Arn"]}
    assert permission["SourceArn"] == plain(RES["CognitoInvokePermission"]["Properties"])["SourceArn"]


def test_low_conversion_alarm_divides_converted_by_codes_sent_with_the_same_dimensions():
    p = plain(RES["LowConversionAlarm"]["Properties"])
    metrics = {m["Id"]: m for m in p["Metrics"]}
    names = {i: metrics[i]["MetricStat"]["Metric"]["MetricName"] for i in ("sent", "converted")}
    assert names == {"sent": rust_const(METRICS_RS, "CODES_SENT"), "converted": rust_const(METRICS_RS, "CONVERTED")}
    assert metrics["sent"]["MetricStat"]["Metric"]["Dimensions"] == metrics["converted"]["MetricStat"]["Metric"]["Dimensions"]
    cond, every, one = metrics["sent"]["MetricStat"]["Metric"]["Dimensions"]["Fn::If"]
    assert cond == "AllCountries" and every == [{"Name": "Service", "Value": rust_const(METRICS_RS, "SENDER")}]
    assert one[1] == {"Name": "Country", "Value": {"Ref": "ConversionAlarmCountry"}}
    expression = sub(metrics["rate"]["Expression"], ConversionAlarmMinCodes="20")
    assert expression == "IF(FILL(sent, 0) >= 20, 100 * FILL(converted, 0) / FILL(sent, 0), 100)"
    assert (p["ComparisonOperator"], p["Threshold"]) == ("LessThanThreshold", {"Ref": "ConversionAlarmPercent"})
