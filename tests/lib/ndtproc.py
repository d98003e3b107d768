"""ndtproc.py - the process plumbing tests/bench/bench.py and
tests/e2e/e2e.py share: start a program with its output in a log, wait for
one with a deadline and SIGKILL it after, stop one, ask a unix socket.

Each script keeps its own list of what it started (bench.py: a name and a
stop signal per process; e2e.py: a list under a lock) and finds this file
through sys.path, relative to its own, so that it runs from anywhere, e.g.
`/usr/bin/python3 tests/e2e/e2e.py` from the repository root."""

import signal
import socket
import subprocess


def spawn_logged(argv, log=None, append=False, **popen_kw):
    """Start argv with stdin from /dev/null and stdout and stderr into the
    file log (truncated first, or appended to if append), or discarded when
    log is None. popen_kw go to subprocess.Popen (env=,
    start_new_session=, ...). The Popen."""
    if log is None:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, **popen_kw)
    with open(log, "ab" if append else "wb") as f:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, **popen_kw)


def wait_or_kill(p, timeout):
    """Wait up to timeout seconds for p to exit, then SIGKILL it (and reap
    it). True if it exited by itself."""
    try:
        p.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return False


def stop_proc(p, sig=signal.SIGTERM, timeout=5.0):
    """Send sig to p if it still runs, then wait_or_kill(p, timeout). The
    exit code (negative: the signal that ended it)."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        wait_or_kill(p, timeout)
    return p.returncode


def unix_request(path, text, timeout):
    """Connect to the unix socket path, send text, read until the peer
    closes (each step within timeout seconds). The answer, decoded."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(text.encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()
