#!/usr/bin/python3
"""probe_http.py - a local HTTP server for the probes' integration tests:
well-behaved answers, a switch to flip health, and misbehaving answers.

    probe_http.py PORT            listen on 127.0.0.1:PORT
    probe_http.py unix:PATH       listen on a unix socket
    probe_http.py PORT tls CERT KEY [CLIENT_CA]
                                  HTTPS; with CLIENT_CA, client
                                  certificates signed by it are required

Paths (GET, HEAD or POST):
  /ok                 200 "ok"
  /health             200 "ok" or 503 "down", as set by /admin/up|down
  /admin/up|down      flip /health (any method)
  /status/NNN         answers NNN
  /body/TEXT          200 with TEXT
  /echo-header/NAME   200 with the value of request header NAME
  /redirect           302 to /ok
  /drip               Content-Length 100, then one byte a second
  /endless            chunked body that never ends
  /big                Content-Length 1 GB of zeros
  /garbage            random bytes instead of an HTTP response
  /http09             a body with no status line (HTTP/0.9)
  /hang               read the request, never answer
  /stats              "connections N requests M" (keep-alive check)

Standard library only; one thread per connection; keep-alive on.
"""
import os
import socket
import ssl
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

state = {"up": True, "connections": 0, "requests": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "probe_http/1"

    def setup(self):
        super().setup()
        with lock:
            state["connections"] += 1

    def log_message(self, fmt, *args):  # quiet
        pass

    def address_string(self):
        return "client"

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        if code in (204, 304) or code < 200:
            data = b""          # these never have a body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def stream(self, chunk, forever_chunked):
        try:
            while True:
                if forever_chunked:
                    self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
        except OSError:
            self.close_connection = True

    def handle_any(self):
        with lock:
            state["requests"] += 1
        n = self.headers.get("Content-Length")
        if n:
            self.rfile.read(int(n))
        p = self.path.split("?", 1)[0]
        if p == "/ok":
            return self.reply(200, "ok")
        if p == "/health":
            return self.reply(200, "ok") if state["up"] else \
                self.reply(503, "down")
        if p in ("/admin/up", "/admin/down"):
            state["up"] = p == "/admin/up"
            return self.reply(200, "up" if state["up"] else "down")
        if p.startswith("/status/"):
            return self.reply(int(p[8:11]), "status " + p[8:11])
        if p.startswith("/body/"):
            return self.reply(200, p[6:])
        if p.startswith("/echo-header/"):
            return self.reply(200, self.headers.get(p[13:], "<none>"))
        if p == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if p == "/stats":
            return self.reply(200, "connections %d requests %d" %
                              (state["connections"], state["requests"]))
        if p == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            self.close_connection = True
            return None
        if p == "/endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            return self.stream(b"y" * 65536, True)
        if p == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            return self.stream(b"\0" * 65536, False)
        if p == "/garbage":
            return self.raw(os.urandom(512))
        if p == "/http09":
            return self.raw(b"ok this is HTTP/0.9\n")
        if p == "/hang":
            time.sleep(60)
            self.close_connection = True
            return None
        return self.reply(404, "no such path")

    do_GET = do_HEAD = do_POST = do_PUT = handle_any


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256    # 50 clients at once in the benchmark


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    where = sys.argv[1]
    if where.startswith("unix:"):
        path = where[5:]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        srv = UnixServer(path, Handler)
    else:
        srv = TCPServer(("127.0.0.1", int(where)), Handler)
    if len(sys.argv) > 4 and sys.argv[2] == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        if len(sys.argv) > 5:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
