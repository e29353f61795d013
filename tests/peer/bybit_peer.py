#!/usr/bin/python3
"""bybit_peer.py -- a local Bybit V5-compatible exchange for fillrelay's tests.

One asyncio process with three listeners on 127.0.0.1:
  * the private stream  wss://127.0.0.1:P/v5/private   (python3-websockets 10.4 over ssl)
  * signed REST         https://127.0.0.1:Q            (HTTP/1.1, keep-alive, optional chunked)
  * a control channel   http://127.0.0.1:C             (plain HTTP, JSON bodies) for the test driver

It checks what a client sends the way Bybit does (auth signature and expiry, subscribe rules,
REST signature and timestamp window, 7-day windows, verbatim cursors), answers with Bybit's
shapes, misbehaves on command (drop, stall, malformed frames, huge and fragmented messages,
other certificates, clock skew, 429/403/chunked REST) and records everything it saw.

It never imports or runs fillrelay code. See tests/peer/README.md for the control protocol.
"""

import argparse
import asyncio
import collections
import gc
import hashlib
import hmac
import http
import json
import logging
import os
import random
import re
import signal
import socket
import ssl
import struct
import sys
import time
import urllib.parse
import weakref

import websockets
import websockets.exceptions
import websockets.server

log = logging.getLogger("bybit_peer")

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
CERT_KINDS = ("good", "untrusted", "expired", "notyet", "wronghost")
KEY_KINDS = ("ec", "rsa", "both")

# Private-stream topics (Bybit V5). All-in-one and categorised ones may not share a request.
ALL_IN_ONE_TOPICS = {"execution", "execution.fast", "order", "position"}
CATEGORISED_TOPICS = (
    {"execution." + c for c in ("spot", "linear", "inverse", "option")}
    | {"execution.fast." + c for c in ("spot", "linear", "inverse", "option")}
    | {"order." + c for c in ("spot", "linear", "inverse", "option")}
    | {"position." + c for c in ("linear", "inverse", "option")}
)
NEUTRAL_TOPICS = {"wallet", "greeks", "dcp"}
KNOWN_TOPICS = ALL_IN_ONE_TOPICS | CATEGORISED_TOPICS | NEUTRAL_TOPICS

# WebSocket opcodes for raw frames.
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class CommandError(Exception):
    """A control command that cannot be carried out (answered with HTTP 400)."""


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ws_frame(opcode, payload=b"", fin=True, rsv=0, mask=False, length=None, nonminimal=False):
    """One raw WebSocket frame as the server would write it (unmasked unless mask=True).
    length overrides the advertised payload length (the payload is still what is given)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    m = 0x80 if mask else 0
    if n < 126 and not nonminimal:
        hdr = bytes([b0, m | n])
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        hdr += key
    return hdr + payload


def split_utf8(text, size):
    """Splits text into pieces of at most size UTF-8 bytes, never inside a character
    (a piece holds at least one character)."""
    out, cur, cur_len = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if cur and cur_len + n > size:
            out.append("".join(cur))
            cur, cur_len = [], 0
        cur.append(ch)
        cur_len += n
    if cur or not out:
        out.append("".join(cur))
    return out


def new_conn_id():
    """Bybit-like connection id: 20 chars of [0-9a-v], '-', 5 chars of [0-9a-z]."""
    a = "".join(random.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(20))
    b = "".join(random.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(5))
    return a + "-" + b


def parse_query(raw):
    """Raw query string -> (dict of first values decoded, dict of first raw values, list of
    duplicate names). Splits on '&' and the first '='; decoding is percent-decoding only."""
    vals, raws, dups = {}, {}, []
    if not raw:
        return vals, raws, dups
    for part in raw.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        k = urllib.parse.unquote(k)
        if k in vals:
            dups.append(k)
            continue
        raws[k] = v
        vals[k] = urllib.parse.unquote(v)
    return vals, raws, dups


def as_int(v, name):
    if isinstance(v, bool):
        raise ValueError(name)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,19}", v):
        return int(v)
    raise ValueError(name)


# ---------------------------------------------------------------------------------------------
# Small HTTP/1.1 server side, shared by REST and control.


class HttpRequest:
    __slots__ = ("method", "target", "version", "headers", "body", "path", "query")

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class HttpError(Exception):
    pass


async def read_http_request(reader, max_body=16 << 20):
    """Reads one request; None on a clean EOF before any byte."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise HttpError("truncated request head")
    except asyncio.LimitOverrunError:
        raise HttpError("request head too long")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError("bad request line: %r" % lines[0][:200])
    req = HttpRequest()
    req.method, req.target, req.version = parts
    req.headers = {}
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep:
            raise HttpError("bad header line")
        k = k.strip().lower()
        v = v.strip()
        req.headers[k] = req.headers[k] + ", " + v if k in req.headers else v
    if "chunked" in req.headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > max_body:
                raise HttpError("body too large")
        req.body = body
    else:
        n = int(req.headers.get("content-length", "0") or "0")
        if n > max_body:
            raise HttpError("body too large")
        req.body = await reader.readexactly(n) if n else b""
    req.path, _, req.query = req.target.partition("?")
    return req


REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


async def write_http_response(writer, status, body, headers=None, keep_alive=True,
                              chunk_size=0, chunk_delay_ms=0):
    """Writes one response. chunk_size > 0: Transfer-Encoding chunked in pieces of that size."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = dict(headers or {})
    hdrs = [("Content-Type", headers.pop("Content-Type", "application/json"))]
    hdrs += list(headers.items())
    if chunk_size > 0:
        hdrs.append(("Transfer-Encoding", "chunked"))
    else:
        hdrs.append(("Content-Length", str(len(body))))
    hdrs.append(("Connection", "keep-alive" if keep_alive else "close"))
    head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
    head += "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
    if chunk_size <= 0:
        # one write: two small TLS records in two segments meet Nagle and the client's
        # delayed ACK, which added 40 ms to every answer and biased clock samples by 20 ms
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        return
    writer.write(head.encode("latin-1"))
    if chunk_size > 0:
        for i in range(0, len(body), chunk_size):
            piece = body[i:i + chunk_size]
            writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            if chunk_delay_ms:
                await writer.drain()
                await asyncio.sleep(chunk_delay_ms / 1000)
        writer.write(b"0\r\n\r\n")
    else:
        writer.write(body)
    await writer.drain()


# ---------------------------------------------------------------------------------------------


class Conn:
    """One private-stream connection."""

    def __init__(self, ws, cid, now_ms):
        self.ws = ws
        self.id = cid
        self.account = None  # the API key, once authenticated
        self.authed = False
        self.topics = set()
        self.opened_ms = now_ms
        self.remote = "%s:%s" % tuple(ws.remote_address[:2]) if ws.remote_address else "?"
        self.path = ws.path
        self.headers = {k: v for k, v in ws.request_headers.raw_items()}
        self.stalled = False
        self.paused = False
        self.frag = None  # {"size","remaining","mode","delay_ms","ping_between"}
        self.pong_style = None  # None = peer default
        self.msgs_in = 0
        self.msgs_out = 0
        self.pings = 0
        self.last_ping_ms = None
        self.lock = asyncio.Lock()
        self.closed = False
        self.tls = {}

    def summary(self):
        return {
            "conn_id": self.id,
            "account": self.account,
            "authed": self.authed,
            "topics": sorted(self.topics),
            "opened_ms": self.opened_ms,
            "remote": self.remote,
            "path": self.path,
            "stalled": self.stalled,
            "fragment": dict(self.frag) if self.frag else None,
            "pong_style": self.pong_style,
            "msgs_in": self.msgs_in,
            "msgs_out": self.msgs_out,
            "pings": self.pings,
            "last_ping_ms": self.last_ping_ms,
            "tls": self.tls,
            "headers": self.headers,
        }


class Peer:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir
        self.accounts = {}
        for item in (args.accounts or "").split(","):
            if item.strip():
                k, sep, s = item.strip().partition(":")
                if not sep or not k or not s:
                    raise SystemExit("bybit_peer: --accounts wants KEY:SECRET[,KEY:SECRET...]")
                self.accounts[k] = s
        self.skew_ms = 0
        self.cert = (args.cert, args.key)
        self.tls12_only = args.tls12_only
        self.config = {
            "auth_max_ahead_ms": args.auth_max_ahead_ms,
            "cursor_on_full_page": False,
            "rest_idle_timeout_s": 120,
            "pong_style": "private",
            "push_timeout_ms": 5000,
            "ws_max_size": 64 << 20,
        }
        self.conns = {}  # conn_id -> Conn
        self.events = collections.deque(maxlen=args.max_events)
        self.event_seq = 0
        self.counters = collections.defaultdict(collections.Counter)
        self.waiters = []
        self.auth_rules = []  # {"account","remaining","ret_msg","then"}
        self.sub_rules = []
        self.upgrade_rules = []  # {"status","remaining","body"}
        self.sticky = []  # {"scope","when","remaining","action":{...}}
        self.rest_rules = []  # {"mode",...}
        self.data = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
        self.canned = {}  # (METHOD, path) -> {"result":..., "retCode":..., ...}
        self.apikey_info = {}  # key -> overrides of /v5/user/query-api's result
        self.cursors = {}  # decoded cursor -> dict
        self.rest_tcp_seq = 0
        self.ws_listener = None
        self.rest_listener = None
        self.old_ws_servers = []
        self.old_rest_servers = []
        self.ws_sock = None
        self.rest_sock = None
        self.stop_event = None
        self.rest_writers = set()
        self.tls_pending = 0  # handshakes begun and not ended (see tls_reaper)

    # -- clock, events, counters ----------------------------------------------------------------

    def now_ms(self):
        return int(time.time() * 1000) + self.skew_ms

    def event(self, etype, **kw):
        self.event_seq += 1
        ev = {"seq": self.event_seq, "type": etype, "t": self.now_ms(), "wall_ms": int(time.time() * 1000)}
        ev.update(kw)
        self.events.append(ev)
        self.notify()
        return ev

    def count(self, name, account=None, n=1):
        self.counters["*"][name] += n
        if account is not None:
            self.counters[account][name] += n
        self.notify()

    def notify(self):
        waiters, self.waiters = self.waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def counter_value(self, name, account=None):
        if name == "open":
            return sum(1 for c in self.conns.values() if account is None or c.account == account)
        if name == "authed_open":
            return sum(1 for c in self.conns.values() if c.authed and (account is None or c.account == account))
        if name == "subscribed_open":
            return sum(1 for c in self.conns.values() if c.topics and (account is None or c.account == account))
        return self.counters["*" if account is None else account][name]

    # -- TLS --------------------------------------------------------------------------------------

    def cert_files(self, which, key):
        keys = ("ec", "rsa") if key == "both" else (key,)
        out = []
        for k in keys:
            pem = os.path.join(self.dir, "%s-%s.pem" % (which, k))
            kf = os.path.join(self.dir, "%s-%s.key" % (which, k))
            if not (os.path.exists(pem) and os.path.exists(kf)):
                raise CommandError("missing %s / %s: run tests/peer/mkcerts.sh %s" % (pem, kf, self.dir))
            out.append((pem, kf))
        return out

    def make_ssl_context(self, listener):
        which, key = self.cert
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.options |= ssl.OP_NO_TICKET | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
        try:
            ctx.num_tickets = 0
        except (AttributeError, ValueError):
            pass
        if self.tls12_only:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        for pem, kf in self.cert_files(which, key):
            ctx.load_cert_chain(pem, kf)
        peer = self

        def sni(sslobj, server_name, _ctx):
            peer.count("tls_hellos")
            try:
                sslobj._fr_sni = server_name
                sslobj._fr_state["sni"] = server_name
            except (AttributeError, KeyError, TypeError):
                pass
            return None

        ctx.sni_callback = sni

        class RecordingSSLObject(ssl.SSLObject):
            """Records the outcome of each server-side handshake (asyncio hides failures)."""

            def do_handshake(self):
                st = self.__dict__.get("_fr_state")
                if st is None:
                    # the handshake's end is recorded below, or (when the client just closes,
                    # e.g. an asyncio client that does not flush its alert) when this object goes
                    st = self._fr_state = {"done": False, "listener": listener, "cert": "%s-%s" % (which, key)}
                    peer.tls_pending += 1
                    weakref.finalize(self, peer.tls_gone, st)
                try:
                    super().do_handshake()
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    raise
                except Exception as e:  # noqa: BLE001 - recorded, then re-raised
                    st["done"] = True
                    peer.tls_pending -= 1
                    peer.count("tls_fail")
                    peer.event("tls_fail", listener=listener, cert=st["cert"], sni=st.get("sni"),
                               reason=getattr(e, "reason", None), error=str(e)[:300])
                    log.info("%s TLS handshake failed (cert %s-%s): %s", listener, which, key, e)
                    raise
                if not st["done"]:
                    st["done"] = True
                    peer.tls_pending -= 1
                peer.count("tls_ok")

        ctx.sslobject_class = RecordingSSLObject
        return ctx

    def tls_gone(self, st):
        if not st["done"]:
            st["done"] = True
            self.tls_pending -= 1
            self.count("tls_fail")
            self.event("tls_fail", listener=st["listener"], cert=st["cert"], sni=st.get("sni"),
                       reason="EOF_IN_HANDSHAKE", error="the client closed during the handshake")
            log.info("%s TLS handshake abandoned by the client (cert %s)", st["listener"], st["cert"])

    async def tls_reaper(self):
        """A handshake the client abandons by closing the socket ends inside asyncio without
        telling the SSL object; its end is seen when the object is collected. Objects of
        aborted connections sit in reference cycles, so collect while some are pending."""
        while True:
            await asyncio.sleep(0.25)
            if self.tls_pending > 0:
                gc.collect()

    @staticmethod
    def tls_info(transport):
        obj = transport.get_extra_info("ssl_object") if transport else None
        if obj is None:
            return {}
        c = obj.cipher()
        return {
            "version": obj.version(),
            "cipher": c[0] if c else None,
            "sni": getattr(obj, "_fr_sni", None),
            "session_reused": obj.session_reused,
        }

    # -- listeners --------------------------------------------------------------------------------

    @staticmethod
    def bind(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        s.setblocking(False)
        return s

    async def start_ws_listener(self, sock):
        return await websockets.serve(
            self.ws_handler,
            sock=sock,
            ssl=self.make_ssl_context("ws"),
            process_request=self.ws_process_request,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=2,
            compression=None,
            max_size=self.config["ws_max_size"],
            max_queue=1024,
            server_header=None,
        )

    async def start_rest_listener(self, sock):
        return await asyncio.start_server(self.rest_client, sock=sock,
                                          ssl=self.make_ssl_context("rest"),
                                          ssl_handshake_timeout=10, limit=1 << 16)

    async def switch_cert(self, which, key):
        """New certificate for new connections: the listening sockets stay (their backlog
        too); the servers that accept from them are replaced by ones with a fresh SSLContext
        (so no TLS session made under the old certificate can be resumed). Open connections
        keep the certificate they were made with."""
        self.cert_files(which, key)  # fail before changing anything
        old = self.cert
        self.cert = (which, key)
        try:
            ws_sock = self.ws_sock.dup()
            rest_sock = self.rest_sock.dup()
            ws_sock.setblocking(False)
            rest_sock.setblocking(False)
            new_ws = await self.start_ws_listener(ws_sock)
            new_rest = await self.start_rest_listener(rest_sock)
        except Exception:
            self.cert = old
            raise
        # the old servers stop accepting; their connections stay open
        self.ws_listener.server.close()
        self.rest_listener.close()
        self.old_ws_servers.append(self.ws_listener)
        self.old_rest_servers.append(self.rest_listener)
        self.ws_listener, self.rest_listener = new_ws, new_rest
        self.ws_sock, self.rest_sock = ws_sock, rest_sock
        self.event("cert", cert="%s-%s" % (which, key))
        log.info("certificate for new connections: %s-%s", which, key)

    # -- private stream ---------------------------------------------------------------------------

    def ws_process_request(self, path, headers):
        p = path.partition("?")[0]
        if p != "/v5/private":
            self.event("ws_reject", path=path, status=404, reason="unknown path")
            return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"404 page not found\n")
        for rule in self.upgrade_rules:
            if rule["remaining"] != 0:
                if rule["remaining"] > 0:
                    rule["remaining"] -= 1
                self.count("upgrade_rejected")
                self.event("ws_reject", path=path, status=rule["status"], reason="commanded")
                body = rule.get("body", "").encode("utf-8")
                return (http.HTTPStatus(rule["status"]), [("Content-Type", "text/plain")], body)
        self.upgrade_rules = [r for r in self.upgrade_rules if r["remaining"] != 0]
        return None

    async def ws_handler(self, ws, path=None):
        cid = new_conn_id()
        while cid in self.conns:
            cid = new_conn_id()
        conn = Conn(ws, cid, self.now_ms())
        conn.tls = self.tls_info(ws.transport)
        self.conns[cid] = conn
        self.count("connects")
        self.event("connect", conn=cid, remote=conn.remote, path=conn.path, tls=conn.tls,
                   user_agent=conn.headers.get("User-Agent"), host=conn.headers.get("Host"))
        log.info("ws connect %s from %s %s", cid, conn.remote, conn.tls)
        try:
            await self.apply_sticky(conn, "connect")
            async for msg in ws:
                conn.msgs_in += 1
                self.count("ws_msgs_in", conn.account)
                if conn.stalled:
                    self.event("ignored_stalled", conn=cid, account=conn.account,
                               text=msg[:200] if isinstance(msg, str) else None)
                    continue
                await self.on_ws_message(conn, msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        except Exception:  # noqa: BLE001 - a handler bug must not kill the process
            log.exception("ws handler for %s", cid)
        finally:
            conn.closed = True
            self.conns.pop(cid, None)
            self.count("disconnects", conn.account)
            self.event("disconnect", conn=cid, account=conn.account, code=ws.close_code,
                       reason=ws.close_reason, lifetime_ms=self.now_ms() - conn.opened_ms)
            log.info("ws disconnect %s account=%s code=%s", cid, conn.account, ws.close_code)

    async def send_text(self, conn, text, ignore_stall=False):
        """Every message to a client goes through here (fragmentation, stall, counting)."""
        if conn.closed:
            return False
        if conn.stalled and not ignore_stall:
            self.event("send_skipped_stalled", conn=conn.id, account=conn.account)
            return False
        try:
            async with conn.lock:
                frag = conn.frag
                if frag and frag["remaining"] != 0:
                    if frag["remaining"] > 0:
                        frag["remaining"] -= 1
                        if frag["remaining"] == 0:
                            conn.frag = None
                    await self.send_fragmented(conn, text, frag)
                else:
                    await conn.ws.send(text)
        except websockets.exceptions.ConnectionClosed:
            return False
        conn.msgs_out += 1
        self.count("ws_msgs_out", conn.account)
        return True

    async def send_fragmented(self, conn, text, frag):
        size = max(1, int(frag["size"]))
        delay = frag.get("delay_ms", 0) / 1000
        if frag.get("mode", "lib") == "raw":
            data = text.encode("utf-8")
            pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
            tr = conn.ws.transport
            for i, p in enumerate(pieces):
                last = i == len(pieces) - 1
                if tr.is_closing():
                    raise websockets.exceptions.ConnectionClosedError(None, None)
                tr.write(ws_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=last))
                if frag.get("ping_between") and not last:
                    tr.write(ws_frame(OP_PING, b"peer"))
                if delay and not last:
                    await asyncio.sleep(delay)
            self.event("sent_fragmented", conn=conn.id, account=conn.account, mode="raw",
                       frames=len(pieces), bytes=len(data))
        else:
            pieces = split_utf8(text, size)

            async def gen():
                for i, p in enumerate(pieces):
                    if i and delay:
                        await asyncio.sleep(delay)
                    yield p

            await conn.ws.send(gen() if delay else pieces)
            self.event("sent_fragmented", conn=conn.id, account=conn.account, mode="lib",
                       frames=len(pieces) + 1, bytes=len(text.encode("utf-8")))

    def reply_obj(self, conn, req_id, body):
        """Puts req_id first when the request had one (as Bybit does), then body's keys."""
        out = {}
        if req_id is not None:
            out["req_id"] = req_id
        out.update(body)
        return out

    async def on_ws_message(self, conn, msg):
        if isinstance(msg, bytes):
            self.count("ws_bad_in", conn.account)
            self.event("ws_bad_in", conn=conn.id, account=conn.account, reason="binary frame", bytes=len(msg))
            return
        try:
            obj = json.loads(msg)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self.count("ws_bad_in", conn.account)
            self.event("ws_bad_in", conn=conn.id, account=conn.account, reason="not a JSON object", text=msg[:300])
            await self.send_text(conn, jdump({"success": False, "ret_msg": "error:request not json",
                                              "conn_id": conn.id, "op": ""}))
            return
        op = obj.get("op")
        req_id = obj.get("req_id")
        if op == "ping":
            await self.on_ping(conn, obj, req_id)
        elif op == "auth":
            await self.on_auth(conn, obj, req_id)
        elif op in ("subscribe", "unsubscribe"):
            await self.on_subscribe(conn, obj, req_id, op)
        else:
            self.count("ws_bad_in", conn.account)
            self.event("ws_bad_in", conn=conn.id, account=conn.account, reason="unknown op", op=op)
            await self.send_text(conn, jdump(self.reply_obj(conn, req_id, {
                "success": False, "ret_msg": "error:handler not found, op:%s" % (op,),
                "conn_id": conn.id, "op": op if isinstance(op, str) else ""})))

    async def on_ping(self, conn, obj, req_id):
        now = self.now_ms()
        prev = conn.last_ping_ms
        conn.pings += 1
        conn.last_ping_ms = now
        self.count("pings", conn.account)
        style = conn.pong_style or self.config["pong_style"]
        self.event("ping", conn=conn.id, account=conn.account, req_id=req_id, style=style,
                   since_last_ms=None if prev is None else now - prev)
        if style == "none":
            return
        if style == "public":
            body = self.reply_obj(conn, None, {"success": True, "ret_msg": "pong", "conn_id": conn.id})
            if req_id is not None:
                body["req_id"] = req_id
            body["op"] = "ping"
        else:
            body = self.reply_obj(conn, req_id, {"op": "pong", "args": [str(now)], "conn_id": conn.id})
        await self.send_text(conn, jdump(body))

    def take_rule(self, rules, account):
        for r in rules:
            if r["remaining"] != 0 and r.get("account") in (None, "*", account):
                if r["remaining"] > 0:
                    r["remaining"] -= 1
                return r
        return None

    async def on_auth(self, conn, obj, req_id):
        now = self.now_ms()
        args = obj.get("args")
        key = expires = sig = None
        reason = None
        ret_msg = "Params Error"
        expires_type = None
        if conn.authed:
            reason, ret_msg = "repeat_auth", "Repeat auth"
        elif not isinstance(args, list) or len(args) != 3:
            reason = "bad_args"
        else:
            key, exp_raw, sig = args
            expires_type = type(exp_raw).__name__
            try:
                expires = as_int(exp_raw, "expires")
            except ValueError:
                reason = "bad_expires"
            if reason is None and (not isinstance(key, str) or not isinstance(sig, str)):
                reason = "bad_args"
            if reason is None:
                if key not in self.accounts:
                    reason, ret_msg = "unknown_key", "Invalid apikey"
                elif expires <= now:
                    reason = "expired"
                elif expires > now + self.config["auth_max_ahead_ms"]:
                    reason = "too_far_ahead"
                else:
                    want = hmac.new(self.accounts[key].encode(), ("GET/realtime%d" % expires).encode(),
                                    hashlib.sha256).hexdigest()
                    if sig != want:
                        reason = "bad_signature_case" if sig.lower() == want else "bad_signature"
                        ret_msg = "Invalid sign"
        forced = None
        if reason != "repeat_auth":
            forced = self.take_rule(self.auth_rules, key if isinstance(key, str) else None)
        if forced is not None:
            self.auth_rules = [r for r in self.auth_rules if r["remaining"] != 0]
            valid_otherwise = reason is None
            reason, ret_msg = "forced", forced.get("ret_msg", "Params Error")
        acct = key if isinstance(key, str) else None
        ev = dict(conn=conn.id, key=acct, req_id=req_id, expires=expires, expires_type=expires_type,
                  expires_minus_now_ms=None if expires is None else expires - now)
        if reason is None:
            conn.authed = True
            conn.account = key
            self.count("auth_ok", key)
            self.event("auth", ok=True, account=key, **ev)
            log.info("ws auth ok %s account=%s", conn.id, key)
            await self.send_text(conn, jdump(self.reply_obj(conn, req_id, {
                "success": True, "ret_msg": "", "op": "auth", "conn_id": conn.id})))
            await self.apply_sticky(conn, "auth")
            return
        self.count("auth_fail", acct)
        if forced is not None:
            ev["valid_otherwise"] = valid_otherwise
        self.event("auth", ok=False, account=acct, reason=reason, ret_msg=ret_msg, **ev)
        log.info("ws auth FAILED %s key=%s reason=%s", conn.id, acct, reason)
        then = forced.get("then", "keep") if forced else "keep"
        if then != "silent":
            body = {"conn_id": conn.id, "op": "auth", "ret_msg": ret_msg, "success": False}
            await self.send_text(conn, jdump(self.reply_obj(conn, req_id, body)))
        if then == "close":
            asyncio.ensure_future(conn.ws.close(1000, ""))
        elif then == "drop":
            conn.ws.transport.abort()

    async def on_subscribe(self, conn, obj, req_id, op):
        args = obj.get("args")
        reason = None
        ret_msg = ""
        if not conn.authed:
            reason, ret_msg = "not_authed", "Request not authorized"
        elif not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            reason, ret_msg = "bad_args", "Params Error"
        else:
            unknown = [a for a in args if a not in KNOWN_TOPICS]
            if unknown:
                reason, ret_msg = "invalid_topic", "Invalid topic: " + unknown[0]
            elif any(a in ALL_IN_ONE_TOPICS for a in args) and any(a in CATEGORISED_TOPICS for a in args):
                reason = "mixed_topics"
                ret_msg = "error:all-in-one topics and categorised topics cannot be in one request"
        if reason is None and op == "subscribe":
            forced = self.take_rule(self.sub_rules, conn.account)
            if forced is not None:
                self.sub_rules = [r for r in self.sub_rules if r["remaining"] != 0]
                reason, ret_msg = "forced", forced.get("ret_msg", "Invalid topic")
        ok = reason is None
        if ok:
            if op == "subscribe":
                conn.topics.update(args)
            else:
                conn.topics.difference_update(args)
        self.count(("subscribe_" if op == "subscribe" else "unsubscribe_") + ("ok" if ok else "fail"), conn.account)
        self.event(op, ok=ok, conn=conn.id, account=conn.account, args=args, reason=reason,
                   ret_msg=ret_msg or None, req_id=req_id, topics=sorted(conn.topics))
        log.info("ws %s %s %s account=%s args=%s", op, "ok" if ok else "FAILED " + reason, conn.id, conn.account, args)
        if ok:
            body = self.reply_obj(conn, req_id, {"success": True, "ret_msg": "", "op": op, "conn_id": conn.id})
        else:
            body = {"success": False, "ret_msg": ret_msg, "conn_id": conn.id}
            if req_id is not None:
                body["req_id"] = req_id
            body["op"] = op
        await self.send_text(conn, jdump(body))
        if ok and op == "subscribe":
            await self.apply_sticky(conn, "subscribe")

    # -- targets and actions on connections -------------------------------------------------------

    def select(self, cmd, authed_only=False):
        cid = cmd.get("conn")
        acct = cmd.get("account")
        if cid is not None:
            c = self.conns.get(cid)
            if c is None:
                raise CommandError("no open connection %r" % cid)
            return [c]
        out = []
        for c in list(self.conns.values()):
            if acct not in (None, "*") and c.account != acct:
                continue
            if authed_only and not c.authed:
                continue
            out.append(c)
        return out

    async def apply_sticky(self, conn, when):
        for rule in self.sticky:
            if rule["remaining"] == 0 or rule["when"] != when:
                continue
            if rule["scope"] not in (None, "*") and rule["scope"] != conn.account:
                continue
            if rule["remaining"] > 0:
                rule["remaining"] -= 1
            self.event("sticky_applied", conn=conn.id, account=conn.account, when=when, action=rule["action"]["action"])
            await self.act(conn, rule["action"])
        self.sticky = [r for r in self.sticky if r["remaining"] != 0]

    async def act(self, conn, cmd):
        """One misbehaviour on one connection. Returns a short note."""
        a = cmd["action"]
        ws = conn.ws
        if a == "drop":
            self.event("misbehave", action=a, conn=conn.id, account=conn.account)
            ws.transport.abort()
            return "dropped"
        if a == "close":
            code = int(cmd.get("code", 1000))
            reason = str(cmd.get("reason", ""))
            self.event("misbehave", action=a, conn=conn.id, account=conn.account, code=code)
            asyncio.ensure_future(ws.close(code, reason))
            return "closing"
        if a == "stall":
            conn.stalled = True
            if cmd.get("pause_reading", True):
                ws.transport.pause_reading()
                conn.paused = True
            self.event("misbehave", action=a, conn=conn.id, account=conn.account,
                       pause_reading=conn.paused)
            if conn.paused:
                asyncio.ensure_future(self.watch_stalled(conn))
            return "stalled"
        if a == "unstall":
            conn.stalled = False
            if conn.paused:
                ws.transport.resume_reading()
                conn.paused = False
            self.event("misbehave", action=a, conn=conn.id, account=conn.account)
            return "unstalled"
        if a == "fragment":
            size = int(cmd.get("size", 0))
            if size <= 0:
                conn.frag = None
                return "fragmentation off"
            mode = cmd.get("mode", "lib")
            if mode not in ("lib", "raw"):
                raise CommandError("fragment mode is lib or raw")
            conn.frag = {"size": size, "remaining": int(cmd.get("count", 1)), "mode": mode,
                         "delay_ms": int(cmd.get("delay_ms", 0)), "ping_between": bool(cmd.get("ping_between", False))}
            self.event("misbehave", action=a, conn=conn.id, account=conn.account, **conn.frag)
            return "fragmenting"
        if a == "pong_style":
            style = cmd.get("style", "private")
            if style not in ("private", "public", "none"):
                raise CommandError("style is private, public or none")
            conn.pong_style = style
            return "pong style " + style
        if a == "huge":
            n = int(cmd.get("bytes", 1 << 20))
            text = self.huge_text(n, cmd.get("topic", "execution"))
            self.event("misbehave", action=a, conn=conn.id, account=conn.account, bytes=len(text.encode()))
            ok = await self.send_text(conn, text, ignore_stall=True)
            return "sent %d bytes" % len(text.encode()) if ok else "not sent"
        if a == "malformed":
            kind = cmd.get("kind", "bad_utf8")
            data = self.malformed_bytes(kind, cmd)
            self.event("misbehave", action=a, kind=kind, conn=conn.id, account=conn.account, bytes=len(data))
            async with conn.lock:
                if not ws.transport.is_closing():
                    ws.transport.write(data)
            then = cmd.get("then")
            if then == "drop":
                await asyncio.sleep(0.05)
                ws.transport.abort()
            return "wrote %s" % kind
        if a == "raw":
            data = cmd.get("hex")
            data = bytes.fromhex(data) if data else cmd.get("text", "").encode("utf-8")
            self.event("misbehave", action=a, conn=conn.id, account=conn.account, bytes=len(data))
            async with conn.lock:
                if not ws.transport.is_closing():
                    ws.transport.write(data)
            return "wrote raw"
        raise CommandError("unknown action %r" % a)

    async def watch_stalled(self, conn):
        """While reading is paused asyncio cannot see the client go away; the kernel can:
        a client that closes (FIN: CLOSE_WAIT) or resets (CLOSE) its end ends the connection
        here too, so `open` counts stay true while a client's watchdog reconnects."""
        sock = conn.ws.transport.get_extra_info("socket")
        while conn.paused and not conn.closed and sock is not None:
            await asyncio.sleep(0.2)
            try:
                state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
            except (OSError, ValueError):
                break
            if state in (7, 8):  # TCP_CLOSE, TCP_CLOSE_WAIT
                self.event("stalled_closed_by_client", conn=conn.id, account=conn.account)
                log.info("ws %s: the client closed its end during the stall", conn.id)
                conn.ws.transport.abort()
                break

    def huge_text(self, n, topic):
        head = '{"topic":%s,"id":"huge","creationTime":%d,"data":[],"pad":"' % (json.dumps(topic), self.now_ms())
        tail = '"}'
        pad = max(0, n - len(head) - len(tail))
        return head + "x" * pad + tail

    @staticmethod
    def malformed_bytes(kind, cmd):
        j = b'{"topic":"execution","data":[]}'
        if kind == "bad_utf8":
            return ws_frame(OP_TEXT, b'{"topic":"execution","data":["\xff\xfe\xc3"]}')
        if kind == "bad_opcode":
            return ws_frame(0x3, j)
        if kind == "bad_control_opcode":
            return ws_frame(0xB, b"")
        if kind == "rsv":
            return ws_frame(OP_TEXT, j, rsv=4)
        if kind == "masked":
            return ws_frame(OP_TEXT, j, mask=True)
        if kind == "orphan_continuation":
            return ws_frame(OP_CONT, j)
        if kind == "long_control":
            return ws_frame(OP_PING, b"p" * 126)
        if kind == "fragmented_control":
            return ws_frame(OP_PING, b"p", fin=False)
        if kind == "bad_close":
            return ws_frame(OP_CLOSE, b"\x03")
        if kind == "bad_close_code":
            return ws_frame(OP_CLOSE, struct.pack("!H", 1005))
        if kind == "huge_header":
            return ws_frame(OP_TEXT, b"", length=int(cmd.get("length", (1 << 63) - 1)))
        if kind == "nonminimal_length":
            return ws_frame(OP_TEXT, j, nonminimal=True)
        if kind == "binary":
            return ws_frame(OP_BINARY, j)
        if kind == "bad_json":
            return ws_frame(OP_TEXT, b'{"topic":"execution","data":[{"execId":')
        if kind == "new_message_mid_fragment":
            return ws_frame(OP_TEXT, j[:10], fin=False) + ws_frame(OP_TEXT, j)
        raise CommandError("unknown malformed kind %r" % kind)

    # -- REST -------------------------------------------------------------------------------------

    async def rest_client(self, reader, writer):
        self.rest_tcp_seq += 1
        tcp = self.rest_tcp_seq
        tls = self.tls_info(writer.transport)
        peername = writer.get_extra_info("peername")
        self.count("rest_tcp")
        self.event("rest_connect", tcp=tcp, tls=tls, remote="%s:%s" % tuple(peername[:2]) if peername else "?")
        self.rest_writers.add(writer)
        n = 0
        try:
            while True:
                try:
                    req = await asyncio.wait_for(read_http_request(reader),
                                                 timeout=self.config["rest_idle_timeout_s"])
                except asyncio.TimeoutError:
                    break
                except HttpError as e:
                    self.event("rest_bad_http", tcp=tcp, error=str(e))
                    await write_http_response(writer, 400, jdump({"error": str(e)}), keep_alive=False)
                    break
                if req is None:
                    break
                n += 1
                keep = await self.rest_request(req, writer, tcp, n)
                if not keep or req.header("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except Exception:  # noqa: BLE001
            log.exception("rest connection %d", tcp)
        finally:
            self.rest_writers.discard(writer)
            self.event("rest_disconnect", tcp=tcp, requests=n)
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    def rest_verify(self, req, now):
        """Bybit's checks for a signed request. -> (account, reason or None, retCode, retMsg, info)"""
        key = req.header("x-bapi-api-key")
        ts_s = req.header("x-bapi-timestamp")
        rw_s = req.header("x-bapi-recv-window")
        sign = req.header("x-bapi-sign")
        info = {"ts": ts_s, "recv_window": rw_s}
        if not key or key not in self.accounts:
            return key, "unknown_key" if key else "missing_key", 10003, "API key is invalid.", info
        if ts_s is None or not re.fullmatch(r"[0-9]{1,19}", ts_s):
            return key, "bad_timestamp", 10002, "invalid request, please check your server timestamp or recv_window param", info
        ts = int(ts_s)
        rw = 5000
        if rw_s is not None:
            if not re.fullmatch(r"[0-9]{1,19}", rw_s):
                return key, "bad_recv_window", 10001, "params error: recv_window", info
            rw = int(rw_s)
        info["ts_minus_server_ms"] = ts - now
        if ts >= now + 1000 or ts < now - rw:
            msg = ("invalid request, please check your server timestamp or recv_window param. "
                   "req_timestamp[%d],server_timestamp[%d],recv_window[%d]" % (ts, now, rw))
            return key, "timestamp_ahead" if ts >= now + 1000 else "timestamp_too_old", 10002, msg, info
        payload = req.query if req.method == "GET" else req.body.decode("utf-8", "replace")
        origin = "%s%s%s%s" % (ts_s, key, rw_s if rw_s is not None else "", payload)
        want = hmac.new(self.accounts[key].encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not sign:
            return key, "missing_sign", 10004, "error sign! origin_string[%s]" % origin, info
        if sign != want:
            reason = "bad_sign_case" if sign.lower() == want else "bad_sign"
            return key, reason, 10004, "error sign! origin_string[%s]" % origin, info
        return key, None, 0, "OK", info

    def rest_rule(self, account, path, modes):
        for r in self.rest_rules:
            if r["mode"] not in modes or r["remaining"] == 0:
                continue
            if r.get("account") not in (None, "*", account):
                continue
            if r.get("path") not in (None, path):
                continue
            if r["remaining"] > 0:
                r["remaining"] -= 1
            return r
        return None

    async def rest_request(self, req, writer, tcp, n):
        now = self.now_ms()
        rec = {"tcp": tcp, "req": n, "method": req.method, "path": req.path, "query": req.query,
               "host": req.header("host"), "user_agent": req.header("user-agent")}
        public = req.path == "/v5/market/time"
        routes = {"/v5/execution/list", "/v5/position/list", "/v5/order/realtime", "/v5/order/history",
                  "/v5/user/query-api"}
        known = public or req.path in routes or (req.method, req.path) in self.canned
        account, reason, code, msg = None, None, 0, "OK"
        if known and not public:
            account, reason, code, msg, info = self.rest_verify(req, now)
            rec.update(info)
            rec["account"] = account
            rec["verified"] = reason is None
            rec["reason"] = reason
        self.count("rest_requests", account)
        if known and not public:
            self.count("rest_verified" if reason is None else "rest_rejected", account)
        # faults commanded by the test come first (a real ban or rate limit does not look at
        # the signature)
        fault = self.rest_rule(account, req.path, ("ratelimit", "ban", "error", "stall", "close"))
        if fault is not None:
            rec["fault"] = fault["mode"]
        mods = [r for r in self.rest_rules if r["mode"] in ("chunked", "delay") and r["remaining"] != 0
                and r.get("account") in (None, "*", account) and r.get("path") in (None, req.path)]
        chunk = next((r for r in mods if r["mode"] == "chunked"), None)
        delay = next((r for r in mods if r["mode"] == "delay"), None)
        for r in (chunk, delay):
            if r is not None and r["remaining"] > 0:
                r["remaining"] -= 1
        self.rest_rules = [r for r in self.rest_rules if r["remaining"] != 0]
        chunk_size = int(chunk.get("chunk_size", 16)) if chunk else 0
        chunk_delay = int(chunk.get("chunk_delay_ms", 0)) if chunk else 0
        if delay:
            await asyncio.sleep(int(delay.get("delay_ms", 1000)) / 1000)
            now = self.now_ms()
        headers = {"Timenow": str(now), "Traceid": "%032x" % random.getrandbits(128)}
        if fault is not None:
            m = fault["mode"]
            if m == "stall":
                rec.update(http=None, retCode=None)
                self.event("rest", **rec)
                await asyncio.sleep(int(fault.get("ms", 3600 * 1000)) / 1000)
                return False
            if m == "close":
                rec.update(http=None, retCode=None)
                self.event("rest", **rec)
                writer.transport.abort()
                return False
            if m == "ratelimit":
                status = int(fault.get("http", 429))
                body = fault.get("body") or jdump({"retCode": 10006, "retMsg": "Too many visits. Exceeded the API Rate Limit.",
                                                   "result": {}, "retExtInfo": {}, "time": now})
                headers.update({"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                                "X-Bapi-Limit-Reset-Timestamp": str(now + int(fault.get("reset_ms", 1000)))})
                rc = 10006
            elif m == "ban":
                status = int(fault.get("http", 403))
                body = fault.get("body") or "<html><body><h1>403 Forbidden</h1>\nYour IP is banned.\n</body></html>\n"
                headers["Content-Type"] = "text/html"
                rc = None
            else:  # error
                status = int(fault.get("http", 200))
                rc = int(fault.get("retCode", 10016))
                body = fault.get("body") or jdump({"retCode": rc, "retMsg": fault.get("retMsg", "Internal system error."),
                                                   "result": {}, "retExtInfo": {}, "time": now})
            return await self.rest_answer(writer, rec, status, body, headers, rc, chunk_size, chunk_delay)
        if not known:
            rec["reason"] = "unknown_path"
            body = jdump({"retCode": 10017, "retMsg": "route not found", "result": {}, "retExtInfo": {}, "time": now})
            return await self.rest_answer(writer, rec, 404, body, headers, 10017, 0, 0)
        if reason is not None:
            body = jdump({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now})
            return await self.rest_answer(writer, rec, 200, body, headers, code, chunk_size, chunk_delay)
        if not public:
            headers.update({"X-Bapi-Limit": "50", "X-Bapi-Limit-Status": "49",
                            "X-Bapi-Limit-Reset-Timestamp": str(now + 1000)})
        q, qraw, dups = parse_query(req.query)
        if dups:
            rec["duplicate_params"] = dups
        try:
            if public:
                result = {"timeSecond": str(now // 1000), "timeNano": str(now * 1000000)}
            elif (req.method, req.path) in self.canned:
                c = self.canned[(req.method, req.path)]
                if c.get("retCode", 0) != 0:
                    raise RestParamError(c["retCode"], c.get("retMsg", "error"))
                result = c.get("result", {})
            elif req.method != "GET":
                raise RestParamError(10001, "params error: method must be GET")
            elif req.path == "/v5/execution/list":
                result = self.rest_execution_list(account, q, qraw, rec, now)
            elif req.path == "/v5/position/list":
                result = self.rest_position_list(account, q, qraw, rec)
            elif req.path == "/v5/user/query-api":
                result = self.rest_query_api(account, now)
            else:
                result = self.rest_order_list(account, q, qraw, rec, req.path.rsplit("/", 1)[1])
        except RestParamError as e:
            rec["reason"] = "params"
            rec["params_error"] = e.msg
            body = jdump({"retCode": e.code, "retMsg": e.msg, "result": {}, "retExtInfo": {}, "time": now})
            return await self.rest_answer(writer, rec, 200, body, headers, e.code, chunk_size, chunk_delay)
        body = jdump({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now})
        return await self.rest_answer(writer, rec, 200, body, headers, 0, chunk_size, chunk_delay)

    async def rest_answer(self, writer, rec, status, body, headers, rc, chunk_size, chunk_delay):
        rec.update(http=status, retCode=rc, chunked=chunk_size > 0)
        if rc is not None:
            headers["Ret_code"] = str(rc)
        self.count("rest_http_%d" % status, rec.get("account"))
        self.event("rest", **rec)
        log.info("rest %s %s?%s -> %d retCode=%s%s", rec["method"], rec["path"], rec["query"][:120], status, rc,
                 "" if rec.get("reason") is None else " (%s)" % rec["reason"])
        await write_http_response(writer, status, body, headers, keep_alive=True,
                                  chunk_size=chunk_size, chunk_delay_ms=chunk_delay)
        return True

    def check_category(self, q, allowed):
        cat = q.get("category")
        if not cat:
            raise RestParamError(10001, "params error: category is required")
        if cat not in allowed:
            raise RestParamError(10001, "params error: category %s is not supported" % cat)
        return cat

    @staticmethod
    def check_limit(q, default, maximum):
        if "limit" not in q or q["limit"] == "":
            return default
        try:
            lim = int(q["limit"])
        except ValueError:
            raise RestParamError(10001, "params error: limit")
        if lim < 1 or lim > maximum:
            raise RestParamError(10001, "params error: limit must be in [1, %d]" % maximum)
        return lim

    def page(self, items, keyfn, q, qraw, rec, limit, kind, account, category, symbol):
        """Keyset paging with Bybit-style percent-encoded cursors that must come back verbatim."""
        start = 0
        if q.get("cursor"):
            raw = qraw["cursor"]
            dec = q["cursor"]
            ent = self.cursors.get(dec)
            verbatim = ent is not None and urllib.parse.quote(dec, safe="") == raw
            if not verbatim:
                why = "unknown"
                if urllib.parse.unquote(dec) in self.cursors:
                    why = "double_encoded"
                elif ent is not None:
                    why = "encoded_differently"
                elif "=" in raw or "&" in dec or ":" in raw:
                    why = "not_encoded"
                rec["cursor"] = {"verbatim": False, "why": why, "raw": raw}
                raise RestParamError(10001, "params error: cursor is invalid")
            if ent["kind"] != kind or ent["account"] != account or ent["category"] != category:
                rec["cursor"] = {"verbatim": True, "mismatch": True}
                raise RestParamError(10001, "params error: cursor does not belong to this query")
            rec["cursor"] = {"verbatim": True}
            last = ent["key"]
            start = len(items)
            for i, it in enumerate(items):
                if keyfn(it) < last if ent["desc"] else keyfn(it) > last:
                    start = i
                    break
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        nxt = ""
        if chunk and (more or (self.config["cursor_on_full_page"] and len(chunk) == limit)):
            k = keyfn(chunk[-1])
            plain = "page_args=%s&symbol=%s&" % (":".join(str(x) for x in k), symbol or "")
            self.cursors[plain] = {"kind": kind, "account": account, "category": category, "key": k,
                                   "desc": kind != "position"}
            nxt = urllib.parse.quote(plain, safe="")
        rec["returned"] = len(chunk)
        rec["next_cursor"] = nxt
        return chunk, nxt

    def rest_execution_list(self, account, q, qraw, rec, now):
        cat = self.check_category(q, ("spot", "linear", "inverse", "option"))
        limit = self.check_limit(q, 50, 100)
        try:
            st = int(q["startTime"]) if q.get("startTime") else None
            et = int(q["endTime"]) if q.get("endTime") else None
        except ValueError:
            raise RestParamError(10001, "params error: startTime/endTime")
        if st is None and et is None:
            lo, hi = now - SEVEN_DAYS_MS, now
        elif et is None:
            lo, hi = st, st + SEVEN_DAYS_MS
        elif st is None:
            lo, hi = et - SEVEN_DAYS_MS, et
        else:
            if et < st:
                raise RestParamError(10001, "params error: endTime must not be before startTime")
            if et - st > SEVEN_DAYS_MS:
                raise RestParamError(10001, "params error: the time range between startTime and endTime cannot exceed 7 days")
            lo, hi = st, et
        rec["window"] = [lo, hi]
        items = []
        for it in self.data["execution"][account][cat]:
            t = int(it.get("execTime", "0"))
            if t < lo or t > hi:
                continue
            if q.get("symbol") and it.get("symbol") != q["symbol"]:
                continue
            if q.get("orderId") and it.get("orderId") != q["orderId"]:
                continue
            if q.get("orderLinkId") and it.get("orderLinkId") != q["orderLinkId"]:
                continue
            if q.get("execType") and it.get("execType") not in q["execType"].split(","):
                continue
            if q.get("baseCoin") and not str(it.get("symbol", "")).startswith(q["baseCoin"]):
                continue
            items.append(it)

        def key(it):
            return (int(it.get("execTime", "0")), str(it.get("execId", "")))

        items.sort(key=key, reverse=True)
        chunk, nxt = self.page(items, key, q, qraw, rec, limit, "execution", account, cat, q.get("symbol"))
        return {"nextPageCursor": nxt, "category": cat, "list": chunk}

    def rest_position_list(self, account, q, qraw, rec):
        cat = self.check_category(q, ("linear", "inverse", "option"))
        limit = self.check_limit(q, 20, 200)
        sym, settle = q.get("symbol"), q.get("settleCoin")
        if cat == "linear" and not sym and not settle:
            raise RestParamError(10001, "Missing some parameters that must be filled in, symbol or settleCoin")
        items = []
        for it in self.data["position"][account][cat]:
            if sym:
                if it.get("symbol") != sym:
                    continue
            else:
                if settle and not self.settles_in(it, settle):
                    continue
                if q.get("baseCoin") and not str(it.get("symbol", "")).startswith(q["baseCoin"]):
                    continue
                if str(it.get("size", "0")).strip("0.") == "":
                    continue  # by settleCoin (or baseCoin): flat positions are omitted
            items.append(it)

        def key(it):
            return (str(it.get("symbol", "")), int(it.get("positionIdx", 0)))

        items.sort(key=key)
        chunk, nxt = self.page(items, key, q, qraw, rec, limit, "position", account, cat, sym)
        return {"list": chunk, "nextPageCursor": nxt, "category": cat}

    def rest_query_api(self, account, now):
        """Get API Key Information (GET /v5/user/query-api), shaped like Bybit's docs example.
        readOnly, ips and expiredAt can be set per key with /apikey."""
        o = self.apikey_info.get(account, {})
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 30 * 86400000) // 1000))
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now + 60 * 86400000) // 1000))
        perms = {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": [], "Options": [],
                 "Derivatives": ["DerivativesTrade"], "CopyTrading": [], "BlockTrade": [], "Exchange": [],
                 "NFT": [], "Affiliate": [], "Earn": []}
        res = {"id": str(13770000 + sorted(self.accounts).index(account)), "note": "fillrelay test key",
               "apiKey": account, "readOnly": 1, "secret": "", "permissions": perms, "ips": ["*"],
               "type": 1, "deadlineDay": 60, "expiredAt": expires, "createdAt": created, "unified": 0,
               "uta": 1, "userID": 24617703, "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0",
               "affiliateID": 0, "rsaPublicKey": "", "isMaster": True, "parentUid": "0",
               "kycLevel": "LEVEL_DEFAULT", "kycRegion": ""}
        for k in ("readOnly", "ips", "expiredAt", "deadlineDay", "permissions", "note"):
            if k in o:
                res[k] = o[k]
        return res

    @staticmethod
    def settles_in(it, coin):
        if it.get("settleCoin"):
            return it["settleCoin"] == coin
        s = str(it.get("symbol", ""))
        if s.endswith("PERP") or re.search(r"-\d", s):
            return coin == "USDC"
        return s.endswith(coin)

    def rest_order_list(self, account, q, qraw, rec, which):
        cat = self.check_category(q, ("spot", "linear", "inverse", "option"))
        limit = self.check_limit(q, 20, 50)
        kind = "order_" + which
        items = []
        for it in self.data[kind][account][cat]:
            if q.get("symbol") and it.get("symbol") != q["symbol"]:
                continue
            if q.get("orderId") and it.get("orderId") != q["orderId"]:
                continue
            if q.get("orderLinkId") and it.get("orderLinkId") != q["orderLinkId"]:
                continue
            if q.get("settleCoin") and not self.settles_in(it, q["settleCoin"]):
                continue
            if q.get("orderStatus") and it.get("orderStatus") != q["orderStatus"]:
                continue
            items.append(it)

        def key(it):
            return (int(it.get("createdTime", "0") or 0), str(it.get("orderId", "")))

        items.sort(key=key, reverse=True)
        chunk, nxt = self.page(items, key, q, qraw, rec, limit, kind, account, cat, q.get("symbol"))
        return {"list": chunk, "nextPageCursor": nxt, "category": cat}

    # -- control channel --------------------------------------------------------------------------

    async def control_client(self, reader, writer):
        try:
            while True:
                try:
                    req = await read_http_request(reader)
                except HttpError as e:
                    await write_http_response(writer, 400, jdump({"ok": False, "error": str(e)}), keep_alive=False)
                    break
                if req is None:
                    break
                status, out = await self.control(req)
                await write_http_response(writer, status, jdump(out) + "\n", keep_alive=True)
                if req.header("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def control(self, req):
        q, _, _ = parse_query(req.query)
        body = {}
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as e:
                return 400, {"ok": False, "error": "body is not JSON: %s" % e}
            if not isinstance(body, dict):
                return 400, {"ok": False, "error": "body must be a JSON object"}
        # GET query parameters work as body fields too (curl -G --data-urlencode ...)
        for k, v in q.items():
            body.setdefault(k, v)
        name = req.path.strip("/").replace("-", "_")
        fn = getattr(self, "cmd_" + name, None)
        if fn is None:
            return 404, {"ok": False, "error": "unknown command %r" % req.path}
        try:
            out = await fn(body)
        except CommandError as e:
            return 400, {"ok": False, "error": str(e)}
        except (KeyError, ValueError, TypeError) as e:
            return 400, {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        if isinstance(out, tuple):
            return out
        out = dict(out or {})
        out.setdefault("ok", True)
        return 200, out

    async def cmd_health(self, _):
        return {"now_ms": self.now_ms()}

    async def cmd_state(self, b):
        acct = b.get("account")
        conns = [c.summary() for c in self.conns.values() if acct in (None, "*") or c.account == acct]
        per = {}
        for k in set(self.accounts) | {a for a in self.counters if a != "*"}:
            if acct not in (None, "*") and k != acct:
                continue
            per[k] = {"counters": dict(self.counters.get(k, {})),
                      "open": self.counter_value("open", k),
                      "conn_ids": [c.id for c in self.conns.values() if c.account == k]}
        return {
            "pid": os.getpid(),
            "now_ms": self.now_ms(),
            "skew_ms": self.skew_ms,
            "cert": "%s-%s" % self.cert,
            "tls12_only": self.tls12_only,
            "ports": {"ws": self.ws_sock.getsockname()[1], "rest": self.rest_sock.getsockname()[1]},
            "counters": dict(self.counters["*"]),
            "accounts": per,
            "connections": conns,
            "unauthenticated": [c.id for c in self.conns.values() if not c.authed],
            "rules": {"auth": self.auth_rules, "subscribe": self.sub_rules, "upgrade": self.upgrade_rules,
                      "sticky": self.sticky, "rest": self.rest_rules},
            "config": self.config,
            "loaded": {kind: {a: {c: len(v) for c, v in cats.items()} for a, cats in d.items()}
                       for kind, d in self.data.items()},
            "last_event_seq": self.event_seq,
        }

    async def cmd_events(self, b):
        types = set(str(b["type"]).split(",")) if b.get("type") else None
        since = int(b.get("since", 0))
        acct = b.get("account")
        conn = b.get("conn")
        limit = int(b.get("limit", 1000))
        out = []
        for ev in self.events:
            if ev["seq"] <= since:
                continue
            if types and ev["type"] not in types:
                continue
            if acct is not None and ev.get("account") != acct and ev.get("key") != acct:
                continue
            if conn is not None and ev.get("conn") != conn:
                continue
            out.append(ev)
        return {"events": out[-limit:], "last_event_seq": self.event_seq}

    async def cmd_wait(self, b):
        name = b.get("counter")
        if not name:
            raise CommandError("wait needs counter")
        acct = b.get("account")
        timeout = int(b.get("timeout_ms", 5000)) / 1000
        atleast, atmost, equals = b.get("atleast"), b.get("atmost"), b.get("equals")
        if atleast is None and atmost is None and equals is None:
            atleast = 1

        def ok():
            v = self.counter_value(name, acct)
            return ((atleast is None or v >= int(atleast)) and (atmost is None or v <= int(atmost))
                    and (equals is None or v == int(equals))), v

        deadline = time.monotonic() + timeout
        while True:
            good, v = ok()
            if good:
                return {"value": v}
            left = deadline - time.monotonic()
            if left <= 0:
                return 408, {"ok": False, "value": v, "error": "timeout waiting for %s" % name}
            f = asyncio.get_running_loop().create_future()
            self.waiters.append(f)
            try:
                await asyncio.wait_for(f, left)
            except asyncio.TimeoutError:
                pass

    async def cmd_clock(self, b):
        if "skew_ms" in b:
            self.skew_ms = int(b["skew_ms"])
        if "add_ms" in b:
            self.skew_ms += int(b["add_ms"])
        if "skew_ms" in b or "add_ms" in b:
            self.event("clock", skew_ms=self.skew_ms)
            log.info("clock skew now %+d ms", self.skew_ms)
        return {"skew_ms": self.skew_ms, "now_ms": self.now_ms(), "local_ms": int(time.time() * 1000)}

    async def cmd_config(self, b):
        for k, v in b.items():
            if k not in self.config:
                raise CommandError("unknown config key %r (known: %s)" % (k, ", ".join(sorted(self.config))))
            if k == "pong_style" and v not in ("private", "public", "none"):
                raise CommandError("pong_style is private, public or none")
            self.config[k] = type(self.config[k])(v) if not isinstance(self.config[k], bool) else bool(v)
        return {"config": self.config}

    async def cmd_accounts(self, b):
        for k, s in (b.get("add") or {}).items():
            self.accounts[k] = s
        for k in b.get("remove") or []:
            self.accounts.pop(k, None)
        return {"accounts": sorted(self.accounts)}

    async def cmd_cert(self, b):
        which = b.get("which", "good")
        key = b.get("key", self.cert[1])
        if which not in CERT_KINDS or key not in KEY_KINDS:
            raise CommandError("which is one of %s, key one of %s" % (CERT_KINDS, KEY_KINDS))
        old = self.tls12_only
        if "tls12_only" in b:
            self.tls12_only = bool(b["tls12_only"])
        try:
            await self.switch_cert(which, key)
        except Exception:
            self.tls12_only = old
            raise
        return {"cert": "%s-%s" % self.cert, "tls12_only": self.tls12_only}

    async def cmd_push(self, b):
        texts = []
        if "payload" in b:
            texts.append((jdump(b["payload"]), b["payload"].get("topic") if isinstance(b["payload"], dict) else None))
        for p in b.get("payloads") or []:
            texts.append((jdump(p), p.get("topic") if isinstance(p, dict) else None))
        if "raw" in b:
            topic = b.get("topic")
            if topic is None:
                try:
                    topic = json.loads(b["raw"]).get("topic")
                except (ValueError, AttributeError):
                    topic = None
            texts.append((b["raw"], topic))
        if "file" in b:
            with open(b["file"], "rb") as f:
                raw = f.read().decode("utf-8")
            topic = b.get("topic")
            if topic is None:
                try:
                    topic = json.loads(raw).get("topic")
                except (ValueError, AttributeError):
                    topic = None
            texts.append((raw.rstrip("\n") if b.get("strip", True) else raw, topic))
        if not texts:
            raise CommandError("push needs payload, payloads, raw or file")
        force = bool(b.get("force", False))
        targets = self.select(b, authed_only=not force and b.get("conn") is None)
        delivered, skipped, failed = [], [], []

        async def one(c):
            todo = [t for t, topic in texts if force or (topic is not None and topic in c.topics)]
            if len(todo) < len(texts):
                skipped.append(c.id)
            for t in todo:
                ok = await self.send_text(c, t)
                if not ok:
                    failed.append(c.id)
                    return
            if todo:
                delivered.append(c.id)

        tmo = self.config["push_timeout_ms"] / 1000
        results = await asyncio.gather(*[asyncio.wait_for(one(c), tmo) for c in targets], return_exceptions=True)
        timed_out = [c.id for c, r in zip(targets, results) if isinstance(r, asyncio.TimeoutError)]
        n = len(delivered)
        self.count("pushes", b.get("account") if b.get("account") not in (None, "*") else None, n)
        self.event("push", account=b.get("account"), conn=b.get("conn"), messages=len(texts),
                   delivered=delivered, skipped_unsubscribed=skipped, failed=failed, timed_out=timed_out)
        return {"delivered": n, "conns": delivered, "skipped_unsubscribed": skipped,
                "failed": failed, "timed_out": timed_out}

    async def cmd_misbehave(self, b):
        action = b.get("action")
        if not action:
            raise CommandError("misbehave needs action")
        if action == "clear_sticky":
            self.sticky = []
            return {"sticky": []}
        if b.get("sticky"):
            scope = b.get("account")
            when = b.get("when") or ("auth" if scope not in (None, "*") else "connect")
            if when not in ("connect", "auth", "subscribe"):
                raise CommandError("when is connect, auth or subscribe")
            if scope not in (None, "*") and when == "connect":
                raise CommandError("an account is known only from auth on: use when auth or subscribe")
            act = {k: v for k, v in b.items() if k not in ("sticky", "when", "account", "conn", "count_conns")}
            self.sticky.append({"scope": scope, "when": when, "remaining": int(b.get("count_conns", -1)), "action": act})
            return {"sticky": self.sticky}
        targets = self.select(b)
        notes = {}
        for c in targets:
            notes[c.id] = await self.act(c, b)
        return {"applied": len(targets), "conns": notes}

    async def cmd_auth(self, b):
        n = int(b.get("reject_next", 1))
        if b.get("clear"):
            self.auth_rules = []
            return {"rules": []}
        then = b.get("then", "keep")
        if then not in ("keep", "close", "drop", "silent"):
            raise CommandError("then is keep, close, drop or silent")
        self.auth_rules.append({"account": b.get("account"), "remaining": n,
                                "ret_msg": b.get("ret_msg", "Params Error"), "then": then})
        return {"rules": self.auth_rules}

    async def cmd_subscribe(self, b):
        if b.get("clear"):
            self.sub_rules = []
            return {"rules": []}
        self.sub_rules.append({"account": b.get("account"), "remaining": int(b.get("reject_next", 1)),
                               "ret_msg": b.get("ret_msg", "Invalid topic")})
        return {"rules": self.sub_rules}

    async def cmd_upgrade(self, b):
        if b.get("clear"):
            self.upgrade_rules = []
            return {"rules": []}
        status = int(b.get("status", 403))
        http.HTTPStatus(status)
        self.upgrade_rules.append({"status": status, "remaining": int(b.get("count", 1)), "body": b.get("body", "")})
        return {"rules": self.upgrade_rules}

    async def cmd_pong(self, b):
        style = b.get("style", "private")
        if style not in ("private", "public", "none"):
            raise CommandError("style is private, public or none")
        if b.get("account") is None and b.get("conn") is None:
            self.config["pong_style"] = style
            return {"default": style}
        for c in self.select(b):
            c.pong_style = style
        return {"default": self.config["pong_style"]}

    async def cmd_rest(self, b):
        mode = b.get("mode")
        if mode == "clear":
            self.rest_rules = []
            return {"rules": []}
        if mode not in ("ratelimit", "ban", "error", "stall", "close", "chunked", "delay"):
            raise CommandError("mode is ratelimit, ban, error, stall, close, chunked, delay or clear")
        rule = {k: v for k, v in b.items()}
        default_count = -1 if mode in ("chunked", "delay") else 1
        rule["remaining"] = int(b.get("count", default_count))
        rule.pop("count", None)
        if mode == "chunked" and int(b.get("chunk_size", 16)) <= 0:
            self.rest_rules = [r for r in self.rest_rules if r["mode"] != "chunked"]
            return {"rules": self.rest_rules}
        self.rest_rules.append(rule)
        return {"rules": self.rest_rules}

    async def cmd_load(self, b):
        kind = b.get("kind", "execution")
        if kind not in ("execution", "position", "order_realtime", "order_history"):
            raise CommandError("kind is execution, position, order_realtime or order_history")
        acct = b.get("account")
        if not acct:
            raise CommandError("load needs account (the API key)")
        items = list(b.get("items") or [])
        if "file" in b:
            with open(b["file"], "rb") as f:
                doc = json.load(f)
            if isinstance(doc, dict):
                doc = (doc.get("result") or {}).get("list") if "result" in doc else doc.get("data", [doc])
            items += list(doc or [])
        if b.get("replace"):
            if b.get("category"):
                self.data[kind][acct][b["category"]] = []
            else:
                self.data[kind][acct].clear()
        n = 0
        for it in items:
            if not isinstance(it, dict):
                raise CommandError("items must be JSON objects")
            cat = it.get("category") or b.get("category")
            if not cat:
                raise CommandError("an item without category needs the command's category")
            lst = self.data[kind][acct][cat]
            idk = {"execution": "execId", "position": None}.get(kind, "orderId")
            if idk and it.get(idk) is not None:
                # same id again replaces (orders change state; fills are unique)
                for i, old in enumerate(lst):
                    if old.get(idk) == it[idk]:
                        lst[i] = it
                        break
                else:
                    lst.append(it)
            elif kind == "position":
                for i, old in enumerate(lst):
                    if old.get("symbol") == it.get("symbol") and old.get("positionIdx", 0) == it.get("positionIdx", 0):
                        lst[i] = it
                        break
                else:
                    lst.append(it)
            else:
                lst.append(it)
            n += 1
        self.event("load", kind=kind, account=acct, items=n)
        return {"loaded": n, "total": {c: len(v) for c, v in self.data[kind][acct].items()}}

    async def cmd_canned(self, b):
        path = b.get("path")
        if not path or not path.startswith("/"):
            raise CommandError("canned needs path")
        m = b.get("method", "GET").upper()
        if b.get("clear"):
            self.canned.pop((m, path), None)
        else:
            self.canned[(m, path)] = {"result": b.get("result", {}), "retCode": int(b.get("retCode", 0)),
                                      "retMsg": b.get("retMsg", "OK")}
        return {"canned": ["%s %s" % k for k in self.canned]}

    async def cmd_apikey(self, b):
        """Overrides fields of /v5/user/query-api's answer for one key (readOnly, ips, expiredAt,
        deadlineDay, permissions, note); "clear":true forgets them."""
        key = b.get("account")
        if not key:
            raise CommandError("apikey needs account")
        if b.get("clear"):
            self.apikey_info.pop(key, None)
        else:
            fields = {k: b[k] for k in ("readOnly", "ips", "expiredAt", "deadlineDay", "permissions", "note")
                      if k in b}
            self.apikey_info.setdefault(key, {}).update(fields)
        return {"apikey": self.apikey_info.get(key, {})}

    async def cmd_reset(self, b):
        self.events.clear()
        self.counters.clear()
        self.auth_rules, self.sub_rules, self.upgrade_rules, self.sticky, self.rest_rules = [], [], [], [], []
        if b.get("data"):
            self.data.clear()
            self.canned.clear()
            self.cursors.clear()
            self.apikey_info.clear()
        if b.get("clock", True):
            self.skew_ms = 0
        if b.get("drop_connections"):
            for c in list(self.conns.values()):
                c.ws.transport.abort()
        self.config["pong_style"] = "private"
        return {}

    async def cmd_shutdown(self, _):
        asyncio.get_running_loop().call_later(0.05, self.stop_event.set)
        return {"stopping": True}

    # -- main -------------------------------------------------------------------------------------

    async def run(self):
        self.stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        self.ws_sock = self.bind(self.args.ws_port)
        self.rest_sock = self.bind(self.args.rest_port)
        ctl_sock = self.bind(self.args.control_port)
        self.ws_listener = await self.start_ws_listener(self.ws_sock)
        self.rest_listener = await self.start_rest_listener(self.rest_sock)
        ctl = await asyncio.start_server(self.control_client, sock=ctl_sock, limit=1 << 20)
        reaper = asyncio.ensure_future(self.tls_reaper())
        line = "ready ws=%d rest=%d control=%d" % (self.ws_sock.getsockname()[1],
                                                    self.rest_sock.getsockname()[1],
                                                    ctl_sock.getsockname()[1])
        if self.args.ready_file:
            tmp = self.args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(line + "\n")
            os.replace(tmp, self.args.ready_file)
        print(line, flush=True)
        log.info("%s cert=%s-%s accounts=%s", line, self.cert[0], self.cert[1], ",".join(sorted(self.accounts)))
        await self.stop_event.wait()
        log.info("stopping")
        reaper.cancel()
        ctl.close()
        self.rest_listener.close()
        for w in list(self.rest_writers):
            w.transport.abort()
        for s in [self.ws_listener] + self.old_ws_servers:
            s.close()
        for c in list(self.conns.values()):
            c.ws.transport.abort()
        try:
            await asyncio.wait_for(self.ws_listener.wait_closed(), 3)
        except asyncio.TimeoutError:
            pass


class RestParamError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg


def main():
    ap = argparse.ArgumentParser(description="Local Bybit V5-compatible test peer (see tests/peer/README.md)")
    ap.add_argument("--dir", required=True, help="certificate directory made by tests/peer/mkcerts.sh")
    ap.add_argument("--ws-port", type=int, default=0)
    ap.add_argument("--rest-port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--cert", choices=CERT_KINDS, default="good")
    ap.add_argument("--key", choices=KEY_KINDS, default="ec")
    ap.add_argument("--accounts", default="", help="KEY:SECRET[,KEY:SECRET...]")
    ap.add_argument("--config", help="JSON file: {\"accounts\":{KEY:SECRET}, \"fills\":[{load command}...]}")
    ap.add_argument("--tls12-only", action="store_true", help="offer TLS 1.2 at most (like BearSSL clients)")
    ap.add_argument("--auth-max-ahead-ms", type=int, default=60000,
                    help="an auth 'expires' further ahead than this fails (default 60000)")
    ap.add_argument("--max-events", type=int, default=50000)
    ap.add_argument("--ready-file", help="also write the ready line to this file (atomically)")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s bybit_peer %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    peer = Peer(args)
    boot = []
    if args.config:
        with open(args.config) as f:
            cfg = json.load(f)
        peer.accounts.update(cfg.get("accounts") or {})
        boot = cfg.get("load") or []
    if not peer.accounts:
        log.warning("no accounts: every auth will fail (use --accounts KEY:SECRET)")

    if args.ready_file and os.path.exists(args.ready_file):
        os.unlink(args.ready_file)  # never leave a stale line for a test to read

    async def go():
        for cmd in boot:
            await peer.cmd_load(cmd)
        await peer.run()

    try:
        asyncio.run(go())
    except CommandError as e:
        sys.exit("bybit_peer: %s" % e)
    except OSError as e:
        sys.exit("bybit_peer: cannot listen: %s" % e)


if __name__ == "__main__":
    main()
