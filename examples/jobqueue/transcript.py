#!/usr/bin/env python3
"""Prints a jobqueue session for README: each request (>) and what the
program wrote (<) until the next request, pausing between requests.

    examples/jobqueue/transcript.py build/examples/jobqueue
"""
import subprocess
import sys
import threading
import time

REQUESTS = [
    (0.05, '{"id":1,"op":"submit","task":"sleep","args":{"ms":50},"name":"nap"}'),
    (0.10, '{"id":2,"op":"submit","task":"flaky","args":{"failures":1},"retries":2,"backoff_ms":20}'),
    (0.10, '{"id":3,"op":"submit","task":"spin","args":{"ms":500},"timeout_ms":30}'),
    (0.10, '{"id":4,"op":"submit","task":"sleep","args":{"ms":1000},"priority":"low"}'),
    (0.00, '{"id":5,"op":"submit","task":"echo","args":{"value":"later"},"delay_ms":5000}'),
    (0.00, '{"id":6,"op":"cancel","task_id":5}'),
    (0.05, '{"id":7,"op":"status","task_id":1}'),
    (0.00, '{"id":8,"op":"submit","task":"teleport"}'),
    (0.00, '{"id":9,"op":"submit","task":"sleep","args":{"ms":-5}}'),
    (0.00, '{"op":"status","task_id":99}'),
    (0.00, 'not json'),
    (0.00, '{"id":10,"op":"workers","add":1}'),
    (0.05, '{"id":11,"op":"stats"}'),
    (0.50, '{"id":12,"op":"shutdown","mode":"now"}'),
]


def main():
    p = subprocess.Popen([sys.argv[1], "--workers", "2", "--store", "memory"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lock = threading.Lock()

    def read():
        for line in p.stdout:
            with lock:
                print("< " + line, end="", flush=True)

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.05)
    for pause, req in REQUESTS:
        with lock:
            print("> " + req, flush=True)
            p.stdin.write(req + "\n")
            p.stdin.flush()
        time.sleep(pause + 0.01)
    t.join()
    sys.exit(p.wait())


if __name__ == "__main__":
    main()
