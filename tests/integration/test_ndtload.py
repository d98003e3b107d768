#!/usr/bin/python3
"""test_ndtload.py - the e2e's load client (tests/servers/ndtload.c) counts
every request, and tests/e2e/timeline.py draws what it counted.

* Against demo_app, keep-alive and Connection: close: requests, 0 errors,
  the timeline's buckets add up to the requests.
* demo_app SIGKILLed mid-run: errors, the first ones timed inside the run
  and after the kill.
* demo_app drained (POST /admin/drain) under a paced keep-alive load: the
  idle connections it closes cost no request, they are seen closed before
  reuse (stale_reconnects) and reconnected.
* A closed port: connect errors only.
* SIGINT: exit 0, valid JSON; requests cut by the stop are aborted_at_stop,
  not errors.
* Responses framed by chunked encoding, by the close, a 503, a body cut
  short (a small raw server): ok, ok, non-2xx, read errors.
* timeline.render on synthetic data is valid XML and shows a lone failure.
"""
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import xml.dom.minidom

from ndtest import BUILD, check, free_port, summary, wait

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import timeline  # noqa: E402

SRV = os.path.join(BUILD, "tests", "servers")
LOAD = os.path.join(SRV, "ndtload")
APP = os.path.join(SRV, "demo_app")
TMP = tempfile.mkdtemp(prefix="ndt-load-")


def app(port, *args):
    p = subprocess.Popen([APP, "--port", str(port), "--bind", "127.0.0.1",
                          *args], stderr=subprocess.DEVNULL)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    if not wait(up, 5):
        raise AssertionError("demo_app did not listen")
    return p


def load(url, *args, name="load"):
    """start ndtload; (process, its JSON path)"""
    out = os.path.join(TMP, name + ".json")
    p = subprocess.Popen([LOAD, "--url", url, "--out", out, *args],
                         stderr=subprocess.PIPE, text=True)
    return p, out


def finish(p, out, timeout=15):
    """(exit code, the JSON or None, stderr)"""
    _, err = p.communicate(timeout=timeout)
    try:
        with open(out) as f:
            return p.returncode, json.load(f), err
    except (OSError, ValueError):
        return p.returncode, None, err


def errors(d):
    return sum(d["errors"].values())


def clean_runs():
    port = free_port()
    a = app(port, "--delay-ms", "1")
    try:
        for mode in ("keepalive", "close"):
            p, out = load(f"http://127.0.0.1:{port}/hello", "--mode", mode,
                          "--connections", "4", "--duration", "2",
                          name=mode)
            rc, d, err = finish(p, out)
            print("    " + err.strip())
            check(f"{mode}: exit 0, JSON written", rc == 0 and d is not None,
                  f"rc={rc} {err}")
            if d is None:
                continue
            check(f"{mode}: requests > 0, all 200, no error",
                  d["requests"] > 100 and d["ok"] == d["requests"] and
                  d["status"] == {"200": d["requests"]} and errors(d) == 0
                  and d["non2xx"] == 0, json.dumps(d)[:400])
            check(f"{mode}: the buckets add up to the requests",
                  sum(map(sum, d["buckets"])) == d["requests"] and
                  d["buckets_truncated"] is False,
                  f"{sum(map(sum, d['buckets']))} != {d['requests']}")
            check(f"{mode}: about 2 s of 100 ms buckets",
                  19 <= len(d["buckets"]) <= 22, len(d["buckets"]))
            lat = d["latency_us"]
            check(f"{mode}: latency percentiles in order, p50 >= the 1 ms "
                  "delay", 1000 <= lat["p50"] <= lat["p90"] <= lat["p99"] <=
                  lat["p999"] <= lat["max"], lat)
            want = d["requests"] if mode == "close" else 4
            check(f"{mode}: {want} connections opened",
                  d["connects"] == want, d["connects"])
    finally:
        a.kill()
        a.wait()


def max_requests():
    """--max-requests N: each keep-alive connection is retired after N
    answers and a new one opened, with no error"""
    port = free_port()
    a = app(port, "--delay-ms", "1")
    try:
        p, out = load(f"http://127.0.0.1:{port}/hello", "--mode", "keepalive",
                      "--connections", "2", "--duration", "1",
                      "--max-requests", "10", name="maxreq")
        rc, d, err = finish(p, out)
        ok = rc == 0 and d is not None
        check("--max-requests 10: exit 0, every request 200, no error",
              ok and d["requests"] > 50 and d["ok"] == d["requests"] and
              errors(d) == 0, err)
        # each connection: ceil(its requests / 10); the last may be short
        check("--max-requests 10: a new connection per 10 requests",
              ok and d["requests"] // 10 <= d["connects"] <=
              d["requests"] // 10 + 2, d and (d["requests"], d["connects"]))
    finally:
        a.kill()
        a.wait()


def killed_app():
    port = free_port()
    a = app(port, "--delay-ms", "2", "--mode", "naive")
    p, out = load(f"http://127.0.0.1:{port}/", "--connections", "4",
                  "--duration", "2", name="killed")
    time.sleep(1)
    t_kill = time.time() * 1000
    a.kill()
    a.wait()
    rc, d, err = finish(p, out)
    print("    " + err.strip())
    check("app killed: exit 0, JSON written", rc == 0 and d is not None,
          f"rc={rc} {err}")
    if d is None:
        return
    check("app killed: ok before, errors after (connect and read)",
          d["ok"] > 50 and d["errors"]["connect"] > 0 and errors(d) > 0,
          d["errors"])
    end = d["start_unix_ms"] + d["duration_ms"]
    ff = d["first_failures"]
    check("app killed: first_failures timed inside the run, after the kill",
          len(ff) > 0 and all(t_kill - 50 <= f["t_unix_ms"] <= end
                              for f in ff), (t_kill, end, ff[:3]))
    check("app killed: each failure has a kind and a detail",
          all(f["kind"] in ("connect", "read", "write", "timeout") and
              f["detail"] for f in ff), ff[:3])
    check("app killed: the buckets add up, errors after the first second",
          sum(map(sum, d["buckets"])) == d["requests"] and
          sum(b[2] for b in d["buckets"][:9]) == 0 and
          sum(b[2] for b in d["buckets"][9:]) == errors(d), d["buckets"])


def drained_keepalive():
    port = free_port()
    a = app(port)
    try:
        p, out = load(f"http://127.0.0.1:{port}/", "--connections", "4",
                      "--rate", "1", "--duration", "2.6", name="drained")
        time.sleep(1.5)
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/admin/drain", method="POST"),
            timeout=5).read()
        rc, d, err = finish(p, out)
    finally:
        a.kill()
        a.wait()
    # requests at 0, 1 and 2 s; the drain at 1.5 s closes the connections
    # idle for its IDLE_CLOSE_MS (250 ms): all of them, 500 ms before the
    # next request, clear of HTTP's keep-alive race (a close crossing a
    # request, which ndtload counts as a read error)
    check("drained app, paced keep-alive: 12 requests, no error",
          rc == 0 and d is not None and 10 <= d["requests"] <= 13 and
          d["ok"] == d["requests"] and errors(d) == 0, d and
          (d["requests"], d["errors"], d["first_failures"][:3]))
    check("drained app: the closed idle connections seen before reuse, "
          "reconnected", d is not None and d["stale_reconnects"] == 4 and
          d["connects"] == 8, d and (d["stale_reconnects"], d["connects"]))


def closed_port():
    port = free_port()
    p, out = load(f"http://127.0.0.1:{port}/", "--connections", "2",
                  "--duration", "1", name="closed")
    rc, d, err = finish(p, out)
    check("closed port: exit 0, connect errors only, no ok", rc == 0 and
          d is not None and d["ok"] == 0 and d["errors"]["connect"] > 0 and
          errors(d) == d["errors"]["connect"] == d["requests"],
          f"rc={rc} {d and d['errors']} {err}")
    check("closed port: the detail says refused", d is not None and
          "refused" in d["first_failures"][0]["detail"],
          d and d["first_failures"][:1])


def sigint():
    port = free_port()
    a = app(port, "--delay-ms", "4000")
    try:
        p, out = load(f"http://127.0.0.1:{port}/", "--connections", "3",
                      name="sigint")
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc, d, err = finish(p, out)
        dt = time.monotonic() - t0
        check("SIGINT: exit 0 with valid JSON and a summary line",
              rc == 0 and d is not None and "ndtload:" in err,
              f"rc={rc} {err}")
        check("SIGINT: the 3 requests in flight are aborted_at_stop, not "
              "errors", d is not None and d["aborted_at_stop"] == 3 and
              d["requests"] == 0 and errors(d) == 0, d)
        check("SIGINT: gone after the 1 s grace", 0.9 <= dt <= 2.5, dt)
    finally:
        a.kill()
        a.wait()
    p = subprocess.run([LOAD, "--url", "ftp://x/"], capture_output=True,
                       text=True)
    check("bad usage: exit 2 with the reason", p.returncode == 2 and
          "--url" in p.stderr, p.stderr)
    p = subprocess.run([LOAD, "--url", "http://127.0.0.1:1/",
                        "--connections", "0"], capture_output=True, text=True)
    check("bad --connections: exit 2", p.returncode == 2 and
          "--connections" in p.stderr, p.stderr)


RESPONSES = {
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    b"/eof": b"HTTP/1.1 200 OK\r\n\r\nthe body ends at the close",
    b"/busy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
              b"\r\nbusy",
    b"/short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
}


class Raw(socketserver.BaseRequestHandler):
    def handle(self):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = self.request.recv(4096)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1]
            self.request.sendall(RESPONSES[path])
            if path in (b"/eof", b"/short"):
                return


def framing():
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    res = {}
    try:
        for path in ("chunked", "eof", "busy", "short"):
            p, out = load(f"http://127.0.0.1:{port}/{path}", "--connections",
                          "2", "--duration", "0.5", name=path)
            rc, d, err = finish(p, out)
            res[path] = d if rc == 0 else None
    finally:
        srv.shutdown()
        srv.server_close()
    d = res["chunked"]
    check("chunked body with an extension and a trailer: ok, reused",
          d and d["requests"] > 10 and d["ok"] == d["requests"] and
          d["connects"] == 2, d and (d["errors"], d["connects"]))
    d = res["eof"]
    check("body to the close: ok, a connection per request",
          d and d["requests"] > 10 and d["ok"] == d["requests"] and
          d["connects"] == d["requests"], d and (d["errors"], d["connects"]))
    d = res["busy"]
    check("503: counted by status as non-2xx, with its reason",
          d and d["requests"] > 10 and d["non2xx"] == d["requests"] and
          d["status"] == {"503": d["requests"]} and errors(d) == 0 and
          d["first_failures"][0]["detail"] == "503 Service Unavailable",
          d and (d["status"], d["first_failures"][:1]))
    d = res["short"]
    check("a body cut short: read errors, none ok",
          d and d["requests"] > 10 and d["ok"] == 0 and
          d["errors"]["read"] == d["requests"] and
          "95 of 100 bytes missing" in d["first_failures"][0]["detail"],
          d and (d["errors"], d["first_failures"][:1]))


def render():
    t0 = 1_800_000_000_000
    buckets = [[1000, 0, 0]] * 300
    buckets[150] = [999, 0, 1]          # one lost request in 300 000
    buckets[200] = [990, 10, 0]
    ld = {"label": "keep-alive", "start_unix_ms": t0, "bucket_ms": 100,
          "buckets": buckets, "requests": 300000, "non2xx": 10,
          "errors": {"connect": 0, "write": 0, "read": 1, "timeout": 0}}
    ev = [{"t_unix_ms": t0 + 14900, "pod": "app-1", "kind": "prestop"},
          {"t_unix_ms": t0 + 19000, "pod": "app-1", "kind": "sigterm"},
          {"t_unix_ms": t0 + 19010, "pod": "app-1", "kind": "exit"},
          {"t_unix_ms": t0 + 12000, "pod": "app-2 <new>", "kind": "ready"}]
    svg = timeline.render([ld, dict(ld, label="close")], ev, "a & b")
    path = os.path.join(TMP, "t.svg")
    with open(path, "w") as f:
        f.write(svg)
    try:
        doc = xml.dom.minidom.parse(path)
        ok = doc.documentElement.tagName == "svg"
    except Exception as e:      # noqa: BLE001 - any parse error fails
        ok, svg = False, f"{e}"
    check("timeline: valid SVG", ok, svg[:200])
    reds = [r for r in doc.getElementsByTagName("rect")
            if r.getAttribute("fill") == "#d62728"] if ok else []
    check("timeline: the one lost request is a red bar >= 3 px high on "
          "the failure strip", any(float(r.getAttribute("height")) >= 3
                                   for r in reds), len(reds))
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text")
             if t.firstChild and t.firstChild.nodeType == t.TEXT_NODE] \
        if ok else []
    check("timeline: the failure runs are labelled with their counts",
          "1" in texts and "10" in texts, texts[:40])
    check("timeline: one swimlane per pod, kinds in the legend",
          "app-1" in texts and "app-2 <new>" in texts and
          all(k in texts for k in ("prestop", "sigterm", "exit", "ready")),
          texts)


def main():
    for binary in (LOAD, APP):
        if not os.path.exists(binary):
            print(f"ndtload: {binary} not built (make tests-build)")
            return 1
    try:
        clean_runs()
        max_requests()
        killed_app()
        drained_keepalive()
        closed_port()
        sigint()
        framing()
        render()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return summary("ndtload")


if __name__ == "__main__":
    sys.exit(main())
