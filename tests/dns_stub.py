#!/usr/bin/env python3
"""dns_stub.py -- a stub DNS server on 127.0.0.1 for the resolver's tests.

Python standard library only. Answers A and AAAA questions over UDP from a
table of names; each name can be slow, fail, or misbehave on purpose.

    dns_stub.py [--port N] [--config FILE.json]
                [--a NAME=IP] [--aaaa NAME=IP] [--cname NAME=TARGET]
                [--ttl NAME=SECONDS] [--delay NAME=SECONDS]
                [--rcode NAME=N] [--mode NAME=MODE]

--port 0 (the default) takes a free port. Once listening it prints
"ready PORT" on stdout. The JSON file holds {"names": {NAME: SPEC}}, where
SPEC has any of:
    "A": ["10.0.0.1", ...], "AAAA": ["2001:db8::1", ...], "ttl": 60,
    "cname": "target.name"  (answered as a CNAME chain, target's records too),
    "delay": 2.0            (seconds before answering; other names are not held up),
    "rcode": 3              (answer with this RCODE and no records),
    "mode": one of
        answer          the default
        drop            never answer
        garbage         answer 7 random bytes only
        garbage_first   7 random bytes, then the real answer
        wrong_id        the real answer with the id changed, only
        wrong_id_first  the answer with a wrong id, then the real one
        spoof_first     an answer with the right id but the address "spoof"
                        (default 6.6.6.6) from another port, then the real one
                        0.2 s later
        truncated       TC set, no records
Unknown names get NXDOMAIN; a known name without records of the asked type
gets an empty NOERROR answer.

Control datagrams, to the same port, start with b"stub:" (a query from the
resolver cannot: its third byte is 0x01, not b"u"):
    stub:count NAME   -> the number of questions received for NAME (every type)
    stub:reset        -> b"ok"; all counts back to 0
Counts are taken when a question arrives, before any delay, so a test that
got its answer reads a count that includes its question.

Exits on SIGTERM or SIGINT, and when its parent process dies.
"""

import argparse
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import sys
import threading

TYPE_A, TYPE_CNAME, TYPE_AAAA, CLASS_IN = 1, 5, 28, 1
CNAME_MAX = 8


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def parse_question(msg):
    """Returns (id, flags, name, qtype, question bytes) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(msg):
            return None
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > len(msg):
            return None  # compression or garbage: a query never has it
        labels.append(msg[pos + 1:pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    if pos + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, msg[12:pos + 4]


def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack("!HHIH", rtype, CLASS_IN, ttl, len(rdata)) + rdata


def address_records(spec, qtype, owner, ttl, spoof=None):
    key, family = ("A", socket.AF_INET) if qtype == TYPE_A else ("AAAA", socket.AF_INET6)
    addrs = spec.get(key, [])
    if spoof is not None:
        addrs = [spoof] if qtype == TYPE_A else []
    return [rr(owner, qtype, ttl, socket.inet_pton(family, a)) for a in addrs]


class Stub:
    def __init__(self, names, port):
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.counts = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # for spoof_first
        self.other.bind(("127.0.0.1", 0))
        self.lock = threading.Lock()

    def answer(self, q, rcode=0, tc=False, spoof=None):
        """The answer message to the parsed question q."""
        qid, flags, name, qtype, question = q
        spec = self.names.get(name)
        if spec is None:
            rcode = 3
        elif "rcode" in spec:
            rcode = spec["rcode"]
        records = []
        if rcode == 0 and not tc:
            records = self.records(name, qtype, spoof)
        hflags = 0x8000 | (flags & 0x0100) | 0x0080 | (0x0200 if tc else 0) | rcode
        header = struct.pack("!HHHHHH", qid, hflags, 1, len(records), 0, 0)
        return header + question + b"".join(records)

    def records(self, name, qtype, spoof):
        """The CNAME chain from name (compressed against the question, at
        offset 12, and against each CNAME's target) and the final addresses."""
        out, owner, offset = [], b"\xc0\x0c", 12 + len(encode_name(name)) + 4
        spec = self.names[name]
        for _ in range(CNAME_MAX):
            target = spec.get("cname")
            if not target:
                break
            record = rr(owner, TYPE_CNAME, spec.get("ttl", 60), encode_name(target))
            owner = struct.pack("!H", 0xC000 | (offset + len(record) - len(encode_name(target))))
            offset += len(record)
            out.append(record)
            spec = self.names.get(target.lower().rstrip("."), {})
        ttl = spec.get("ttl", 60)
        return out + address_records(spec, qtype, owner, ttl, spoof)

    def send(self, sock, data, peer):
        with self.lock:
            sock.sendto(data, peer)

    def later(self, seconds, fn, *args):
        t = threading.Timer(seconds, fn, args)
        t.daemon = True
        t.start()

    def control(self, msg, peer):
        words = msg[5:].decode("ascii", "replace").split()
        if words[:1] == ["count"] and len(words) == 2:
            reply = str(self.counts.get(words[1].lower().rstrip("."), 0))
        elif words == ["reset"]:
            self.counts.clear()
            reply = "ok"
        else:
            reply = "error"
        self.send(self.sock, reply.encode(), peer)

    def question(self, msg, peer):
        q = parse_question(msg)
        if q is None:
            return
        name = q[2]
        self.counts[name] = self.counts.get(name, 0) + 1
        spec = self.names.get(name, {})
        mode = spec.get("mode", "answer")
        delay = float(spec.get("delay", 0))
        if mode == "drop":
            return
        if mode in ("garbage", "garbage_first"):
            self.send(self.sock, os.urandom(7), peer)
            if mode == "garbage":
                return
        if mode in ("wrong_id", "wrong_id_first"):
            wrong = bytes([msg[0] ^ 0x5A, msg[1]]) + self.answer(q)[2:]
            self.send(self.sock, wrong, peer)
            if mode == "wrong_id":
                return
        real = self.answer(q, tc=(mode == "truncated"))
        if mode == "spoof_first":
            self.send(self.other, self.answer(q, spoof=spec.get("spoof", "6.6.6.6")), peer)
            delay = max(delay, 0.2)
        if delay > 0:
            self.later(delay, self.send, self.sock, real, peer)
        else:
            self.send(self.sock, real, peer)

    def serve(self):
        parent = os.getppid()
        print("ready %d" % self.sock.getsockname()[1], flush=True)
        while True:
            if os.getppid() != parent:
                return  # the test that started us is gone
            ready, _, _ = select.select([self.sock], [], [], 0.2)
            if not ready:
                continue
            msg, peer = self.sock.recvfrom(65535)
            if msg.startswith(b"stub:"):
                self.control(msg, peer)
            else:
                self.question(msg, peer)


def name_value(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return name.lower().rstrip("."), value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--config", help="JSON file: {\"names\": {NAME: SPEC}}")
    for opt in ("a", "aaaa", "cname", "ttl", "delay", "rcode", "mode"):
        ap.add_argument("--" + opt, type=name_value, action="append", default=[])
    args = ap.parse_args()
    names = {}
    if args.config:
        with open(args.config) as f:
            names = {k.lower().rstrip("."): v for k, v in json.load(f)["names"].items()}
    for key, convert, pairs in (("A", str, args.a), ("AAAA", str, args.aaaa)):
        for name, value in pairs:
            ipaddress.ip_address(value)  # refuse a typo at start-up, not at answer time
            names.setdefault(name, {}).setdefault(key, []).append(convert(value))
    for key, convert, pairs in (("cname", str, args.cname), ("ttl", int, args.ttl),
                                ("delay", float, args.delay), ("rcode", int, args.rcode),
                                ("mode", str, args.mode)):
        for name, value in pairs:
            names.setdefault(name, {})[key] = convert(value)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    Stub(names, args.port).serve()


if __name__ == "__main__":
    main()
