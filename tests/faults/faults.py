#!/usr/bin/python3
"""fillrelay's fault suite (issue #5): see run.sh for usage.

One private PostgreSQL + Redis (tests/services.sh) and one local Bybit peer
(tests/peer/bybit_peer.py) serve the whole run; each scenario starts from an
empty schema (DROP SCHEMA trading: `fillrelay run` migrates on start), an empty
Redis, an empty peer and an empty journal directory, runs the real product
binary, breaks something while fills flow, and ends with the exactly-once check
(check_exactly_once): every fill the peer made is in trading.fills once (count,
distinct, same set), the per-bot signed sum of exec_qty in PostgreSQL equals the
sum computed here with Python's decimal module and equals Redis
BOT:position:SYMBOL, and trading.rejects holds only what the scenario injected.

Every fill is also /load-ed into the peer's REST list before it is pushed (as
Bybit's /v5/execution/list holds every fill): what a dead or closed connection
missed is there for the backfill.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("FR_FAULT_BIN", os.path.join(ROOT, "build/x86_64/fillrelay"))
SERVICES = os.path.join(ROOT, "tests/services.sh")
PEER = os.path.join(ROOT, "tests/peer/bybit_peer.py")
KEY, SECRET = "fault-api-key-0001", "fault-api-secret-0001"
ACCOUNT, BOT, SYMBOL = "faults", "faultbot_001", "BTCUSDT"
DAY_MS = 86400000

FULL = "--full" in sys.argv
KEEP = "--keep" in sys.argv
ONLY = [a for a in sys.argv[1:] if not a.startswith("--")]
SEED = int(os.environ.get("FR_FAULT_SEED") or (int(time.time() * 1000) % 1000000))
WORK = os.environ.get("FR_FAULT_DIR") or "/tmp/fr-faults-%d" % os.getpid()


def size(reduced, full):
    return full if FULL else reduced


class Fail(Exception):
    pass


def now_ms():
    return int(time.time() * 1000)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- services --------------------------------------------------------------

class Services:
    def __init__(self, d):
        self.dir = d
        self.env = {}

    def cmd(self, verb, check=True):
        r = subprocess.run(["bash", SERVICES, verb, self.dir], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise Fail("services.sh %s: %s" % (verb, r.stderr.strip()[-400:]))
        return r.stdout

    def start(self):
        out = self.cmd("start")
        for m in re.finditer(r"export (\w+)=(.*)", out):
            self.env[m.group(1)] = m.group(2).strip().strip("'\"")

    def psql(self, sql, check=True, timeout=30):
        e = dict(os.environ, PGPASSWORD=self.env["FR_TEST_PGPASSWORD"], PGTZ="UTC",
                 PGCONNECT_TIMEOUT="3")
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "|",
                            "-h", self.env["FR_TEST_PGHOST"], "-p", self.env["FR_TEST_PGPORT"],
                            "-U", self.env["FR_TEST_PGUSER"], "-d", self.env["FR_TEST_PGDATABASE"],
                            "-c", sql], capture_output=True, text=True, env=e, timeout=timeout)
        if check and r.returncode != 0:
            raise Fail("psql: %s" % r.stderr.strip()[-300:])
        return r.stdout.strip()

    def redis(self, *args, db=0):
        e = dict(os.environ, REDISCLI_AUTH=self.env["FR_TEST_REDIS_PASSWORD"])
        r = subprocess.run(["redis-cli", "--no-auth-warning", "-h", self.env["FR_TEST_REDIS_HOST"],
                            "-p", self.env["FR_TEST_REDIS_PORT"], "-n", str(db)] + list(args),
                           capture_output=True, text=True, env=e, timeout=10)
        return r.stdout.rstrip("\n")

    def reset(self):
        self.psql("DROP SCHEMA IF EXISTS trading CASCADE")
        self.redis("FLUSHALL")


# ---- peer ------------------------------------------------------------------

class Peer:
    def __init__(self, d):
        self.dir = d
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        subprocess.run(["bash", os.path.join(ROOT, "tests/peer/mkcerts.sh"), self.dir],
                       capture_output=True, check=True)
        ready = os.path.join(self.dir, "ready")
        self.log = open(os.path.join(self.dir, "peer.log"), "ab")
        self.proc = subprocess.Popen(["/usr/bin/python3", PEER, "--dir", self.dir, "--ws-port", "0",
                                      "--rest-port", "0", "--control-port", "0",
                                      "--ready-file", ready, "--accounts", KEY + ":" + SECRET,
                                      "--max-events", "5000"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(200):
            if os.path.exists(ready) and os.path.getsize(ready) > 0:
                break
            time.sleep(0.05)
        else:
            raise Fail("peer not ready")
        f = dict(x.split("=") for x in open(ready).read().split()[1:])
        self.ws, self.rest, self.ctl = f["ws"], f["rest"], f["control"]

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, path, body=None, timeout=30, ok_codes=(200,)):
        data = json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request("http://127.0.0.1:%s/%s" % (self.ctl, path), data=data)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code in ok_codes:
                return json.loads(e.read())
            raise Fail("peer /%s: HTTP %d %s" % (path, e.code, e.read()[:200]))

    def wait(self, counter, timeout_s=20, **kw):
        body = dict(counter=counter, account=KEY, timeout_ms=int(timeout_s * 1000), **kw)
        return self.call("wait", body, timeout=timeout_s + 5, ok_codes=(200, 408))

    def counter(self, name):
        r = self.call("wait", {"counter": name, "account": KEY, "atleast": 0, "timeout_ms": 0},
                      ok_codes=(200, 408))
        return r.get("value", 0)


# ---- fills -----------------------------------------------------------------

def b36(n, w):
    d = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while n:
        s = d[n % 36] + s
        n //= 36
    return s.rjust(w, "0")


class Book:
    """The fills a scenario made, and what they must add up to."""

    def __init__(self, rng, tag):
        self.rng = rng
        self.tag = tag
        self.fills = []
        self.n = 0

    def make(self, t_ms):
        self.n += 1
        n = self.n
        side = self.rng.choice(("Buy", "Sell"))
        qty = Decimal(self.rng.randint(1, 100)) / 1000
        price = Decimal(self.rng.randint(9400000, 9600000)) / 100
        value = qty * price
        fee = value * Decimal("0.00055")
        oid = "%08x-0000-4000-8000-%012x" % (self.rng.getrandbits(32), n)
        link = "%s-en-%s%s" % (BOT, b36(t_ms, 9), b36(n, 6))
        f = {"category": "linear", "symbol": SYMBOL, "closedSize": "0", "execFee": str(fee),
             "execId": "%s-%06d-%08x" % (self.tag, n, self.rng.getrandbits(32)),
             "execPrice": str(price), "execQty": str(qty), "execType": "Trade",
             "execValue": str(value), "feeRate": "0.00055", "tradeIv": "", "markIv": "",
             "blockTradeId": "", "markPrice": str(price), "indexPrice": "",
             "underlyingPrice": "", "leavesQty": "0", "orderId": oid, "orderLinkId": link,
             "orderPrice": str(price), "orderQty": str(qty), "orderType": "Market",
             "stopOrderType": "UNKNOWN", "side": side, "execTime": str(t_ms),
             "isLeverage": "0", "isMaker": False, "seq": 100000 + n, "marketUnit": "",
             "execPnl": "0", "createType": "CreateByUser", "extraFees": "",
             "feeCurrency": "USDT"}
        self.fills.append(f)
        return f

    def position(self):
        p = Decimal(0)
        for f in self.fills:
            q = Decimal(f["execQty"])
            p += q if f["side"] == "Buy" else -q
        return p


# ---- fillrelay -------------------------------------------------------------

class Relay:
    def __init__(self, ctx, d, spill_dir=None, horizon="7d", extra=""):
        self.ctx = ctx
        ctx.relays.append(self)
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.spill = spill_dir or os.path.join(d, "spill")
        os.makedirs(self.spill, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(d, "fillrelay.conf")
        self.logpath = os.path.join(d, "fillrelay.log")
        self.proc = None
        self.starts = 0
        e, p = ctx.svc.env, ctx.peer
        with open(self.conf, "w") as f:
            f.write("""[listener]
instance = faults
spill_dir = {spill}
metrics_addr = 127.0.0.1:{port}
{extra}
[exchange]
ws_url = wss://localhost:{ws}/v5/private
rest_url = https://localhost:{rest}
ca_file = {ca}
[account {acct}]
api_key = env:FR_FAULT_API_KEY
api_secret = env:FR_FAULT_API_SECRET
backfill_horizon = {horizon}
[bot {bot}]
account = {acct}
redis_db = 0
[postgres]
conninfo = hostaddr={pgh} port={pgp} dbname={pgd} user={pgu} connect_timeout=3
password = env:FR_TEST_PGPASSWORD
[redis]
host = {rh}
port = {rp}
password = env:FR_TEST_REDIS_PASSWORD
""".format(spill=self.spill, port=self.port, extra=extra, ws=p.ws, rest=p.rest,
                ca=os.path.join(p.dir, "ca.pem"), acct=ACCOUNT, horizon=horizon, bot=BOT,
                pgh=e["FR_TEST_PGHOST"], pgp=e["FR_TEST_PGPORT"], pgd=e["FR_TEST_PGDATABASE"],
                pgu=e["FR_TEST_PGUSER"], rh=e["FR_TEST_REDIS_HOST"], rp=e["FR_TEST_REDIS_PORT"]))
        os.chmod(self.conf, 0o600)
        self.env = dict(os.environ, FR_FAULT_API_KEY=KEY, FR_FAULT_API_SECRET=SECRET,
                        FR_TEST_PGPASSWORD=e["FR_TEST_PGPASSWORD"],
                        FR_TEST_REDIS_PASSWORD=e["FR_TEST_REDIS_PASSWORD"])

    def start(self, wait_subscribed=True, timeout=30):
        self.starts += 1
        subs = self.ctx.peer.counter("subscribe_ok") or 0
        log = open(self.logpath, "ab")
        log.write(b"==== start %d\n" % self.starts)
        log.flush()
        self.proc = subprocess.Popen([BIN, "run", "-c", self.conf], stdout=log, stderr=log,
                                     env=self.env)
        log.close()
        if wait_subscribed:
            t0 = time.time()
            while time.time() - t0 < timeout:
                if self.proc.poll() is not None:
                    raise Fail("fillrelay exited with %d on start; log: %s"
                               % (self.proc.returncode, self.tail()))
                if (self.ctx.peer.counter("subscribe_ok") or 0) > subs and \
                        self.ctx.peer.counter("subscribed_open"):
                    return
                time.sleep(0.1)
            raise Fail("fillrelay not subscribed within %ds; log: %s" % (timeout, self.tail()))

    def run_verb(self, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=self.env,
                              timeout=60)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Fail("fillrelay still running 15 s after SIGTERM")
        return self.proc.returncode if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def http(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return None, str(e)

    def metric(self, name):
        st, body = self.http("/metrics")
        if st != 200:
            return None
        total = None
        for line in body.splitlines():
            if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
        return total

    def log(self):
        try:
            return open(self.logpath, errors="replace").read()
        except OSError:
            return ""

    def tail(self, n=12):
        return " | ".join(self.log().splitlines()[-n:])


# ---- the scenario's driving tools -------------------------------------------

class Ctx:
    def __init__(self, svc, peer, name, rng):
        self.svc, self.peer, self.name, self.rng = svc, peer, name, rng
        self.dir = os.path.join(WORK, name)
        self.book = Book(rng, "%s-%d" % (name[:8], SEED))
        self.details = []
        self.relays = []

    def load(self, fills):
        for i in range(0, len(fills), 500):
            r = self.peer.call("load", {"account": KEY, "kind": "execution", "category": "linear",
                                        "items": fills[i:i + 500]})
            if not r.get("ok"):
                raise Fail("load: %s" % r)

    def push(self, fills, must=False):
        """Load FILLS into REST, then push them in one execution message.
        Returns the number of connections that got it."""
        self.load(fills)
        r = self.peer.call("push", {"account": KEY, "payload": {
            "id": "f%d" % fills[0]["seq"], "topic": "execution",
            "creationTime": int(fills[-1]["execTime"]) + 1, "data": fills}})
        if must and r.get("delivered") != 1:
            raise Fail("push not delivered: %s" % r)
        return r.get("delivered", 0)

    def stream(self, n, batch=10, pace=0.0, during=None):
        """Make N fills (execTime now), pushed BATCH per message; DURING(i) is
        called before every batch (the fault's hook)."""
        made = 0
        while made < n:
            if during:
                during(made)
            k = min(batch, n - made)
            t = now_ms()
            fills = [self.book.make(t) for _ in range(k)]
            self.push(fills)
            made += k
            if pace:
                time.sleep(pace)


TIMEOUT_X = float(os.environ.get("FR_FAULT_TIMEOUT_X", "1"))


def check_exactly_once(ctx, relay, timeout=60, rejects=0):
    """Wait until PostgreSQL and Redis hold every fill, then assert all of it."""
    timeout *= TIMEOUT_X
    svc, book = ctx.svc, ctx.book
    want = {f["execId"] for f in book.fills}
    pos = book.position()
    t0 = time.time()
    last = ""
    while True:
        try:
            got = svc.psql("SELECT count(*), count(DISTINCT exec_id) FROM trading.fills")
            redis_pos = svc.redis("GET", "%s:position:%s" % (BOT, SYMBOL))
        except Exception as e:  # noqa: BLE001 -- PostgreSQL may still be coming back
            got, redis_pos = str(e), ""
        last = "fills(count|distinct)=%s want %d; redis position %r want |%s|" % (
            got, len(want), redis_pos, pos)
        if got == "%d|%d" % (len(want), len(want)):
            try:
                # BOT:position:SYMBOL holds |size| (the seed's float(r.get(key)));
                # the sign is position_detail's size
                if redis_pos and Decimal(redis_pos) == abs(pos):
                    break
            except ArithmeticError:
                pass
        if time.time() - t0 > timeout:
            raise Fail("not converged in %ds: %s; relay alive=%s; log: %s"
                       % (timeout, last, relay.alive(), relay.tail()))
        time.sleep(0.3)
    # settle: a duplicate written late would show now
    time.sleep(1.0)
    rows = svc.psql("SELECT exec_id FROM trading.fills").split("\n")
    if len(rows) != len(set(rows)):
        raise Fail("duplicate exec_id in trading.fills: %d rows, %d distinct"
                   % (len(rows), len(set(rows))))
    if set(rows) != want:
        raise Fail("trading.fills differs: missing %s extra %s"
                   % (sorted(want - set(rows))[:5], sorted(set(rows) - want)[:5]))
    sums = svc.psql("SELECT bot_id, symbol, sum(CASE WHEN side = 'Buy' THEN exec_qty ELSE -exec_qty"
                    " END), count(*) FROM trading.fills GROUP BY 1, 2 ORDER BY 1, 2")
    lines = [s.split("|") for s in sums.split("\n") if s]
    if len(lines) != 1 or lines[0][0] != BOT or lines[0][1] != SYMBOL:
        raise Fail("fills per bot/symbol: %r (all should be %s %s)" % (sums, BOT, SYMBOL))
    pg_pos = Decimal(lines[0][2])
    redis_pos = Decimal(svc.redis("GET", "%s:position:%s" % (BOT, SYMBOL)))
    if not (pg_pos == pos and redis_pos == abs(pos)):
        raise Fail("position: PostgreSQL %s, Redis |%s|, made %s" % (pg_pos, redis_pos, pos))
    detail = svc.redis("HGET", "%s:position_detail:%s" % (BOT, SYMBOL), "size")
    if not detail or Decimal(detail) != pos:
        raise Fail("position_detail size %r, want %s" % (detail, pos))
    nrej = int(svc.psql("SELECT count(*) FROM trading.rejects"))
    if (nrej != rejects) if rejects == 0 else (nrej < rejects):
        raise Fail("trading.rejects holds %d rows, want %d: %s" % (
            nrej, rejects, svc.psql("SELECT * FROM trading.rejects LIMIT 3")))
    ctx.details.append("%d fills exactly once, position %s" % (len(want), pos))


def wait_for(what, fn, timeout=30, step=0.2):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise Fail("timed out (%ds) waiting for %s" % (timeout, what))


# ---- scenarios ---------------------------------------------------------------

def s_pg_down(ctx):
    """1. PostgreSQL stopped during a stream: journal grows, replayed on return."""
    n, down = size(1000, 10000), size(5, 60)
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(n // 5, batch=20)
    wait_for("first fills written", lambda: ctx.svc.psql(
        "SELECT count(*) FROM trading.fills") == str(n // 5), 30)
    ctx.svc.cmd("stop-pg")
    depth0 = r.metric("fillrelay_spill_depth") or 0
    t0 = time.time()
    rest = n - n // 5
    per = max(1, rest // 40)
    ctx.stream(rest // 2, batch=per, pace=down / 40.0)
    while time.time() - t0 < down:
        time.sleep(0.2)
    depth1 = r.metric("fillrelay_spill_depth")
    if depth1 is None or depth1 <= depth0:
        raise Fail("spill depth did not grow while PostgreSQL was down: %s -> %s"
                   % (depth0, depth1))
    if not r.alive():
        raise Fail("fillrelay died with PostgreSQL down: %s" % r.tail())
    ctx.svc.cmd("start-pg")
    ctx.stream(rest - rest // 2, batch=20)
    check_exactly_once(ctx, r, timeout=90)
    ctx.details.append("spill depth %g -> %g, PG down %ds" % (depth0, depth1, down))
    r.stop()


def s_pg_down_at_start(ctx):
    """1b. PostgreSQL down when fillrelay starts: it runs (not healthy, not
    subscribed: the book waits for its warm-up, the backfill for the book);
    fills made meanwhile exist at the exchange only; once PostgreSQL is back
    the book is warmed, the backfill brings them, the stream subscribes."""
    n = size(200, 2000)
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(n // 4, batch=10)
    wait_for("first fills written", lambda: ctx.svc.psql(
        "SELECT count(*) FROM trading.fills") == str(n // 4), 30)
    r.stop()
    ctx.svc.cmd("stop-pg")
    subs = ctx.peer.counter("subscribe_ok") or 0
    r.start(wait_subscribed=False)
    time.sleep(3)
    if not r.alive():
        raise Fail("fillrelay exited with PostgreSQL down at start: %s" % r.tail())
    st, _ = r.http("/healthz")
    if st != 503:
        raise Fail("/healthz %s with PostgreSQL down, want 503" % st)
    if (ctx.peer.counter("subscribe_ok") or 0) != subs:
        raise Fail("subscribed before the book was warm")
    ctx.load([ctx.book.make(now_ms()) for _ in range(n // 4)])  # REST only
    t0 = time.time()
    ctx.svc.cmd("start-pg")
    wait_for("subscribed after PostgreSQL came back",
             lambda: (ctx.peer.counter("subscribe_ok") or 0) > subs, 60)
    t_sub = time.time() - t0
    ctx.stream(n - n // 2, batch=10)
    check_exactly_once(ctx, r, timeout=90)
    ctx.details.append("%d fills made while PostgreSQL was down (REST only); subscribed %.1fs "
                       "after it came back" % (n // 4, t_sub))
    r.stop()


def s_redis_down(ctx):
    """2. Redis stopped during a stream, started empty: keys rewritten; then
    PostgreSQL and Redis down at once."""
    n = size(300, 3000)
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(n // 3, batch=10)
    ctx.svc.cmd("stop-redis")
    ctx.stream(n // 3, batch=10, pace=0.05)
    time.sleep(2)
    ctx.svc.cmd("start-redis")  # empty
    check_exactly_once(ctx, r, timeout=60)
    ctx.svc.cmd("stop-pg")
    ctx.svc.cmd("stop-redis")
    ctx.stream(n - 2 * (n // 3), batch=10, pace=0.05)
    time.sleep(3)
    if not r.alive():
        raise Fail("fillrelay died with both stores down: %s" % r.tail())
    ctx.svc.cmd("start-redis")
    ctx.svc.cmd("start-pg")
    check_exactly_once(ctx, r, timeout=90)
    r.stop()


def s_kill9(ctx):
    """3. kill -9 at random instants during a stream, restarted each time;
    a few batches are pushed while it is dead (REST only)."""
    n, kills = size(1000, 50000), size(3, 20)
    batch = 20 if not FULL else 50
    nb = n // batch
    at = set(ctx.rng.sample(range(1, nb - 1), kills))
    r = Relay(ctx, ctx.dir)
    r.start()
    dead_fills = [0]

    def during(made):
        i = made // batch
        if i in at:
            time.sleep(ctx.rng.random() * 0.3)  # a random instant in the write path
            r.kill9()
            for _ in range(ctx.rng.randint(1, 3)):
                t = now_ms()
                fl = [ctx.book.make(t) for _ in range(batch)]
                if ctx.push(fl):
                    raise Fail("a push reached a dead fillrelay")
                dead_fills[0] += batch
            r.start()
    ctx.stream(n, batch=batch, during=during)
    check_exactly_once(ctx, r, timeout=90)
    ctx.details.append("%d kills, %d fills made while dead" % (kills, dead_fills[0]))
    r.stop()


def s_ws_gap(ctx):
    """4. WebSocket drop with fills made during the gap, REST only, some older
    than fills already applied."""
    n, gap = 200, size(50, 500)
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(n // 2, batch=10)
    wait_for("first fills written", lambda: ctx.svc.psql(
        "SELECT count(*) FROM trading.fills") == str(n // 2), 30)
    last = max(int(f["execTime"]) for f in ctx.book.fills)
    subs = ctx.peer.counter("subscribe_ok")
    ctx.peer.call("misbehave", {"account": KEY, "sticky": True, "when": "subscribe",
                                "action": "drop", "count_conns": 2})
    ctx.peer.call("misbehave", {"account": KEY, "action": "drop"})
    old = 0
    gapf = []
    for i in range(gap):
        if i % 3 == 0:
            t = last - ctx.rng.randint(1, 3000)  # older than what was applied
            old += 1
        else:
            t = now_ms()
        gapf.append(ctx.book.make(t))
    ctx.load(gapf)
    wait_for("two dropped reconnects", lambda: ctx.peer.counter("subscribe_ok") >= subs + 2, 40)
    ctx.peer.call("misbehave", {"action": "clear_sticky"})
    wait_for("subscribed again", lambda: ctx.peer.counter("subscribed_open"), 40)
    ctx.stream(n - n // 2, batch=10)
    check_exactly_once(ctx, r, timeout=60)
    ctx.details.append("%d gap fills in REST only, %d older than applied ones" % (gap, old))
    r.stop()


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".jnl"))


def journal_with_records(ctx, r, n):
    """PostgreSQL down, N fills pushed (they stay in the journal), kill -9."""
    ctx.svc.cmd("stop-pg")
    ctx.stream(n, batch=5)
    wait_for("journaled", lambda: (r.metric("fillrelay_spill_depth") or 0) >= n, 20)
    time.sleep(0.5)
    r.kill9()
    seg = segments(r.spill)
    if not seg:
        raise Fail("no journal segment in %s: %s" % (r.spill, os.listdir(r.spill)))
    return os.path.join(r.spill, seg[-1])


def s_torn_tail(ctx):
    """7. A torn journal tail: start succeeds, truncation logged with the
    offset, no fill lost."""
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(50, batch=10)
    path = journal_with_records(ctx, r, 40)
    sz = os.path.getsize(path)
    cut = sz - ctx.rng.randint(10, 400)
    os.truncate(path, cut)
    ctx.svc.cmd("start-pg")
    r.start()
    log = r.log().split("==== start 2")[-1]
    m = [ln for ln in log.splitlines() if "trunc" in ln.lower() or "torn" in ln.lower()]
    if not m or not re.search(r"offset=\d+", m[0]):
        raise Fail("no truncation line with an offset in the log: %s" % r.tail())
    ctx.stream(20, batch=10)
    check_exactly_once(ctx, r, timeout=60)
    ctx.details.append("segment %d -> %d bytes; log: %s" % (sz, cut, m[0][m[0].find("msg="):][:160]))
    r.stop()


def s_flipped_byte(ctx):
    """8. A flipped byte mid-journal: start refused with the file and offset;
    `fillrelay spill verify` says the same."""
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(20, batch=10)
    path = journal_with_records(ctx, r, 40)
    sz = os.path.getsize(path)
    off = sz // 2
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))
    ctx.svc.cmd("start-pg")
    r.start(wait_subscribed=False)
    try:
        rc = r.proc.wait(20)
    except subprocess.TimeoutExpired:
        raise Fail("fillrelay started on a damaged journal (still running after 20 s)")
    log = r.log().split("==== start 2")[-1]
    name = os.path.basename(path)
    if rc == 0 or name not in log or not re.search(r"offset[= ]\d+", log):
        raise Fail("start on a flipped byte: exit %d, log: %s" % (rc, r.tail(6)))
    v = r.run_verb("spill", "verify", "-c", r.conf)
    vout = v.stdout + v.stderr
    if v.returncode == 0 or name not in vout or not re.search(r"offset[= ]\d+", vout):
        raise Fail("spill verify: exit %d: %s" % (v.returncode, vout.strip()[-300:]))
    o1 = re.search(r"offset[= ](\d+)", log).group(1)
    o2 = re.search(r"offset[= ](\d+)", vout).group(1)
    if o1 != o2:
        raise Fail("run says offset %s, spill verify says %s" % (o1, o2))
    # the operator moves the damaged journal aside; the backfill brings the rest
    shutil.move(r.spill, r.spill + ".damaged")
    os.makedirs(r.spill)
    r.start()
    check_exactly_once(ctx, r, timeout=60)
    ctx.details.append("flip at %d of %d: exit %d, offset %s in run and spill verify (exit %d)"
                       % (off, sz, rc, o1, v.returncode))
    r.stop()


def s_reject_nul(ctx):
    """9a. A fill whose raw holds \\u0000 in a string (jsonb refuses it) is
    quarantined in trading.rejects; the rest flows on."""
    def spoil(bad):
        bad["faultNote"] = "nul\x00here"  # an unknown field, kept in raw
    return reject(ctx, spoil)


def s_reject_time(ctx):
    """9b. A fill whose execTime overflows PostgreSQL's timestamptz (year
    3 million) is quarantined in trading.rejects; the rest flows on."""
    def spoil(bad):
        bad["execTime"] = "99999999999999999"
    return reject(ctx, spoil)


def reject(ctx, spoil):
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(30, batch=10)
    t = now_ms()
    bad = ctx.book.make(t)
    ctx.book.fills.pop()  # never stored as a fill
    spoil(bad)
    ctx.peer.call("push", {"account": KEY, "payload": {
        "id": "bad", "topic": "execution", "creationTime": t, "data": [bad]}})
    ctx.stream(30, batch=10)
    try:
        check_exactly_once(ctx, r, timeout=60, rejects=1)
    except Fail as e:
        lines = [ln[:300] for ln in r.log().splitlines() if bad["execId"] in ln]
        raise Fail("%s; log lines naming %s: %s" % (e, bad["execId"], lines[:2]))
    rej = ctx.svc.psql("SELECT kind, ref, sqlstate, left(error, 40) FROM trading.rejects")
    if bad["execId"] not in rej:
        raise Fail("trading.rejects does not name %s: %s" % (bad["execId"], rej))
    ctx.details.append("reject: %s" % rej)
    r.stop()


def order_obj(oid, link, status, cum, updated):
    return {"category": "linear", "symbol": SYMBOL, "orderId": oid, "side": "Buy",
            "orderType": "Limit", "cancelType": "UNKNOWN", "price": "95000", "qty": "0.02",
            "orderIv": "", "timeInForce": "GTC", "orderStatus": status, "orderLinkId": link,
            "lastPriceOnCreated": "95000", "reduceOnly": False,
            "leavesQty": str(Decimal("0.02") - Decimal(cum)), "leavesValue": "0",
            "cumExecQty": cum, "cumExecValue": str(Decimal(cum) * 95000), "avgPrice": "95000",
            "blockTradeId": "", "positionIdx": 0, "cumExecFee": "0", "closedPnl": "0",
            "createdTime": str(updated - 5000 if status == "New" else updated - 10000),
            "updatedTime": str(updated), "rejectReason": "EC_NoError", "stopOrderType": "",
            "tpslMode": "", "triggerPrice": "", "takeProfit": "", "stopLoss": "",
            "tpTriggerBy": "", "slTriggerBy": "", "tpLimitPrice": "", "slLimitPrice": "",
            "triggerDirection": 0, "triggerBy": "", "closeOnTrigger": False, "placeType": "",
            "smpType": "None", "smpGroup": 0, "smpOrderId": "", "feeCurrency": "",
            "createType": "CreateByUser", "parentOrderLinkId": "", "cumFeeDetail": {}}


def s_order_replay(ctx):
    """10. An older order push replayed after a newer one: trading.orders keeps
    the newer."""
    r = Relay(ctx, ctx.dir)
    r.start()
    ctx.stream(20, batch=10)
    t = now_ms()
    oid = "0d000000-0000-4000-8000-%012d" % ctx.rng.randint(1, 10 ** 9)
    link = "%s-en-%s%s" % (BOT, b36(t - 10000, 9), b36(999999, 6))
    new = order_obj(oid, link, "Filled", "0.02", t)
    old = order_obj(oid, link, "PartiallyFilled", "0.01", t - 4000)
    ctx.peer.call("load", {"account": KEY, "kind": "order_history", "category": "linear",
                           "items": [new]})
    for o, i in ((new, 1), (old, 2)):
        ctx.peer.call("push", {"account": KEY, "payload": {
            "id": "o%d" % i, "topic": "order", "creationTime": t + i, "data": [o]}})
    ctx.stream(20, batch=10)
    check_exactly_once(ctx, r, timeout=60)
    got = wait_for("the order row", lambda: ctx.svc.psql(
        "SELECT order_status, cum_exec_qty FROM trading.orders WHERE order_id = '%s'" % oid), 20)
    if got.split("|")[0] != "Filled" or Decimal(got.split("|")[1]) != Decimal("0.02"):
        raise Fail("trading.orders holds %r after an older push, want Filled|0.02" % got)
    ctx.details.append("order kept %s" % got)
    r.stop()


def s_long_outage(ctx):
    """5. An outage longer than 7 days: fills spread over 10 days loaded in
    REST while fillrelay is stopped; the start's backfill walks > 1 window."""
    n = size(200, 2000)
    r = Relay(ctx, ctx.dir, horizon="30d")
    r.start()
    t_first = now_ms() - 10 * DAY_MS - 3600000
    ctx.push([ctx.book.make(t_first)], must=True)
    check_exactly_once(ctx, r, timeout=30)
    r.stop()
    t0 = now_ms()
    span = 10 * DAY_MS
    outf = [ctx.book.make(t0 - span + int(span * k / n) + ctx.rng.randint(0, 1000))
            for k in range(n)]
    outf.sort(key=lambda f: int(f["execTime"]))
    ctx.load(outf)
    r.start()
    check_exactly_once(ctx, r, timeout=90)
    bl = [ln for ln in r.log().split("==== start 2")[-1].splitlines()
          if "backfill done" in ln and "executions" in ln]
    wins = re.search(r"windows=(\d+)", bl[0]).group(1) if bl else "?"
    if bl and int(wins) < 2:
        raise Fail("backfill walked %s window(s), want > 1: %s" % (wins, bl[0]))
    ctx.details.append("%d fills over 10 days, backfill windows=%s" % (n, wins))
    r.stop()


def s_full_disk(ctx):
    """6. The journal on a 1 MiB tmpfs with PostgreSQL down: journal full ->
    logged, /healthz 503, stream closed and held; PostgreSQL back -> reconnect
    with a backfill -> every fill exactly once."""
    if os.geteuid() != 0:
        return "skipped: not root (mount -t tmpfs needs root)"
    mnt = os.path.join(ctx.dir, "tmpfs")
    os.makedirs(mnt, exist_ok=True)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if m.returncode != 0:
        return "skipped: mount -t tmpfs failed: %s" % m.stderr.strip()
    try:
        spill = os.path.join(mnt, "spill")
        r = Relay(ctx, ctx.dir, spill_dir=spill)
        r.start()
        ctx.stream(20, batch=10)
        check_exactly_once(ctx, r, timeout=30)
        ctx.svc.cmd("stop-pg")
        disc0 = ctx.peer.counter("disconnects")
        held = 0
        for _ in range(400):
            t = now_ms()
            fl = [ctx.book.make(t) for _ in range(10)]
            if not ctx.push(fl):
                held += 1
                if held >= 3:
                    break
            time.sleep(0.01)
        else:
            raise Fail("the stream was never closed with the journal on a full 1 MiB tmpfs")
        ctx.stream(30, batch=10)  # to a closed connection: REST only
        st, body = r.http("/healthz")
        if st != 503:
            raise Fail("/healthz %s while the journal is full, want 503: %s" % (st, body[:200]))
        log = r.log()
        full = [ln for ln in log.splitlines() if re.search(r"full|ENOSPC|no space", ln, re.I)]
        if not full:
            raise Fail("no journal-full line in the log: %s" % r.tail())
        if ctx.peer.counter("disconnects") <= disc0:
            raise Fail("the peer saw no disconnect")
        ctx.svc.cmd("start-pg")
        check_exactly_once(ctx, r, timeout=120)
        ctx.details.append("%d fills made, /healthz 503 while full; log: %s"
                           % (len(ctx.book.fills), full[0][full[0].find("msg="):][:120]))
        r.stop()
    finally:
        for rl in ctx.relays:
            rl.kill9()
        subprocess.run(["umount", mnt], capture_output=True)


SCENARIOS = [
    ("pg_down", s_pg_down),
    ("redis_down", s_redis_down),
    ("kill9", s_kill9),
    ("pg_down_at_start", s_pg_down_at_start),
    ("ws_gap", s_ws_gap),
    ("long_outage", s_long_outage),
    ("full_disk", s_full_disk),
    ("torn_tail", s_torn_tail),
    ("flipped_byte", s_flipped_byte),
    ("reject_time", s_reject_time),
    ("reject_nul", s_reject_nul),
    ("order_replay", s_order_replay),
]


def main():
    print("fault suite: seed %d (FR_FAULT_SEED=%d reproduces)%s; work dir %s"
          % (SEED, SEED, " --full" if FULL else "", WORK), flush=True)
    if not os.access(BIN, os.X_OK):
        print("FAIL setup: %s missing (make tests-bin)" % BIN)
        print("0 passed, 1 failed")
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    svc = Services(os.path.join(WORK, "services"))
    peer = Peer(os.path.join(WORK, "peer"))
    passed = failed = 0
    report = []
    t_all = time.time()
    try:
        svc.start()
        peer.start()
        for name, fn in SCENARIOS:
            if ONLY and not any(o in name for o in ONLY):
                continue
            rng = random.Random("%d-%s" % (SEED, name))
            ctx = Ctx(svc, peer, name, rng)
            os.makedirs(ctx.dir, exist_ok=True)
            t0 = time.time()
            try:
                svc.cmd("start-pg", check=False)
                svc.cmd("start-redis", check=False)
                svc.reset()
                peer.call("reset", {"data": True, "drop_connections": True})
                peer.call("rest", {"mode": "clear"})
                peer.call("misbehave", {"action": "clear_sticky"})
                res = fn(ctx)
                line = "ok %s (%s; %.1fs; seed %d)" % (
                    name, res if isinstance(res, str) else "; ".join(ctx.details),
                    time.time() - t0, SEED)
                passed += 1
            except Exception as e:  # noqa: BLE001 -- a scenario's failure is reported, not raised
                line = "FAIL %s (%.1fs; seed %d): %s: %s" % (
                    name, time.time() - t0, SEED, type(e).__name__, e)
                failed += 1
            finally:
                for rl in ctx.relays:
                    rl.kill9()
            print(line, flush=True)
            report.append(line)
    finally:
        peer.stop()
        svc.cmd("stop", check=False)
    print("suite: %.0fs, seed %d" % (time.time() - t_all, SEED))
    print("%d passed, %d failed" % (passed, failed))
    if failed == 0 and not KEEP:
        shutil.rmtree(WORK, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
