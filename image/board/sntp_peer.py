#!/usr/bin/python3
"""image/board/sntp_peer.py -- SNTP servers that misbehave on purpose, for
image/board/test_init.c (the well-behaved server in that test is chronyd).

One UDP socket on 127.0.0.1 per behaviour; prints one line
"ready ahead=PORT origin=PORT kod=PORT silent=PORT" and serves until killed:
  ahead   a correct answer from a clock 5 s ahead of this machine's
  origin  an answer whose originate timestamp is not the request's
  kod     a kiss-o'-death (stratum 0, "RATE")
  silent  never answers
"""
import select
import socket
import struct
import sys
import time

NTP_EPOCH = 2208988800


def ntp(t):
    return int((t + NTP_EPOCH) * 2**32) & 0xFFFFFFFFFFFFFFFF


def answer(kind, req):
    origin = req[40:48]
    now = time.time() + (5.0 if kind == "ahead" else 0.0)
    stratum = 0 if kind == "kod" else 2
    if kind == "origin":
        origin = struct.pack("!Q", ntp(now - 100))
    head = struct.pack("!BBbb", (0 << 6) | (4 << 3) | 4, stratum, 6, -20)
    body = struct.pack("!II4s", 0, 0, b"RATE" if kind == "kod" else b"\x7f\x00\x00\x01")
    return head + body + struct.pack("!Q", ntp(now - 1)) + origin + struct.pack("!QQ", ntp(now), ntp(now))


def main():
    socks = {}
    for kind in ("ahead", "origin", "kod", "silent"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks[s] = kind
    print("ready " + " ".join("%s=%d" % (k, s.getsockname()[1]) for s, k in socks.items()), flush=True)
    while True:
        for s in select.select(list(socks), [], [])[0]:
            req, addr = s.recvfrom(512)
            if len(req) >= 48 and socks[s] != "silent":
                s.sendto(answer(socks[s], req), addr)


if __name__ == "__main__":
    sys.exit(main())
