"""Fails if any log line the test suite captured holds a secret, in any form it could leak in.

Every line every test process logged (from every thread, at TRACE through the function's own filter) is in
`<dir>/<pid>.jsonl` (tests/common/mod.rs); the secrets its tests named are in `<pid>.secrets` (one JSON list
per line). Besides those, every code and phone number written as a literal in the Rust tests counts (codes
carry the marker ZXQ), so a test that never names its secrets is still scanned for them.

A secret is looked for as itself, HTML- or string-escaped, as hex, as a byte-array `Debug` (`[90, 88, 81, …]`), as
base64 at each alignment (standard and URL-safe), and by its digits alone; a phone number also without `+`,
with spaces, dashes, dots or brackets between its digits, and in national format (its digits after the
country code). Lines are also read NFKC-normalised (full-width digits) and JSON-decoded. Any `+` followed by 8
or more digits is an unmasked number whoever it belongs to; masked numbers look like +1******0100.

    scan_logs.py DIR                    the suite-wide scan (scripts/test)
    scan_logs.py --secrets JSON FILE    one capture against the given secrets (a test's assert_clean)
"""
from __future__ import annotations

import base64
import html
import json
import pathlib
import re
import sys
import unicodedata

MARKER = "ZXQ"
ROOT = pathlib.Path(__file__).resolve().parents[1]
PHONE = re.compile(r"^\+\d{8,15}$")
# Separators people and libraries put between a number's digits.
BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-.()/]+(?=\d)")
UNMASKED = re.compile(r"\+\d{8,}")
# The shortest fragment worth looking for: shorter ones turn up by chance in any base64 or hex text.
MIN_FRAGMENT = 6


def base64_forms(data: bytes) -> set[str]:
    """The base64 text of `data` at each of the three byte alignments it can have inside a longer encoding,
    without the characters it shares with its neighbours."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode().rstrip("=")
        start = (shift * 4 + 2) // 3
        total = shift + len(data)
        end = total // 3 * 4 + {0: 0, 1: 1, 2: 2}[total % 3]
        fragment = encoded[start:end]
        if len(fragment) >= MIN_FRAGMENT:
            forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return forms


def digit_forms(secret: str) -> set[str]:
    """The digits a secret ends in, alone: a code's number; a phone number's national part."""
    digits = "".join(c for c in secret if c.isdigit())
    if PHONE.match(secret):
        # Country codes have 1 to 3 digits: the rest is in every national spelling of the number.
        return {digits, digits[3:] if len(digits) - 3 >= 7 else digits[-7:]}
    return {digits} if len(digits) >= MIN_FRAGMENT else set()


def forms(secret: str) -> set[str]:
    """Every spelling of `secret` that must not appear in a log line (text forms; see `digit_forms`)."""
    data = secret.encode()
    # As itself, HTML-escaped and -unescaped, and string-escaped (JSON, and Rust's Debug of a str).
    found = {secret, html.escape(secret), html.unescape(secret), json.dumps(secret, ensure_ascii=False)[1:-1]}
    if len(data) >= 3:
        found |= {", ".join(map(str, data)), ",".join(map(str, data))}
    if len(data) >= 4:
        found |= {data.hex(), data.hex().upper()}
    return {f for f in found | base64_forms(data) if f}


def values(node) -> list[str]:
    """Every key and value in a parsed JSON line, as text."""
    if isinstance(node, dict):
        return [text for k, v in node.items() for text in [k, *values(v)]]
    if isinstance(node, list):
        return [text for v in node for text in values(v)]
    return [] if node is None else [str(node)]


def readings(line: str) -> tuple[list[str], list[str]]:
    """The texts a log line is searched in: for text forms, the line as written and its values JSON-decoded
    and NFKC-normalised (full-width digits); for digits, those values."""
    try:
        value = json.loads(line)
    except ValueError:
        value = line
    decoded = unicodedata.normalize("NFKC", "\n".join(values(value)))
    return [line, decoded], [decoded]


def appears(form: str, text: str) -> bool:
    """Whether `form` is in `text`; a form of digits only must not be part of a longer run of digits (the SDK's
    fixed test clock, 1234567890, is not a leak of the code 123456)."""
    if form.isdigit():
        return re.search(rf"(?<!\d){form}(?!\d)", text) is not None
    if form == MARKER:
        # The start of a test code, not three letters inside a random id (a request id, a signature).
        return re.search(rf"(?<![A-Za-z0-9]){MARKER}", text) is not None
    return form in text


def in_digit_token(digits: str, text: str) -> bool:
    """Whether `digits` stand in a run of digits of `text` (any national spelling of a number), not inside a hex
    or base64 blob such as a signature, whose digits are random."""
    return any(digits in token for token in re.findall(r"[0-9A-Za-z]+", text) if token.isdigit())


def in_plain_text(digits: str, text: str) -> bool:
    """Whether `digits` stand on their own in `text`, or in a short word, not inside a long hex or base64 blob (a
    signature, a digest: 16 characters or more, not all digits), whose digits are random."""
    return any(re.search(rf"(?<!\d){digits}(?!\d)", token) for token in re.findall(r"[0-9A-Za-z]+", text)
               if len(token) < 16 or token.isdigit())


def leaks(line: str, secrets: list[str]) -> list[str]:
    """What in `line` gives a secret (or the marker) away: a description per finding, never the secret."""
    found = []
    texts, numbers = readings(line)
    collapsed = [BETWEEN_DIGITS.sub("", t) for t in numbers]
    for index, secret in enumerate(s for s in [*secrets, MARKER] if s):
        if any(appears(f, t) for f in forms(secret) for t in texts):
            found.append(f"secret #{index} ({len(secret)} chars) as text, hex, bytes or base64")
        elif any(in_plain_text(d, t) if not PHONE.match(secret) else in_digit_token(d, t)
                 for d in digit_forms(secret) for t in collapsed):
            found.append(f"secret #{index} ({len(secret)} chars) by its digits")
    if any(UNMASKED.search(t) for t in collapsed):
        found.append("an unmasked phone number (+ and 8 or more digits)")
    return found


def literal_secrets() -> list[str]:
    """Codes (marked ZXQ) and phone numbers written as literals in the Rust tests."""
    found = set()
    for path in (ROOT / "tests").glob("*.rs"):
        text = path.read_text()
        found |= set(re.findall(r'"(ZXQ[^"\\]*)"', text)) | set(re.findall(r'"(\+\d{8,15})"', text))
    return sorted(found)


def scan(lines: list[str], secrets: list[str], name: str) -> int:
    """Prints each leaking line's findings (never its text) and returns how many there are."""
    bad = 0
    for number, line in enumerate(lines, 1):
        json.loads(line)  # every line is one JSON object
        for finding in leaks(line, secrets):
            bad += 1
            print(f"{name}:{number}: {finding}", file=sys.stderr)
    return bad


def scan_directory(directory: pathlib.Path) -> None:
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        sys.exit(f"no captured logs in {directory}: the log capture in tests/common is broken")
    common = literal_secrets()
    lines = bad = 0
    for path in files:
        named = path.with_suffix(".secrets")
        registered = [s for l in named.read_text().splitlines() for s in json.loads(l)] if named.exists() else []
        text = path.read_text(errors="replace").splitlines()
        lines += len(text)
        bad += scan(text, sorted(set(common + registered)), path.name)
    if bad:
        sys.exit(f"{bad} findings in {lines} captured log lines")
    print(f"log scan: {lines} captured log lines from {len(files)} test processes, no secret in any form")


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[1] == "--secrets":
        path = pathlib.Path(argv[3])
        if scan(path.read_text(errors="replace").splitlines(), json.loads(argv[2]), path.name):
            sys.exit(1)
    elif len(argv) == 2:
        scan_directory(pathlib.Path(argv[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
