#!/usr/bin/env python3
"""test_limits.py - the agent at its resource limits (issue 8).

Each test names the behaviour it proves; docs/SECURITY.md ("Resource
exhaustion") lists them. Run from the repository root; the binaries are
found under $NDT_BUILD (default build), the allocation-failure shim at
$NDT_BUILD/tests/fault/failmalloc.so (tests/fault/failmalloc.c).

  max checks          1024 checks load and run; the 1025th is a config error
  max connections     connection 513 waits in the backlog, the 512 others
                      are served, and it is served once a slot frees
  fd exhaustion       ulimit -n 64: warned at start-up; with checks and
                      connections past the limit the agent stays up, does
                      not spin, and answers /live once fds free up
  ENOMEM at start-up  the n-th allocation failing (n swept over start-up)
                      ends in a clear error and exit 1 or 2, never a crash
  ENOMEM at run time  allocations failing for a while (30%, then 100%):
                      no crash, and the agent serves again afterwards

The last line is "limits: N passed, N failed"; exit 1 on any failure.
KNOWN lists bugs found here whose fix belongs to another file's owner: they
are reported as XFAIL (not counted as failures) until fixed; a KNOWN test
that passes says XPASS (some are intermittent): remove its entry once fixed.
"""
import concurrent.futures
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BUILD = os.environ.get("NDT_BUILD") or "build"
AGENT = os.path.join(BUILD, "nodowntime")
FAILMALLOC = os.path.abspath(os.path.join(BUILD, "tests/fault/failmalloc.so"))
SAN = BUILD.endswith("san")
SLOW = 3 if SAN else 1
CLK = os.sysconf("SC_CLK_TCK")

# test name -> why it is expected to fail (owner's file), see the docstring
KNOWN = {}


# ---- helpers --------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """a real `nodowntime run` with a generated config in a private dir"""

    def __init__(self, extra="", nofile=None, env=None, wait=True,
                 max_connections=512, request_timeout="5s"):
        self.dir = tempfile.mkdtemp(prefix="ndt-limits-")
        self.port = free_port()
        self.sock = os.path.join(self.dir, "ndt.sock")
        self.config = os.path.join(self.dir, "nodowntime.yaml")
        self.log = os.path.join(self.dir, "agent.log")
        with open(self.config, "w") as f:
            f.write(f"listen: 127.0.0.1:{self.port}\n"
                    f"control_socket: {self.sock}\n"
                    f"state_file: {self.dir}/state\n"
                    "hook_install_path: \"\"\n"
                    "log: {format: text, level: info}\n"
                    f"server: {{max_connections: {max_connections}, "
                    f"request_timeout: {request_timeout}}}\n" + extra)
        e = dict(os.environ)
        e.pop("NODOWNTIME_CONFIG", None)
        e.update(env or {})

        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(
            [AGENT, "run", "-c", self.config], env=e, preexec_fn=limit,
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT)
        if wait and http_wait(self.port, "/healthz", 200, 5 * SLOW) is None:
            self.stop()
            raise AssertionError("agent did not answer /healthz:\n" +
                                 self.read_log())

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def cpu_percent(self, seconds):
        c0, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return 100.0 * (self.cpu_seconds() - c0) / (time.monotonic() - t0)

    def nfds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def control(self, line, timeout=5):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b

    def stop(self, sig=signal.SIGINT, keep=False):
        """SIGINT (exit at once), SIGKILL after 10 s; the exit status.
        The directory (log included) is removed unless keep."""
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def http(port, path, timeout=2.0, sock=None):
    """GET path; (status, body) or (0, error) on a transport error"""
    own = sock is None
    try:
        if own:
            sock = socket.create_connection(("127.0.0.1", port),
                                            timeout=timeout)
        sock.settimeout(timeout)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                     f"{'Connection: close' if own else ''}\r\n\r\n"
                     .encode())
        data = b""
        while b"\r\n\r\n" not in data:
            b = sock.recv(65536)
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            return 0, "no answer"
        clen = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v)
        while len(body) < clen:
            b = sock.recv(65536)
            if not b:
                break
            body += b
        return int(head[9:12]), body.decode(errors="replace")
    except OSError as e:
        return 0, str(e)
    finally:
        if own and sock is not None:
            sock.close()


def http_wait(port, path, code, timeout):
    """poll until GET path answers code; the seconds it took, or None"""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if http(port, path, timeout=1)[0] == code:
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


class Acceptor:
    """a TCP listener that accepts and closes: the target of tcp checks"""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(4096)
        self.port = self.s.getsockname()[1]
        self.done = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.done:
            try:
                c, _ = self.s.accept()
                c.close()
            except OSError:
                return

    def close(self):
        self.done = True
        self.s.close()


def tcp_checks(n, port, interval="5s", timeout="2s", prefix="c"):
    return "checks:\n" + "".join(
        f"  - {{name: {prefix}{i}, tcp: {{host: 127.0.0.1, port: {port}}}, "
        f"interval: {interval}, timeout: {timeout}, rise: 1, fall: 1}}\n"
        for i in range(n))


def check_config(yaml_text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml",
                                     prefix="ndt-limits-") as f:
        f.write(yaml_text)
        f.flush()
        r = subprocess.run([AGENT, "check-config", "-c", f.name],
                           capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items()
                                if k != "NODOWNTIME_CONFIG"})
        return r.returncode, r.stdout + r.stderr


def raise_own_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ---- max checks -----------------------------------------------------------

def test_max_checks_1024_load_and_run():
    """1024 checks (CFG_MAX_CHECKS): check-config accepts them, the agent
    runs them all (/ready 200 with 1024 entries, `status` over the control
    socket lists 1024), and stays idle between runs"""
    acc = Acceptor()
    base = ("control_socket: /tmp/x.sock\nstate_file: /tmp/x.state\n"
            "hook_install_path: \"\"\n")
    try:
        rc, out = check_config(base + tcp_checks(1024, acc.port))
        assert rc == 0, f"check-config of 1024 checks: exit {rc}\n{out[-2000:]}"
        a = Agent(tcp_checks(1024, acc.port))
        try:
            took = http_wait(a.port, "/ready", 200, 15 * SLOW)
            assert took is not None, "1024 checks never all passed:\n" + \
                a.read_log()[-3000:]
            code, body = http(a.port, "/ready")
            assert code == 200 and len(json.loads(body)["checks"]) == 1024
            st = json.loads(a.control("status"))
            assert len(st["checks"]) == 1024, "status: %d checks" % \
                len(st["checks"])
            assert all(c["status"] == "passing" for c in st["checks"])
            assert http(a.port, "/metrics")[0] == 200
            cpu = a.cpu_percent(2)
            print(f"# 1024 checks: all passing after {took:.2f}s, "
                  f"{a.nfds()} fds, idle CPU {cpu:.1f}%")
            assert cpu < 25, f"idle agent with 1024 checks at {cpu:.0f}% CPU"
            assert a.stop() == 0
        finally:
            a.stop()
    finally:
        acc.close()


def test_max_checks_1025_is_config_error():
    """the 1025th check is an error at its own line:col, for check-config
    and for run (exit 2, nothing started)"""
    text = ("control_socket: /tmp/x.sock\nstate_file: /tmp/x.state\n"
            "hook_install_path: \"\"\n" + tcp_checks(1025, 9))
    rc, out = check_config(text)
    assert rc == 2, f"check-config of 1025 checks: exit {rc}"
    # line 1-3 the base, 4 "checks:", the 1025th check on line 4 + 1025
    assert ":1029:5: error: checks: more than 1024 checks" in out, out[-1000:]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([AGENT, "run", "-c", f.name], capture_output=True,
                           text=True, timeout=30)
    assert r.returncode == 2 and "more than 1024 checks" in r.stderr, \
        (r.returncode, r.stderr[-1000:])


# ---- max connections ------------------------------------------------------

def test_max_connections_513th_evicts_longest_idle():
    """server.max_connections 512: with 512 idle connections open, the
    513th is served at once: the longest-idle connection is closed to make
    room (as nginx does), the other 511 keep being served"""
    raise_own_nofile()
    a = Agent(max_connections=512, request_timeout="20s")
    conns = []
    try:
        base = a.nfds()
        for _ in range(512):
            conns.append(socket.create_connection(("127.0.0.1", a.port)))
        # every one of the 512 accepted before the 513th comes
        deadline = time.monotonic() + 5 * SLOW
        while a.nfds() < base + 508 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3 * SLOW)
        assert a.nfds() >= base + 508, f"only {a.nfds() - base} accepted"
        t0 = time.monotonic()
        code, _ = http(a.port, "/live", timeout=1.0 * SLOW)
        took = time.monotonic() - t0
        assert code == 200, f"connection 513 not served ({code})"
        print(f"# connection 513 served in {took * 1000:.1f} ms")
        conns[0].settimeout(2 * SLOW)
        try:
            gone = conns[0].recv(1) == b""
        except ConnectionResetError:
            gone = True
        except OSError:
            gone = False
        assert gone, "the longest-idle connection was not closed"
        code, _ = http(a.port, "/live", sock=conns[1])
        assert code == 200, f"an accepted connection got {code}"
        code, _ = http(a.port, "/ready", sock=conns[511])
        assert code == 200, f"the 512th connection got {code}"
        assert a.alive()
    finally:
        for s in conns:
            s.close()
        a.stop()


# ---- file descriptors -----------------------------------------------------

def test_fd_exhaustion_http_and_checks():
    """ulimit -n 64 with 40 checks and 100 HTTP connections: a clear warning
    at start-up, existing connections still answered, no spinning, checks
    failing on EMFILE rather than the agent, and /live answers a fresh client
    once the connections go away"""
    raise_own_nofile()
    acc = Acceptor()
    a = Agent(tcp_checks(40, acc.port, interval="500ms", timeout="400ms"),
              nofile=64, request_timeout="30s")
    conns = []
    try:
        log = a.read_log()
        assert "open file limit below what the config may use" in log, log
        for _ in range(100):
            conns.append(socket.create_connection(("127.0.0.1", a.port)))
        time.sleep(1)
        assert a.nfds() == 64, f"{a.nfds()} fds: the limit was not reached"
        cpu = a.cpu_percent(2)
        print(f"# fds at the limit (64), 100 connections, 40 checks: "
              f"CPU {cpu:.1f}%")
        assert cpu < 20, f"agent at {cpu:.0f}% CPU at the fd limit"
        code, _ = http(a.port, "/live", sock=conns[0])
        assert code == 200, f"an accepted connection got {code} at the limit"
        assert a.alive()
        # free the fds one connection at a time: accept resumes (the
        # all-at-once case is the next test)
        for s in conns[1:]:
            s.close()
            time.sleep(0.002)
        conns = conns[:1]
        took = http_wait(a.port, "/live", 200, 5 * SLOW)
        assert took is not None, "/live did not come back:\n" + \
            a.read_log()[-3000:]
        took_ready = http_wait(a.port, "/ready", 200, 10 * SLOW)
        assert took_ready is not None, "checks did not recover"
        print(f"# /live {took * 1000:.0f} ms, /ready {took_ready:.2f}s "
              f"after the connections closed")
        assert a.stop() == 0
    finally:
        for s in conns:
            s.close()
        a.stop()
        acc.close()


def test_fd_exhaustion_accept_resumes_when_fds_free():
    """ulimit -n 64: 100 connections fill the fds, then all close at once;
    /live answers a fresh client within 1 s, five times over"""
    raise_own_nofile()
    a = Agent(nofile=64, request_timeout="30s")
    try:
        for cycle in range(5):
            conns = [socket.create_connection(("127.0.0.1", a.port))
                     for _ in range(100)]
            deadline = time.monotonic() + 3 * SLOW
            while a.nfds() < 64 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert a.nfds() == 64, f"{a.nfds()} fds: limit not reached"
            for s in conns:
                s.close()
            took = http_wait(a.port, "/live", 200, 1 * SLOW)
            assert took is not None, f"cycle {cycle}: /live did not come " \
                "back within 1 s after every connection closed"
        assert a.alive()
    finally:
        a.stop()


def test_fd_exhaustion_no_http_connection_does_not_spin():
    """ulimit -n 64, the fds held by control-socket clients (none by HTTP
    connections), an HTTP client waiting: the agent must not spin on
    accept() failing with EMFILE, in its control socket (fixed here:
    agent/control.c pauses accepting) or in libmicrohttpd; the control
    socket warns once, not once per loop turn"""
    a = Agent(nofile=64, request_timeout="30s")
    ctl = []
    extra = None
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_UNIX)
            s.connect(a.sock)
            ctl.append(s)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", a.port))
        extra.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        nfds = a.nfds()
        cpu = a.cpu_percent(2)
        warnings = a.read_log().count("control: accept failed")
        print(f"# fds at the limit ({nfds}) with 64 control clients and "
              f"one HTTP client waiting: CPU {cpu:.1f}%, "
              f"{warnings} control accept warnings")
        assert a.alive()
        assert warnings <= 2, f"{warnings} warnings: the log is flooded"
        for s in ctl:
            s.close()
        ctl = []
        took = http_wait(a.port, "/live", 200, 5 * SLOW)
        assert took is not None, "/live did not come back"
        assert '"phase":"serving"' in a.control("status")
        assert cpu < 20, f"agent at {cpu:.0f}% CPU at the fd limit"
    finally:
        for s in ctl:
            s.close()
        if extra:
            extra.close()
        a.stop()


# ---- the shared volume ----------------------------------------------------

def test_state_file_fifo_does_not_block_startup():
    """a FIFO planted as the state file (the volume is writable by other
    containers) neither blocks start-up nor the hook's read of it: the
    agent warns, starts serving, and replaces it with a regular file"""
    d = tempfile.mkdtemp(prefix="ndt-limits-")
    try:
        state = os.path.join(d, "state")
        os.mkfifo(state)
        port = free_port()
        cfg = os.path.join(d, "c.yaml")
        with open(cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\ncontrol_socket: {d}/s.sock\n"
                    f"state_file: {state}\nhook_install_path: \"\"\n"
                    "log: {format: text}\n")
        p = subprocess.Popen([AGENT, "run", "-c", cfg],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            assert http_wait(port, "/ready", 200, 3 * SLOW) is not None, \
                "a FIFO state file blocked start-up"
            # the hook reads "state" next to the socket for its fallback
            t0 = time.monotonic()
            r = subprocess.run([AGENT, "prestop", "--socket", d + "/none",
                                "--timeout", "1s"], capture_output=True,
                               timeout=10)
            assert r.returncode in (0, 1) and time.monotonic() - t0 < 3, r
        finally:
            p.send_signal(signal.SIGINT)
            err = p.communicate(timeout=10)[1].decode()
        assert "state file unreadable" in err, err[-1000:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- allocation failures --------------------------------------------------

ENOMEM_CHECKS = None     # set in main: tcp + http checks against local servers


def enomem_startup_one(n, extra):
    """the agent with every allocation after the n-th failing: its outcome"""
    a = Agent(extra, wait=False, env={"FAILMALLOC_AFTER": str(n),
                                      "LD_PRELOAD": FAILMALLOC})
    try:
        try:
            rc = a.proc.wait(3 * SLOW)
        except subprocess.TimeoutExpired:
            rc = None
        log = a.read_log()
        return n, rc, log
    finally:
        a.stop(signal.SIGKILL)


SWEEP = None


def enomem_sweep():
    """run the sweep once, for the two tests that read it"""
    global SWEEP
    if SWEEP is None:
        SWEEP = enomem_sweep_run()
    return SWEEP


def startup_allocations(extra):
    """the least n for which the agent with every allocation after the n-th
    failing still starts and keeps running: about how many allocations
    start-up makes on this machine (libraries and their configs differ from
    one machine to the next, so a fixed list of n misses steps)"""
    def runs(n):
        a = Agent(extra, wait=False, env={"FAILMALLOC_AFTER": str(n),
                                          "LD_PRELOAD": FAILMALLOC})
        try:
            a.proc.wait(1 * SLOW)
            return False
        except subprocess.TimeoutExpired:
            return True
        finally:
            a.stop(signal.SIGKILL)
    lo, hi = 0, 200000
    while lo < hi:
        mid = (lo + hi) // 2
        if runs(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def enomem_sweep_run():
    extra = ENOMEM_CHECKS
    # a coarse sweep over the config load and library set-up, then every n
    # in the last 400 allocations before the agent runs: the agent's own
    # start-up steps (loop, health, server, checks, control, drain), where
    # each failure must say why. On one Debian 12 machine health_new()'s
    # calloc was allocation 3345, on another 3360: a fixed step of 37 hit
    # it on one and missed it on the other.
    n_ok = startup_allocations(extra)
    print(f"# start-up runs from {n_ok} successful allocations on")
    ns = sorted(set(list(range(0, 80)) + list(range(80, 400, 7)) +
                    list(range(400, 4000, 37)) +
                    list(range(max(0, n_ok - 400), n_ok + 20))))
    results = []
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for r in ex.map(lambda n: enomem_startup_one(n, extra), ns):
            results.append(r)
    return ns, results


def test_enomem_startup_sweep():
    """the n-th allocation at start-up fails, for n from 0 to past the end of
    start-up: the agent exits 1 (2 while loading the config), or, once
    started, keeps running; never a signal, never exit 0"""
    ns, results = enomem_sweep()
    crashes, silent, hung = [], [], []
    exits = {}
    running = 0
    for n, rc, log in results:
        if rc is None:
            running += 1
            continue
        exits[rc] = exits.get(rc, 0) + 1
        if rc < 0 or rc > 2:
            crashes.append((n, rc, log[-800:]))
        elif rc != 0 and "error" not in log and "Cannot allocate" not in log:
            silent.append(n)
        elif rc == 0:
            hung.append(n)
    print(f"# {len(ns)} start-ups with allocation n failing "
          f"(n = 0..{ns[-1]}): exits {exits}, {running} kept running")
    assert not crashes, "crashed: " + "\n".join(
        f"n={n} rc={rc}\n{log}" for n, rc, log in crashes[:3])
    assert not hung, f"exited 0 without a signal: n={hung[:10]}"


def test_enomem_startup_exit_has_message():
    """... and every such exit says why (an error line on stderr)"""
    _, results = enomem_sweep()
    silent = [n for n, rc, log in results if rc in (1, 2) and
              "error" not in log and "Cannot allocate" not in log]
    assert not silent, f"exit without an error message: n={silent[:20]} " \
        f"({len(silent)} cases)"


def enomem_runtime(prob, window_ms, extra):
    """start, pass, fail allocations with prob for window_ms while clients
    ask for everything, then check the agent is alive and serving again"""
    start_ms = 1500 * SLOW
    a = Agent(extra, env={"LD_PRELOAD": FAILMALLOC,
                          "FAILMALLOC_PROB": str(prob),
                          "FAILMALLOC_START_MS": str(start_ms),
                          "FAILMALLOC_STOP_MS": str(start_ms + window_ms),
                          "FAILMALLOC_STATS": "1"})
    t_start = time.monotonic()
    try:
        assert http_wait(a.port, "/ready", 200, start_ms / 1000 - 0.3) \
            is not None, "not ready before the failures begin"
        codes = {}
        while time.monotonic() - t_start < (start_ms + window_ms) / 1000:
            for path in ("/live", "/ready", "/metrics", "/startup", "/x"):
                c = http(a.port, path, timeout=1)[0]
                codes[c] = codes.get(c, 0) + 1
            try:
                a.control("status", timeout=1)
                codes["ctl"] = codes.get("ctl", 0) + 1
            except OSError:
                codes["ctl-err"] = codes.get("ctl-err", 0) + 1
            assert a.alive(), "agent died under allocation failures:\n" + \
                a.read_log()[-3000:]
            # a few hundred connections a second, not tens of thousands:
            # their TIME_WAIT entries fill /proc/net/tcp for a minute
            time.sleep(0.01)
        time.sleep(0.2)
        assert a.alive(), "agent died:\n" + a.read_log()[-3000:]
        took = http_wait(a.port, "/live", 200, 5 * SLOW)
        assert took is not None, "/live did not come back"
        took_r = http_wait(a.port, "/ready", 200, 10 * SLOW)
        assert took_r is not None, "/ready did not come back:\n" + \
            a.control("status text")
        assert http(a.port, "/metrics")[0] == 200
        assert '"phase":"serving"' in a.control("status")
        rc = a.stop(keep=True)
        log = a.read_log()
        stats = [ln for ln in log.splitlines() if "failmalloc:" in ln]
        print(f"# {int(prob * 100)}% of allocations failing for "
              f"{window_ms} ms: answers {codes}; /ready back after "
              f"{took_r:.2f}s; exit {rc}; {stats[-1] if stats else ''}")
        assert stats and " 0 failed" not in stats[-1], "no allocation failed"
        assert rc == 0, f"exit {rc} after SIGINT:\n{log[-2000:]}"
    finally:
        a.stop()


def test_enomem_runtime_30_percent():
    """30% of allocations fail for 3 s: no crash; every endpoint, the
    control socket and the checks work again afterwards; SIGINT exits 0"""
    enomem_runtime(0.3, 3000, ENOMEM_CHECKS)


def test_enomem_runtime_all_fail():
    """every allocation fails for 2 s: the same"""
    enomem_runtime(1.0, 2000, ENOMEM_CHECKS)


# ---- main -----------------------------------------------------------------

class HTTPTarget:
    """a tiny HTTP/1.0 server for http checks: 200 "ok" to anything"""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(256)
        self.port = self.s.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            try:
                c.settimeout(1)
                c.recv(4096)
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except OSError:
                pass
            c.close()


def main():
    global ENOMEM_CHECKS
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if not os.path.exists(AGENT):
        print(f"limits: {AGENT} not built")
        print("limits: 0 passed, 1 failed")
        return 1
    acc = Acceptor()
    web = HTTPTarget()
    ENOMEM_CHECKS = (
        "checks:\n"
        f"  - {{name: web, http: {{url: \"http://127.0.0.1:{web.port}/\", "
        "expect: {body_contains: ok}}, interval: 300ms, timeout: 250ms, "
        "rise: 1, fall: 1, affects: [ready, startup]}\n"
        f"  - {{name: db, tcp: {{host: 127.0.0.1, port: {acc.port}}}, "
        "interval: 300ms, timeout: 250ms, rise: 1, fall: 1}\n")
    tests = [
        test_max_checks_1024_load_and_run,
        test_max_checks_1025_is_config_error,
        test_max_connections_513th_evicts_longest_idle,
        test_fd_exhaustion_http_and_checks,
        test_fd_exhaustion_accept_resumes_when_fds_free,
        test_fd_exhaustion_no_http_connection_does_not_spin,
        test_state_file_fifo_does_not_block_startup,
        test_enomem_startup_sweep,
        test_enomem_startup_exit_has_message,
        test_enomem_runtime_30_percent,
        test_enomem_runtime_all_fail,
    ]
    only = sys.argv[1:]
    passed = failed = xfailed = 0
    for t in tests:
        name = t.__name__[len("test_"):]
        if only and not any(o in name for o in only):
            continue
        if name.startswith("enomem") and SAN:
            print(f"--- {name}: skipped (LD_PRELOAD shim under ASan)")
            continue
        t0 = time.monotonic()
        try:
            t()
            ok, err = True, ""
        except Exception:
            ok, err = False, traceback.format_exc()
        secs = time.monotonic() - t0
        if name in KNOWN:
            if ok:
                passed += 1
                print(f"--- {name}: XPASS ({secs:.1f}s): passed though "
                      f"KNOWN lists it: if fixed, remove the entry "
                      f"({KNOWN[name]})")
            else:
                xfailed += 1
                print(f"--- {name}: XFAIL ({secs:.1f}s): known bug: "
                      f"{KNOWN[name]}\n{err.strip().splitlines()[-1]}")
        elif ok:
            passed += 1
            print(f"--- {name}: ok ({secs:.1f}s)")
        else:
            failed += 1
            print(f"--- {name}: FAILED ({secs:.1f}s)\n{err}")
    acc.close()
    print(f"limits: {passed} passed, {failed} failed" +
          (f" ({xfailed} known failures, see KNOWN)" if xfailed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
