#!/usr/bin/python3
"""hang_server.py PORT - a dependency that hangs: it accepts every TCP
connection, reads and drops whatever the client sends, and never answers.
A connection is closed only when the client closes it (its check timed
out). On SIGTERM it prints how many connections it accepted.

Used by `make bench` (tests/bench/bench.py) for /live latency while 100
HTTP checks wait for their timeout.
"""
import selectors
import signal
import socket
import sys


def main():
    port = int(sys.argv[1])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1024)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    accepted = 0
    running = True

    def stop(_sig, _frm):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        for key, _ in sel.select(0.5):
            if key.fileobj is ls:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                accepted += 1
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
    print("hang_server: accepted %d connections, %d still open" %
          (accepted, len(sel.get_map()) - 1), flush=True)


if __name__ == "__main__":
    main()
