"""Fails if any log line captured by the test suite holds a secret.

Test codes and passwords all carry the marker ZXQ (tests/*.rs), so one scan finds any of them; a '+' followed
by 8 or more digits is an unmasked phone number. Masked numbers look like +1******0100."""
import json
import pathlib
import re
import sys

directory = pathlib.Path(sys.argv[1])
files = sorted(directory.glob("*.jsonl"))
if not files:
    sys.exit(f"no captured logs in {directory}: the log capture in tests/common is broken")

unmasked = re.compile(r"\+\d{8,}")
lines = bad = 0
for path in files:
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        lines += 1
        json.loads(line)  # every line is one JSON object
        if "ZXQ" in line or unmasked.search(line):
            bad += 1
            print(f"{path.name}:{number}: secret in log line: {line[:200]}", file=sys.stderr)
if bad:
    sys.exit(f"{bad} of {lines} captured log lines hold a secret")
print(f"log scan: {lines} captured log lines from {len(files)} test processes, no code, password or full number")
