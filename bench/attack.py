#!/usr/bin/env python3
"""SMS pumping attack simulation for the abuse gate (issue 12, item 9).

Replays synthetic Cognito custom SMS sender traffic through the real bootstrap, under a local Lambda Runtime
API (bench.py's emulator), against moto on loopback (tests/moto_server.py: one request at a time, as AWS
applies each request atomically): legitimate users spread over many countries and mobile prefixes, a few
resends each, interleaved with a pumping attack: sequential numbers walking a few prefixes of served
countries, premium-rate numbers, and numbers in countries the team does not serve. The same events are
replayed under each policy (each with its own DynamoDB state table), and every event's outcome and rule is
read from the bootstrap's own outcome log line. Prints a markdown table and writes bench/attack-results.md.

`--scenario slow` (issue 14, item 7) is the attack fixed limits cannot see: a few SMS per prefix per hour over
many prefixes of one country, for days, time-compressed, beside legitimate users who enter most of their codes
(conversion events to the same bootstrap), against the low-conversion rule.

Normally started by bench/attack, which makes the venv. See bench/README.md, "Attack simulation".
"""

import argparse
import asyncio
import base64
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import FunctionProcess, build_profile  # noqa: E402  (the benchmark's function process and its Runtime API)

REGION = "us-east-1"
POOL = "us-east-1_AttackSim"
FUNCTION_NAME = "cognito-sms-sender-attack"

# ----------------------------------------------------------------------------------------------- traffic

# Countries the legitimate users come from: (calling code, national digits, relative share of users, leading
# digits of valid mobile ranges). A number is a leading stem plus random digits: real users are spread over
# the whole mobile numbering plan, not clustered in one range. Every stem was checked with libphonenumber
# 9.0.33 (the metadata of the `phonenumber` crate the function uses; Python `phonenumbers==9.0.33`): 300
# random completions each, all valid mobile (or fixed-line-or-mobile for NANP) numbers of the country. The
# gate refuses numbers invalid for their country by default, so a bad stem would show as legitimate SMS
# blocked by number_type under every policy.
_US_AREAS = ("201 202 203 205 206 207 208 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 240 248 "
             "251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 313 314 315 "
             "316 317 318 319 320 321 323 330 334 336 337 339 347 351 352 360 361 386 401 402 404 405 406 407 408 "
             "409 410 412 413 414 415 417 419 423 424 425 432 434 435 440 443 469 478 479 480 484 501 502 503 504 "
             "505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 551 559 561 562 563 567 570 571 573 574 "
             "580 585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 617 618 619 620 623 626 630 631 636 "
             "641 646 650 651 660 661 662 678 682 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 720 "
             "724 727 731 732 734 740 754 757 760 763 765 770 772 773 774 775 781 785 786 801 802 803 804 805 806 "
             "808 810 812 813 814 815 816 817 818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 "
             "864 865 870 903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 931 936 937 940 "
             "941 947 949 951 952 954 956 970 971 972 973 978 979 980 985 989").split()
_CA_AREAS = "204 226 236 249 250 289 306 343 365 403 416 418 431 437 438 450 506 514 519 548 579 581 587 604 613 639 647 705 709 778 780 782 807 819 825 867 873 902 905".split()


def _span(a, b, width=3):
    return [str(i).zfill(width) for i in range(a, b + 1)]


def _without(stems, bad):
    """`stems` less those where some numbers are not valid mobiles (found by that check)."""
    bad = set(bad.split())
    return [s for s in stems if s not in bad]


LEGIT_COUNTRIES = {
    # ISO: (calling code, national length, share, stems)
    "US": ("1", 10, 20, [a + d for a in _US_AREAS for d in "23456789"]),
    "CA": ("1", 10, 5, [a + d for a in _CA_AREAS for d in "23456789"]),
    "GB": ("44", 10, 12, _without(_span(710, 759) + _span(771, 779) + _span(781, 789) + _span(791, 799),
                                  "750 752 778 779 782 783 791 793")),
    "IE": ("353", 9, 3, _span(830, 839) + _span(850, 859) + _span(860, 869) + _span(870, 879) + _span(880, 889)),
    "DE": ("49", 11, 8, ["150", "151", "152", "155", "156", "157", "159", "160", "162", "163"] + _span(170, 179)),
    "FR": ("33", 9, 8, _span(600, 638) + _span(640, 689) + ["695", "698", "699"]),
    "ES": ("34", 9, 6, _span(600, 699)),
    "IT": ("39", 10, 6, _span(320, 369)),
    "NL": ("31", 9, 4, _span(610, 659) + _span(680, 689)),
    "BR": ("55", 11, 7, ["119", "129", "139", "149", "159", "169", "179", "189", "199", "219", "229", "249", "279",
                          "289", "319", "329", "339", "349", "359", "379", "389", "419", "429", "439", "449", "459",
                          "469", "479", "489", "499", "519", "539", "549", "559", "619", "629", "639", "649", "659",
                          "669", "679", "689", "699", "719", "739", "749", "759", "779", "799", "819", "829", "839",
                          "849", "859", "869", "879", "889", "899", "919", "929"]),
    "MX": ("52", 10, 5, ["331", "332", "333", "551", "552", "553", "554", "555", "556", "557", "558", "559", "811",
                          "812", "813", "814", "818", "819", "222", "442", "477", "656", "664", "686", "998", "999"]),
    "IN": ("91", 10, 8, _without(_span(700, 709) + _span(720, 799) + _span(810, 899) + _span(900, 999),
                                 "731 732 733 734 739 751 752 755 759 760 761 762 763 764 765 770 788 791 792 793 "
                                 "794 795 796 797 816 820 821 824 831 832 836 861 863 866 870 877 878 883 884 891")),
    "NG": ("234", 10, 4, _without(_span(701, 709) + _span(802, 818) + _span(901, 913), "702 910")),
    "AU": ("61", 9, 4, _span(400, 439)),
}

# The attack. Sequential numbers walking a range of a served country (the numbers pay the attacker through
# the terminating carrier); premium-rate numbers (refused by the number-type rule); and ranges in countries
# the team does not serve (classic pumping destinations). (ISO, calling code, first national number).
SEQUENTIAL_RANGES = [("GB", "44", "7400100000"), ("NG", "234", "8032000000"), ("IN", "91", "9000000000")]
PREMIUM_RANGES = [("GB", "44", "9098790000"), ("DE", "49", "9001000000")]
UNSERVED_RANGES = [("UZ", "998", "901000000"), ("KG", "996", "700100000")]

# Estimated price of one SMS part, USD, by destination country: the order of magnitude of public A2P SMS list
# prices (transactional, 2025; carrier fees included where they are per message). Illustrative, not a quote:
# pass --prices FILE (a JSON object {"GB": 0.04, ...}) for your own.
PRICES_USD = {
    "US": 0.0084, "CA": 0.0084, "GB": 0.0400, "IE": 0.0800, "DE": 0.0900, "FR": 0.0750, "ES": 0.0800,
    "IT": 0.0850, "NL": 0.1000, "BR": 0.0250, "MX": 0.0300, "IN": 0.0050, "NG": 0.1300, "AU": 0.0450,
    "UZ": 0.2500, "KG": 0.2000,
}
DEFAULT_PRICE_USD = 0.10  # the gate's own default for a country without a price

LEGIT_TRIGGERS = ["SignUp"] * 6 + ["Authentication"] * 3 + ["ForgotPassword"]
RESENDS = [0, 0, 0, 1, 1, 2, 3]  # resends per legitimate user: most none, a few up to three


def make_traffic(n_legit, n_attack, seed, shares):
    """The events' plaintext side: [{kind, country, phone, user, trigger, code}], legitimate and attack
    interleaved at random (each stream keeps its own order)."""
    rng = random.Random(seed)
    legit = []
    used = set()
    while len(legit) < n_legit:
        legit += legit_user(rng, used)
    legit = legit[:n_legit]
    # Resends of one user are spread out: shuffle users' events over the run while keeping each user's order.
    legit = _spread(legit, rng, key=lambda e: e["user"])

    n_premium = round(n_attack * shares["premium"])
    n_unserved = round(n_attack * shares["unserved"])
    n_seq = n_attack - n_premium - n_unserved
    attack = []
    for kind, ranges, n in (("sequential", SEQUENTIAL_RANGES, n_seq), ("premium", PREMIUM_RANGES, n_premium),
                            ("unserved", UNSERVED_RANGES, n_unserved)):
        walks = []
        for r, (iso, cc, start) in enumerate(ranges):
            count = n // len(ranges) + (r < n % len(ranges))
            walks.append([{"kind": kind, "country": iso, "phone": f"+{cc}{int(start) + i:0{len(start)}d}",
                           "user": str(uuid.UUID(int=rng.getrandbits(128))), "trigger": "SignUp"}
                          for i in range(count)])
        attack.append(_merge(walks, rng))
    attack = _merge(attack, rng)
    events = _merge([legit, attack], rng)
    for e in events:
        e["code"] = f"{rng.randrange(10**6):06d}"
    return events


def legit_user(rng, used):
    """One legitimate user's SMS, in order: a first code and up to three resends, to a number not in `used`
    (which it joins), in a country drawn by its share."""
    isos = list(LEGIT_COUNTRIES)
    iso = rng.choices(isos, [LEGIT_COUNTRIES[c][2] for c in isos])[0]
    cc, length, _, stems = LEGIT_COUNTRIES[iso]
    while True:
        stem = rng.choice(stems)
        phone = f"+{cc}{stem}{''.join(rng.choice('0123456789') for _ in range(length - len(stem)))}"
        if phone not in used:
            used.add(phone)
            break
    user = str(uuid.UUID(int=rng.getrandbits(128)))
    first = rng.choice(LEGIT_TRIGGERS)
    return [{"kind": "legit", "country": iso, "phone": phone, "user": user,
             "trigger": first if k == 0 else ("ResendCode" if first == "SignUp" else first)}
            for k in range(1 + rng.choice(RESENDS))]


def _merge(streams, rng):
    """Interleaves lists at random, each keeping its order; a list's chance of going next is its share left."""
    streams = [list(s) for s in streams if s]
    idx = [0] * len(streams)
    out = []
    left = [len(s) for s in streams]
    while any(left):
        k = rng.choices(range(len(streams)), left)[0]
        out.append(streams[k][idx[k]])
        idx[k] += 1
        left[k] -= 1
    return out


def _spread(events, rng, key):
    """Random order of events keeping the relative order of those with the same key."""
    by = {}
    for e in events:
        by.setdefault(key(e), []).append(e)
    return _merge(list(by.values()), rng)


def cognito_event(e, code_ciphertext):
    """A Cognito-shaped custom SMS sender event, as make-event writes it."""
    return {
        "version": "1",
        "triggerSource": f"CustomSMSSender_{e['trigger']}",
        "region": REGION,
        "userPoolId": POOL,
        "userName": e["user"],
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": {
            "type": "customSMSSenderRequestV1",
            "code": code_ciphertext,
            "clientMetadata": None,
            "userAttributes": {
                "sub": e["user"],
                "cognito:user_status": "UNCONFIRMED" if e["trigger"] in ("SignUp", "ResendCode") else "CONFIRMED",
                "phone_number": e["phone"],
                "phone_number_verified": "false" if e["trigger"] in ("SignUp", "ResendCode") else "true",
            },
        },
        "response": {},
    }


def conversion_event(e):
    """A Cognito post confirmation or post authentication event: the user entered the code (the shape of
    tests/conversion.rs `conversion()`)."""
    attributes = {"sub": e["user"], "phone_number": e["phone"]}
    if e["trigger"].startswith("PostAuthentication"):
        request = {"userAttributes": attributes, "newDeviceUsed": False}
    else:
        request = {"userAttributes": dict(attributes, **{"cognito:user_status": "CONFIRMED"})}
    return {"version": "1", "region": REGION, "userPoolId": POOL, "userName": e["user"], "triggerSource": e["trigger"],
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
            "request": request, "response": {}}


# --------------------------------------------------------------------------------- the slow attack (issue 14)

# The conversion event that reports each kind of code entered.
CONVERTS = {"SignUp": "PostConfirmation_ConfirmSignUp", "Authentication": "PostAuthentication_Authentication",
            "ForgotPassword": "PostConfirmation_ConfirmForgotPassword"}


def make_slow_traffic(args):
    """The slow attack's timeline, by simulated hour (`hour`, a float): legitimate users over the served
    countries, of whom a share enters the last code a few minutes after it (a conversion event, `after` the
    index of that SMS), and an attack on many prefixes of one country, one SMS per prefix per hour for the first
    `attack_hours` hours of each day, never entered: under every fixed limit of the recommended policy."""
    rng = random.Random(args.seed)
    hours = 24 * args.days
    timeline, used = [], set()
    for _ in range(round(args.users_per_hour * hours)):
        sms = legit_user(rng, used)
        t = rng.uniform(0, hours - 0.5)
        for e in sms:
            timeline.append(dict(e, hour=t))
            t += rng.uniform(1, 4) / 60  # a resend a few minutes later
        if rng.random() < args.convert:
            timeline.append({"kind": "conversion", "user": sms[0]["user"], "phone": sms[0]["phone"],
                             "trigger": CONVERTS[sms[0]["trigger"]], "hour": t + rng.uniform(1, 9) / 60,
                             "of": timeline[-1]})
    stems, prefixes = LEGIT_COUNTRIES["GB"][3], set()
    while len(prefixes) < args.prefixes:
        prefixes.add(rng.choice(stems) + f"{rng.randrange(1000):03d}")
    walked = {p: 0 for p in prefixes}
    for day in range(args.days):
        for h in range(args.attack_hours):
            for p in sorted(prefixes):
                walked[p] += 1  # consecutive numbers, as an attack walks a range
                timeline.append({"kind": "slow", "country": "GB", "phone": f"+44{p}{walked[p]:04d}",
                                 "trigger": "SignUp", "user": str(uuid.UUID(int=rng.getrandbits(128))),
                                 "hour": 24 * day + h + rng.uniform(0, 0.8)})
    timeline.sort(key=lambda e: e["hour"])
    index = {id(e): i for i, e in enumerate(timeline)}
    for e in timeline:
        if "of" in e:
            e["after"] = index[id(e.pop("of"))]
        else:
            e["code"] = f"{rng.randrange(10**6):06d}"
    return timeline


def slow_policies(unit, work):
    """The recommended policy with every window scaled to simulated hours of `unit` seconds, without and with
    the low-conversion rule (its defaults, the cooling-off and its most scaled too: a policy file in `work`)."""
    day = 24 * unit
    recommended = {
        "SMS_ALLOWED_COUNTRIES": SERVED,
        "SMS_PREFIX_DIGITS": "6",
        "SMS_LIMIT_PER_NUMBER": f"10/{unit}s,30/{day}s",
        "SMS_LIMIT_PER_PREFIX": f"5/{unit}s,15/{day}s",
        "SMS_LIMIT_PER_COUNTRY": f"500/{unit}s,2500/{day}s",
        "SMS_BUDGET_USD": f"250/{unit}s,1000/{day}s",
        "SMS_QUARANTINE_UNIT_SECONDS": str(unit),
    }
    policy_file = os.path.join(work, "quarantine.toml")
    os.makedirs(work, exist_ok=True)
    with open(policy_file, "w") as f:
        f.write(f'[quarantine]\ncooling_off = "{day}s"\nmax_cooling_off = "{7 * day}s"\n')
    return {
        "recommended": ("recommended", recommended),
        "quarantine": ("recommended + quarantine", dict(recommended, SMS_QUARANTINE="on", SMS_POLICY_FILE=policy_file)),
    }


def policies(args):
    """The scenario's policies: name -> (label, environment)."""
    return POLICIES if args.scenario == "burst" else slow_policies(args.hour_seconds, args.work)


# ------------------------------------------------------------------------------------------------ policies

SERVED = ",".join(LEGIT_COUNTRIES)
POLICIES = {
    # name: (label, environment). Windows are real clock windows: the whole run falls in one hour and one day
    # unless it crosses a boundary (reported), hence the daily caps beside the hourly ones.
    "recommended": ("recommended", {
        "SMS_ALLOWED_COUNTRIES": SERVED,
        "SMS_PREFIX_DIGITS": "6",
        "SMS_LIMIT_PER_PREFIX": "5/1h,15/1d",
        "SMS_LIMIT_PER_COUNTRY": "500/1h,2500/1d",
        "SMS_BUDGET_USD": "250/1h,1000/1d",
    }),
    "defaults": ("gate defaults", {}),
    "none": ("no limits", {"SMS_LIMIT_PER_NUMBER": "off", "SMS_BLOCKED_NUMBER_TYPES": "none"}),
}


# --------------------------------------------------------------------------------------------------- moto


class Moto:
    """moto on loopback as a child process (this file with --serve-moto): one request at a time, as
    tests/moto_server.py serves it for the tests, so each request is atomic as in AWS."""

    def __init__(self, python, work):
        self.log = open(os.path.join(work, "moto.log"), "wb")
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--serve-moto"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"moto did not start; see {self.log.name}")
        self.url = f"http://127.0.0.1:{int(line)}"

    def client(self, service):
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.url, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def cpu(self):
        return process_cpu(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the server stops when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def serve_moto():
    """tests/moto_server.py (requests one at a time behind a global lock), plus one change that keeps the
    result and removes a cost quadratic in the run's length: moto backs up a transaction by deep-copying the
    whole table once per item of the transaction (nine items per counted message, and the state table grows by
    two items per message), to restore it if the transaction is cancelled. Here the backup copies the table's
    item index and deep-copies only the items the transaction names; with requests serialised, that restores
    exactly what moto's full copy would."""
    import copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType

    class Copier:
        """The `copy` module as moto's DynamoDB backend sees it: deepcopy of a table being backed up returns the
        cheap backup made beforehand."""

        backups = {}

        def deepcopy(self, obj, memo=None):
            backup = self.backups.get(id(obj))
            return backup if backup is not None else copy.deepcopy(obj, memo)

        def __getattr__(self, name):
            return getattr(copy, name)

    copier = Copier()
    full_backup = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        backups = {}
        for item in transact_items:
            op = next(iter(item.values()), {})
            table = self.tables.get(op.get("TableName"))
            if table is None or table.has_range_key:
                return full_backup(self, transact_items)
            backup = backups.get(id(table))
            if backup is None:
                backup = backups[id(table)] = copy.copy(table)
                backup.items = copy.copy(table.items)
            key = (op.get("Item") or op.get("Key") or {}).get(table.hash_key_attr)
            if key is not None and DynamoType(key) in table.items:
                backup.items[DynamoType(key)] = copy.deepcopy(table.items[DynamoType(key)])
        copier.backups = backups
        try:
            return full_backup(self, transact_items)
        finally:
            copier.backups = {}

    ddb_models.copy = copier
    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items

    # Two more costs per request that change nothing: moto lists its own package folder (os.listdir and a stat
    # per service) on every request to find the backend, and parses each condition expression again although
    # a counter's expression and values repeat for the whole window. Both are remembered here.
    import moto.backends as moto_backends
    import moto.dynamodb.models.table as ddb_table

    modules = list(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules
    parse_condition = ddb_models.get_filter_expression
    parsed = {}

    def get_filter_expression(expr, names, values):
        key = (expr, json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True))
        if key not in parsed:
            if len(parsed) > 10_000:
                parsed.clear()
            parsed[key] = parse_condition(expr, names, values)
        return parsed[key]

    ddb_models.get_filter_expression = get_filter_expression
    ddb_table.get_filter_expression = get_filter_expression

    # The repository's test server: one request at a time, as AWS is atomic per request.
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import moto_server

    moto_server.serve()


def process_cpu(pid):
    """utime + stime of one process, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def make_table(moto, name):
    ddb = moto.client("dynamodb")
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def encrypt_codes(moto, key_arn, events):
    """Each event's code encrypted as Cognito does (message format 1, suite 0x0378 without key commitment,
    encryption context userpool-id) with the AWS Encryption SDK for Python through moto's KMS. The data key is
    cached for the batch (a caching materials manager), so this costs one GenerateDataKey, not one per event;
    each ciphertext still has its own message id, IV and signature, so every event is distinct to the
    idempotency ledger, and the bootstrap still makes one kms:Decrypt per event."""
    os.environ.update(AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION)
    import aws_encryption_sdk
    from aws_encryption_sdk import Algorithm, CachingCryptoMaterialsManager, CommitmentPolicy, LocalCryptoMaterialsCache
    from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    cmm = CachingCryptoMaterialsManager(master_key_provider=StrictAwsKmsMasterKeyProvider(key_ids=[key_arn]),
                                        cache=LocalCryptoMaterialsCache(4), max_age=3600.0,
                                        max_messages_encrypted=len(events) + 1)
    for e in events:
        ct, _ = client.encrypt(source=e["code"].encode(), materials_manager=cmm,
                               encryption_context={"userpool-id": POOL},
                               algorithm=Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384)
        e["ciphertext"] = base64.b64encode(ct).decode()


# ------------------------------------------------------------------------------------------------ replay


def function_env(binary, moto, key_arn, table, policy_env, api_port):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]attack",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "LAMBDA_TASK_ROOT": os.path.dirname(binary),
        "_HANDLER": "bootstrap",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIAATTACKATTACKSIM0",
        "AWS_SECRET_ACCESS_KEY": "attack/secret/not/real/00000000000000000000",
        "AWS_SESSION_TOKEN": "attack-session-token",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "KMS_KEY_ARN": key_arn,
        "STATE_TABLE": table,
        "SMS_PROBE": "off",
        "WARM_UP": "off",
        "METRICS": "off",
    }
    env.update(policy_env)
    return env


class Worker(FunctionProcess):
    """One function process (a Lambda execution environment) with its own Runtime API, so its log lines
    follow the events it was handed, one outcome line per event."""

    def __init__(self, binary, env, log_path, timeout):
        spec = {"name": "the bootstrap", "cmd": [binary], "cwd": tempfile.gettempdir()}
        super().__init__(spec, env, log_path, timeout)
        self.handed = []

    async def start(self):
        await self.launch(log_mode="wb")

    async def invoke(self, index, payload):
        """Hands event `index` to the process; returns (kind, body) of its answer."""
        self.handed.append(index)
        _, fut = self.api.submit(payload)
        kind, _, body = await self._wait(fut, self.timeout)
        return kind, body


def outcome_lines(path):
    """The outcome log lines of one process, in order: [(outcome, rule, would_block, trigger_source)]. The
    gate_unavailable warning also has an `outcome` field but is followed by the event's own outcome line, so
    it is skipped."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            fields = line.get("fields", line)
            outcome = fields.get("outcome")
            if outcome is None or outcome == "gate_unavailable":
                continue
            out.append((outcome, fields.get("rule"), fields.get("would_block"), fields.get("trigger_source")))
    return out


def is_sms(e):
    return e["kind"] != "conversion"


async def drive_all(args, workers, events, payloads):
    """Hands every event out as fast as the function processes take them."""
    answers = [None] * len(events)
    nxt = iter(range(len(events)))

    async def drive(w):
        for i in nxt:
            answers[i] = await w.invoke(i, payloads[i])

    await asyncio.gather(*(drive(w) for w in workers))
    return answers, None


async def drive_paced(args, workers, events, payloads):
    """Hands each event to the next free function process at its simulated hour (a conversion also waits for
    the answer to its code), from the next judging-unit boundary of the clock: the gate's windows and units are
    aligned on the epoch, so simulated hours then match them. Returns the answers and the lag: the largest (s),
    and how many SMS went out in a later unit than their simulated hour's."""
    unit = args.hour_seconds
    start = (int(time.time() / unit) + 2) * unit
    answers, answered = [None] * len(events), [asyncio.Event() for _ in events]
    queue, lag = asyncio.Queue(), {"max": 0.0, "late": 0}

    async def schedule(i):
        if "after" in events[i]:
            await answered[events[i]["after"]].wait()
        await asyncio.sleep(max(0.0, start + events[i]["hour"] * unit - time.time()))
        await queue.put(i)

    async def work(w):
        while True:
            i = await queue.get()
            due = start + events[i]["hour"] * unit
            lag["max"] = max(lag["max"], time.time() - due)
            # An SMS handed out after its unit ended is counted in the next one.
            lag["late"] += is_sms(events[i]) and int(time.time() / unit) != int(due / unit)
            answers[i] = await w.invoke(i, payloads[i])
            answered[i].set()
            queue.task_done()

    async def all_handed():
        await asyncio.gather(*(schedule(i) for i in range(len(events))))
        await queue.join()

    tasks = [asyncio.ensure_future(work(w)) for w in workers]
    fed = asyncio.ensure_future(all_handed())
    try:
        await asyncio.wait([fed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            if t.done():
                t.result()  # a function process failed: its error
    finally:
        for t in [fed, *tasks]:
            t.cancel()
    return answers, lag


def read_outcomes(workers, events, answers):
    """Each event's outcome line (SMS: `CustomSMSSender_*` lines; conversions: the others), and problems."""
    results, problems = [None] * len(events), []
    for w in workers:
        lines = outcome_lines(w.log_path)
        for sms in (True, False):
            handed = [i for i in w.handed if is_sms(events[i]) == sms]
            mine = [l for l in lines if (l[3] or "").startswith("CustomSMSSender_") == sms]
            if len(mine) != len(handed):
                problems.append(f"{w.log_path}: {len(mine)} outcome lines for {len(handed)} events")
            for i, line in zip(handed, mine):
                results[i] = line
    for i, (kind, body) in enumerate(answers):
        try:
            said = json.loads(body).get("outcome") if is_sms(events[i]) else None
        except (ValueError, AttributeError):
            said = None
        if kind != "response" or (results[i] and is_sms(events[i]) and said != results[i][0]):
            problems.append(f"event {i}: {kind} {body[:200]!r}, log says {results[i]}")
    # A conversion follows its user's last code: converted if that code went out, and never a failure.
    for i, e in enumerate(events):
        outcome = (results[i] or ("missing",))[0]
        if not is_sms(e) and (outcome not in ("converted", "no_outstanding_message")
                              or (results[e["after"]] or ("",))[0] == "sent" and outcome != "converted"):
            problems.append(f"event {i}: a conversion event was {outcome}; its code was {results[e['after']]}")
    return results, problems


async def replay(args, binary, moto, key_arn, name, events, work):
    label, policy_env = policies(args)[name]
    table = f"attack-sim-{name}-{uuid.uuid4().hex[:8]}"
    make_table(moto, table)
    env = function_env(binary, moto, key_arn, table, policy_env, 0)
    workers = [Worker(binary, env, os.path.join(work, f"{name}-{w}.log"), args.timeout) for w in range(args.workers)]
    for w in workers:
        await w.start()
    payloads = [json.dumps(cognito_event(e, e["ciphertext"]) if is_sms(e) else conversion_event(e),
                           separators=(",", ":")).encode() for e in events]
    t0, moto0 = time.time(), moto.cpu()
    try:
        drive = drive_all if args.scenario == "burst" else drive_paced
        answers, lag = await drive(args, workers, events, payloads)
        function_cpu = sum(process_cpu(w.proc.pid) for w in workers)
    finally:
        for w in workers:
            w.stop()
    t1, moto_cpu = time.time(), moto.cpu() - moto0
    results, problems = read_outcomes(workers, events, answers)
    # The slow attack's windows are scaled, not clock hours and days.
    crossed = [u for u, fmt in (("hour", "%Y%m%d%H"), ("day", "%Y%m%d")) if args.scenario == "burst"
               and time.strftime(fmt, time.gmtime(t0)) != time.strftime(fmt, time.gmtime(t1))]
    conversions = {}
    for e, r in zip(events, results):
        if not is_sms(e):
            outcome = (r or ("missing",))[0]
            conversions[outcome] = conversions.get(outcome, 0) + 1
    return {"name": name, "label": label, "env": policy_env, "seconds": t1 - t0, "lag": lag,
            "results": [r for e, r in zip(events, results) if is_sms(e)], "conversions": conversions,
            "problems": problems, "crossed": crossed, "function_cpu": function_cpu, "moto_cpu": moto_cpu}


# ----------------------------------------------------------------------------------------------- report


def price(iso, prices):
    return prices.get(iso, DEFAULT_PRICE_USD)


def summarize(run, events, prices):
    s = {"attack_sent": 0, "attack_blocked": 0, "legit_sent": 0, "legit_blocked": 0, "other": 0,
         "attack_cost_sent": 0.0, "attack_cost_avoided": 0.0, "legit_cost": 0.0, "rules": {}, "legit_rules": {},
         "by_kind": {}}
    for e, r in zip(events, run["results"]):
        outcome, rule = (r or ("missing", None))[:2]
        attack = e["kind"] != "legit"
        cost = price(e["country"], prices)  # one part: every message of the catalogue fits in one
        kind = s["by_kind"].setdefault(e["kind"], {"sent": 0, "blocked": 0})
        if outcome == "sent":
            s["attack_sent" if attack else "legit_sent"] += 1
            s["attack_cost_sent" if attack else "legit_cost"] += cost
            kind["sent"] += 1
        elif outcome == "blocked":
            s["attack_blocked" if attack else "legit_blocked"] += 1
            if attack:
                s["attack_cost_avoided"] += cost
            key = "rules" if attack else "legit_rules"
            s[key][rule] = s[key].get(rule, 0) + 1
            kind["blocked"] += 1
        else:
            s["other"] += 1
    return s


def pct(a, b):
    return f"{100 * a / b:.2f} %" if b else "–"


def report(args, runs, events, prices, meta):
    n_attack = sum(e["kind"] != "legit" for e in events)
    n_legit = len(events) - n_attack
    lines = [
        "| policy | attack SMS sent | attack SMS blocked | legitimate SMS sent | legitimate SMS blocked | "
        "est. attack cost paid | est. cost avoided |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        s = run["summary"]
        lines.append(
            f"| {run['label']} | {s['attack_sent']:,} | {s['attack_blocked']:,} ({pct(s['attack_blocked'], n_attack)}) | "
            f"{s['legit_sent']:,} | {s['legit_blocked']:,} ({pct(s['legit_blocked'], n_legit)}) | "
            f"${s['attack_cost_sent']:,.2f} | ${s['attack_cost_avoided']:,.2f} |")
    table = "\n".join(lines)
    rules = ["", "Blocked messages by rule (attack / legitimate):", "",
             "| policy | " + " | ".join(RULES) + " |", "|---|" + "---:|" * len(RULES)]
    for run in runs:
        s = run["summary"]
        rules.append(f"| {run['label']} | " + " | ".join(
            f"{s['rules'].get(r, 0)} / {s['legit_rules'].get(r, 0)}" for r in RULES) + " |")
    kinds = slow_days(args, runs, events) if args.scenario == "slow" else burst_parts(runs)
    policy_lines = ["", "Policies (environment of the function; everything else at its default):", ""]
    for run in runs:
        env = " ".join(f"`{k}={os.path.basename(v) if k == 'SMS_POLICY_FILE' else v}`"
                       for k, v in run["env"].items()) or "(no SMS_* variable set)"
        policy_lines.append(f"- **{run['label']}**: {env}")
    notes = [""]
    for run in runs:
        if run["crossed"]:
            notes.append(f"- The {run['label']} run crossed a clock {' and '.join(run['crossed'])} boundary: the "
                         "gate's counters of those windows started again within the run, so up to twice as "
                         "many messages as a limit allows could pass.")
        if run["problems"]:
            notes.append(f"- The {run['label']} run had {len(run['problems'])} problems, e.g. {run['problems'][0]}")
    price_list = ", ".join(f"{k} {v:.4f}" for k, v in sorted(prices.items()))
    intro = slow_intro(args, runs, n_legit, n_attack, meta) if args.scenario == "slow" else [
        f"# Attack simulation: {meta['date']}",
        "",
        f"{n_legit:,} legitimate SMS ({meta['users']:,} users in {len(LEGIT_COUNTRIES)} countries, up to three "
        f"resends each) interleaved with {n_attack:,} attack SMS; each policy replays the same events through the "
        f"bootstrap (`{meta['binary']}`, {meta['profile']} build, {args.workers} function processes per policy) against "
        f"moto, with its own state table. Outcomes are read from the function's outcome log lines."]
    md = "\n".join([
        *intro,
        "",
        table,
        *rules,
        *kinds,
        *policy_lines,
        "",
        f"Estimated cost: one SMS part per message (every message of the catalogue fits in one) at a price per "
        f"country, USD: {price_list}; {DEFAULT_PRICE_USD:.2f} elsewhere. Cost avoided is what the blocked attack "
        f"messages would have cost.",
        "",
        f"Time: {meta['seconds']:.0f} s for the whole run, the policies side by side ({args.parallel} at a time, "
        "each with its own moto). Per policy: " + "; ".join(
            f"{r['label']} {r['seconds']:.0f} s replaying (CPU: function "
            f"{1000 * r['function_cpu'] / meta['events']:.0f} ms, moto {1000 * r['moto_cpu'] / meta['events']:.0f} ms "
            f"per event) after {r['encrypt_seconds']:.0f} s encrypting"
            for r in runs) + f". Load average at the end: {meta['load'][0]:.1f}.",
        *notes,
    ]).rstrip() + "\n"
    return md


RULES = ["country", "number_type", "per_number", "per_user", "per_prefix", "per_country", "total", "budget",
         "low_conversion"]
KIND_LABELS = {"legit": "legitimate", "sequential": "sequential ranges of served countries",
               "premium": "premium-rate", "unserved": "unserved countries"}


def burst_parts(runs):
    """The burst attack's messages sent per part of the attack, per policy."""
    out = ["", "Attack messages sent by part of the attack (sent of total):", "",
           "| policy | " + " | ".join(KIND_LABELS[k] for k in KIND_LABELS if k != "legit") + " |",
           "|---|" + "---:|" * (len(KIND_LABELS) - 1)]
    for run in runs:
        bk = run["summary"]["by_kind"]
        out.append(f"| {run['label']} | " + " | ".join(
            f"{bk.get(k, {}).get('sent', 0):,} of {sum(bk.get(k, {}).values()):,}" for k in KIND_LABELS if k != "legit")
            + " |")
    return out


def slow_intro(args, runs, n_legit, n_attack, meta):
    """The slow attack's heading and method."""
    unit = args.hour_seconds
    converted = ", ".join(f"{r['label']}: {r['conversions'].get('converted', 0):,} of "
                          f"{sum(r['conversions'].values()):,}" for r in runs)
    return [
        f"## Slow attack with conversions: {meta['date']}",
        "",
        f"Time-compressed: one simulated hour is {unit} s (`SMS_QUARANTINE_UNIT_SECONDS={unit}`), every window of "
        f"the recommended policy is scaled with it (a day is {24 * unit} s) and so are the quarantine's cooling-off "
        f"and its most (`quarantine.toml`: `cooling_off = \"{24 * unit}s\"`, `max_cooling_off = \"{7 * 24 * unit}s\"`; "
        f"`codes`, `min_conversion` and `probation` at their defaults, 10, 20 % and 3). {args.days} simulated days. {n_legit:,} legitimate SMS from {meta['users']:,} users in "
        f"{len(LEGIT_COUNTRIES)} countries (about {args.users_per_hour:g} an hour, resends included); "
        f"{100 * args.convert:.0f} % of users enter their last code a few simulated minutes later (a "
        f"`PostConfirmation_ConfirmSignUp`, `PostConfirmation_ConfirmForgotPassword` or "
        f"`PostAuthentication_Authentication` event to the same function). The attack: {args.prefixes} 6-digit "
        f"prefixes of GB, one SMS per prefix per simulated hour for the first {args.attack_hours} hours of each "
        f"day ({n_attack:,} SMS, consecutive numbers, never entered): under every fixed limit (5 an hour and 15 a "
        f"day per prefix, 500 an hour per country, the budget). Each policy replays the same timeline through the "
        f"bootstrap (`{meta['binary']}`, {meta['profile']} build, {args.workers} function processes per policy) "
        f"against moto, with its own state table; outcomes are read from the `CustomSMSSender_*` outcome lines. "
        f"Conversion events converted: {converted}. Events were handed out at most "
        f"{max(r['lag']['max'] for r in runs):.1f} s after their simulated time; SMS handed out in a later judging "
        f"unit than their simulated hour's (the machine falling behind): "
        + ", ".join(f"{r['label']} {r['lag']['late']}" for r in runs) + ".",
    ]


def slow_days(args, runs, events):
    """The attack SMS sent per simulated day, per policy: the rule needs N judged codes before it acts."""
    days = range(args.days)
    out = ["", "Attack SMS sent per simulated day (sent of total):", "",
           "| policy | " + " | ".join(f"day {d + 1}" for d in days) + " |", "|---|" + "---:|" * len(days)]
    for run in runs:
        sent, total = attack_by_day(args, run, events)
        out.append(f"| {run['label']} | " + " | ".join(f"{s:,} of {t:,}" for s, t in zip(sent, total)) + " |")
    return out


def attack_by_day(args, run, events):
    """The attack SMS sent and in all, per simulated day, in one policy's run."""
    sent, total = [0] * args.days, [0] * args.days
    for e, r in zip(events, run["results"]):
        if e["kind"] != "legit":
            d = min(int(e["hour"] // 24), args.days - 1)
            total[d] += 1
            sent[d] += bool(r) and r[0] == "sent"
    return sent, total


# -------------------------------------------------------------------------------------------------- main


def traffic(args):
    if args.scenario == "slow":
        return make_slow_traffic(args)
    return make_traffic(args.legit, args.attack, args.seed,
                        {"premium": args.premium_share, "unserved": args.unserved_share})


async def run_one(args, binary, name):
    """One policy in this process, with its own moto: writes the per-event outcomes to args.result (JSON)."""
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    events = traffic(args)
    moto = Moto(sys.executable, work)
    try:
        kms = moto.client("kms")
        key_arn = kms.create_key(Description="attack simulation", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
        t = time.time()
        encrypt_codes(moto, key_arn, [e for e in events if is_sms(e)])
        encrypt_seconds = time.time() - t
        result = await replay(args, binary, moto, key_arn, name, events, work)
    finally:
        moto.stop()
    result["encrypt_seconds"] = encrypt_seconds
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


async def run(args):
    started = time.time()
    binary = os.path.abspath(os.path.expanduser(args.binary))
    if not os.access(binary, os.X_OK):
        sys.exit(f"attack: no executable at {binary}; build it or pass --binary")
    args.work = os.path.join(HERE, "work", "attack")
    if args.one_policy:
        return await run_one(args, binary, args.one_policy)
    prices = dict(PRICES_USD)
    if args.prices:
        with open(args.prices) as f:
            prices.update(json.load(f))
    known = policies(args)
    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    for n in names:
        if n not in known:
            sys.exit(f"attack: unknown policy {n!r}; the policies are {', '.join(known)}")
    os.makedirs(args.work, exist_ok=True)
    timeline = traffic(args)
    events = [e for e in timeline if is_sms(e)]  # what the summaries count: the SMS
    users = len({e["user"] for e in events if e["kind"] == "legit"})
    n_legit = sum(e["kind"] == "legit" for e in events)
    log(f"{len(timeline):,} events ({n_legit:,} legitimate SMS from {users:,} users, {len(events) - n_legit:,} attack "
        f"SMS, {len(timeline) - len(events):,} conversions); policies {', '.join(names)}, {args.parallel} at a time, "
        f"{args.workers} function processes each")

    # Each policy in its own process with its own moto: moto serves one request at a time, so policies side by
    # side use both cores. Every process makes the same events from the same seed.
    sem = asyncio.Semaphore(args.parallel)
    passed = [a for a in sys.argv[1:]]

    async def child(name):
        async with sem:
            out = os.path.join(args.work, f"{name}.json")
            if os.path.exists(out):
                os.remove(out)
            proc = await asyncio.create_subprocess_exec(sys.executable, os.path.abspath(__file__), *passed,
                                                        "--binary", binary, "--one-policy", name, "--result", out)
            rc = await proc.wait()
            if rc != 0 or not os.path.exists(out):
                raise RuntimeError(f"the {name} run failed (exit {rc}); logs in {os.path.join(args.work, name)}")
            with open(out) as f:
                run_ = json.load(f)
            run_["summary"] = summarize(run_, events, prices)
            s = run_["summary"]
            log(f"{run_['label']}: attack sent {s['attack_sent']} blocked {s['attack_blocked']}; legitimate sent "
                f"{s['legit_sent']} blocked {s['legit_blocked']}; {run_['seconds']:.0f} s, CPU function "
                f"{run_['function_cpu']:.0f} s, moto {run_['moto_cpu']:.0f} s"
                + (f"; {len(run_['problems'])} problems" if run_["problems"] else ""))
            return run_

    runs = await asyncio.gather(*(child(n) for n in names))
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "users": users,
            "binary": os.path.basename(binary), "profile": build_profile(binary),
            "seconds": time.time() - started, "load": os.getloadavg(), "events": len(timeline)}
    md = report(args, runs, events, prices, meta)
    print(md)
    if args.out:
        write_out(args, md)
    bad = [r for r in runs if r["problems"] or r["summary"]["other"]]
    for r in bad:
        log(f"{r['label']}: {len(r['problems'])} problems, {r['summary']['other']} other outcomes; logs in "
            f"{os.path.join(args.work, r['name'])}")
        for p in r["problems"][:5]:
            log(f"  {p}")
    return 1 if bad or not goal_met(args, runs, events, n_legit) else 0


def goal_met(args, runs, events, n_legit):
    """The goal, logged: the burst attack nearly all stopped by the recommended policy; the slow one stopped by
    the quarantine (on the last simulated day at most 5 % of its SMS go out: each prefix pays the N codes it is
    judged on, then gets nothing but its probations); legitimate traffic not, either way. Met when that policy
    did not run."""
    name = "recommended" if args.scenario == "burst" else "quarantine"
    goal = [r for r in runs if r["name"] == name]
    if not goal:
        return True
    s = goal[0]["summary"]
    legit_ok = s["legit_blocked"] <= 0.001 * n_legit
    if args.scenario == "burst":
        attack_ok = s["attack_blocked"] >= 0.99 * (len(events) - n_legit)
        want = "at least 99 % of attack SMS blocked"
    else:
        sent, total = attack_by_day(args, goal[0], events)
        attack_ok = sent[-1] <= 0.05 * total[-1]
        want = "at most 5 % of the last day's attack SMS sent"
    ok = attack_ok and legit_ok
    log(f"goal ({goal[0]['label']}: {want}, at most 0.1 % of legitimate blocked): {'met' if ok else 'NOT met'}")
    return ok


SLOW_HEADING = "## Slow attack with conversions"


def write_out(args, md):
    """Writes the report to --out. The burst and slow attacks share the file: each replaces its own part (the
    slow attack's from its heading on), keeping the other's."""
    try:
        with open(args.out) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    at = old.find(SLOW_HEADING)
    burst, slow = (old[:at], old[at:]) if at >= 0 else (old, "")
    burst, slow = (md, slow) if args.scenario == "burst" else (burst, md)
    with open(args.out, "w") as f:
        f.write(burst.rstrip() + "\n\n" + slow if slow and burst.strip() else burst + slow)


def log(msg):
    print(f"[attack {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main():
    if sys.argv[1:] == ["--serve-moto"]:
        return serve_moto()
    p = argparse.ArgumentParser(description="Replay an SMS pumping attack mixed with legitimate traffic through "
                                "the bootstrap against moto, under several abuse-gate policies.")
    p.add_argument("--binary", default=os.environ.get("ATTACK_BINARY"), required=not os.environ.get("ATTACK_BINARY"),
                   help="the bootstrap to run (bench/attack builds a release one when none is given)")
    p.add_argument("--legit", type=int, default=1000, help="legitimate SMS (default 1000)")
    p.add_argument("--attack", type=int, default=3000, help="attack SMS (default 3000)")
    p.add_argument("--premium-share", type=float, default=0.1, help="share of the attack to premium-rate numbers (default 0.1)")
    p.add_argument("--unserved-share", type=float, default=0.1, help="share of the attack to countries not served (default 0.1)")
    p.add_argument("--scenario", choices=["burst", "slow"], default="burst",
                   help="burst: a pumping attack replayed as fast as it goes (issue 12); slow: an attack kept under "
                   "every limit over simulated days, with conversions, against the low-conversion rule (issue 14)")
    p.add_argument("--policies", help="which policies, in order (default all: recommended,defaults,none for burst; "
                   "recommended,quarantine for slow)")
    p.add_argument("--workers", type=int, default=2, help="concurrent function processes (default 2)")
    p.add_argument("--seed", type=int, default=12, help="traffic seed (default 12)")
    p.add_argument("--prices", help="JSON file of USD per SMS part by ISO country, laid over the built-in table")
    p.add_argument("--timeout", type=float, default=30, help="seconds one invocation may take (default 30)")
    p.add_argument("--out", default=os.path.join(HERE, "attack-results.md"),
                   help="where the markdown goes (default bench/attack-results.md; '' for none)")
    p.add_argument("--parallel", type=int, default=3, help="policies run side by side, each with its own moto (default 3)")
    slow = p.add_argument_group("slow scenario")
    slow.add_argument("--hour-seconds", type=int, default=4, help="real seconds per simulated hour (default 4)")
    slow.add_argument("--days", type=int, default=4, help="simulated days (default 4)")
    slow.add_argument("--users-per-hour", type=float, default=4, help="legitimate users per simulated hour (default 4)")
    slow.add_argument("--convert", type=float, default=0.85, help="share of users who enter their code (default 0.85)")
    slow.add_argument("--prefixes", type=int, default=12, help="GB prefixes the attack walks (default 12)")
    slow.add_argument("--attack-hours", type=int, default=12,
                      help="hours of each day the attack sends one SMS per prefix (default 12; at most 15)")
    p.add_argument("--one-policy", help=argparse.SUPPRESS)  # internal: run one policy, write --result
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.legit < 1 or args.attack < 1 or args.workers < 1 or args.parallel < 1:
        p.error("--legit, --attack, --workers and --parallel must be at least 1")
    if not 0 <= args.premium_share + args.unserved_share <= 1:
        p.error("--premium-share + --unserved-share must be between 0 and 1")
    if args.hour_seconds < 1 or args.days < 1 or args.prefixes < 1 or not 1 <= args.attack_hours <= 15:
        p.error("--hour-seconds, --days and --prefixes must be at least 1, --attack-hours from 1 to 15 (the "
                "per-prefix daily limit: the slow attack stays under it)")
    if args.policies is None:
        args.policies = "recommended,defaults,none" if args.scenario == "burst" else "recommended,quarantine"
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
