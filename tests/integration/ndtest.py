"""ndtest.py - what the python integration tests share: the binaries,
pass/fail bookkeeping with the closing "N passed, N failed" line, free
ports, the agent's base config and plain HTTP GETs."""
import os
import socket
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("NDT_BUILD", "build")
AGENT = os.path.join(BUILD, "nodowntime")
SLOW = 3 if BUILD.endswith("san") else 1    # latency bounds, never logic


class _Tally:
    passed = 0
    failed = 0


tally = _Tally()


def check(name, cond, detail=""):
    if cond:
        tally.passed += 1
        print(f"[ OK ] {name}")
    else:
        tally.failed += 1
        print(f"[FAIL] {name} {detail}")


def summary(name):
    """the closing line; the exit code"""
    print(f"{name}: {tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


def wait(cond, timeout):
    """poll cond() every 20 ms for timeout (x SLOW) seconds: did it hold?"""
    t0 = time.time()
    while time.time() - t0 < timeout * SLOW:
        if cond():
            return True
        time.sleep(0.02)
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_config(d, port, rest=""):
    """An agent's config: listening on 127.0.0.1:port, its control socket
    (ndt.sock) and state file in directory d, no hook install; then rest
    (more top-level YAML)."""
    return (f"listen: 127.0.0.1:{port}\n"
            f"control_socket: {d}/ndt.sock\n"
            f"state_file: {d}/state\n"
            'hook_install_path: ""\n' + rest)


def get_ct(url):
    """(status, content type, body); (0, None, "") when nothing answers"""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
    except OSError:
        return 0, None, ""


def get(url):
    """(status, body)"""
    code, _, body = get_ct(url)
    return code, body


def metric(base, name, **labels):
    """one sample of /metrics at base (http://host:port): its value, or None
    when the series is not there"""
    _, text = get(base + "/metrics")
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items())
                   + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None
