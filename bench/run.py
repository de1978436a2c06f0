#!/usr/bin/env python3
"""Runs cspfiber's benchmarks side by side with Go's and compares them.

    python3 bench/run.py --build build-bench [--quick] [--only a,b] [--reps N]

(`./dev bench [options]` builds build-bench/ and runs this.) Builds nothing
on the C++ side: it runs BUILD/bench/cspbench (Google Benchmark, see
bench/cspbench.cpp). The Go half, bench/go/, is compiled once with
`go build` into BUILD/bench/go-cspbench (offline; GOCACHE under BUILD when
the default one is not writable).

Every workload runs at every thread count (CSP_PROCS for C++, GOMAXPROCS
for Go): the C++ and the Go program alternately, each for its repetitions,
so machine noise hits both sides alike. Throughput workloads run their
repetitions in one process per side; the memory workloads (skynet,
idle_1m, dispatcher_latency_4, dispatcher_queued_1m) run every repetition in a fresh process, alternating sides, since
VmHWM is a process-wide high-water mark. Values are medians.

Output: progress lines starting with '#', then (last) a line
`# cspfiber vs go` and a CSV block

    workload,threads,cspfiber_ns,go_ns,ratio

ratio = cspfiber / go (lower is better). For the memory workloads the
values are in the unit named in the workload column (skynet_ms,
skynet_peak_rss_bytes, idle_1m_start_ms, idle_1m_rss_per_g_bytes,
dispatcher_latency_4_p50_ns, ..._p99_ns, dispatcher_queued_1m_bytes_per_job).
Before it, `#` lines relate rows run together: dispatcher_N over workerpool_N
(the cost of the dispatcher's job table and messages over a bare channel
worker pool) and over dispatcher_chan_N (the Go design on our channels). The same
CSV is written to BUILD/bench/results.csv. Exit status 1 if any run failed
(crash, wrong result, timeout); its cells then read `error`.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_DIR = os.path.join(ROOT, "bench", "go")

# Throughput workloads: ns per operation, Google Benchmark on the C++ side.
THROUGHPUT = [
    "pingpong",
    "unbuffered_stream",
    "buffered_stream_1",
    "buffered_stream_1024",
    "mpmc_2x2",
    "mpmc_8x8",
    "select2",
    "workerpool_4",
    "workerpool_64",
    "spawn_join",
    "dispatcher_4",
    "dispatcher_64",
    "dispatcher_chan_4",
    "dispatcher_chan_64",
    "cpu_bound_latency",
]
# Memory workloads: one fresh process per repetition; the rows they print
# (name, unit) and the name of each in the final table.
MEMORY = {
    "skynet": [("skynet", "ms", "skynet_ms"), ("skynet_peak_rss", "bytes", "skynet_peak_rss_bytes")],
    "idle_1m": [
        ("idle_1m_start", "ms", "idle_1m_start_ms"),
        ("idle_1m_rss_per_g", "bytes", "idle_1m_rss_per_g_bytes"),
        ("idle_1m_floor", "ms", "idle_1m_floor_ms"),      # ours only: one fresh page touched per goroutine
        ("idle_1m_floor_x", "x", "idle_1m_floor_x"),      # ours only: idle_1m_start / the floor (target 1.2)
        ("idle_1m_cpu_per_g", "ns", "idle_1m_cpu_per_g_ns"),  # ours only: CPU time of all threads per goroutine
    ],
    "dispatcher_latency_4": [
        ("dispatcher_latency_4_p50", "ns", "dispatcher_latency_4_p50_ns"),
        ("dispatcher_latency_4_p99", "ns", "dispatcher_latency_4_p99_ns"),
    ],
    "dispatcher_queued_1m": [("dispatcher_queued_1m", "bytes", "dispatcher_queued_1m_bytes_per_job")],
}
# Per-process workloads that cspbench runs as Google Benchmark rows
# (bench/dispatcher_rows.cpp), each value a counter named like its row.
COUNTER_ROWS = {"dispatcher_latency_4", "dispatcher_queued_1m"}
# Rows only we print (no peer column): the floor idle_1m is measured against,
# and the CPU time its start took (wall time alone hides the stack refiller's).
OURS_ONLY = {"idle_1m_floor", "idle_1m_floor_x", "idle_1m_cpu_per_g"}
OURS_ONLY_ROWS = {"idle_1m_floor_ms", "idle_1m_floor_x", "idle_1m_cpu_per_g_ns"}  # the same, as the table names them
# Derived lines: what the dispatcher costs over a bare channel worker pool
# (the job table, status reports, per-job channels), and over the Go design
# on our channels: (numerator, denominator, sides). Go's dispatcher_chan_N is
# its dispatcher_N program, so that line is ours alone.
DERIVED = [(f"{a}_{w}", f"{b}_{w}", sides) for w in (4, 64)
           for a, b, sides in (("dispatcher", "workerpool", ("cspfiber", "go")),
                               ("dispatcher", "dispatcher_chan", ("cspfiber",)))]
# Our queue backends against BullMQ on one redis-server (bench/queue_rows.py).
QUEUES = "queues"
ALL = THROUGHPUT + list(MEMORY) + [QUEUES]


class RunError(Exception):
    pass


def log(msg):
    print("# " + msg, flush=True)


def run(cmd, env_extra, timeout, cwd=None):
    """Runs cmd; returns stdout. Raises RunError on failure or timeout."""
    env = dict(os.environ)
    env.update(env_extra)
    shown = " ".join(f"{k}={v}" for k, v in env_extra.items()) + " " + " ".join(cmd)
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RunError(f"timed out after {timeout:.0f}s: {shown.strip()}") from e
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise RunError(f"exit status {p.returncode}: {shown.strip()}\n{tail}")
    return p.stdout


def parse_csv_rows(text, procs):
    """`workload,threads,value,unit` lines -> {(workload, unit): [values]};
    every row must be for `procs` threads."""
    rows = {}
    for line in text.splitlines():
        f = line.strip().split(",")
        if len(f) != 4 or line.startswith("#"):
            continue
        try:
            threads, value = int(f[1]), float(f[2])
        except ValueError:
            continue
        if threads != procs:
            raise RunError(f"asked for {procs} threads, got a row for {threads}: {line.strip()}")
        rows.setdefault((f[0], f[3]), []).append(value)
    return rows


# --------------------------------------------------------------------------
# The two sides.


class Cpp:
    label = "cspfiber"

    def __init__(self, exe, scale, timeout):
        self.exe, self.scale, self.timeout = exe, scale, timeout

    def _benchmark(self, workload, procs, reps):
        """Runs one Google Benchmark row `reps` times; its iteration entries."""
        with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
            run([self.exe, f"--scale={self.scale:g}", f"--benchmark_filter=^{workload}/",
                 f"--benchmark_repetitions={reps}", "--benchmark_format=console",
                 f"--benchmark_out={out.name}", "--benchmark_out_format=json"],
                {"CSP_PROCS": str(procs)}, self.timeout)
            data = json.load(out)
        runs = []
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration" or b.get("run_name", b["name"]).split("/")[0] != workload:
                continue
            if b.get("error_occurred"):
                raise RunError(f"{workload}: {b.get('error_message')}")
            if int(b.get("procs", -1)) != procs:
                raise RunError(f"cspbench {workload}: not on {procs} threads: {b}")
            runs.append(b)
        if len(runs) != reps:
            raise RunError(f"cspbench {workload}: expected {reps} repetitions, got {len(runs)}")
        return runs

    def throughput(self, workload, procs, reps):
        runs = self._benchmark(workload, procs, reps)
        if any("ns_per_op" not in b for b in runs):
            raise RunError(f"cspbench {workload}: no ns_per_op counter")
        return [float(b["ns_per_op"]) for b in runs]

    def memory(self, workload, procs):
        if workload in COUNTER_ROWS:
            b = self._benchmark(workload, procs, 1)[0]
            if any(name not in b for name, _, _ in MEMORY[workload]):
                raise RunError(f"cspbench {workload}: a counter is missing: {b}")
            return {(name, unit): [float(b[name])] for name, unit, _ in MEMORY[workload]}
        return parse_csv_rows(run([self.exe, "--memory", workload], {"CSP_PROCS": str(procs)}, self.timeout), procs)


class HostSpells:
    """bench/c2c, a cache line's round trip between CPU 0 and 1, read before
    and after each side's run of a row at 2 or more threads. This VM's host
    now and then places its vCPUs apart for seconds to a minute (on one host
    ~330 ns against ~55): rows at 2 threads slow down 2-3x in such a spell,
    ours and Go's alike, and a spell that hits one side of a row only makes
    its ratio meaningless (bench/RESULTS.md, session 10). What is slow
    depends on the host (another one reads 115-180 ns as a rule), so a
    reading counts as a spell past twice the run's lowest."""

    SLOW_X = 2.0   # a round trip above this multiple of the lowest seen: a spell
    RETRIES = 3    # runs again of a row whose sides saw different spells

    def __init__(self, build):
        exe = os.path.abspath(os.path.join(build, "bench", "c2c"))
        self.exe = exe if (os.cpu_count() or 1) >= 2 and os.access(exe, os.X_OK) else None
        self.seen = {}  # (row, threads) -> {side label: highest reading around its last run}
        self.lowest = None

    def read(self):
        if not self.exe:
            return None
        try:
            out = subprocess.run([self.exe, "50000"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, timeout=10).stdout.split()
            ns = float(out[2])
        except (subprocess.SubprocessError, IndexError, ValueError):
            return None
        self.lowest = ns if self.lowest is None else min(self.lowest, ns)
        return ns

    def note(self, row, threads, side, before, after):
        """Records one side's readings; returns them as text for the log."""
        readings = [r for r in (before, after) if r is not None]
        if not readings:
            return ""
        self.seen.setdefault((row, threads), {})[side] = max(readings)
        return f", c2c {before or 0:.0f} / {after or 0:.0f} ns"

    def slow_ns(self):
        return self.SLOW_X * (self.lowest or 0)

    def one_sided(self):
        """Rows where a spell showed around one side's run and not the other's."""
        slow = self.slow_ns()
        return [key for key, sides in self.seen.items()
                if len(sides) == 2 and len({v > slow for v in sides.values()}) == 2]


class Go:
    label = "go"

    def __init__(self, exe, scale, timeout):
        self.exe, self.scale, self.timeout = exe, scale, timeout

    def _run(self, workload, procs, reps, extra=()):
        return run([self.exe, *extra, "-procs", str(procs), "-reps", str(reps), "-scale", f"{self.scale:g}",
                    "-only", workload], {"GOMAXPROCS": str(procs)}, self.timeout)

    def throughput(self, workload, procs, reps):
        # The Go program runs its repetitions in one process and prints their
        # median, as cspbench does with --benchmark_repetitions.
        vals = parse_csv_rows(self._run(workload, procs, reps), procs).get((workload, "ns"), [])
        if len(vals) != 1:
            raise RunError(f"go {workload}: no `{workload},{procs},...,ns` line in its output")
        return vals

    def memory(self, workload, procs):
        return parse_csv_rows(self._run(workload, procs, 1, extra=("-inproc",)), procs)


# --------------------------------------------------------------------------


def build_go(build_dir):
    go = shutil.which("go")
    if not go:
        raise RunError("`go` not found (Debian: apt-get install golang-go)")
    if not os.path.isfile(os.path.join(GO_DIR, "main.go")):
        raise RunError(f"{GO_DIR}/main.go not found")
    exe = os.path.abspath(os.path.join(build_dir, "bench", "go-cspbench"))  # go build runs in bench/go
    env = {"GOFLAGS": "-buildvcs=false", "GOPROXY": "off", "GOTOOLCHAIN": "local", "GO111MODULE": "on",
           "CGO_ENABLED": "0"}
    # Offline, and nothing written outside the build directory unless the
    # usual Go cache is writable.
    here = os.path.abspath(build_dir)
    if not writable(os.environ.get("HOME", "")):
        env.update(HOME=here, GOPATH=os.path.join(here, "gopath"))
    cache = subprocess.run([go, "env", "GOCACHE"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           env={**os.environ, **env}).stdout.strip()
    if not cache or cache == "off" or not writable(cache):
        env["GOCACHE"] = os.path.join(here, "go-cache")
    run([go, "build", "-o", exe, "."], env, 600, cwd=GO_DIR)
    return exe


def writable(path):
    """Whether path exists and is writable, or could be created."""
    if not path:
        return False
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK)


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=30).stdout.splitlines()[0].strip()
        except Exception:
            return "unknown"

    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  load average: {loadavg()}",
        f"nproc: {os.cpu_count()}  cpu: {model}  kernel: {platform.release()}",
        f"go: {version(['go', 'version'])}",
        f"g++: {version(['g++', '--version'])}",
    ]


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def fmt(value, unit):
    if value is None:
        return "error"
    return f"{value:.0f}" if unit == "bytes" else f"{value:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build-bench", help="meson build directory with bench/cspbench")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 repetition, scale 0.1, memory workloads only at the most threads")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all): " + ",".join(ALL))
    ap.add_argument("--reps", type=int, help="repetitions of throughput workloads (default 5; --quick 1)")
    ap.add_argument("--mem-reps", type=int,
                    help="repetitions (processes) of memory workloads (default min(reps, 3))")
    ap.add_argument("--scale", type=float, help="iteration-count multiplier (default 1; --quick 0.1)")
    ap.add_argument("--procs", help="comma-separated thread counts (default: 1 and nproc)")
    ap.add_argument("--timeout", type=float,
                    help="seconds before one process counts as hung (default 300; --quick 60)")
    args = ap.parse_args()

    reps = args.reps or (1 if args.quick else 5)
    mem_reps = args.mem_reps or min(reps, 3)
    scale = args.scale or (0.1 if args.quick else 1.0)
    timeout = args.timeout or (60 if args.quick else 300)
    if reps < 1 or mem_reps < 1 or scale <= 0:
        ap.error("--reps, --mem-reps and --scale must be positive")
    ncpu = os.cpu_count() or 1
    procs = [int(p) for p in args.procs.split(",")] if args.procs else sorted({1, ncpu})
    workloads = ALL
    if args.only:
        workloads = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in workloads if w not in ALL]
        if unknown:
            ap.error(f"unknown workload(s) {','.join(unknown)}; known: {','.join(ALL)}")
        workloads = [w for w in ALL if w in workloads]

    started = time.monotonic()
    cpp_exe = os.path.abspath(os.path.join(args.build, "bench", "cspbench"))
    go_exe = None
    if workloads != [QUEUES]:  # the queue rows need neither cspbench nor Go
        if not os.access(cpp_exe, os.X_OK):
            print(f"run.py: {cpp_exe} not found; build with -Dbenchmarks=true (./dev bench does)", file=sys.stderr)
            return 2
        try:
            go_exe = build_go(args.build)
        except RunError as e:
            print(f"run.py: building the Go benchmarks failed: {e}", file=sys.stderr)
            return 2

    for line in machine_info():
        log(line)
    log(f"command: {' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}")
    log(f"reps: {reps} (memory: {mem_reps} processes)  scale: {scale:g}  threads: {','.join(map(str, procs))}")

    cpp = Cpp(cpp_exe, scale, timeout)
    go = Go(go_exe, scale, timeout)
    spells = HostSpells(args.build)
    # results[(row_name, threads)] = {"cspfiber": median or None, "go": ...}
    results = {}
    order = []
    failures = []

    def record(row, threads, side, values):
        key = (row, threads)
        if key not in results:
            results[key] = {}
            order.append(key)
        results[key][side] = statistics.median(values) if values else None

    def throughput_row(w, p, sides):
        for side in sides:
            before = spells.read() if p > 1 else None
            try:
                vals = side.throughput(w, p, reps)
            except RunError as e:
                failures.append(f"{side.label} {w} threads={p}: {e}")
                print(f"run.py: FAILED {side.label} {w} threads={p}: {e}", file=sys.stderr, flush=True)
                vals = []
            record(w, p, side.label, vals)
            spell = spells.note(w, p, side.label, before, spells.read()) if p > 1 else ""
            if vals:
                runs = (f"runs: {' '.join(f'{v:.1f}' for v in vals)}" if side is cpp
                        else f"median of {reps} in the Go program")
                log(f"{w:<24} threads={p} {side.label:<8} median {statistics.median(vals):9.1f} ns  ({runs}{spell})")

    flip = False
    for w in [w for w in workloads if w != QUEUES]:
        for p in procs:
            if w in MEMORY and args.quick and p != max(procs):
                continue
            sides = [cpp, go] if not flip else [go, cpp]
            flip = not flip
            t0 = time.monotonic()
            if w in THROUGHPUT:
                throughput_row(w, p, sides)
            else:
                collected = {s.label: {} for s in sides}
                broken = set()
                for _ in range(mem_reps):
                    for side in sides:
                        if side.label in broken:
                            continue
                        try:
                            rows = side.memory(w, p)
                        except RunError as e:
                            failures.append(f"{side.label} {w} threads={p}: {e}")
                            print(f"run.py: FAILED {side.label} {w} threads={p}: {e}", file=sys.stderr,
                                  flush=True)
                            broken.add(side.label)
                            continue
                        for (name, unit), vals in rows.items():
                            collected[side.label].setdefault((name, unit), []).extend(vals)
                for name, unit, row in MEMORY[w]:
                    for side in sides:
                        vals = [] if side.label in broken else collected[side.label].get((name, unit), [])
                        if side.label != "cspfiber" and name in OURS_ONLY:
                            continue  # a row without a peer (no Go column)
                        if side.label not in broken and len(vals) != mem_reps:
                            failures.append(f"{side.label} {w} threads={p}: no {name} row")
                            vals = []
                        record(row, p, side.label, vals)
                        if vals:
                            log(f"{row:<24} threads={p} {side.label:<8} median {fmt(statistics.median(vals), unit):>9} "
                                f"{unit}  (runs: {' '.join(fmt(v, unit) for v in vals)})")
            log(f"  ({time.monotonic() - t0:.1f}s)")

    # A row whose two sides saw different host spells runs again, both
    # sides, until they agree (the last run stands either way).
    for attempt in range(1, HostSpells.RETRIES + 1):
        again = [(w, p) for w, p in spells.one_sided() if w in THROUGHPUT]
        for w, p in again:
            log(f"{w} threads={p}: a host spell around one side's run only; running the row again "
                f"({attempt} of {HostSpells.RETRIES})")
            throughput_row(w, p, [cpp, go] if attempt % 2 else [go, cpp])

    lines = ["workload,threads,cspfiber_ns,go_ns,ratio"]
    units = {row: unit for m in MEMORY.values() for _, unit, row in m}
    for row, p in order:
        r = results[(row, p)]
        c, g = r.get("cspfiber"), r.get("go")
        unit = units.get(row, "ns")
        ratio = f"{c / g:.2f}" if c is not None and g else ("-" if row in OURS_ONLY_ROWS else "error")
        peer = "-" if g is None and row in OURS_ONLY_ROWS else fmt(g, unit)
        lines.append(f"{row},{p},{fmt(c, unit)},{peer},{ratio}")
    csv_path = os.path.join(args.build, "bench", "results.csv")
    with open(csv_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    for num, den, sides in DERIVED:
        for p in procs:
            a, b = results.get((num, p), {}), results.get((den, p), {})
            parts = [f"{side} {a[side] / b[side]:.1f}x ({a[side]:.0f} / {b[side]:.0f} ns)"
                     for side in sides if a.get(side) and b.get(side)]
            if parts:
                log(f"{num} / {den} threads={p}: " + ", ".join(parts))
    for row, p in spells.one_sided():
        log(f"{row} threads={p}: a host spell (c2c over {spells.slow_ns():.0f} ns) around one side's run only: "
            f"its ratio compares two spells, still after {HostSpells.RETRIES} runs again")
    log(f"total: {time.monotonic() - started:.0f}s  load average: {loadavg()}  CSV also in {csv_path}")
    queue_lines = []
    if QUEUES in workloads:
        t0 = time.monotonic()
        import queue_rows
        queue_lines, queue_failures = queue_rows.run(args.build, min(reps, 3), scale, timeout, log)
        failures += queue_failures
        with open(os.path.join(args.build, "bench", "queue_results.csv"), "w") as f:
            f.write("\n".join(queue_lines) + "\n")
        log(f"queues: {time.monotonic() - t0:.0f}s  load average: {loadavg()}")
    for fl in failures:
        log("FAILED: " + fl.splitlines()[0])
    print("# cspfiber vs go")
    print("\n".join(lines), flush=True)
    if queue_lines:
        print("# queue backends vs bullmq (jobs/s: higher is better; latency: lower)")
        print("\n".join(queue_lines), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
