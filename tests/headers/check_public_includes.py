#!/usr/bin/env python3
"""Fails if an installed header includes, at any depth, a Boost header or a
private one (fiber/internal/): users compile against the standard library
and our own small headers only.

    check_public_includes.py --root SRC --std c++20 HEADER... -- COMPILER...

Each HEADER (a path under SRC, as users include it) is preprocessed alone
with `COMPILER -H`; the include tree it prints shows, for an offender, the
chain of headers that brought it in.
"""

import argparse
import os
import subprocess
import sys


def include_tree(compiler, root, std, header):
    """[(depth, path)] of every header `#include <header>` opens."""
    cmd = compiler + ["-std=" + std, "-I", root, "-H", "-E", "-x", "c++", "-o", os.devnull, "-"]
    p = subprocess.run(cmd, input="#include <%s>\n" % header, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("check_public_includes: %s does not preprocess:\n%s" % (header, p.stderr))
    tree = []
    for line in p.stderr.splitlines():
        dots, _, path = line.partition(" ")
        if dots and set(dots) == {"."}:
            tree.append((len(dots), os.path.normpath(path)))
    return tree


def forbidden(path, root, internal_dirs):
    real = os.path.realpath(path)
    if real.startswith(root + os.sep):
        return "a private header" if any(real.startswith(d + os.sep) for d in internal_dirs) else None
    return "a Boost header" if "boost" in real.split(os.sep) else None


def shown(path, root):
    real = os.path.realpath(path)
    return os.path.relpath(real, root) if real.startswith(root + os.sep) else path


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    compiler = args[split + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--std", default="c++20")
    ap.add_argument("headers", nargs="+")
    opts = ap.parse_args(args[:split])
    root = os.path.realpath(opts.root)
    internal_dirs = [os.path.join(root, "fiber", "internal")]

    failures = 0
    for header in opts.headers:
        tree = include_tree(compiler, root, opts.std, header)
        chain = ["#include <%s>" % header]
        for depth, path in tree:
            del chain[depth:]
            chain.append(shown(path, root))
            why = forbidden(path, root, internal_dirs)
            if why:
                failures += 1
                print("%s includes %s: %s" % (header, why, "\n    -> ".join(chain)))
                break
        else:
            print("ok %s (%d headers, none of Boost's, none private)" % (header, len(set(p for _, p in tree))))
    if failures:
        print("%d installed header(s) pull in Boost or private headers; keep those behind the .cpp files" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
