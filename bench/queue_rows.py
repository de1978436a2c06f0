"""The queue rows of bench/run.py: our queue backends against BullMQ.

    python3 bench/run.py --build build-bench --only queues

Starts its own redis-server (tests/harness/redis_server.py: a free loopback
port, a temporary directory; here without the append-only file, so the
rows measure the queue engines, not fsync), installs BullMQ into
bench/bullmq/node_modules when missing (npm ci), then for each row runs
both sides alternately, `reps` times, and keeps the medians:

  redis_1proc, redis_2proc   jobs/s: N no-op jobs enqueued first, then one
                             or two worker processes of concurrency C run
                             them; N / (last completion - first worker ready)
  redis_1proc_task_queue,    the same through csp::task_queue (the full
  redis_2proc_task_queue     stack users run: pump, dispatcher, store
                             thread), beside the same repetition's BullMQ
                             figure of redis_1proc / redis_2proc
  redis_*_task_queue_prefetchP  the same with task_queue_options::prefetch
                             = P (P = 1, 2: tasks in hand per worker)
  sqlite_normal, sqlite_full jobs/s, ours only (synchronous=NORMAL / FULL,
                             one process, a file in a temporary directory on
                             disk; fewer jobs for FULL: one fsync per commit)
  *_latency_p50/_p99         microseconds from submit to start, tasks
                             submitted at a fixed rate (open loop) to one
                             worker process of concurrency C

Returns CSV lines `row,jobs,cspfiber,bullmq,ratio` (ratio: ours / BullMQ:
higher is better for jobs/s, lower for latency) and a list of failures.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BULLMQ_DIR = os.path.join(ROOT, "bench", "bullmq")
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
from redis_server import RedisServer  # noqa: E402

CONCURRENCY = 16


class QueueError(Exception):
    pass


def _run(cmd, timeout, cwd=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise QueueError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from e
    if p.returncode != 0:
        raise QueueError(f"exit status {p.returncode}: {' '.join(cmd)}\n{p.stderr.strip()[-2000:]}")
    return p.stdout


def _parallel(cmds, timeout, cwd=None):
    """Starts every command at once; their stdouts."""
    procs = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = []
    deadline = time.monotonic() + timeout
    for c, p in zip(cmds, procs):
        try:
            out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise QueueError(f"timed out: {' '.join(c)}")
        if p.returncode != 0:
            raise QueueError(f"exit status {p.returncode}: {' '.join(c)}\n{err.strip()[-2000:]}")
        outs.append(out)
    return outs


def _throughput(outs, total):
    """`ready_us,last_done_us,done` lines of the worker processes -> jobs/s."""
    rows = [[int(x) for x in o.strip().splitlines()[-1].split(",")] for o in outs]
    if sum(r[2] for r in rows) < total:
        raise QueueError(f"the workers ran {sum(r[2] for r in rows)} of {total} jobs")
    return total / ((max(r[1] for r in rows) - min(r[0] for r in rows)) / 1e6)


class Ours:
    def __init__(self, exe, timeout):
        self.exe, self.timeout = exe, timeout

    def jobs_per_s(self, url, jobs, procs, sync="normal"):
        _run([self.exe, "enqueue", "--url", url, "--jobs", str(jobs), "--sync", sync], self.timeout)
        work = [self.exe, "work", "--url", url, "--concurrency", str(CONCURRENCY), "--total", str(jobs), "--sync", sync]
        return _throughput(_parallel([work] * procs, self.timeout), jobs)

    def task_queue_jobs_per_s(self, url, jobs, procs, prefetch=0):
        _run([self.exe, "enqueue", "--url", url, "--jobs", str(jobs)], self.timeout)
        work = [self.exe, "task_queue", "--url", url, "--concurrency", str(CONCURRENCY), "--total", str(jobs),
                "--prefetch", str(prefetch)]
        return _throughput(_parallel([work] * procs, self.timeout), jobs)

    def latency(self, url, jobs, rate, sync="normal"):
        out = _run([self.exe, "latency", "--url", url, "--concurrency", str(CONCURRENCY), "--jobs", str(jobs),
                    "--rate", str(rate), "--sync", sync], self.timeout)
        return [float(x) for x in out.strip().splitlines()[-1].split(",")]


class BullMQ:
    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.node = shutil.which("node")

    def _cmd(self, mode, queue, **kw):
        cmd = [self.node, "bench.mjs", mode, "--port", str(self.port), "--queue", queue]
        for k, v in kw.items():
            cmd += [f"--{k}", str(v)]
        return cmd

    def jobs_per_s(self, queue, jobs, procs):
        _run(self._cmd("produce", queue, jobs=jobs), self.timeout, cwd=BULLMQ_DIR)
        work = self._cmd("work", queue, concurrency=CONCURRENCY, total=jobs)
        return _throughput(_parallel([work] * procs, self.timeout, cwd=BULLMQ_DIR), jobs)

    def latency(self, queue, jobs, rate):
        out = _run(self._cmd("latency", queue, concurrency=CONCURRENCY, jobs=jobs, rate=rate), self.timeout,
                   cwd=BULLMQ_DIR)
        return [float(x) for x in out.strip().splitlines()[-1].split(",")]


def install_bullmq(log):
    if os.path.isdir(os.path.join(BULLMQ_DIR, "node_modules", "bullmq")):
        return
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise QueueError("node and npm not found (Debian: apt-get install nodejs npm)")
    log("installing BullMQ into bench/bullmq/node_modules (npm ci)")
    flags = ["--no-audit", "--no-fund", "--loglevel=error"]
    lock = os.path.exists(os.path.join(BULLMQ_DIR, "package-lock.json"))
    try:
        _run([npm, "ci" if lock else "install", *flags], 600, cwd=BULLMQ_DIR)
    except QueueError:
        # Some npm versions refuse the lock file over optional platform
        # packages (msgpackr-extract's); install then resolves the same pins.
        log("npm ci refused the lock file; npm install instead")
        _run([npm, "install", *flags], 600, cwd=BULLMQ_DIR)


def run(build, reps, scale, timeout, log):
    exe = os.path.abspath(os.path.join(build, "bench", "queue_bench"))
    if not os.access(exe, os.X_OK):
        return [], [f"queues: {exe} not found (build with -Dbenchmarks=true)"]
    failures = []
    try:
        install_bullmq(log)
        bull_ok = True
    except QueueError as e:
        failures.append(f"bullmq: {e}")
        bull_ok = False
    jobs = max(1000, int(100000 * scale))
    lat_jobs, rate = max(200, int(2000 * scale)), 1000
    ours = Ours(exe, timeout)
    results = {}  # row -> {"cspfiber": [..], "bullmq": [..]}
    counts = {}
    n = [0]

    def fresh(prefix):
        n[0] += 1
        return f"{prefix}{os.getpid()}_{n[0]}"

    def measure(row, side, count, f):
        counts[row] = count
        try:
            v = f()
        except QueueError as e:
            failures.append(f"{side} {row}: {e}")
            return
        for i, name in enumerate(row if isinstance(row, tuple) else (row,)):
            results.setdefault(name, {}).setdefault(side, []).append(v[i] if isinstance(v, list) else v)
            counts[name] = count

    with RedisServer(extra_args=["--appendonly", "no"]) as r, tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        url = lambda q: f"redis://127.0.0.1:{r.port}/{q}"  # noqa: E731
        bull = BullMQ(r.port, timeout)
        for rep in range(reps):
            log(f"queues: repetition {rep + 1} of {reps}")
            for procs in (1, 2):
                row, tq_row = f"redis_{procs}proc_jobs_per_s", f"redis_{procs}proc_task_queue_jobs_per_s"
                sides = [(row, "cspfiber", lambda: ours.jobs_per_s(url(fresh("q")), jobs, procs)),
                         (tq_row, "cspfiber", lambda: ours.task_queue_jobs_per_s(url(fresh("t")), jobs, procs))]
                for pf in (1, 2):
                    sides.append((f"redis_{procs}proc_task_queue_prefetch{pf}_jobs_per_s", "cspfiber",
                                  lambda pf=pf: ours.task_queue_jobs_per_s(url(fresh("p")), jobs, procs, pf)))
                if bull_ok:
                    sides.append((row, "bullmq", lambda: bull.jobs_per_s(fresh("b"), jobs, procs)))
                for r_, side, f in (sides if rep % 2 == 0 else sides[::-1]):
                    measure(r_, side, jobs, f)
            lat = ("redis_latency_p50_us", "redis_latency_p99_us")
            measure(lat, "cspfiber", lat_jobs, lambda: ours.latency(url(fresh("l")), lat_jobs, rate))
            if bull_ok:
                measure(lat, "bullmq", lat_jobs, lambda: bull.latency(fresh("bl"), lat_jobs, rate))
            for sync, count in (("normal", max(1000, int(20000 * scale))), ("full", max(200, int(2000 * scale)))):
                path = lambda: "sqlite:" + os.path.join(d, fresh("s") + ".db")  # noqa: E731
                measure(f"sqlite_{sync}_jobs_per_s", "cspfiber", count,
                        lambda: ours.jobs_per_s(path(), count, 1, sync))
                lat_count = max(100, int(500 * scale)) if sync == "full" else lat_jobs
                measure((f"sqlite_{sync}_latency_p50_us", f"sqlite_{sync}_latency_p99_us"), "cspfiber", lat_count,
                        lambda: ours.latency(path(), lat_count, 50 if sync == "full" else rate, sync))
    lines = ["row,jobs,cspfiber,bullmq,ratio"]
    for row, sides in results.items():
        c = statistics.median(sides["cspfiber"]) if sides.get("cspfiber") else None
        # A task_queue row is compared with BullMQ's figure of the same
        # process count (measured once, in the same repetitions).
        peer_row = re.sub(r"_task_queue(_prefetch\d+)?", "", row)
        bull_sides = results.get(peer_row, {}) if peer_row != row else sides
        b = statistics.median(bull_sides["bullmq"]) if bull_sides.get("bullmq") else None
        for side, vals in sides.items():
            log(f"{row:<30} {side:<8} median {statistics.median(vals):10.0f}  (runs: {' '.join(f'{v:.0f}' for v in vals)})")
        ratio = f"{c / b:.2f}" if c is not None and b else ""
        lines.append(f"{row},{counts[row]},{'' if c is None else f'{c:.0f}'},{'' if b is None else f'{b:.0f}'},{ratio}")
    return lines, failures
