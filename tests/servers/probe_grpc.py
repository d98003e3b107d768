#!/usr/bin/python3
"""probe_grpc.py - gRPC health servers for the probes' integration tests.

    probe_grpc.py PORT          a real grpcio server (Debian python3-grpcio)
                                implementing grpc.health.v1.Health/Check:
                                service "" and "app" answer SERVING; SIGUSR1
                                makes them NOT_SERVING, SIGUSR2 SERVING
                                again; any other service: NOT_FOUND
                                ("unknown service"), like grpcio-health.
    probe_grpc.py PORT cut      a raw h2c server that answers every call
                                with headers and half a message, then
                                closes the connection (mid-stream).
    probe_grpc.py PORT unknown  grpcio, but status field UNKNOWN (0, so
                                absent on the wire)
    probe_grpc.py PORT tls CERT KEY
                                the real server over TLS (ALPN h2)

HealthCheckRequest/Response are encoded by hand (field 1), so no
generated code and no grpcio-health-checking package are needed.
Run it with Debian's /usr/bin/python3, where python3-grpcio lives.
"""
import signal
import socket
import sys
import threading
import time

SERVING, NOT_SERVING = 1, 2
state = {"status": SERVING}


def decode_service(req):
    # HealthCheckRequest{string service = 1}
    i, svc = 0, b""
    while i < len(req):
        key = req[i]
        i += 1
        if key == 0x0A:
            n, shift = 0, 0
            while True:
                c = req[i]
                i += 1
                n |= (c & 0x7F) << shift
                shift += 7
                if not c & 0x80:
                    break
            svc = req[i:i + n]
            i += n
        else:
            raise ValueError("unexpected field")
    return svc.decode()


def grpc_main(port, mode):
    import grpc
    from concurrent import futures

    def check(request, context):
        svc = decode_service(request)
        if svc not in ("", "app"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        if mode == "unknown":
            return b""
        return bytes([0x08, state["status"]])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=lambda b: b,
            response_serializer=lambda b: b)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    if mode == "tls":
        with open(sys.argv[3], "rb") as f:
            cert = f.read()
        with open(sys.argv[4], "rb") as f:
            key = f.read()
        creds = grpc.ssl_server_credentials([(key, cert)])
        server.add_secure_port("127.0.0.1:%d" % port, creds)
    else:
        server.add_insecure_port("127.0.0.1:%d" % port)

    def flip(signo, frame):
        state["status"] = NOT_SERVING if signo == signal.SIGUSR1 else SERVING
    signal.signal(signal.SIGUSR1, flip)
    signal.signal(signal.SIGUSR2, flip)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(0.1)


def frame(ftype, flags, stream, payload):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            stream.to_bytes(4, "big") + payload)


def cut_conn(conn):
    try:
        conn.settimeout(5)
        buf = b""
        # client preface, then frames until a HEADERS frame
        while len(buf) < 24:
            d = conn.recv(4096)
            if not d:
                return
            buf += d
        buf = buf[24:]
        conn.sendall(frame(4, 0, 0, b""))          # our SETTINGS
        stream = None
        while stream is None:
            while len(buf) < 9:
                d = conn.recv(4096)
                if not d:
                    return
                buf += d
            n = int.from_bytes(buf[0:3], "big")
            ftype, flags = buf[3], buf[4]
            sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            while len(buf) < 9 + n:
                d = conn.recv(4096)
                if not d:
                    return
                buf += d
            buf = buf[9 + n:]
            if ftype == 4 and not flags & 1:
                conn.sendall(frame(4, 1, 0, b""))  # ack SETTINGS
            if ftype == 1:
                stream = sid
        # HPACK: ":status: 200" (static 8), literal content-type
        block = (b"\x88" + b"\x00\x0ccontent-type\x10application/grpc")
        conn.sendall(frame(1, 4, stream, block))   # HEADERS, END_HEADERS
        # a message that says 2 bytes and brings 1, then we are gone
        conn.sendall(frame(0, 0, stream, b"\x00\x00\x00\x00\x02\x08"))
        time.sleep(0.05)
    except OSError:
        pass
    finally:
        conn.close()


def cut_main(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=cut_conn, args=(conn,), daemon=True).start()


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "serve"
    if mode == "cut":
        cut_main(port)
    else:
        grpc_main(port, mode)


if __name__ == "__main__":
    main()
