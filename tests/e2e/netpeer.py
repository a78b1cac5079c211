#!/usr/bin/env python3
"""The host end of the e2e network transfers (loopback or a test netns).

  netpeer.py recv PORT OUT [ADDR]   accept one TCP connection on ADDR:PORT
                                    (default 0.0.0.0), write what arrives to
                                    OUT, print "RECEIVED <bytes> <md5>"
  netpeer.py send HOST PORT FILE    connect (retrying for up to 60 s) and
                                    send FILE, print "SENT <bytes> <md5>"
"""
import hashlib
import socket
import sys
import time


def recv(port, out, addr="0.0.0.0"):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, int(port)))
    srv.listen(1)
    srv.settimeout(600)
    conn, _ = srv.accept()
    md5, n = hashlib.md5(), 0
    with open(out, "wb") as f:
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            f.write(b)
            md5.update(b)
            n += len(b)
    print("RECEIVED %d %s" % (n, md5.hexdigest()), flush=True)


def send(host, port, path):
    data = open(path, "rb").read()
    deadline = time.time() + 60
    while True:
        try:
            s = socket.create_connection((host, int(port)), timeout=30)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.close()
    print("SENT %d %s" % (len(data), hashlib.md5(data).hexdigest()), flush=True)


if __name__ == "__main__":
    {"recv": recv, "send": send}[sys.argv[1]](*sys.argv[2:])
