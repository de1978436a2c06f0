#!/usr/bin/env python3
"""jobqueue on SQLite survives kill -9: every task it answered ok before the
kill reaches a final state after a restart on the same file.

    test_jobqueue_crash.py build/examples/jobqueue

The first program gets a mix of tasks (short and long sleeps, spins, echoes,
flaky ones with retries, delayed ones), answers them, starts running some,
and is killed with SIGKILL mid-run. A second program on the same file (a
short visibility timeout, so leases of the dead process lapse quickly)
takes the rest over: queued and delayed tasks run, tasks that were running
are delivered again (or fail with a lease error when out of attempts).
Checked through the protocol (status of every id) and, independently, by
reading the database file with Python's sqlite3: one row per accepted id,
each final, none running. Every wait is bounded.
"""
import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

EXE = sys.argv[1]
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
WAIT = float(os.environ.get("JOBQUEUE_TEST_WAIT", "10"))
FLAGS = ["--workers", "3", "--visibility-ms", "400", "--heartbeat-ms", "50"]


class Failure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failure(what)


class Program:
    def __init__(self, db):
        self.p = subprocess.Popen([EXE, "--store", "sqlite:" + db, *FLAGS], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.answers = queue.Queue()
        self.events = []
        self.cv = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            obj = json.loads(line)
            if "event" in obj:
                with self.cv:
                    self.events.append(obj)
                    self.cv.notify_all()
            else:
                self.answers.put(obj)

    def ok(self, req):
        self.p.stdin.write(json.dumps(req).encode() + b"\n")
        self.p.stdin.flush()
        try:
            a = self.answers.get(timeout=WAIT)
        except queue.Empty:
            raise Failure("no answer to %r within %ss" % (req, WAIT))
        check(a.get("ok"), "%r refused: %r" % (req, a))
        return a

    def wait_events(self, pred, n, what):
        deadline = time.monotonic() + WAIT
        with self.cv:
            while sum(1 for e in self.events if pred(e)) < n:
                left = deadline - time.monotonic()
                check(left > 0, "fewer than %d events %s within %ss" % (n, what, WAIT))
                self.cv.wait(left)


def main():
    tmp = tempfile.mkdtemp(prefix="jobqueue_crash_")
    db = os.path.join(tmp, "jobs.db")
    try:
        first = Program(db)
        accepted = []
        for i in range(12):
            accepted.append(first.ok({"op": "submit", "task": "echo", "args": {"value": i}})["task_id"])
        for i in range(6):  # running when the kill comes: 3 workers, 1.5 s each
            accepted.append(first.ok({"op": "submit", "task": "sleep", "args": {"ms": 1500},
                                      "retries": i % 2})["task_id"])
        for i in range(4):
            accepted.append(first.ok({"op": "submit", "task": "spin", "args": {"ms": 20}})["task_id"])
            accepted.append(first.ok({"op": "submit", "task": "flaky", "args": {"failures": 1}, "retries": 2,
                                      "backoff_ms": 1})["task_id"])
            accepted.append(first.ok({"op": "submit", "task": "echo", "args": {"value": "later"},
                                      "delay_ms": 300})["task_id"])
        check(len(set(accepted)) == len(accepted), "task ids handed out twice: %r" % accepted)
        # Mid-run: the three workers hold long sleeps.
        first.wait_events(lambda e: e.get("state") == "running" and e.get("task_id") in accepted[12:18], 3,
                          "running sleeps")
        first.p.send_signal(signal.SIGKILL)
        first.p.wait(WAIT)
        check(first.p.returncode == -signal.SIGKILL, "the first program exited %s" % first.p.returncode)

        second = Program(db)
        deadline = time.monotonic() + 3 * WAIT
        states = {}
        while True:
            for t in accepted:
                if states.get(t) not in FINAL:
                    states[t] = second.ok({"op": "status", "task_id": t})["task"]["state"]
            open_ = [t for t in accepted if states[t] not in FINAL]
            if not open_:
                break
            check(time.monotonic() < deadline, "not final after the restart: %r" % {t: states[t] for t in open_})
            time.sleep(0.05)  # polling the program's status answers, bounded by the deadline
        second.ok({"op": "shutdown"})
        second.p.stdin.close()
        check(second.p.wait(WAIT) == 0, "the second program exited %s" % second.p.returncode)

        # The file, read independently.
        con = sqlite3.connect(db)
        rows = dict(con.execute("SELECT id, state FROM tasks").fetchall())
        errors = dict(con.execute("SELECT id, error FROM tasks").fetchall())
        con.close()
        check(set(rows) == set(accepted), "rows %r, accepted %r" % (sorted(rows), sorted(accepted)))
        check(all(rows[t] in FINAL for t in accepted), "rows not final: %r" % rows)
        check(all(rows[t] == "succeeded" for t in accepted[:12] + accepted[18:]),
              "a short task did not succeed: %r" % {t: (rows[t], errors[t]) for t in accepted if rows[t] != "succeeded"})
        # The sleeps killed mid-run: with no retry left, failed by the lapsed
        # lease; with one, run again to the end.
        for i, t in enumerate(accepted[12:18]):
            if rows[t] == "failed":
                check("lease expired" in (errors[t] or ""), "sleep %d failed with %r" % (t, errors[t]))
            else:
                check(rows[t] == "succeeded", "sleep %d ended %s" % (t, rows[t]))
        print("ok   crash and restart on SQLite: %d tasks, final states %s" %
              (len(accepted), sorted({s: list(rows.values()).count(s) for s in set(rows.values())}.items())))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as f:
        print("FAIL crash test: %s" % f)
        sys.exit(1)
