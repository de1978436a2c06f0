#!/usr/bin/env python3
"""Drives the real jobqueue program over pipes and checks every answer.

    test_jobqueue.py build/examples/jobqueue [test name...]

JOBQUEUE_STORE picks the store every test runs on: memory (the default) or
sqlite (a fresh file in a temporary directory for each program started).

Each test starts the program, writes request lines, and reads its output on
a thread: answers (one per request line, in request order) and events. At
the end of each test every accepted task must have reached exactly one
final state, with no event after it. Every wait is bounded and fails with
what was seen. The fuzz test is seeded (JOBQUEUE_FUZZ_SEED) and reproducible.
"""
import json
import os
import queue
import random
import shutil
import subprocess
import tempfile
import sys
import threading
import time
import traceback

EXE = sys.argv[1]
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
CODES = {"bad_json", "bad_request", "unknown_op", "unknown_task", "not_found", "shutting_down"}
WAIT = float(os.environ.get("JOBQUEUE_TEST_WAIT", "10"))  # seconds any single expected line may take (more under sanitizers)
STORE = os.environ.get("JOBQUEUE_STORE", "memory")
TMP = tempfile.mkdtemp(prefix="jobqueue_test_")
STARTED = [0]


def store_args():
    """--store for the next program: memory, or a fresh SQLite file."""
    if STORE == "memory":
        return ["--store", "memory"]
    STARTED[0] += 1
    return ["--store", "sqlite:" + os.path.join(TMP, "jq%d.db" % STARTED[0])]


class Failure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failure(what)


RUNNING = []  # programs started, killed if a test fails midway


def jq_cleanup():
    while RUNNING:
        RUNNING.pop().kill()


class JobQueue:
    """One running jobqueue: send lines, read answers and events."""

    def __init__(self, *args, read=True):
        if "--store" not in args:
            args = (*args, *store_args())
        self.p = subprocess.Popen([EXE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        RUNNING.append(self)
        self.answers = queue.Queue()
        self.events = []
        self.events_cv = threading.Condition()
        self.raw = []  # every output line, for diagnosis
        self.accepted = set()  # task ids of accepted submits
        self.reader = threading.Thread(target=self._read, daemon=True)
        if read:
            self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.raw.append(line)
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"unparsable": line}
            if isinstance(obj, dict) and "event" in obj:
                with self.events_cv:
                    self.events.append(obj)
                    self.events_cv.notify_all()
            else:
                self.answers.put(obj)
        self.answers.put(None)  # end of output
        with self.events_cv:
            self.events_cv.notify_all()

    def send_raw(self, data: bytes):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, req):
        self.send_raw(json.dumps(req).encode() + b"\n")

    def answer(self):
        try:
            a = self.answers.get(timeout=WAIT)
        except queue.Empty:
            raise Failure("no answer within %ss; output so far:\n%s" % (WAIT, self.tail()))
        if a is None:
            self.p.wait(WAIT)
            raise Failure("output ended after %d lines while an answer was due (exit status %s):\n%s\nstderr:\n%s"
                          % (len(self.raw), self.p.returncode, self.tail(10), self.p.stderr.read().decode(errors="replace")[-3000:]))
        check(isinstance(a, dict) and isinstance(a.get("ok"), bool), "answer without ok: %r" % (a,))
        if not a["ok"]:
            err = a.get("error", {})
            check(err.get("code") in CODES and isinstance(err.get("message"), str) and err["message"],
                  "bad error answer %r" % (a,))
        if a.get("ok") and "task_id" in a and not a.get("duplicate"):
            self.accepted.add(a["task_id"])
        return a

    def request(self, req):
        self.send(req)
        a = self.answer()
        if isinstance(req, dict) and "id" in req:
            check(a.get("id") == req["id"], "id %r echoed as %r" % (req["id"], a.get("id")))
        else:
            check("id" not in a, "an answer with an id to a request without one: %r" % (a,))
        return a

    def ok(self, req):
        a = self.request(req)
        check(a["ok"], "%r refused: %r" % (req, a))
        return a

    def error(self, req_or_raw, code, mentions=None):
        if isinstance(req_or_raw, bytes):
            self.send_raw(req_or_raw)
            a = self.answer()
        else:
            a = self.request(req_or_raw)
        check(not a["ok"] and a["error"]["code"] == code,
              "%s: wanted error %s, got %r" % (repr(req_or_raw)[:200], code, a))
        if mentions:
            check(mentions in a["error"]["message"], "message %r does not name %r" % (a["error"]["message"], mentions))
        return a

    def wait_event(self, pred, what):
        deadline = time.monotonic() + WAIT
        with self.events_cv:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                check(left > 0 and self.p.poll() is None or any(pred(e) for e in self.events),
                      "no event %s within %ss; events:\n%s" % (what, WAIT, self.tail()))
                self.events_cv.wait(min(left, 0.5) if left > 0 else 0.01)

    def wait_final(self, task_id):
        return self.wait_event(lambda e: e.get("task_id") == task_id and e["state"] in FINAL,
                               "final for task %d" % task_id)

    def task_events(self, task_id):
        with self.events_cv:
            return [e for e in self.events if e.get("task_id") == task_id]

    def tail(self, n=30):
        return "".join(l.decode(errors="replace")[:300] for l in self.raw[-n:])

    def finish(self, close_stdin=False, timeout=WAIT):
        """Waits for the exit (status 0); then every accepted task ended once."""
        if close_stdin:
            self.p.stdin.close()
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Failure("did not exit within %ss; output:\n%s" % (timeout, self.tail()))
        self.reader.join(WAIT)
        err = self.p.stderr.read().decode(errors="replace")
        check(rc == 0, "exit status %s; stderr:\n%s" % (rc, err))
        self.check_lifecycles()

    def check_lifecycles(self):
        by_task = {}
        for e in self.events:
            if e["event"] == "task":
                by_task.setdefault(e["task_id"], []).append(e)
        for tid in self.accepted:
            evs = by_task.get(tid, [])
            finals = [e for e in evs if e["state"] in FINAL]
            check(len(finals) == 1, "task %d: %d final events: %r" % (tid, len(finals), evs))
            check(evs[-1] is finals[0], "task %d: events after its final one: %r" % (tid, evs))
            f = finals[0]
            if f["state"] == "succeeded":
                check("result" in f, "succeeded without result: %r" % f)
            else:
                check(isinstance(f.get("error"), str), "%s without error: %r" % (f["state"], f))
        check(set(by_task) <= self.accepted, "events for tasks never accepted: %r" % (set(by_task) - self.accepted))

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---- tests ----

def test_session():
    """Good and bad requests, every answer checked."""
    jq = JobQueue("--workers", "2")
    a = jq.ok({"id": 1, "op": "submit", "task": "echo", "args": {"value": {"x": [1, 2]}}, "name": "first"})
    echo_id = a["task_id"]
    check(isinstance(echo_id, int) and echo_id >= 1, "task_id %r" % echo_id)
    # Any JSON value is an id, echoed unchanged.
    for rid in ["s", None, 2.5, {"k": [1, {"z": None}]}, [1, 2], -7, True]:
        jq.ok({"id": rid, "op": "stats"})
    f = jq.wait_final(echo_id)
    check(f["state"] == "succeeded" and f["result"] == {"x": [1, 2]} and f["attempt"] == 1, "echo final %r" % f)
    st = jq.ok({"id": "st", "op": "status", "task_id": echo_id})["task"]
    for k in ["task_id", "task", "name", "state", "attempts", "worker", "submitted_at", "started_at",
              "finished_at", "run_ms", "result", "error"]:
        check(k in st, "status lacks %s: %r" % (k, st))
    check(st["state"] == "succeeded" and st["name"] == "first" and st["task"] == "echo" and st["attempts"] == 1
          and st["result"] == {"x": [1, 2]} and st["error"] is None and st["finished_at"] is not None,
          "status %r" % st)
    evs = [e["state"] for e in jq.task_events(echo_id)]
    check(evs == ["queued", "running", "succeeded"], "echo events %r" % evs)

    # bad_json: not JSON, empty, truncated, NUL, invalid UTF-8, number out of range, too deep
    jq.error(b"hello\n", "bad_json")
    jq.error(b"\n", "bad_json", "empty")
    jq.error(b'{"op":"stats"\n', "bad_json")
    jq.error(b'{"op":"stats"}\x00\n', "bad_json")
    jq.error(b'{"op":"st\x00ats"}\n', "bad_json")
    jq.error(b'{"id":"\xff\xfe","op":"stats"}\n', "bad_json")
    jq.error(b'{"op":"submit","task":"sleep","args":{"ms":1e400}}\n', "bad_json", "out of range")
    jq.error(b"[" * 100000 + b"\n", "bad_json", "nested deeper")
    jq.error(b'{"id":' + b'{"a":' * 70 + b'1' + b'}' * 70 + b',"op":"stats"}\n', "bad_json", "nested deeper")
    deep = 1
    for _ in range(60):
        deep = [deep]
    jq.ok({"id": deep, "op": "stats"})  # 61 levels with the request itself: fine
    # bad_request: not an object, missing or wrong-typed fields, bad values
    jq.error(b"[1,2]\n", "bad_request", "object")
    jq.error(b'"submit"\n', "bad_request", "object")
    jq.error({}, "bad_request", "op")
    jq.error({"id": 3, "op": 5}, "bad_request", "op")
    jq.error({"op": "submit"}, "bad_request", "task")
    jq.error({"op": "submit", "task": 7}, "bad_request", "task")
    jq.error({"op": "submit", "task": "echo", "args": [1]}, "bad_request", "args")
    jq.error({"op": "submit", "task": "sleep"}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": -1}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": 1.5}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": "5"}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": 18446744073709551615}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": -9223372036854775808}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "sleep", "args": {"ms": 1e300}}, "bad_request", "args.ms")
    jq.error({"op": "submit", "task": "spin", "args": {"ms": 10}, "timeout_ms": -5}, "bad_request", "timeout_ms")
    jq.error({"op": "submit", "task": "echo", "retries": 1000}, "bad_request", "retries")
    jq.error({"op": "submit", "task": "echo", "delay_ms": 10**12}, "bad_request", "delay_ms")
    jq.error({"op": "submit", "task": "echo", "priority": "urgent"}, "bad_request", "priority")
    jq.error({"op": "submit", "task": "echo", "name": 1}, "bad_request", "name")
    jq.error({"op": "submit", "task": "echo", "unique_key": []}, "bad_request", "unique_key")
    jq.error({"op": "submit", "task": "fail", "args": {"message": 1}}, "bad_request", "args.message")
    jq.error({"op": "submit", "task": "flaky", "args": {"failures": -1}}, "bad_request", "args.failures")
    jq.error({"op": "status"}, "bad_request", "task_id")
    jq.error({"op": "status", "task_id": 0}, "bad_request", "task_id")
    jq.error({"op": "status", "task_id": "1"}, "bad_request", "task_id")
    jq.error({"op": "workers", "add": 0}, "bad_request", "add")
    jq.error({"op": "workers", "add": 10**6}, "bad_request", "add")
    jq.error({"op": "quit_worker"}, "bad_request", "worker_id")
    jq.error({"op": "shutdown", "mode": "later"}, "bad_request", "mode")
    # unknown_op, unknown_task, not_found
    jq.error({"id": 9, "op": "frobnicate"}, "unknown_op", "frobnicate")
    jq.error({"op": "submit", "task": "nope"}, "unknown_task", "nope")
    jq.error({"op": "status", "task_id": 999999}, "not_found", "999999")
    jq.error({"op": "cancel", "task_id": 2**63 - 1}, "not_found")
    jq.error({"op": "quit_worker", "worker_id": 999}, "not_found", "999")

    # list, stats, workers
    tasks = jq.ok({"op": "list"})["tasks"]
    check([t["task_id"] for t in tasks] == [echo_id], "list %r" % tasks)
    check(jq.ok({"op": "list", "state": "queued"})["tasks"] == [], "list filtered by state")
    stats = jq.ok({"op": "stats"})["stats"]
    check(stats["tasks"]["succeeded"] == 1 and stats["workers"]["total"] == 2 and
          stats["workers"]["busy"] + stats["workers"]["idle"] == 2 and stats["submitted"] == 1, "stats %r" % stats)
    check(jq.ok({"op": "workers"})["workers"] == [1, 2], "workers")
    a = jq.ok({"op": "workers", "add": 2})
    check(a["added"] == [3, 4] and a["workers"] == [1, 2, 3, 4], "workers add %r" % a)
    jq.wait_event(lambda e: e["event"] == "worker" and e["worker_id"] == 4 and e["state"] == "started", "worker 4")
    jq.ok({"op": "quit_worker", "worker_id": 3})
    jq.wait_event(lambda e: e["event"] == "worker" and e["worker_id"] == 3 and e["state"] == "quit", "worker 3 quit")
    jq.error({"op": "quit_worker", "worker_id": 3}, "not_found")
    check(jq.ok({"op": "workers"})["workers"] == [1, 2, 4], "workers after quit")

    # unique_key: one task while it is not final; a new one after
    u = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 200}, "unique_key": "k"})["task_id"]
    d = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 200}, "unique_key": "k"})
    check(d["task_id"] == u and d.get("duplicate") is True, "duplicate %r" % d)
    jq.wait_final(u)
    u2 = jq.ok({"op": "submit", "task": "echo", "unique_key": "k"})["task_id"]
    check(u2 != u, "a final task's key is free again")

    # delay_ms: scheduled, then run no earlier
    t = jq.ok({"op": "submit", "task": "echo", "args": {"value": 5}, "delay_ms": 150})["task_id"]
    f = jq.wait_final(t)
    states = [e["state"] for e in jq.task_events(t)]
    check(states == ["scheduled", "queued", "running", "succeeded"] and f["result"] == 5, "delayed %r" % states)
    st = jq.ok({"op": "status", "task_id": t})["task"]
    check(st["started_at"] >= st["submitted_at"], "times %r" % st)

    # fail
    t = jq.ok({"op": "submit", "task": "fail", "args": {"message": "boom \u00e9"}})["task_id"]
    f = jq.wait_final(t)
    check(f["state"] == "failed" and f["error"] == "boom \u00e9", "fail %r" % f)

    # graceful shutdown: refuses new tasks, answers queries while a task
    # keeps it running (once the dispatcher has stopped, it exits), exits 0
    last = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 500}})["task_id"]
    jq.ok({"id": "bye", "op": "shutdown"})
    jq.error({"op": "submit", "task": "echo"}, "shutting_down")
    jq.error({"op": "shutdown"}, "shutting_down")
    check(jq.ok({"op": "status", "task_id": last})["task"]["state"] in ("queued", "running"), "last task")
    jq.finish()
    check(jq.wait_final(last)["state"] == "succeeded", "the last task finished")


def test_priority():
    """With one worker busy, a high-priority task queued last runs first."""
    jq = JobQueue("--workers", "1")
    block = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 300}})["task_id"]
    jq.wait_event(lambda e: e.get("task_id") == block and e["state"] == "running", "blocker running")
    low = jq.ok({"op": "submit", "task": "echo", "priority": "low"})["task_id"]
    normal = jq.ok({"op": "submit", "task": "echo"})["task_id"]
    high = jq.ok({"op": "submit", "task": "echo", "priority": "high"})["task_id"]
    for t in (low, normal, high):
        jq.wait_final(t)
    order = [e["task_id"] for e in jq.events if e.get("state") == "running" and e["task_id"] != block]
    check(order == [high, normal, low], "run order %r, wanted %r" % (order, [high, normal, low]))
    jq.finish(close_stdin=True)


def test_cancel():
    """A queued task cancelled never runs; a running one ends cancelled."""
    jq = JobQueue("--workers", "1")
    busy = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 5000}})["task_id"]
    jq.wait_event(lambda e: e.get("task_id") == busy and e["state"] == "running", "sleep running")
    queued = [jq.ok({"op": "submit", "task": "echo", "args": {"value": i}})["task_id"] for i in range(5)]
    for t in queued[::2]:
        a = jq.ok({"op": "cancel", "task_id": t})
        check(a["cancel"] == "cancelled" and a["task_id"] == t, "cancel queued %r" % a)
    check(jq.ok({"op": "cancel", "task_id": queued[0]})["cancel"] == "already_cancelled", "cancel twice")
    a = jq.ok({"op": "cancel", "task_id": busy})
    check(a["cancel"] == "cancelling", "cancel running %r" % a)
    f = jq.wait_final(busy)
    check(f["state"] == "cancelled" and f["attempt"] == 1, "running sleep %r" % f)
    for i, t in enumerate(queued):
        f = jq.wait_final(t)
        if i % 2 == 0:
            check(f["state"] == "cancelled", "queued %r" % f)
            check(all(e["state"] != "running" for e in jq.task_events(t)), "cancelled task %d ran" % t)
        else:
            check(f["state"] == "succeeded" and f["result"] == i, "survivor %r" % f)
    check(jq.ok({"op": "cancel", "task_id": queued[1]})["cancel"] == "already_final", "cancel final")
    jq.finish(close_stdin=True)


def test_timeout():
    """timeout_ms ends a sleeping and a spinning task timed_out."""
    jq = JobQueue("--workers", "2")
    start = time.monotonic()
    s = jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 10000}, "timeout_ms": 50})["task_id"]
    p = jq.ok({"op": "submit", "task": "spin", "args": {"ms": 10000}, "timeout_ms": 50})["task_id"]
    for t in (s, p):
        f = jq.wait_final(t)
        check(f["state"] == "timed_out" and f["error"], "timeout %r" % f)
    check(time.monotonic() - start < 5, "timeouts took %.1fs" % (time.monotonic() - start))
    st = jq.ok({"op": "status", "task_id": p})["task"]
    check(st["run_ms"] >= 50, "a timed-out task ran at least its timeout: %r" % st)
    jq.finish(close_stdin=True)


def test_retries():
    """flaky succeeds after its failures; fail exhausts its retries."""
    jq = JobQueue("--workers", "2")
    fl = jq.ok({"op": "submit", "task": "flaky", "args": {"failures": 2}, "retries": 3, "backoff_ms": 10})["task_id"]
    fa = jq.ok({"op": "submit", "task": "fail", "args": {"message": "no"}, "retries": 2, "backoff_ms": 1})["task_id"]
    short = jq.ok({"op": "submit", "task": "flaky", "args": {"failures": 3}, "retries": 1, "backoff_ms": 0})["task_id"]
    f = jq.wait_final(fl)
    check(f["state"] == "succeeded" and f["result"] == {"attempts": 3} and f["attempt"] == 3, "flaky %r" % f)
    states = [e["state"] for e in jq.task_events(fl)]
    check(states.count("retrying") == 2 and states.count("running") == 3, "flaky events %r" % states)
    f = jq.wait_final(fa)
    check(f["state"] == "failed" and f["error"] == "no" and f["attempt"] == 3, "fail %r" % f)
    f = jq.wait_final(short)
    check(f["state"] == "failed" and f["attempt"] == 2, "flaky out of retries %r" % f)
    st = jq.ok({"op": "status", "task_id": fl})["task"]
    check(st["attempts"] == 3 and st["state"] == "succeeded", "status %r" % st)
    check(jq.ok({"op": "stats"})["stats"]["retries"] >= 5, "stats counts retries")
    jq.finish(close_stdin=True)


def test_shutdown_graceful():
    """Graceful: queued tasks still run; stdin left open, the program exits 0."""
    jq = JobQueue("--workers", "1")
    ids = [jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 30}})["task_id"] for _ in range(5)]
    jq.ok({"op": "quit_worker", "worker_id": 1})  # no worker left: shutdown must lend one
    jq.ok({"op": "shutdown"})
    jq.finish()
    for t in ids:
        check(jq.wait_final(t)["state"] == "succeeded", "task %d after graceful shutdown" % t)


def test_shared_store_graceful():
    """Two programs on one SQLite file, only one running tasks: a graceful
    shutdown of the other (the submitter) returns once every task it
    accepted is final in the store, though it saw none of them end."""
    if STORE != "sqlite":
        return
    STARTED[0] += 1
    store = ["--store", "sqlite:" + os.path.join(TMP, "shared%d.db" % STARTED[0])]
    runner = JobQueue("--workers", "2", *store)
    sub = JobQueue("--workers", "1", *store)
    sub.ok({"op": "quit_worker", "worker_id": 1})
    ids = [sub.ok({"op": "submit", "task": "sleep", "args": {"ms": 20}})["task_id"] for _ in range(6)]
    ids.append(sub.ok({"op": "submit", "task": "echo", "delay_ms": 100})["task_id"])  # scheduled first
    # The runner reports the tasks it runs, whoever submitted them. The
    # submitter's queue may hold one it claimed for the worker that quit
    # (its lent worker runs that one at the shutdown); the runner the rest.
    deadline = time.monotonic() + WAIT
    ran = lambda: {e["task_id"] for e in runner.events if e.get("task_id") in ids and e["state"] in FINAL}
    while len(ran()) < len(ids) - 1:
        check(time.monotonic() < deadline, "the runner ended only %s of %s within %ss; submitter:\n%s"
              % (sorted(ran()), ids, WAIT, sub.tail()))
        time.sleep(0.01)  # polling another program's output, bounded by the deadline
    sub.ok({"op": "shutdown"})
    sub.finish()  # every accepted task: exactly one final event, written from the store
    for t in ids:
        check(sub.wait_final(t)["state"] == "succeeded", "task %d in the submitter" % t)
    runner.p.stdin.close()
    try:
        rc = runner.p.wait(WAIT)
    except subprocess.TimeoutExpired:
        raise Failure("the runner did not exit; output:\n%s" % runner.tail())
    check(rc == 0, "runner exit status %s" % rc)


def test_end_of_input():
    """End of input is a graceful shutdown."""
    jq = JobQueue()
    jq.send_raw(b'{"op":"submit","task":"sleep","args":{"ms":100}}\n{"op":"submit","task":"echo"}')  # no final newline
    jq.p.stdin.close()
    check(jq.answer()["ok"] and jq.answer()["ok"], "both accepted")
    jq.finish()
    check(all(jq.wait_final(t)["state"] == "succeeded" for t in jq.accepted), "all succeeded")


def test_shutdown_now():
    """Now: running and queued tasks cancelled at once; exit 0."""
    jq = JobQueue("--workers", "2")
    ids = [jq.ok({"op": "submit", "task": t, "args": {"ms": 60000}})["task_id"] for t in ["sleep", "spin", "sleep"]]
    later = jq.ok({"op": "submit", "task": "echo", "delay_ms": 60000})["task_id"]
    jq.wait_event(lambda e: e.get("task_id") == ids[1] and e["state"] == "running", "spin running")
    start = time.monotonic()
    jq.ok({"op": "shutdown", "mode": "now"})
    jq.finish()
    check(time.monotonic() - start < 3, "shutdown now took %.1fs" % (time.monotonic() - start))
    for t in ids + [later]:
        check(jq.wait_final(t)["state"] == "cancelled", "task %d" % t)


def test_graceful_then_now():
    """A graceful shutdown waiting on long tasks is cut short by mode now."""
    jq = JobQueue("--workers", "1")
    ids = [jq.ok({"op": "submit", "task": "sleep", "args": {"ms": 60000}})["task_id"] for _ in range(3)]
    jq.ok({"op": "shutdown"})
    jq.ok({"op": "shutdown", "mode": "now"})
    jq.finish()
    check(all(jq.wait_final(t)["state"] == "cancelled" for t in ids), "all cancelled")


def test_hostile():
    """A 10 MB line, a huge accepted line, then the session still works."""
    jq = JobQueue("--workers", "1")
    jq.error(b'{"op":"submit","task":"echo","args":{"value":"' + b"x" * (10 << 20) + b'"}}\n', "bad_request", "line longer")
    jq.error(b"\xff" * 5000 + b"\n", "bad_json")
    jq.error(b"\x00" * 1000 + b"\n", "bad_json")
    jq.error(b'{"id":"\xed\xa0\x80","op":"stats"}\n', "bad_json")  # a UTF-8-encoded surrogate
    jq.error(b'{"id":"\\ud800","op":"stats"}\n', "bad_json")  # a lone surrogate escape
    jq.error(b'{"op":"status","task_id":' + b"9" * 5000 + b'}\n', "bad_json", "out of range")
    jq.error(b'{"op":"status","task_id":-' + b"9" * 5000 + b'}\n', "bad_json", "out of range")
    jq.error(b'{"op":"status","task_id":1' + b"0" * 30 + b'}\n', "bad_request", "task_id")  # a float
    jq.error(b'{"op":"status","task_id":1e-400}\n', "bad_request", "task_id")
    jq.ok({"id": "\u0000\U0001F600", "op": "stats"})
    big = "y" * 200000
    t = jq.ok({"op": "submit", "task": "echo", "args": {"value": big}})["task_id"]
    check(jq.wait_final(t)["result"] == big, "a large echo")
    jq.ok({"op": "shutdown"})
    jq.finish()

    jq = JobQueue("--max-line", str(16 << 20))
    value = "z" * (10 << 20)
    t = jq.ok({"op": "submit", "task": "echo", "args": {"value": value}})["task_id"]
    check(jq.wait_final(t)["result"] == value, "a 10 MB echo")
    jq.finish(close_stdin=True)


def test_closed_stdout():
    """Standard output closed by the client: the program exits 0, no SIGPIPE."""
    jq = JobQueue("--workers", "1", read=False)
    jq.p.stdout.close()  # our only copy of the pipe's read end
    try:
        for _ in range(50):
            jq.send({"op": "submit", "task": "sleep", "args": {"ms": 60000}})
    except BrokenPipeError:
        pass  # it may be gone already
    try:
        rc = jq.p.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        jq.kill()
        raise Failure("still running %ss after its stdout closed" % WAIT)
    check(rc == 0, "exit status %s; stderr: %s" % (rc, jq.p.stderr.read().decode(errors="replace")))


def test_stdout_closed_while_idle():
    """The client closes stdout and sends nothing more while a task runs:
    the program notices (POLLERR on the pipe) and exits 0."""
    jq = JobQueue("--workers", "1", read=False)
    jq.send({"op": "submit", "task": "sleep", "args": {"ms": 60000}})
    seen = b""
    while b'"ok":true' not in seen:  # worker events may come first
        chunk = os.read(jq.p.stdout.fileno(), 65536)
        check(chunk, "output ended before the submit's answer: %r" % seen)
        seen += chunk
    jq.p.stdout.close()
    try:
        rc = jq.p.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        jq.kill()
        raise Failure("still running %ss after its stdout closed (stdin open, nothing to write)" % WAIT)
    check(rc == 0, "exit status %s" % rc)


# ---- fuzz ----

def fuzz_request(rng, i):
    ops = ["submit"] * 6 + ["status", "cancel", "stats", "workers", "quit_worker", "list", "bogus"]
    op = rng.choice(ops)
    r = {"id": i, "op": op}
    if op == "submit":
        task = rng.choice(["sleep", "spin", "fail", "echo", "flaky", "nope"])
        r["task"] = task
        r["args"] = {"sleep": {"ms": rng.randint(0, 20)}, "spin": {"ms": rng.randint(0, 3)},
                     "fail": {"message": "m%d" % i}, "echo": {"value": [i, "v"]},
                     "flaky": {"failures": rng.randint(0, 2)}, "nope": {}}[task]
        for k, v in [("timeout_ms", rng.randint(0, 50)), ("retries", rng.randint(0, 2)), ("backoff_ms", 1),
                     ("priority", rng.choice(["high", "normal", "low", "x"])), ("delay_ms", rng.randint(0, 20)),
                     ("unique_key", "k%d" % rng.randint(0, 20)), ("name", "n%d" % i)]:
            if rng.random() < 0.3:
                r[k] = v
    elif op in ("status", "cancel"):
        r["task_id"] = rng.randint(0, i + 2)
    elif op == "workers" and rng.random() < 0.3:
        r["add"] = rng.randint(0, 2)
    elif op == "quit_worker":
        r["worker_id"] = rng.randint(0, 6)
    elif op == "list":
        r["state"] = rng.choice(sorted(FINAL | {"queued", "running"}))  # keeps answers short-ish
    return json.dumps(r).encode()


NASTY = [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\", b'"', b"{", b"}", b"[", b"]", b",", b":", b"1e999",
         b"-", b"9" * 30, b"null", b"\\u0000", b"\\ud800", b"\t", b"\r", b" "]


def mutate(rng, line):
    b = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        pos = rng.randint(0, len(b))
        if kind == 0 and b:  # flip a byte
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert something nasty
            b[pos:pos] = rng.choice(NASTY)
        elif kind == 2:  # delete a span
            del b[pos:pos + rng.randint(1, 8)]
        else:  # truncate
            del b[pos:]
    return bytes(b).replace(b"\n", b" ")


def is_shutdown(line):
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and obj.get("op") == "shutdown"


def test_fuzz():
    """Thousands of random and mutated lines: one JSON answer each, in order."""
    seed = int(os.environ.get("JOBQUEUE_FUZZ_SEED", "12345"))
    rng = random.Random(seed)
    lines = []
    for i in range(int(os.environ.get("JOBQUEUE_FUZZ_LINES", "5000"))):
        kind = rng.random()
        if kind < 0.45:
            line = fuzz_request(rng, i)
        elif kind < 0.9:
            line = mutate(rng, fuzz_request(rng, i))
        else:
            line = bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))).replace(b"\n", b" ")
        if not is_shutdown(line):
            lines.append(line)
    jq = JobQueue("--workers", "2")

    def writer():
        try:
            for l in lines:
                jq.p.stdin.write(l + b"\n")
            jq.p.stdin.write(b'{"id":"end","op":"shutdown","mode":"now"}\n')
            jq.p.stdin.flush()
        except BrokenPipeError:
            pass

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    codes = {}
    for n, l in enumerate(lines):
        try:
            a = jq.answer()
            code = "ok" if a["ok"] else a["error"]["code"]
            codes[code] = codes.get(code, 0) + 1
        except Failure as f:
            raise Failure("seed %d, line %d %r: %s" % (seed, n, l[:200], f))
        try:
            req = json.loads(l.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            req = None
        if isinstance(req, dict) and "id" in req and a["ok"]:
            check(a["id"] == req["id"], "seed %d, line %d %r: answer %r" % (seed, n, l[:200], a))
    a = jq.answer()
    check(a.get("id") == "end" and a["ok"], "seed %d: the shutdown's answer %r" % (seed, a))
    w.join(WAIT)
    jq.finish(timeout=20)
    check(jq.answers.get(timeout=WAIT) is None, "seed %d: more answers than lines" % seed)
    finals = {}
    for e in jq.events:
        if e.get("state") in FINAL:
            finals[e["state"]] = finals.get(e["state"], 0) + 1
    print("     fuzz seed %d: %d lines, answers %s; %d tasks accepted, ended %s"
          % (seed, len(lines), sorted(codes.items()), len(jq.accepted), sorted(finals.items())))


TESTS = [test_session, test_priority, test_cancel, test_timeout, test_retries, test_shutdown_graceful,
         test_shared_store_graceful, test_end_of_input, test_shutdown_now, test_graceful_then_now, test_hostile, test_closed_stdout, test_stdout_closed_while_idle, test_fuzz]


def main():
    only = set(sys.argv[2:])
    failed = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        start = time.monotonic()
        try:
            t()
            print("ok   %-24s %.2fs %s" % (t.__name__, time.monotonic() - start, STORE), flush=True)
        except Exception as f:  # a Failure, or a bug in the test: both fail it
            failed += 1
            where = traceback.extract_tb(f.__traceback__)[1:2]  # the test's line that failed
            print("FAIL %-24s %s: %s\n     at %s" % (t.__name__, type(f).__name__, f,
                                                 "".join(traceback.format_list(where)).strip()), flush=True)
            jq_cleanup()
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
