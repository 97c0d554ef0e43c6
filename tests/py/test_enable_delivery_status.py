"""scripts/enable-sms-delivery-status against a real moto server: SetSMSAttributes in each Region, the role read
from the stack's output, dry runs, reruns and refused arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "enable-sms-delivery-status"
ROLE = "arn:aws:iam::123456789012:role/stack-SnsDeliveryStatusRole-ABC123"
ATTRS = ["DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate"]


def run(env, *args):
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, reports, proc.stderr


def attributes(region):
    found = boto3.client("sns", region_name=region).get_sms_attributes()["attributes"]
    return {k: v for k, v in found.items() if k in ATTRS}


def test_enables_every_region_given_and_changes_nothing_the_second_time(aws_env):
    code, reports, err = run(aws_env, "--role-arn", ROLE, "--region", "us-east-1", "--region", "ap-northeast-1")
    assert code == 0, err
    assert [(r["region"], r["result"]) for r in reports] == [("us-east-1", "enabled"), ("ap-northeast-1", "enabled")]
    for region in ("us-east-1", "ap-northeast-1"):
        assert attributes(region) == {"DeliveryStatusIAMRole": ROLE, "DeliveryStatusSuccessSamplingRate": "0"}
    assert attributes("eu-west-1") == {}

    code, reports, err = run(aws_env, "--role-arn", ROLE, "--region", "us-east-1", "--region", "ap-northeast-1")
    assert code == 0, err
    assert {r["result"] for r in reports} == {"already enabled"}


def test_dry_run_writes_nothing(aws_env):
    code, reports, err = run(aws_env, "--role-arn", ROLE, "--dry-run", "--success-sampling-rate", "100")
    assert code == 0, err
    [report] = reports
    assert report["region"] == "us-east-1"  # the configured Region
    assert report["result"] == "would enable (dry run)"
    assert report["after"] == {"DeliveryStatusIAMRole": ROLE, "DeliveryStatusSuccessSamplingRate": "100"}
    assert attributes("us-east-1") == {}


def test_keeps_the_success_sampling_rate_unless_told(aws_env):
    sns = boto3.client("sns", region_name="us-east-1")
    sns.set_sms_attributes(attributes={"DeliveryStatusSuccessSamplingRate": "25", "DefaultSMSType": "Transactional"})
    code, _, err = run(aws_env, "--role-arn", ROLE)
    assert code == 0, err
    assert attributes("us-east-1")["DeliveryStatusSuccessSamplingRate"] == "25"
    code, _, err = run(aws_env, "--role-arn", ROLE, "--success-sampling-rate", "100")
    assert code == 0, err
    assert attributes("us-east-1")["DeliveryStatusSuccessSamplingRate"] == "100"
    # Other SMS attributes are left alone.
    assert sns.get_sms_attributes()["attributes"]["DefaultSMSType"] == "Transactional"


def test_reads_the_role_from_the_stack_output(aws_env):
    template = {
        "Resources": {
            "SnsDeliveryStatusRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}],
                    }
                },
            }
        },
        "Outputs": {"SnsDeliveryStatusRoleArn": {"Value": {"Fn::GetAtt": ["SnsDeliveryStatusRole", "Arn"]}}},
    }
    cfn = boto3.client("cloudformation", region_name="eu-west-2")
    cfn.create_stack(StackName="sms", TemplateBody=json.dumps(template))
    role = cfn.describe_stacks(StackName="sms")["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert role.startswith("arn:aws:iam::") and ":role/" in role

    code, reports, err = run(aws_env, "--stack-name", "sms", "--region", "eu-west-2")
    assert code == 0, err
    assert reports[0]["after"]["DeliveryStatusIAMRole"] == role
    assert attributes("eu-west-2")["DeliveryStatusIAMRole"] == role

    code, _, err = run(aws_env, "--stack-name", "no-such-stack", "--region", "eu-west-2")
    assert code == 1 and "no-such-stack" in err


def test_refuses_bad_arguments(aws_env):
    for args in (
        [],
        ["--role-arn", "SnsDeliveryStatusRole"],
        ["--role-arn", ROLE, "--success-sampling-rate", "101"],
        ["--role-arn", ROLE, "--region", "tokyo"],
        ["--role-arn", ROLE, "--stack-name", "sms"],
        ["--role-arn", ROLE, "--stack-region", "us-east-1"],
    ):
        code, reports, _ = run(aws_env, *args)
        assert code == 2 and reports == [], args
    assert attributes("us-east-1") == {}
