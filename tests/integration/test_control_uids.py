#!/usr/bin/python3
"""test_control_uids.py - control_allowed_uids, with real peers of other
uids (forked children that setuid), checked by the agent's SO_PEERCRED.

The socket is opened to everyone (mode 0666 set by the test) so that only
the uid rule decides. Root only (setuid); skipped otherwise.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ndtest import AGENT, agent_config, check, free_port, summary


def ask_as(uid, path, line=b"status\n"):
    """connect as uid, send line, return the first reply line"""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(path)
            try:
                s.sendall(line)
            except BrokenPipeError:
                pass        # refused at once: the reply is waiting
            data = s.recv(4096)
            os.write(w, data or b"<closed>")
        except OSError as e:
            os.write(w, f"<{e}>".encode())
        os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode(errors="replace").split("\n")[0]


def run(uids):
    d = tempfile.mkdtemp(prefix="ndt-uids-")
    os.chmod(d, 0o755)
    port = free_port()
    cfg = os.path.join(d, "ndt.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d, port, f"control_allowed_uids: {uids}\n"))
    log = os.path.join(d, "agent.log")
    agent = subprocess.Popen([AGENT, "run", "-c", cfg], stderr=open(log, "w"))
    sock = os.path.join(d, "ndt.sock")
    # the socket file appears at bind(); the agent's own chmod 0660 comes
    # after it, and would undo ours: wait for the line logged after both
    for _ in range(300):
        with open(log, errors="replace") as f:
            if "control socket listening" in f.read():
                break
        time.sleep(0.01)
    os.chmod(sock, 0o666)
    return agent, d, sock, log


def main():
    if os.geteuid() != 0:
        print("control uids: not root, skipped")
        print("control_uids: 0 passed, 0 failed")
        return 0
    agent, d, sock, log = run("[12345]")
    try:
        r = ask_as(12345, sock)
        check("listed uid 12345 is served", r.startswith("{"), r)
        r = ask_as(23456, sock)
        check("unlisted uid 23456 is refused", r.startswith(
            "error forbidden"), r)
        r = ask_as(23456, sock, b"drain\n")
        check("an unlisted uid cannot drain", r.startswith(
            "error forbidden"), r)
        r = subprocess.run([AGENT, "status", "--socket", sock],
                           capture_output=True, text=True,
                           preexec_fn=lambda: (os.setgid(23456),
                                               os.setuid(23456)))
        check("nodowntime status as an unlisted uid: exit 1, says why",
              r.returncode == 1 and "forbidden" in r.stdout + r.stderr,
              f"rc={r.returncode} {r.stdout} {r.stderr}")
        r = subprocess.run([AGENT, "status", "--json", "--socket", sock],
                           capture_output=True, text=True)
        check("the agent's own uid (root) is served", r.returncode == 0
              and '"phase":"serving"' in r.stdout, r.stdout + r.stderr)
        check("the refusal is logged with the peer",
              "peer refused" in open(log).read() and
              "uid=23456" in open(log).read())
    finally:
        agent.kill()
        agent.wait()
        shutil.rmtree(d, ignore_errors=True)
    agent, d, sock, log = run("[]")
    try:
        r = ask_as(23456, sock)
        check("no list: any uid the mode admits is served",
              r.startswith("{"), r)
    finally:
        agent.kill()
        agent.wait()
        shutil.rmtree(d, ignore_errors=True)
    return summary("control_uids")


if __name__ == "__main__":
    sys.exit(main())
