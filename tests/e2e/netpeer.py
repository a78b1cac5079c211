#!/usr/bin/env python3
"""The host end of the e2e network transfers (loopback or a test netns).

  netpeer.py recv PORT OUT [ADDR]   accept one TCP connection on ADDR:PORT
                                    (default 0.0.0.0), write what arrives to
                                    OUT, print "RECEIVED <bytes> <md5>"
  netpeer.py send HOST PORT FILE    connect (retrying for up to 60 s) and
                                    send FILE, print "SENT <bytes> <md5>",
                                    or "SEND-FAILED after <bytes>: <why>"
                                    and exit 1 (a stall of 300 s fails)
  netpeer.py dns ADDR PORT NAME IP  a DNS server on UDP ADDR:PORT that knows
                                    one A record, NAME -> IP; prints
                                    "DNS-QUERY <name> <type>" per query
"""
import hashlib
import socket
import struct
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
    # A guest on kvm_pvm takes ~30 s for 3 MiB and TCP backs off when it
    # stalls: a short timeout would cut the stream and look like corruption.
    s.settimeout(300)
    view, done = memoryview(data), 0
    try:
        while done < len(data):
            done += s.send(view[done:done + (1 << 16)])
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        print("SEND-FAILED after %d of %d bytes: %s" % (done, len(data), e), flush=True)
        sys.exit(1)
    s.close()
    print("SENT %d %s" % (len(data), hashlib.md5(data).hexdigest()), flush=True)


def dns_reply(data, name, ip):
    qid = struct.unpack("!H", data[:2])[0]
    i, labels = 12, []
    while data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
        i += 1 + data[i]
    qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
    question = data[12:i + 5]
    qname = ".".join(labels)
    print("DNS-QUERY %s %d" % (qname, qtype), flush=True)
    if qname != name:
        return struct.pack("!6H", qid, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
    if qtype != 1:
        return struct.pack("!6H", qid, 0x8180, 1, 0, 0, 0) + question  # no such record
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
    return struct.pack("!6H", qid, 0x8180, 1, 1, 0, 0) + question + answer


def dns(addr, port, name, ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    while True:
        data, peer = s.recvfrom(512)
        try:
            s.sendto(dns_reply(data, name, ip), peer)
        except (IndexError, struct.error):
            pass  # not a query we understand: no answer


if __name__ == "__main__":
    {"recv": recv, "send": send, "dns": dns}[sys.argv[1]](*sys.argv[2:])
