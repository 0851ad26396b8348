#!/usr/bin/env python3
"""Validate EVE JSON lines against Suricata's schema (suricata-eve.schema.json).

Usage: validate_eve.py [--schema FILE] [--max-errors N] [FILE ...]
Reads the files (or standard input when none is given), one JSON object a
line; empty lines are skipped. Prints the first failures with their line
numbers, then a summary line `checked N lines (event types: ...)`.
Exit status: 0 all valid, 1 any line invalid (or not JSON), 2 usage or
missing `jsonschema`.
"""

import argparse
import collections
import json
import os
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema", default=os.path.join(here, "suricata-eve.schema.json"))
    ap.add_argument("--max-errors", type=int, default=10)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        print("validate_eve.py: the Python package jsonschema is missing "
              "(pip install jsonschema)", file=sys.stderr)
        return 2
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    def lines():
        if not args.files:
            for n, line in enumerate(sys.stdin, 1):
                yield "<stdin>", n, line
            return
        for name in args.files:
            with open(name, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    yield name, n, line

    checked = 0
    failed = 0
    types = collections.Counter()
    for name, n, line in lines():
        if not line.strip():
            continue
        checked += 1
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            errors = [f"not JSON: {e}"]
        else:
            types[event.get("event_type", "?") if isinstance(event, dict) else "?"] += 1
            errors = [
                f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
                for e in sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
            ]
        if errors:
            failed += 1
            if failed <= args.max_errors:
                print(f"{name}:{n}: " + "; ".join(errors[:5]), file=sys.stderr)
                print(f"    {line.strip()[:400]}", file=sys.stderr)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(types.items()))
    print(f"checked {checked} lines (event types: {summary or 'none'}), {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
