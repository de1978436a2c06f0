"""CPU per job of each side of the queue rows, a measure the machine's load
skews less than jobs/s:

    python3 bench/queue_cpu.py --build build-bench [--jobs 20000] [--reps 3]
        [--prefetch 0] [--stats] [task_queue] [bullmq] [work]

Starts its own redis-server (no append-only file), then per repetition and
side: enqueues the jobs, runs one worker process of concurrency 16 on them
and prints jobs/s, the worker process's CPU per job (user + system, from
rusage), redis-server's CPU per job (INFO cpu) and the worker's voluntary
context switches per job; --stats adds redis-server's command statistics
per job (INFO commandstats after CONFIG RESETSTAT).
"""
import argparse
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import queue_rows as q  # noqa: E402
from redis_server import RedisServer  # noqa: E402 (queue_rows put tests/harness on the path)


def redis_cpu_s(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "cpu"], capture_output=True, text=True).stdout
    d = dict(line.split(":", 1) for line in out.split() if ":" in line)
    return float(d["used_cpu_user"]) + float(d["used_cpu_sys"])


def command_stats(port, jobs):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"], capture_output=True, text=True).stdout
    for line in out.split():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            d = dict(kv.split("=") for kv in rest.split(","))
            print(f"    {name:22s} calls/job {int(d['calls']) / jobs:7.3f}  us/job {float(d['usec']) / jobs:7.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--prefetch", type=int, default=0)
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("sides", nargs="*", default=["task_queue", "bullmq"])
    a = ap.parse_args()
    exe = os.path.abspath(os.path.join(a.build, "bench", "queue_bench"))
    if "bullmq" in a.sides:
        q.install_bullmq(lambda m: print(m, file=sys.stderr))
    with RedisServer(extra_args=["--appendonly", "no"]) as r:
        for i in range(a.reps * len(a.sides)):
            side, name = a.sides[i % len(a.sides)], f"cpu{os.getpid()}_{i}"
            if side == "bullmq":
                base = ["node", "bench.mjs"]
                subprocess.run(base + ["produce", "--port", str(r.port), "--queue", name, "--jobs", str(a.jobs)],
                               cwd=q.BULLMQ_DIR, check=True, capture_output=True)
                cmd, cwd = base + ["work", "--port", str(r.port), "--queue", name, "--concurrency",
                                   str(q.CONCURRENCY), "--total", str(a.jobs)], q.BULLMQ_DIR
            else:
                url = f"redis://127.0.0.1:{r.port}/{name}"
                subprocess.run([exe, "enqueue", "--url", url, "--jobs", str(a.jobs)], check=True, capture_output=True)
                cmd, cwd = [exe, side, "--url", url, "--concurrency", str(q.CONCURRENCY), "--total", str(a.jobs)], None
                if side == "task_queue":
                    cmd += ["--prefetch", str(a.prefetch)]
            subprocess.run(["redis-cli", "-p", str(r.port), "CONFIG", "RESETSTAT"], capture_output=True)
            r0, c0 = redis_cpu_s(r.port), resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout
            c1, r1 = resource.getrusage(resource.RUSAGE_CHILDREN), redis_cpu_s(r.port)
            client = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / a.jobs * 1e6
            print(f"{side:11s} {q._throughput([out], a.jobs):8.0f} jobs/s  worker {client:6.1f} us/job  "
                  f"redis {(r1 - r0) / a.jobs * 1e6:6.1f} us/job  "
                  f"context switches {(c1.ru_nvcsw - c0.ru_nvcsw) / a.jobs:.2f}/job", flush=True)
            if a.stats:
                command_stats(r.port, a.jobs)


if __name__ == "__main__":
    main()
