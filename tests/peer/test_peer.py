#!/usr/bin/python3
"""test_peer.py -- checks the Bybit test peer with independent clients: python3-websockets'
client over ssl (verifying against the test CA), http.client with its own HMAC signing, and raw
TLS sockets. Run by tests/peer/selftest.sh, which starts the peer; ends with "N passed, N failed".
It talks to the peer only over the network and knows nothing of fillrelay."""

import argparse
import asyncio
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import ssl
import sys
import time
import traceback
import urllib.parse

import websockets
import websockets.exceptions

A = argparse.Namespace()
PASSED = 0
FAILED = 0
SEVEN_DAYS = 7 * 24 * 3600 * 1000

K1, S1 = "PEERTESTKEY1", "peer-test-secret-1"
K2, S2 = "PEERTESTKEY2", "peer-test-secret-2"

EXEC_PUSH = {
    "topic": "execution",
    "id": "386825804_BTCUSDT_140612148849382",
    "creationTime": 1746270400355,
    "data": [{
        "category": "linear", "symbol": "BTCUSDT", "closedSize": "0.5", "execFee": "26.3725275",
        "execId": "0ab1bdf7-4219-438b-b30a-32ec863018f7", "execPrice": "95900.1", "execQty": "0.5",
        "execType": "Trade", "execValue": "47950.05", "feeRate": "0.00055", "orderId": "9aac161b",
        "orderLinkId": "bot_1-en-0mwx47u2ysvvra4", "side": "Sell", "execTime": "1746270400353",
        "isMaker": False, "seq": 140612148849382, "execPnl": "0.05", "createType": "CreateByUser",
        "extraFees": [{"feeCoin": "USDT", "feeType": "GST", "fee": "0.006403779"}],
        "feeCurrency": "USDT", "note": "non-ASCII: é € 𝄞 ünïcödé",
    }],
}


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   %s" % name)
    else:
        FAILED += 1
        print("FAIL %s %s" % (name, detail))
    sys.stdout.flush()
    return cond


def now_ms():
    return int(time.time() * 1000)


# -- control channel ---------------------------------------------------------------------------

def ctl(path, body=None, expect=200):
    c = http.client.HTTPConnection("127.0.0.1", A.control, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request("POST" if data is not None else "GET", path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        out = json.loads(r.read() or b"{}")
        if expect is not None and r.status != expect:
            raise AssertionError("control %s -> %d %s" % (path, r.status, out))
        return out
    finally:
        c.close()


async def actl(path, body=None, expect=200):
    return await asyncio.to_thread(ctl, path, body, expect)


def events(etype, since=0, **kw):
    q = {"type": etype, "since": since}
    q.update(kw)
    return ctl("/events?" + urllib.parse.urlencode(q))["events"]


def last_seq():
    return ctl("/state")["last_event_seq"]


# -- WebSocket client ----------------------------------------------------------------------------

def client_ctx():
    ctx = ssl.create_default_context(cafile=A.ca)
    return ctx


async def ws_connect(host="127.0.0.1", path="/v5/private", max_size=1 << 24):
    sock = socket.create_connection(("127.0.0.1", A.ws), timeout=5)
    sock.setblocking(False)
    return await websockets.connect("wss://%s:%d%s" % (host, A.ws, path), ssl=client_ctx(), sock=sock,
                                    server_hostname=host, ping_interval=None, max_size=max_size,
                                    open_timeout=5, close_timeout=1, compression=None)


def auth_msg(key, secret, expires, req_id=None, sig=None):
    if sig is None:
        sig = hmac.new(secret.encode(), ("GET/realtime%d" % expires).encode(), hashlib.sha256).hexdigest()
    m = {"op": "auth", "args": [key, expires, sig]}
    if req_id is not None:
        m["req_id"] = req_id
    return json.dumps(m)


async def recv_json(ws, timeout=3):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def authed(key=K1, secret=S1, topics=("execution", "order", "position", "wallet"), offset=0):
    ws = await ws_connect()
    await ws.send(auth_msg(key, secret, now_ms() + offset + 8000))
    r = await recv_json(ws)
    assert r.get("success") is True, r
    if topics:
        await ws.send(json.dumps({"op": "subscribe", "args": list(topics)}))
        r = await recv_json(ws)
        assert r.get("success") is True, r
    return ws, r["conn_id"]


async def expect_closed(ws, timeout=3):
    """-> (code received from the server or None, code the client sent or None);
    (None, None) when TCP went away without a close frame."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.exceptions.ConnectionClosed as e:
        return (e.rcvd.code if e.rcvd else None, e.sent.code if e.sent else None)
    except asyncio.TimeoutError:
        return "timeout"


# -- REST client ---------------------------------------------------------------------------------

class Rest:
    def __init__(self, host="127.0.0.1"):
        self.c = http.client.HTTPSConnection("127.0.0.1", A.rest, context=client_ctx(), timeout=10)
        if host != "127.0.0.1":
            self.c = http.client.HTTPSConnection(host, A.rest, context=client_ctx(), timeout=10)

    def get(self, path, query="", key=K1, secret=S1, ts=None, recv_window="5000", sign=None, signed=True):
        hdrs = {}
        if signed:
            ts = str(now_ms() if ts is None else ts)
            if sign is None:
                sign = hmac.new(secret.encode(), (ts + key + recv_window + query).encode(), hashlib.sha256).hexdigest()
            hdrs = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": recv_window,
                    "X-BAPI-SIGN": sign}
        self.c.request("GET", path + ("?" + query if query else ""), headers=hdrs)
        r = self.c.getresponse()
        body = r.read()
        try:
            js = json.loads(body)
        except ValueError:
            js = None
        return r.status, js, r, body

    def close(self):
        self.c.close()


def raw_https(request_bytes):
    """One request over a fresh verifying TLS socket; returns the raw response bytes (to EOF)."""
    s = socket.create_connection(("127.0.0.1", A.rest), timeout=5)
    t = client_ctx().wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall(request_bytes)
    out = b""
    while True:
        try:
            d = t.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not d:
            break
        out += d
        if out.endswith(b"0\r\n\r\n"):
            break
    t.close()
    return out


def signed_request_bytes(path, query, key=K1, secret=S1):
    ts = str(now_ms())
    sign = hmac.new(secret.encode(), (ts + key + "5000" + query).encode(), hashlib.sha256).hexdigest()
    return ("GET %s?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-BAPI-API-KEY: %s\r\nX-BAPI-TIMESTAMP: %s\r\n"
            "X-BAPI-RECV-WINDOW: 5000\r\nX-BAPI-SIGN: %s\r\nConnection: close\r\n\r\n"
            % (path, query, key, ts, sign)).encode()


def make_fill(i, t, symbol="BTCUSDT"):
    return {"symbol": symbol, "orderType": "Market", "orderLinkId": "bot_1-en-%06d" % i, "side": "Buy",
            "orderId": "order-%06d" % i, "stopOrderType": "UNKNOWN", "leavesQty": "0", "execTime": str(t),
            "feeCurrency": "USDT", "isMaker": False, "execFee": "0.01", "feeRate": "0.0006",
            "execId": "exec-%06d" % i, "execPrice": "100.5", "execValue": "100.5", "execType": "Trade",
            "execQty": "1", "closedSize": "0", "extraFees": "", "seq": 1000 + i}


# ================================================================================================
# tests


async def t_auth_and_subscribe():
    ws = await ws_connect()
    await ws.send(json.dumps({"op": "subscribe", "args": ["execution"], "req_id": "s0"}))
    r = await recv_json(ws)
    check("subscribe before auth is refused", r.get("success") is False and r.get("op") == "subscribe"
          and r.get("ret_msg") == "Request not authorized", r)

    seq = last_seq()
    await ws.send(auth_msg(K1, S1, now_ms() + 8000, sig="0" * 64))
    r = await recv_json(ws)
    check("bad signature: auth fails", r.get("success") is False and r.get("op") == "auth" and "conn_id" in r, r)
    await ws.send(auth_msg(K1, S1, now_ms() - 1000))
    r = await recv_json(ws)
    check("expired expires: auth fails", r.get("success") is False and r.get("op") == "auth", r)
    await ws.send(auth_msg(K1, S1, now_ms() + 3600 * 1000))
    r = await recv_json(ws)
    check("expires an hour ahead: auth fails", r.get("success") is False, r)
    await ws.send(auth_msg("NOSUCHKEY", "x", now_ms() + 8000))
    r = await recv_json(ws)
    check("unknown key: auth fails", r.get("success") is False, r)
    await ws.send(json.dumps({"op": "auth", "args": [K1, now_ms() + 8000]}))
    r = await recv_json(ws)
    check("auth with 2 args: fails with Params Error", r.get("success") is False and r.get("ret_msg") == "Params Error", r)
    reasons = [e.get("reason") for e in events("auth", seq)]
    check("peer records the failure reasons",
          reasons == ["bad_signature", "expired", "too_far_ahead", "unknown_key", "bad_args"], reasons)

    exp = now_ms() + 8000
    await ws.send(auth_msg(K1, S1, exp, req_id="637267887005765"))
    r = await recv_json(ws)
    check("good auth: success answer", r.get("success") is True and r.get("ret_msg") == "" and r.get("op") == "auth", r)
    check("auth answer has the fixture's keys in order (req_id echoed)",
          list(r) == ["req_id", "success", "ret_msg", "op", "conn_id"] and r["req_id"] == "637267887005765", r)
    check("conn_id looks like Bybit's", re.fullmatch(r"[0-9a-v]{20}-[0-9a-z]{5}", r.get("conn_id", "")), r)
    ev = events("auth", seq)[-1]
    check("peer records the good auth", ev.get("ok") is True and ev.get("account") == K1
          and ev.get("expires") == exp and ev.get("expires_type") == "int", ev)
    # expires as a string works too
    ws2 = await ws_connect()
    await ws2.send(json.dumps({"op": "auth", "args": [K1, str(now_ms() + 8000),
                                                      hmac.new(S1.encode(), ("GET/realtime%d" % (now_ms() + 8000)).encode(),
                                                               hashlib.sha256).hexdigest()]}))
    r2 = await recv_json(ws2)
    check("auth answer without req_id: fixture keys", list(r2) in (["success", "ret_msg", "op", "conn_id"],
                                                                   ["conn_id", "op", "ret_msg", "success"]), r2)
    await ws2.close()

    await ws.send(json.dumps({"op": "subscribe", "args": ["execution", "order", "position", "wallet"],
                              "req_id": "637293387100229"}))
    r = await recv_json(ws)
    check("subscribe answer shape", list(r) == ["req_id", "success", "ret_msg", "op", "conn_id"]
          and r["success"] is True and r["op"] == "subscribe" and r["ret_msg"] == "", r)
    await ws.send(json.dumps({"op": "subscribe", "args": ["execution.linear", "order"]}))
    r = await recv_json(ws)
    check("mixing all-in-one and categorised topics is refused", r.get("success") is False and r.get("op") == "subscribe", r)
    await ws.send(json.dumps({"op": "subscribe", "args": ["nonsense.topic"]}))
    r = await recv_json(ws)
    check("unknown topic is refused", r.get("success") is False and "nonsense.topic" in r.get("ret_msg", ""), r)
    await ws.send(json.dumps({"op": "subscribe", "args": ["wallet"]}))
    r = await recv_json(ws)
    check("subscribe without req_id: fixture keys", list(r) == ["success", "ret_msg", "op", "conn_id"], r)

    # ping / pong
    t0 = now_ms()
    await ws.send(json.dumps({"op": "ping", "req_id": "p1"}))
    r = await recv_json(ws)
    t1 = now_ms()
    ok = (r.get("op") == "pong" and r.get("req_id") == "p1" and isinstance(r.get("args"), list)
          and len(r["args"]) == 1 and isinstance(r["args"][0], str) and r["args"][0].isdigit()
          and t0 - 5 <= int(r["args"][0]) <= t1 + 5)
    check("private pong: op pong, args[0] = server ms as a string, req_id echoed", ok, r)
    await ws.send(json.dumps({"op": "ping"}))
    r = await recv_json(ws)
    check("pong without req_id: fixture keys", list(r) == ["op", "args", "conn_id"], r)
    pings = events("ping", seq, account=K1)
    check("peer records pings with timestamps", len(pings) == 2 and all(isinstance(p["t"], int) for p in pings), pings)

    st = ctl("/state?account=" + K1)
    c = [x for x in st["connections"] if x["conn_id"] == r["conn_id"]]
    check("state: connection listed with account and topics", c and c[0]["account"] == K1
          and c[0]["topics"] == ["execution", "order", "position", "wallet"], c)
    await ws.close()
    w = await actl("/wait", {"counter": "open", "account": K1, "equals": 0, "timeout_ms": 3000}, expect=None)
    check("wait: open connections of K1 drop to 0 after close", w.get("ok") is True, w)
    w = await actl("/wait", {"counter": "auth_ok", "account": K1, "atleast": 10 ** 6, "timeout_ms": 200}, expect=None)
    check("wait: times out with ok=false", w.get("ok") is False, w)


async def t_push():
    a, ca = await authed()
    b, cb = await authed(topics=("wallet",))
    c, cc = await authed(key=K2, secret=S2)
    r = await actl("/push", {"account": K1, "payload": EXEC_PUSH})
    got = await recv_json(a)
    check("push to an account: delivered to the subscribed connection, equal", got == EXEC_PUSH)
    check("push skips the connection not subscribed to execution", r["delivered"] == 1 and r["conns"] == [ca]
          and cb in r["skipped_unsubscribed"], r)
    try:
        extra = await asyncio.wait_for(b.recv(), 0.3)
    except asyncio.TimeoutError:
        extra = None
    check("unsubscribed connection got nothing", extra is None, extra)
    try:
        extra = await asyncio.wait_for(c.recv(), 0.2)
    except asyncio.TimeoutError:
        extra = None
    check("other account's connection got nothing", extra is None, extra)
    wallet = {"topic": "wallet", "id": "w1", "creationTime": now_ms(), "data": [{"accountType": "UNIFIED"}]}
    r = await actl("/push", {"payload": wallet})
    got = [await recv_json(x) for x in (a, b, c)]
    check("push to all: every wallet subscriber got it", r["delivered"] == 3 and all(g == wallet for g in got), r)
    r = await actl("/push", {"conn": cb, "raw": '{"topic":"wallet","x":1}'})
    got = await asyncio.wait_for(b.recv(), 2)
    check("push raw text to one connection", got == '{"topic":"wallet","x":1}' and r["delivered"] == 1, r)
    fx = os.path.join(A.fixtures, "execution_1.json") if A.fixtures else ""
    if fx and os.path.exists(fx):
        r = await actl("/push", {"account": K1, "file": fx})
        got = await asyncio.wait_for(a.recv(), 2)
        check("push a fixture file verbatim", got == open(fx).read().rstrip("\n") and r["delivered"] == 1)

    # fragmentation, library mode (character boundaries, trailing empty frame)
    await actl("/misbehave", {"conn": ca, "action": "fragment", "size": 7, "count": 2})
    await actl("/push", {"conn": ca, "payloads": [EXEC_PUSH, wallet]})
    g1, g2 = await recv_json(a), await recv_json(a)
    check("fragmented (lib, 7-byte frames): client reassembles equal messages", g1 == EXEC_PUSH and g2 == wallet)
    ev = events("sent_fragmented", conn=ca)
    check("peer reports the fragment counts", len(ev) == 2 and ev[0]["frames"] > 50, ev[:1])
    # raw mode: exact 5-byte frames cutting UTF-8 characters, a ping between fragments, delays
    await actl("/misbehave", {"conn": ca, "action": "fragment", "size": 5, "mode": "raw", "ping_between": True,
                              "delay_ms": 0, "count": 1})
    await actl("/push", {"conn": ca, "payload": EXEC_PUSH})
    g = await recv_json(a)
    check("fragmented (raw 5-byte frames across UTF-8, pings between): equal", g == EXEC_PUSH)
    await actl("/misbehave", {"conn": ca, "action": "fragment", "size": 300, "mode": "raw", "delay_ms": 20, "count": 1})
    await actl("/push", {"conn": ca, "payload": EXEC_PUSH})
    g = await recv_json(a)
    check("fragmented with delays between frames: equal", g == EXEC_PUSH)
    await actl("/push", {"conn": ca, "payload": wallet})
    g = await asyncio.wait_for(a.recv(), 2)
    check("fragmentation ends after count messages", json.loads(g) == wallet)

    # huge message
    n = 3 * 1024 * 1024 + 17
    r = await actl("/misbehave", {"conn": ca, "action": "huge", "bytes": n})
    g = await asyncio.wait_for(a.recv(), 10)
    check("huge message: exact size, valid JSON", len(g.encode()) == n and json.loads(g)["topic"] == "execution",
          (len(g), r))

    # pong styles
    await actl("/pong", {"conn": cb, "style": "public"})
    await b.send(json.dumps({"op": "ping", "req_id": "x"}))
    r = await recv_json(b)
    check("public-style pong on command", r.get("op") == "ping" and r.get("ret_msg") == "pong" and r.get("success") is True, r)
    await actl("/pong", {"conn": cb, "style": "none"})
    await b.send(json.dumps({"op": "ping"}))
    try:
        r = await asyncio.wait_for(b.recv(), 0.5)
    except asyncio.TimeoutError:
        r = None
    check("no pong on command", r is None, r)

    # close with a code
    await actl("/misbehave", {"conn": cc, "action": "close", "code": 4000, "reason": "bye"})
    code = await expect_closed(c)
    check("close with a close frame and code", code == (4000, 4000), code)
    for x in (a, b):
        await x.close()


async def t_stall_drop_malformed():
    a, ca = await authed()
    await actl("/misbehave", {"conn": ca, "action": "stall"})
    await a.send(json.dumps({"op": "ping", "req_id": "st"}))
    await actl("/push", {"conn": ca, "payload": {"topic": "wallet", "during": "stall"}})
    try:
        r = await asyncio.wait_for(a.recv(), 1.0)
    except asyncio.TimeoutError:
        r = None
    st = ctl("/state")
    c = [x for x in st["connections"] if x["conn_id"] == ca]
    check("stall: no pong, no push, TCP still open", r is None and c and c[0]["stalled"] and a.open, r)
    await actl("/misbehave", {"conn": ca, "action": "unstall"})
    r = await recv_json(a, 3)
    check("unstall: the ping sent during the stall is answered", r.get("op") == "pong" and r.get("req_id") == "st", r)

    b, cb = await authed(key=K2, secret=S2)
    await actl("/misbehave", {"conn": cb, "action": "stall"})
    b.transport.abort()
    w = await actl("/wait", {"counter": "open", "account": K2, "equals": 0, "timeout_ms": 3000}, expect=None)
    check("stall: a client that gives up is seen to go (open count drops)", w.get("ok") is True, w)

    await actl("/misbehave", {"conn": ca, "action": "drop"})
    code = await expect_closed(a)
    check("drop: TCP closed without a close frame", code == (None, None), code)
    w = await actl("/wait", {"counter": "open", "account": K1, "equals": 0, "timeout_ms": 3000}, expect=None)
    ev = [e for e in events("disconnect") if e.get("conn") == ca]
    check("peer records the drop", w.get("ok") and ev and ev[0]["code"] == 1006, ev)

    expect = {"bad_utf8": 1007, "bad_opcode": 1002, "rsv": 1002, "orphan_continuation": 1002,
              "masked": 1002, "long_control": 1002, "fragmented_control": 1002, "bad_close_code": 1002}
    for kind, want in expect.items():
        a, ca = await authed()
        await actl("/misbehave", {"conn": ca, "action": "malformed", "kind": kind})
        code = await expect_closed(a)
        check("malformed frame %s: client fails the connection with %d" % (kind, want),
              code != "timeout" and code[1] == want, code)
    a, ca = await authed()
    await actl("/misbehave", {"conn": ca, "action": "malformed", "kind": "bad_json"})
    g = await asyncio.wait_for(a.recv(), 2)
    check("malformed JSON in a valid frame arrives as text", g.startswith('{"topic":"execution"'), g)
    await a.close()

    # reject the next auths
    await actl("/auth", {"account": K1, "reject_next": 2})
    ws = await ws_connect()
    res = []
    for _ in range(3):
        await ws.send(auth_msg(K1, S1, now_ms() + 8000))
        res.append((await recv_json(ws)).get("success"))
    check("reject auth: next 2 fail, the third succeeds", res == [False, False, True], res)
    ev = [e for e in events("auth", account=K1)][-3:]
    check("forced failures recorded as forced with valid_otherwise", [e.get("reason") for e in ev[:2]] == ["forced", "forced"]
          and ev[0].get("valid_otherwise") is True, ev)
    await ws.close()

    # sticky: drop every new K2 connection right after its subscribe answer, once
    await actl("/misbehave", {"account": K2, "sticky": True, "when": "subscribe", "action": "drop", "count_conns": 1})
    ws = await ws_connect()
    await ws.send(auth_msg(K2, S2, now_ms() + 8000))
    await recv_json(ws)
    await ws.send(json.dumps({"op": "subscribe", "args": ["execution"]}))
    r = await recv_json(ws)
    code = await expect_closed(ws)
    check("sticky drop after subscribe", r.get("success") is True and code == (None, None), (r, code))
    ws, _ = await authed(key=K2, secret=S2)
    check("sticky rule used up after count_conns", ws.open)
    await ws.close()

    # refused upgrade, wrong path
    await actl("/upgrade", {"status": 429, "count": 1})
    try:
        ws = await ws_connect()
        got = "connected"
        await ws.close()
    except websockets.exceptions.InvalidStatusCode as e:
        got = e.status_code
    check("upgrade refused with HTTP 429 on command", got == 429, got)
    try:
        ws = await ws_connect(path="/v5/public/linear")
        got = "connected"
        await ws.close()
    except websockets.exceptions.InvalidStatusCode as e:
        got = e.status_code
    check("unknown path: 404", got == 404, got)


async def t_certs():
    keep, ck = await authed()
    n_fail = ctl("/state")["counters"].get("tls_fail", 0)
    for which, needle in (("untrusted", "unable to get local issuer"), ("expired", "expired"),
                          ("notyet", "not yet valid"), ("wronghost", "mismatch")):
        for key in ("ec", "rsa"):
            await actl("/cert", {"which": which, "key": key})
            seq = last_seq()
            for host in ("127.0.0.1", "localhost"):
                try:
                    ws = await ws_connect(host=host)
                    err = "connected"
                    await ws.close()
                except ssl.SSLCertVerificationError as e:
                    err = e.verify_message or str(e)
                check("cert %s-%s refused by a verifying client (%s): %s" % (which, key, host, err),
                      needle in err.lower() if needle != "mismatch" else "mismatch" in err.lower(), err)
            try:
                Rest().get("/v5/market/time", signed=False)
                err = "connected"
            except ssl.SSLCertVerificationError as e:
                err = e.verify_message
            check("cert %s-%s refused on REST too" % (which, key), err != "connected", err)
            await actl("/wait", {"counter": "tls_fail", "atleast": n_fail + 3, "timeout_ms": 3000}, expect=None)
            fails = events("tls_fail", seq)
            n_fail += len(fails)
            check("peer records the refused handshakes (%s-%s)" % (which, key), len(fails) == 3,
                  [(f["listener"], f["reason"]) for f in fails])
    for key in ("rsa", "ec", "both"):
        await actl("/cert", {"which": "good", "key": key})
        ws, _ = await authed()
        cert = ws.transport.get_extra_info("ssl_object").getpeercert()
        ok = ws.open and ("DNS", "localhost") in cert.get("subjectAltName", ())
        ws2 = await ws_connect(host="localhost")
        check("good-%s: accepted for 127.0.0.1 and localhost" % key, ok and ws2.open)
        await ws.close()
        await ws2.close()
        st, js, _, _ = Rest().get("/v5/market/time", signed=False)
        check("good-%s on REST" % key, st == 200 and js["retCode"] == 0, js)
    # TLS 1.2 only (what a BearSSL client speaks), resumption, and no resumption across a switch
    for key, kx in (("ec", "ECDSA"), ("rsa", "RSA")):
        await actl("/cert", {"which": "good", "key": key, "tls12_only": True})
        ws, _ = await authed()
        obj = ws.transport.get_extra_info("ssl_object")
        check("tls12_only good-%s: TLS 1.2 with an ECDHE-%s suite" % (key, kx),
              obj.version() == "TLSv1.2" and obj.cipher()[0].startswith("ECDHE-" + kx), obj.cipher())
        await ws.close()

    def tls_sock(session=None):
        s = socket.create_connection(("127.0.0.1", A.ws), timeout=5)
        return ctx.wrap_socket(s, server_hostname="localhost", session=session)

    ctx = client_ctx()
    t1 = tls_sock()
    sess = t1.session
    t1.close()
    t2 = tls_sock(sess)
    reused = t2.session_reused
    t2.close()
    check("TLS 1.2 session resumption works while the certificate stays", reused is True, reused)
    await actl("/cert", {"which": "untrusted", "key": "rsa"})
    try:
        t3 = tls_sock(sess)
        got = "resumed" if t3.session_reused else "full handshake accepted"
        t3.close()
    except ssl.SSLCertVerificationError as e:
        got = e.verify_message
    check("after a switch an old session is not resumed: the new certificate is verified",
          "local issuer" in got, got)
    await actl("/cert", {"which": "good", "key": "ec", "tls12_only": False})
    await keep.send(json.dumps({"op": "ping"}))
    r = await recv_json(keep)
    check("a connection opened before the certificate switches keeps working", r.get("op") == "pong", r)
    await keep.close()


def t_rest():
    rest = Rest()
    st, js, r, _ = rest.get("/v5/market/time", signed=False)
    t = now_ms()
    check("market time", st == 200 and js["retCode"] == 0 and abs(int(js["result"]["timeSecond"]) * 1000 - t) < 2000
          and js["result"]["timeNano"].startswith(js["result"]["timeSecond"]), js)
    st, js, r, _ = rest.get("/v5/execution/list", "category=linear&limit=10")
    check("signed request ok: retCode 0 and the envelope", st == 200 and list(js) == ["retCode", "retMsg", "result", "retExtInfo", "time"]
          and js["retCode"] == 0 and js["retMsg"] == "OK" and abs(js["time"] - now_ms()) < 2000, js)
    check("response has Bybit's rate headers", r.getheader("X-Bapi-Limit-Status") is not None and r.getheader("Timenow"))
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=10", sign="0" * 64)
    check("bad signature: retCode 10004", js["retCode"] == 10004, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=10", key="NOPE", secret="x")
    check("unknown key: retCode 10003", js["retCode"] == 10003, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear", ts=now_ms() + 2000)
    check("timestamp 2 s ahead of the server: retCode 10002", js["retCode"] == 10002, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear", ts=now_ms() + 500)
    check("timestamp 0.5 s ahead: accepted", js["retCode"] == 0, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear", ts=now_ms() - 6000)
    check("timestamp older than recv_window: retCode 10002", js["retCode"] == 10002, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear", ts=now_ms() - 6000, recv_window="10000")
    check("same timestamp inside a larger recv_window: accepted", js["retCode"] == 0, js)
    st, js, _, _ = rest.get("/v5/execution/list", "")
    check("missing category: retCode 10001", js["retCode"] == 10001, js)
    ev = events("rest")[-9:]
    got = [(e.get("reason"), e.get("verified")) for e in ev]
    check("peer records verification results", got == [
        (None, None), (None, True), ("bad_sign", False), ("unknown_key", False), ("timestamp_ahead", False),
        (None, True), ("timestamp_too_old", False), (None, True), ("params", True)], got)
    tcps = {e["tcp"] for e in events("rest")[-10:]}
    check("keep-alive: all on one TLS connection", len(tcps) == 1, tcps)

    # three pages by cursor
    base = now_ms() - 6 * 24 * 3600 * 1000
    fills = [make_fill(i, base + i * 1000) for i in range(250)]
    ctl("/load", {"account": K1, "category": "linear", "kind": "execution", "items": fills, "replace": True})
    ctl("/load", {"account": K2, "category": "linear", "kind": "execution", "items": [make_fill(9999, base)]})
    q0 = "category=linear&limit=100&startTime=%d" % (base - 1000)
    seen, sizes, cursor, raw_cursors = [], [], None, []
    for _ in range(5):
        q = q0 + ("&cursor=" + cursor if cursor else "")
        st, js, _, _ = rest.get("/v5/execution/list", q)
        if js["retCode"] != 0:
            break
        lst = js["result"]["list"]
        sizes.append(len(lst))
        seen += [f["execId"] for f in lst]
        cursor = js["result"]["nextPageCursor"]
        raw_cursors.append(cursor)
        if not cursor:
            break
    check("cursor paging: 3 pages of 100, 100, 50", sizes == [100, 100, 50], sizes)
    check("pages hold every fill once, newest first", seen == ["exec-%06d" % i for i in range(249, -1, -1)], seen[:3])
    check("cursor is percent-encoded like Bybit's", raw_cursors[0] and "%3D" in raw_cursors[0] and "%26" in raw_cursors[0]
          and urllib.parse.quote(urllib.parse.unquote(raw_cursors[0]), safe="") == raw_cursors[0], raw_cursors[:1])
    check("other accounts' fills are not served", "exec-009999" not in seen)
    st, js, _, _ = rest.get("/v5/execution/list", q0 + "&cursor=" + urllib.parse.unquote(raw_cursors[0]))
    ev = events("rest")[-1]
    check("decoded cursor: retCode 10001, recorded as not verbatim", js["retCode"] == 10001
          and ev.get("cursor", {}).get("verbatim") is False, (js, ev.get("cursor")))
    st, js, _, _ = rest.get("/v5/execution/list", q0 + "&cursor=" + urllib.parse.quote(raw_cursors[0], safe=""))
    ev = events("rest")[-1]
    check("double-encoded cursor: retCode 10001 (why double_encoded)", js["retCode"] == 10001
          and ev.get("cursor", {}).get("why") == "double_encoded", ev.get("cursor"))

    # 7-day windows
    st0 = base - 1000
    ctl("/load", {"account": K1, "category": "linear", "kind": "execution",
                  "items": [make_fill(5000, st0 - 24 * 3600 * 1000), make_fill(5001, st0 + SEVEN_DAYS + 1)]})
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=100&startTime=%d&endTime=%d" % (st0, st0 + SEVEN_DAYS + 1))
    check("endTime - startTime > 7 days: retCode 10001", js["retCode"] == 10001, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=100&startTime=%d&endTime=%d" % (st0, st0 + SEVEN_DAYS))
    check("endTime - startTime = 7 days: accepted", js["retCode"] == 0, js)
    allids = []
    cursor = None
    for _ in range(5):
        st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=100&startTime=%d" % st0
                                + ("&cursor=" + cursor if cursor else ""))
        allids += [f["execId"] for f in js["result"]["list"]]
        cursor = js["result"]["nextPageCursor"]
        if not cursor:
            break
    check("startTime only covers 7 days and no more", "exec-005001" not in allids and "exec-005000" not in allids
          and len(allids) == 250, len(allids))
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=100&endTime=%d" % (st0 + 1000))
    ids = [f["execId"] for f in js["result"]["list"]]
    check("endTime only covers the 7 days before it", "exec-005000" in ids and "exec-000000" in ids, ids)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=101")
    check("limit 101: retCode 10001", js["retCode"] == 10001, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=5&symbol=ETHUSDT")
    check("symbol filter", js["retCode"] == 0 and js["result"]["list"] == [], js["result"])

    # positions and orders
    pos = [{"symbol": "BTCUSDT", "positionIdx": 0, "size": "0.5", "side": "Buy", "seq": 10},
           {"symbol": "ETHUSDT", "positionIdx": 0, "size": "0", "side": "", "seq": -1},
           {"symbol": "BTCPERP", "positionIdx": 0, "size": "1", "side": "Sell", "seq": 11}]
    ctl("/load", {"account": K1, "category": "linear", "kind": "position", "items": pos})
    st, js, _, _ = rest.get("/v5/position/list", "category=linear")
    check("position list linear without symbol/settleCoin: retCode 10001", js["retCode"] == 10001, js)
    st, js, _, _ = rest.get("/v5/position/list", "category=linear&settleCoin=USDT")
    check("position list by settleCoin omits flat ones", [p["symbol"] for p in js["result"]["list"]] == ["BTCUSDT"], js)
    st, js, _, _ = rest.get("/v5/position/list", "category=linear&symbol=ETHUSDT")
    check("position list by symbol includes a flat one", [p["seq"] for p in js["result"]["list"]] == [-1], js)
    orders = [{"orderId": "o%d" % i, "orderLinkId": "bot_1-en-%d" % i, "symbol": "BTCUSDT", "createdTime": str(base + i),
               "orderStatus": "New"} for i in range(30)]
    ctl("/load", {"account": K1, "category": "linear", "kind": "order_realtime", "items": orders})
    st, js, _, _ = rest.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&limit=20")
    c = js["result"]["nextPageCursor"]
    st, js2, _, _ = rest.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&limit=20&cursor=" + c)
    check("order realtime pages", len(js["result"]["list"]) == 20 and len(js2["result"]["list"]) == 10, (js, js2))
    st, js, _, _ = rest.get("/v5/order/realtime", "category=linear&orderLinkId=bot_1-en-7")
    check("order realtime by orderLinkId", [o["orderId"] for o in js["result"]["list"]] == ["o7"], js)
    ctl("/load", {"account": K1, "category": "linear", "kind": "order_history", "items": orders[:3]})
    st, js, _, _ = rest.get("/v5/order/history", "category=linear&orderId=o1")
    check("order history by orderId", [o["orderId"] for o in js["result"]["list"]] == ["o1"], js)
    rest.close()

    # chunked
    rest = Rest()
    _, plain, _, _ = rest.get("/v5/execution/list", q0)
    ctl("/rest", {"mode": "chunked", "chunk_size": 64})
    st, js, r, _ = rest.get("/v5/execution/list", q0)
    check("chunked on command: http.client reads the same result",
          r.getheader("Transfer-Encoding") == "chunked" and js["result"]["list"] == plain["result"]["list"], r.getheaders())
    raw = raw_https(signed_request_bytes("/v5/execution/list", "category=linear&limit=3"))
    head, _, body = raw.partition(b"\r\n\r\n")
    sizes = re.findall(rb"(?:^|\r\n)([0-9a-f]+)\r\n", body)
    check("raw chunked body: several 64-byte chunks and a 0 chunk", b"transfer-encoding: chunked" in head.lower()
          and body.endswith(b"0\r\n\r\n") and len(sizes) > 3 and sizes[0] == b"40", head[:200])
    ctl("/rest", {"mode": "chunked", "chunk_size": 0})
    st, js, r, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("chunked off again", r.getheader("Content-Length") is not None, r.getheaders())

    # 429 and 403
    ctl("/rest", {"mode": "ratelimit", "count": 1, "account": K1})
    st, js, r, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("rate limit: HTTP 429 with retCode 10006", st == 429 and js["retCode"] == 10006
          and r.getheader("X-Bapi-Limit-Status") == "0", (st, js))
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("after the rate-limited answer: 200 again", st == 200 and js["retCode"] == 0, (st, js))
    ctl("/rest", {"mode": "ratelimit", "count": 1, "http": 200})
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("rate limit as HTTP 200 + retCode 10006", st == 200 and js["retCode"] == 10006, (st, js))
    ctl("/rest", {"mode": "ban", "count": 2})
    st1, _, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    st2, _, _, _ = rest.get("/v5/position/list", "category=linear&symbol=BTCUSDT")
    st3, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("ban: HTTP 403 twice, then served", (st1, st2, st3) == (403, 403, 200), (st1, st2, st3))
    ctl("/rest", {"mode": "close", "count": 1})
    try:
        rest.get("/v5/execution/list", "category=linear&limit=1")
        got = "answered"
    except (http.client.HTTPException, ConnectionError, ssl.SSLError) as e:
        got = type(e).__name__
    check("close without an answer on command", got != "answered", got)
    rest.close()
    rest = Rest()
    ctl("/rest", {"mode": "delay", "delay_ms": 400, "count": 1})
    t0 = time.monotonic()
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("delay on command", time.monotonic() - t0 >= 0.39 and js["retCode"] == 0, time.monotonic() - t0)
    ctl("/canned", {"path": "/v5/account/wallet-balance", "result": {"list": [{"accountType": "UNIFIED"}]}})
    st, js, _, _ = rest.get("/v5/account/wallet-balance", "accountType=UNIFIED")
    check("canned signed endpoint", js["retCode"] == 0 and js["result"]["list"][0]["accountType"] == "UNIFIED", js)
    st, js, _, _ = rest.get("/v5/nothing/here", "")
    check("unknown REST path: 404", st == 404, st)
    st, js, _, _ = rest.get("/v5/user/query-api", "")
    res = js.get("result", {})
    check("query-api: the key's information, Bybit-shaped", js["retCode"] == 0 and res.get("apiKey") == K1
          and res.get("readOnly") == 1 and res.get("secret") == "" and res.get("permissions", {}).get("ContractTrade")
          == ["Order", "Position"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", res.get("expiredAt", "")), js)
    ctl("/apikey", {"account": K1, "readOnly": 0, "expiredAt": "2030-01-01T00:00:00Z"})
    st, js, _, _ = rest.get("/v5/user/query-api", "")
    check("query-api: fields set with /apikey", js["result"]["readOnly"] == 0
          and js["result"]["expiredAt"] == "2030-01-01T00:00:00Z", js)
    ctl("/apikey", {"account": K1, "clear": True})
    st, js, _, _ = rest.get("/v5/user/query-api", "", secret="wrong-secret")
    check("query-api with a wrong secret: retCode 10004", js["retCode"] == 10004, js)
    rest.close()


async def t_clock():
    ws, cid = await authed()
    await actl("/clock", {"skew_ms": 5000})
    await ws.send(json.dumps({"op": "ping"}))
    t0 = now_ms()
    r = await recv_json(ws)
    off = int(r["args"][0]) - t0
    check("clock +5 s: pong args[0] carries the skew", 4900 <= off <= 5500, off)
    rest = Rest()
    st, js, _, _ = rest.get("/v5/market/time", signed=False)
    check("clock +5 s: REST time carries it", 4900 <= js["time"] - now_ms() <= 5500, js["time"] - now_ms())
    ws2 = await ws_connect()
    await ws2.send(auth_msg(K1, S1, now_ms() + 3000))
    r = await recv_json(ws2)
    check("clock +5 s: expires = local+3 s is already expired", r.get("success") is False, r)
    await ws2.send(auth_msg(K1, S1, now_ms() + off + 8000))
    r = await recv_json(ws2)
    check("clock +5 s: expires corrected by the pong offset works", r.get("success") is True, r)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1", recv_window="3000")
    check("clock +5 s: local timestamp too old for recv_window 3000 (10002)", js["retCode"] == 10002, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1", ts=now_ms() + off, recv_window="3000")
    check("clock +5 s: corrected timestamp accepted", js["retCode"] == 0, js)
    await actl("/clock", {"skew_ms": -3000})
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1")
    check("clock -3 s: local timestamp is ahead of the server (10002)", js["retCode"] == 10002, js)
    st, js, _, _ = rest.get("/v5/execution/list", "category=linear&limit=1", ts=now_ms() - 3000)
    check("clock -3 s: corrected timestamp accepted", js["retCode"] == 0, js)
    await actl("/clock", {"skew_ms": 0})
    rest.close()
    await ws.close()
    await ws2.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ws", type=int, required=True)
    ap.add_argument("--rest", type=int, required=True)
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--fixtures", default="")
    ap.parse_args(namespace=A)
    ctl("/accounts", {"add": {K1: S1, K2: S2}})
    for name, fn in (("auth and subscribe", t_auth_and_subscribe), ("push", t_push),
                     ("stall, drop, malformed", t_stall_drop_malformed), ("REST", t_rest),
                     ("clock", t_clock), ("certificates", t_certs)):
        print("== %s" % name)
        t0 = time.monotonic()
        try:
            if asyncio.iscoroutinefunction(fn):
                await asyncio.wait_for(fn(), 60)
            else:
                await asyncio.to_thread(fn)
        except Exception:  # noqa: BLE001
            check("%s: ran to the end" % name, False, traceback.format_exc())
        print("   (%.1f s)" % (time.monotonic() - t0))
    st = ctl("/state")
    check("state counters add up", st["counters"].get("auth_ok", 0) > 10 and st["counters"].get("tls_fail", 0) > 10,
          st["counters"])
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
