"""A private redis-server for one test (the python twin of redis_server.hpp).

    with RedisServer() as r:                 # started, answers PING
        url = f"redis://127.0.0.1:{r.port}/q"
        r.kill(); r.start()                  # a crash, then a restart on the same AOF

A free loopback port (bind 127.0.0.1:0, close, pass it with --port; retried
on a new port if redis-server fails to start), a fresh temporary directory,
no RDB snapshots, an append-only file fsynced on every write. Stopped and
its directory removed on exit from the with-block, also when a test fails.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port, timeout=0.2):
    """True if a server on port answers PONG (not LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, extra_args=()):
        # extra_args: more redis-server options; they override the ones in
        # _try_start (later options win), e.g. ["--appendonly", "no"].
        self.extra_args = list(extra_args)
        # tmpfs when there is one: appendfsync always waits for a disk fsync
        # (milliseconds here) on every write; a killed server keeps every
        # acknowledged write either way (see redis_server.hpp's temp_root).
        root = os.environ.get("CSP_REDIS_TMP") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.dir = tempfile.mkdtemp(prefix="csp-redis-", dir=root)
        self.port = 0
        self.proc = None

    def __enter__(self):
        for _ in range(20):
            self.port = _free_port()
            if self._try_start():
                return self
        self.close()
        raise RuntimeError(f"redis-server did not start (see {self.dir}/redis.log)")

    def __exit__(self, *exc):
        self.close()

    @property
    def url_base(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        """Starts it again on the same directory and port (the AOF is replayed)."""
        if self.proc:
            return
        for _ in range(50):
            if self._try_start():
                return
        raise RuntimeError(f"redis-server restart on port {self.port} failed")

    def stop(self):
        """A clean stop: SHUTDOWN NOSAVE, then kill."""
        if not self.proc:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"SHUTDOWN NOSAVE\r\n")
                s.recv(64)
        except OSError:
            pass
        self._reap()

    def kill(self):
        """A crash: SIGKILL (every acknowledged write is in the AOF)."""
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self._reap()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _try_start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log"), "--protected-mode", "no", *self.extra_args]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # exited: the port was taken
                self.proc = None
                return False
            if _ping(self.port):
                return True
            time.sleep(0.01)  # another process's readiness: nothing to wait on
        self.kill()
        return False

    def _reap(self):
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
