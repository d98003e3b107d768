#!/usr/bin/python3
"""test_pipeline_fin.py - a client that pipelines requests and closes its
side right behind them is answered, and its connection is closed at once,
not at request_timeout.

libmicrohttpd's epoll mode is edge-triggered and takes a short read for
"drained": a FIN that arrives while it works through a pipeline is never
heard of, and the connection would stay open until request_timeout (30 s
here), holding one of server.max_connections. The agent's sweep peeks at
connections idle a sweep period (agent/server.c). Without it, most of these
connections stayed open (measured: 6 to 8 of 8).

The client is a plain Python one reading 4 KiB at a time, pausing 0.5 ms
between reads: that pace (the agent's writes wait for it) is what showed
the stall; a faster C client did not. It collects the answers in a
bytearray: `bytes += bytes` copied the whole 3.7 MB read so far on every
read, which alone took over 3 s for the first connection on a machine with
Linux 6.18, and failed the test with or without the agent's fix. On that
machine the stall itself did not show either way (the peek disabled, every
connection still closed at once): what catches it is the older kernels it
was found on.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ndtest import (AGENT, SLOW, agent_config, check, free_port, get, summary,
                    tally, wait)

NCONN = 8
NREQ = 400
HEAD = b"HTTP/1.1 200 "


def one_pipeline(port, req):
    """(answers, closed by the agent?, seconds)"""
    t0 = time.monotonic()
    s = socket.socket()
    # a small receive window and a reader that pauses: the agent's writes
    # wait for it, as they do for a slow client (the pace that shows the
    # stall)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", port))
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(0.2)
    # a bytearray grows in place: bytes += bytes copies the whole 3.7 MB
    # so far on each 4 KiB read, which alone took over 3 s on some
    # machines (the first connection, before the heap had room)
    data, closed = bytearray(), False
    while time.monotonic() - t0 < 3 * SLOW:    # well short of 30 s
        try:
            b = s.recv(4096)
        except socket.timeout:
            continue
        if not b:
            closed = True
            break
        data += b
        time.sleep(0.0005)
    s.close()
    return data.count(HEAD), closed, time.monotonic() - t0


def main():
    d = tempfile.mkdtemp(prefix="ndt-pipefin-")
    port = free_port()
    cfg = os.path.join(d, "ndt.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d, port, "server: {request_timeout: 30s}\n"))
    agent = subprocess.Popen([AGENT, "run", "-c", cfg],
                             stderr=open(os.path.join(d, "agent.log"), "w"))
    try:
        check("agent up", wait(lambda: get(
            f"http://127.0.0.1:{port}/healthz")[0] == 200, 5))
        req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * NREQ
        res = [one_pipeline(port, req) for _ in range(NCONN)]
        print("# (answers, closed, seconds) per connection: " +
              ", ".join(f"({n}, {c}, {t:.2f})" for n, c, t in res))
        check(f"every one of {NREQ} pipelined requests answered, on each "
              f"of {NCONN} connections", all(n == NREQ for n, _, _ in res))
        check("every connection closed by the agent within 3 s of the "
              "client's FIN (request_timeout 30 s)",
              all(c for _, c, _ in res),
              f"{sum(1 for _, c, _ in res if not c)} left open")
        check("agent alive", agent.poll() is None)
    finally:
        agent.kill()
        agent.wait()
        if tally.failed:
            sys.stdout.write(open(os.path.join(d, "agent.log")).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)
    return summary("pipeline-fin")


if __name__ == "__main__":
    sys.exit(main())
