#!/usr/bin/env python3
"""Runs one example and checks its standard output against an .expect file.

    check_output.py [--timeout S] [--fresh FILE] [--sql DB QUERY ROW]
                    EXPECT -- PROGRAM [ARGS...]

The program must exit 0 within the timeout, and its output must match the
expect file line by line. Each line of the expect file is one pattern:

    text              the next output line is exactly `text`
    re: REGEX         the next output line matches REGEX (whole line)
    many re: REGEX    one or more output lines, each matching REGEX
    any re: REGEX     zero or more output lines, each matching REGEX
    unordered         the patterns up to `end`, each matching exactly one
    ...               of the next as many output lines, in any order
    end
    # comment         ignored (a line of output starting with '#' is
                      written `re: #...`); blank lines are ignored too

Programs check their own invariants too (and exit non-zero if one fails);
this checks that what they print is what the original prints.

--fresh FILE removes FILE before the run (an example that creates its own
database starts from nothing). --sql DB QUERY ROW runs QUERY on the SQLite
database DB after the run and requires its first row, as a Python tuple's
repr, to be ROW: what the program wrote is read back independently of it.
"""
import argparse
import os
import re
import sqlite3
import subprocess
import sys


class Mismatch(Exception):
    pass


def parse(expect_text):
    """The expect file as a list of (kind, argument) patterns."""
    patterns = []
    block = None
    for number, raw in enumerate(expect_text.splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line == "unordered":
            block = []
            continue
        if line == "end":
            if block is None:
                raise SystemExit(f"expect line {number}: 'end' without 'unordered'")
            patterns.append(("unordered", block))
            block = None
            continue
        for kind in ("many re: ", "any re: ", "re: "):
            if line.startswith(kind):
                pattern = (kind[:-2].strip(), re.compile(line[len(kind):]))
                break
        else:
            pattern = ("exact", line)
        if block is not None:
            if pattern[0] not in ("exact", "re"):
                raise SystemExit(f"expect line {number}: only single-line patterns inside 'unordered'")
            block.append(pattern)
        else:
            patterns.append(pattern)
    if block is not None:
        raise SystemExit("expect file: 'unordered' without 'end'")
    return patterns


def single_matches(pattern, line):
    kind, arg = pattern
    if kind == "exact":
        return line == arg
    return arg.fullmatch(line) is not None


def describe(pattern):
    kind, arg = pattern
    return arg if kind == "exact" else f"{kind}: {arg.pattern}"


def match(patterns, lines):
    """Raises Mismatch naming the first output line that breaks the patterns."""
    i = 0
    for pattern in patterns:
        kind, arg = pattern
        if kind in ("exact", "re"):
            if i >= len(lines):
                raise Mismatch(f"output ended; expected: {describe(pattern)}")
            if not single_matches(pattern, lines[i]):
                raise Mismatch(f"line {i + 1}: {lines[i]!r}\n  expected: {describe(pattern)}")
            i += 1
        elif kind in ("many re", "any re"):
            start = i
            while i < len(lines) and arg.fullmatch(lines[i]):
                i += 1
            if kind == "many re" and i == start:
                got = repr(lines[i]) if i < len(lines) else "end of output"
                raise Mismatch(f"line {i + 1}: {got}\n  expected one or more: {arg.pattern}")
        elif kind == "unordered":
            chunk = lines[i:i + len(arg)]
            if len(chunk) < len(arg):
                raise Mismatch(f"output ended inside an unordered block of {len(arg)} lines")
            unmatched = list(arg)
            for offset, line in enumerate(chunk):
                # Exact patterns first, so a regex cannot take an exact line's place.
                hit = next((p for p in unmatched if p[0] == "exact" and single_matches(p, line)), None)
                hit = hit or next((p for p in unmatched if single_matches(p, line)), None)
                if hit is None:
                    left = "\n    ".join(describe(p) for p in unmatched)
                    raise Mismatch(f"line {i + offset + 1}: {line!r}\n  expected one of:\n    {left}")
                unmatched.remove(hit)
            i += len(arg)
    if i < len(lines):
        raise Mismatch(f"line {i + 1}: {lines[i]!r}: more output than expected")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--fresh", action="append", default=[])
    parser.add_argument("--sql", nargs=3, action="append", default=[], metavar=("DB", "QUERY", "ROW"))
    parser.add_argument("expect")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no program to run")

    for path in args.fresh:
        if os.path.exists(path):
            os.remove(path)
    with open(args.expect, encoding="utf-8") as f:
        patterns = parse(f.read())

    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(f"FAIL: {command[0]} still running after {args.timeout}s; output so far:\n{out}")
        return 1
    sys.stderr.write(run.stderr)
    lines = run.stdout.splitlines()
    if run.returncode != 0:
        print(f"FAIL: {command[0]} exited with status {run.returncode}; output:\n{run.stdout}")
        return 1
    try:
        match(patterns, lines)
    except Mismatch as e:
        print(f"FAIL: {command[0]}: output does not match {os.path.basename(args.expect)}\n  {e}")
        print("output:\n" + run.stdout)
        return 1
    for db, query, want in args.sql:
        with sqlite3.connect(db) as conn:
            got = repr(conn.execute(query).fetchone())
        if got != want:
            print(f"FAIL: {db}: {query}\n  gave {got}, expected {want}")
            return 1
        print(f"ok: {query} -> {got}")
    print(f"ok: {len(lines)} lines match {os.path.basename(args.expect)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
