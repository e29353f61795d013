#!/usr/bin/python3
"""bench.py -- the measuring side of `make bench` (tests/bench/run.sh starts the
services, the peer and `fillrelay run`, then runs this).

Figures, never pass/fail: every phase prints what it measured beside the
issue's target, and the table goes to stdout and to the report file.

Phases (one run, in this order):
  peer     the peer's own send rate: fills pushed through /push to a raw TLS
           WebSocket client that only reads and discards (another API key, so
           fillrelay does not see them) -- the ceiling of the load generator.
  latency  1,000 fills/s offered (one fill per /push); a Redis subscriber
           (separate process, raw RESP) stamps each publish on
           fillrelay:fills:BOT; the fill's execId carries the time the /push
           request started and the time its answer came back (the answer comes
           after the peer wrote the frame): the two bounds of frame-to-Redis.
  thru     N fills as fast as the peer pushes them (/push `payloads` batches);
           time until PostgreSQL holds them all (count) and the bot's Redis
           position key holds the final size. VmRSS/VmHWM sampled.
  rss      more fills up to FR_BENCH_RSS_FILLS (1,000,000) within a time
           budget; VmRSS/VmHWM at 10k, 100k, 1M fills applied.
  pg       PostgreSQL's own insert rate for the same rows: COPY of
           trading.fills into a scratch copy (LIKE ... INCLUDING ALL), and
           INSERT ... SELECT generate_series.
  fsync    fillrelay exports no fsync histogram: fsync of one journal
           record's size, measured in the spill directory (same filesystem).

Standard library only; psql for PostgreSQL.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

E = os.environ
CTL = int(E["BENCH_CTL_PORT"])
WS = int(E["BENCH_WS_PORT"])
CA = E["BENCH_CA"]
KEY, SECRET = E["BENCH_KEY"], E["BENCH_SECRET"]
SINK_KEY, SINK_SECRET = E["BENCH_SINK_KEY"], E["BENCH_SINK_SECRET"]
BOT = E.get("BENCH_BOT", "bench_001")
ACCOUNT = E.get("BENCH_ACCOUNT", "bench")
FR_PID = int(E["BENCH_FR_PID"])
METRICS = E["BENCH_METRICS"]
SPILL = E["BENCH_SPILL"]
REPORT = E["BENCH_REPORT"]
WORK = E["BENCH_DIR"]
N_THRU = int(E.get("FR_BENCH_FILLS", "100000"))
N_RSS = int(E.get("FR_BENCH_RSS_FILLS", "1000000"))
RSS_BUDGET = float(E.get("FR_BENCH_RSS_BUDGET_S", "240"))
DRAIN_S = float(E.get("FR_BENCH_DRAIN_S", "300"))  # longest wait for the sinks after pushing
RSS_BACKLOG = int(E.get("FR_BENCH_RSS_BACKLOG", "20000"))  # RSS phase: pushed minus committed
LAT_RATE = int(E.get("FR_BENCH_LAT_RATE", "1000"))
LAT_N = int(E.get("FR_BENCH_LAT_FILLS", "5000"))
PER_MSG = int(E.get("FR_BENCH_PER_MSG", "1"))  # executions per WebSocket message
BATCH = int(E.get("FR_BENCH_BATCH", "500"))  # messages per /push request
PEER_N = int(E.get("FR_BENCH_PEER_FILLS", str(min(N_THRU, 50000))))
REDIS_HOST = E["FR_TEST_REDIS_HOST"]
REDIS_PORT = int(E["FR_TEST_REDIS_PORT"])
REDIS_PW = E["FR_TEST_REDIS_PASSWORD"]
QTY_MILLI = 1  # every fill buys 0.001: the position after n fills is n/1000
SYMBOL = "BTCUSDT"
T_START = time.time()

rows = []  # (figure, measured, target/ceiling, note)
notes = []


def log(*a):
    print("bench: [%6.1fs]" % (time.time() - T_START), *a, file=sys.stderr, flush=True)


def row(name, value, target="", note=""):
    rows.append((name, value, target, note))
    log("%s = %s  %s %s" % (name, value, target, note))


# ---- tools ----------------------------------------------------------------------------


def psql(sql, timeout=600):
    env = dict(E, PGPASSWORD=E["FR_TEST_PGPASSWORD"], PGTZ="UTC")
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", E["FR_TEST_PGHOST"],
                        "-p", E["FR_TEST_PGPORT"], "-U", E["FR_TEST_PGUSER"], "-d",
                        E["FR_TEST_PGDATABASE"], "-c", sql], env=env, capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("psql: %s: %s" % (sql[:80], p.stderr.strip()))
    return p.stdout.strip()


def committed():
    """Fills PostgreSQL confirmed new (fillrelay's counter: cheap to poll; the
    row count is checked with psql once a phase is done)."""
    v = metric(metrics_text(), "fillrelay_fills_written_total")
    return int(v) if v is not None else -1


def pg_count():
    try:
        return int(psql("SELECT count(*) FROM trading.fills WHERE account = '%s'" % ACCOUNT) or 0)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return -1  # schema not there yet, or PostgreSQL busy


class Resp:
    """A minimal RESP2 client over a plain socket (commands, replies, pushes)."""

    def __init__(self, db=0):
        self.s = socket.create_connection((REDIS_HOST, REDIS_PORT))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.cmd("AUTH", REDIS_PW)
        if db:
            self.cmd("SELECT", str(db))

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def cmd(self, *args):
        self.send(*args)
        return self.reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("redis closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("redis closed")
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("redis: bad reply %r" % line)


def redis_position():
    try:
        r = Resp(0)
        v = r.cmd("GET", "%s:position:%s" % (BOT, SYMBOL))
        r.s.close()
        return v.decode() if v is not None else None
    except (OSError, EOFError, RuntimeError):
        return None


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])  # KiB
    except OSError:
        pass
    return out


def metrics_text():
    host, port = METRICS.rsplit(":", 1)
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=5)
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    except OSError as e:
        return "# unreachable: %s" % e


def metric(text, name):
    """Sum of every sample of a family (all label sets)."""
    tot, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name):len(name) + 1] in (" ", "{")):
            try:
                tot += float(line.rsplit(" ", 1)[1])
                seen = True
            except ValueError:
                pass
    return tot if seen else None


class Ctl:
    """The peer's control channel, one keep-alive connection (reopened if closed)."""

    def __init__(self):
        self.c = None

    def post(self, path, body):
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", CTL, timeout=60)
                self.c.connect()
                self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.c.request("POST", "/" + path, body=data)
                r = self.c.getresponse()
                ans = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return json.loads(ans)
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise


def execution(exec_id, seq, t_ms):
    """One linear BTCUSDT Buy of 0.001 by BOT, in the shape of Bybit's execution topic."""
    link = "%s-en-%09d%06d" % (BOT, 0, seq % 1000000)  # BOT-REASON-STAMP (stamp digits only)
    return ('{"category":"linear","symbol":"%s","closedSize":"0","execFee":"0.0385",'
            '"execId":"%s","execPrice":"70000","execQty":"0.001","execType":"Trade",'
            '"execValue":"70","feeRate":"0.00055","tradeIv":"","markIv":"","blockTradeId":"",'
            '"markPrice":"70000","indexPrice":"","underlyingPrice":"","leavesQty":"0",'
            '"orderId":"bench-o-%d","orderLinkId":"%s","orderPrice":"70000","orderQty":"0.001",'
            '"orderType":"Market","stopOrderType":"","side":"Buy","execTime":"%d",'
            '"isLeverage":"0","isMaker":false,"seq":%d,"marketUnit":"","execPnl":"0",'
            '"createType":"CreateByUser","extraFees":"","feeCurrency":"USDT"}'
            % (SYMBOL, exec_id, seq, link, t_ms, seq))


def message(execs, mid, t_ms):
    return '{"id":"%s","topic":"execution","creationTime":%d,"data":[%s]}' % (mid, t_ms, ",".join(execs))


SEQ = [0]  # the account's running execution seq (monotonic across phases)


def push_batch(ctl, key, prefix, first, n):
    """Pushes fills first..first+n-1 (prefix-K execIds) in one /push; returns delivered."""
    now = int(time.time() * 1000)
    msgs, i = [], first
    while i < first + n:
        k = min(PER_MSG, first + n - i)
        ex = []
        for j in range(i, i + k):
            SEQ[0] += 1
            ex.append(execution("%s-%d" % (prefix, j), SEQ[0], now))
        msgs.append(message(ex, "%s-m%d" % (prefix, i), now))
        i += k
    body = ('{"account":"%s","payloads":[%s]}' % (key, ",".join(msgs))).encode()
    ans = ctl.post("push", body)
    return ans.get("delivered", 0), ans


# ---- peer ceiling: a WebSocket reader that discards ---------------------------------------


def ws_frame(text):
    p = text.encode()
    mask = os.urandom(4)
    n = len(p)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(p))


class Discard:
    def __init__(self):
        ctx = ssl.create_default_context(cafile=CA)
        s = socket.create_connection(("127.0.0.1", WS))
        self.s = ctx.wrap_socket(s, server_hostname="localhost")
        k = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /v5/private HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (WS, k)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.s.recv(4096)
        if b" 101 " not in buf.split(b"\r\n", 1)[0]:
            raise RuntimeError("upgrade refused: %r" % buf[:200])
        buf = buf.split(b"\r\n\r\n", 1)[1]
        exp = int(time.time() * 1000) + 10000
        sig = hmac.new(SINK_SECRET.encode(), ("GET/realtime%d" % exp).encode(), hashlib.sha256).hexdigest()
        self.s.sendall(ws_frame(json.dumps({"req_id": "a", "op": "auth", "args": [SINK_KEY, exp, sig]})))
        self.s.sendall(ws_frame(json.dumps({"req_id": "s", "op": "subscribe", "args": ["execution"]})))
        while b'"op":"subscribe"' not in buf:
            d = self.s.recv(65536)
            if not d:
                raise RuntimeError("sink closed: %r" % buf[:300])
            buf += d
        if b'"success":true,"ret_msg":"","op":"subscribe"' not in buf and b'"success":true' not in buf:
            raise RuntimeError("sink subscribe failed: %r" % buf[:300])
        self.bytes = 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            while True:
                d = self.s.recv(1 << 20)
                if not d:
                    return
                self.bytes += len(d)
        except OSError:
            return


def phase_peer():
    log("peer ceiling: %d fills to a discarding reader" % PEER_N)
    try:
        sink = Discard()
    except Exception as e:  # noqa: BLE001 -- report, go on with the rest
        row("peer send rate (ceiling)", "n/a", "", "sink client failed: %s" % e)
        return None
    ctl = Ctl()
    save = SEQ[0]
    t0 = time.time()
    sent = 0
    while sent < PEER_N:
        n = min(BATCH * PER_MSG, PEER_N - sent)
        d, ans = push_batch(ctl, SINK_KEY, "pk", sent, n)
        if d != 1:
            row("peer send rate (ceiling)", "n/a", "", "push not delivered: %s" % ans)
            return None
        sent += n
    dt = time.time() - t0
    SEQ[0] = save
    rate = sent / dt
    row("peer send rate (ceiling)", "%.0f fills/s" % rate, "(ceiling)",
        "%d fills, %d/msg, %d msgs//push, %.2f s, %.1f MB read by a discarding TLS client"
        % (sent, PER_MSG, BATCH, dt, sink.bytes / 1e6))
    sink.s.close()
    return rate


# ---- latency -----------------------------------------------------------------------------


def subscriber(out_path, ready_path):
    """Child mode: SUBSCRIBE fillrelay:fills:BOT, write `recv_ns exec_id` lines."""
    r = Resp(0)
    r.send("SUBSCRIBE", "fillrelay:fills:" + BOT)
    r.reply()
    with open(ready_path, "w") as f:
        f.write("ok\n")
    with open(out_path, "w", buffering=1) as out:
        while True:
            try:
                m = r.reply()
            except (EOFError, OSError):
                return
            t = time.time_ns()
            if isinstance(m, list) and len(m) == 3 and m[0] == b"message":
                try:
                    x = json.loads(m[2])
                    out.write("%d %s\n" % (t, x.get("exec_id", "")))
                except ValueError:
                    out.write("%d ?\n" % t)


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def buckets(name):
    """A cumulative bucket family of /metrics: {le: count}."""
    out = {}
    for line in metrics_text().splitlines():
        mm = re.match(r'%s\{le="(\d+)"\} (\d+)' % re.escape(name), line)
        if mm:
            out[int(mm.group(1))] = int(mm.group(2))
    return out


def bucket_pct(b0, b1, total, q):
    """Upper bound (ms) of quantile q of the observations between two snapshots."""
    for le in sorted(b1):
        if total and b1[le] - b0.get(le, 0) >= q * total:
            return "<= %.3f" % (le / 1000.0)
    return "> %.0f" % (max(b1) / 1000.0) if b1 else "?"


def phase_latency(rate, n, tag, label=""):
    log("latency: %d fills at %d/s%s" % (n, rate, label))
    own0 = buckets("fillrelay_frame_to_redis_us_bucket")
    own_n0 = metric(metrics_text(), "fillrelay_frame_to_redis_count") or 0
    busy0 = buckets("fillrelay_loop_busy_us_bucket")
    busy_n0 = metric(metrics_text(), "fillrelay_loop_busy_count") or 0
    out = os.path.join(WORK, "sub-%s.txt" % tag)
    ready = os.path.join(WORK, "sub-%s.ready" % tag)
    sub = subprocess.Popen([sys.executable, __file__, "--subscriber", out, ready])
    for _ in range(100):
        if os.path.exists(ready):
            break
        time.sleep(0.05)
    ctl = Ctl()
    sent = {}  # exec_id -> (request start ns, answer ns)
    period = 1.0 / rate
    t_next = time.time()
    late = 0
    for i in range(n):
        now = time.time()
        if now < t_next:
            time.sleep(t_next - now)
        elif now - t_next > 0.05:
            late += 1
        t_next += period
        eid = "%s-%d" % (tag, i)
        SEQ[0] += 1
        t0 = time.time_ns()
        body = ('{"account":"%s","payload":%s}'
                % (KEY, message([execution(eid, SEQ[0], t0 // 1000000)], "%s-m%d" % (tag, i), t0 // 1000000)))
        ans = ctl.post("push", body.encode())
        t1 = time.time_ns()
        if ans.get("delivered") != 1:
            log("latency push not delivered:", ans)
        sent[eid] = (t0, t1)
    offered = n / (time.time() - (t_next - n * period))
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(out) as f:
            got = sum(1 for _ in f)
        if got >= n:
            break
        time.sleep(0.2)
    time.sleep(0.3)
    sub.terminate()
    sub.wait()
    up, lo, ctl_rt = [], [], []
    seen = 0
    with open(out) as f:
        for line in f:
            t, _, eid = line.strip().partition(" ")
            if eid in sent:
                seen += 1
                t0, t1 = sent[eid]
                up.append((int(t) - t0) / 1e6)
                lo.append((int(t) - t1) / 1e6)
    ctl_rt = [(b - a) / 1e6 for a, b in sent.values()]
    tgt = "<= 2 ms" if rate == LAT_RATE else ""
    row("latency @%d/s%s: rate offered" % (rate, label), "%.0f fills/s" % offered, "%d fills/s" % rate,
        "%d fills, one per /push; %d publishes seen; %d sends >50 ms behind schedule" % (n, seen, late))
    row("latency @%d/s%s: frame-to-Redis p50/p99 (upper)" % (rate, label), "%.3f / %.3f ms" % (pct(up, 50), pct(up, 99)),
        tgt, "from /push request start (includes the control hop); max %.3f ms" % max(up or [0]))
    row("latency @%d/s%s: frame-to-Redis p50/p99 (lower)" % (rate, label), "%.3f / %.3f ms" % (pct(lo, 50), pct(lo, 99)),
        tgt, "from the /push answer, which follows the frame's write")
    own1 = buckets("fillrelay_frame_to_redis_us_bucket")
    own_n = (metric(metrics_text(), "fillrelay_frame_to_redis_count") or 0) - own_n0
    row("latency @%d/s%s: frame-to-Redis p50/p99 (fillrelay's own)" % (rate, label),
        "%s / %s ms" % (bucket_pct(own0, own1, own_n, 0.5), bucket_pct(own0, own1, own_n, 0.99)), tgt,
        "%d publishes: frame taken -> Redis answered its publish (bucket bounds, /metrics)" % own_n)
    busy1 = buckets("fillrelay_loop_busy_us_bucket")
    busy_n = (metric(metrics_text(), "fillrelay_loop_busy_count") or 0) - busy_n0
    row("latency @%d/s%s: loop work per iteration p50/p99/p99.9" % (rate, label),
        "%s / %s / %s ms" % (bucket_pct(busy0, busy1, busy_n, 0.5), bucket_pct(busy0, busy1, busy_n, 0.99),
                             bucket_pct(busy0, busy1, busy_n, 0.999)), "",
        "%d iterations; max %s us since start (/metrics: fillrelay_loop_busy_us_*)"
        % (busy_n, metric(metrics_text(), "fillrelay_loop_busy_us_max")))
    row("latency @%d/s%s: control /push round trip p50/p99" % (rate, label),
        "%.3f / %.3f ms" % (pct(ctl_rt, 50), pct(ctl_rt, 99)), "", "request -> frame written -> answer")
    return seen


# ---- throughput and RSS --------------------------------------------------------------------


def resident_pages(pid, out):
    """The resident pages of pid's writable mappings, one hex address a line
    (/proc/PID/pagemap, bit 63; needs the right to read it)."""
    with open("/proc/%d/maps" % pid) as f, open("/proc/%d/pagemap" % pid, "rb") as pm, open(out, "w") as o:
        for line in f:
            addr, perms = line.split()[:2]
            if "w" not in perms:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            pm.seek(lo // 4096 * 8)
            data = pm.read((hi - lo) // 4096 * 8)
            for i in range(len(data) // 8):
                if int.from_bytes(data[8 * i:8 * i + 8], "little") >> 63:
                    o.write("%x\n" % (lo + 4096 * i))


class Sampler:
    """RSS of fillrelay at fills-applied marks (PostgreSQL count of the account)."""

    def __init__(self):
        self.marks = {}

    def at(self, count, marks=(10000, 100000, 1000000)):
        st = None
        for m in marks:
            if count >= m and m not in self.marks:
                st = st or proc_status(FR_PID)
                hw = metric(metrics_text(), "fillrelay_arena_high_water_bytes")
                self.marks[m] = (count, st.get("VmRSS"), st.get("VmHWM"), hw)
                if os.environ.get("FR_BENCH_SMAPS_DIR"):  # where RSS grows: diff these
                    d = os.environ["FR_BENCH_SMAPS_DIR"]
                    shutil.copy("/proc/%d/smaps" % FR_PID, os.path.join(d, "smaps.%d" % m))
                    resident_pages(FR_PID, os.path.join(d, "pages.%d" % m))
                log("RSS at %d fills (count %d): %s, arena high-water %s" % (m, count, st, hw))


SAMPLER = Sampler()


def push_and_wait(prefix, first_total, n, budget=None, backlog=None):
    """Pushes n fills (in batches), waits for PostgreSQL and Redis; returns timings."""
    ctl = Ctl()
    base = committed()
    target_pos = None
    t0 = time.time()
    sent = 0
    last_poll = 0
    stopped_early = False
    while sent < n:
        k = min(BATCH * PER_MSG, n - sent)
        d, ans = push_batch(ctl, KEY, prefix, sent, k)
        if d != 1:
            raise RuntimeError("push not delivered: %s" % ans)
        sent += k
        while backlog is not None and time.time() - t0 < budget:
            c = committed()
            SAMPLER.at(c)
            if sent - (c - base) <= backlog:
                break
            time.sleep(0.1)
        if time.time() - last_poll > 1.0:
            last_poll = time.time()
            c = committed()
            SAMPLER.at(c)
            log("%s: pushed %d, PostgreSQL %d" % (prefix, sent, c - base))
        if budget is not None and time.time() - t0 > budget:
            stopped_early = True
            break
    t_pushed = time.time()
    total_after = first_total + sent
    target_pos = total_after  # in thousandths
    t_pg = t_rd = None
    deadline = time.time() + DRAIN_S
    c = base
    while time.time() < deadline and (t_pg is None or t_rd is None):
        if t_pg is None:
            c = committed()
            SAMPLER.at(c)
            if c - base >= sent:
                t_pg = time.time()
        if t_rd is None:
            v = redis_position()
            try:
                if v is not None and round(float(v) * 1000) >= target_pos:
                    t_rd = time.time()
            except ValueError:
                pass
        time.sleep(0.05)
    rows = pg_count()
    if t_pg is not None and rows >= 0 and rows < first_total + sent:
        log("%s: fillrelay counted %d fills written but PostgreSQL holds %d rows" % (prefix, c, rows))
        t_pg = None
    return dict(sent=sent, t0=t0, pushed=t_pushed - t0, pg=(t_pg - t0) if t_pg else None,
                rd=(t_rd - t0) if t_rd else None, pg_count=c - base, stopped=stopped_early,
                redis=redis_position())


def cpu_by_role():
    """CPU seconds used so far by each process of the bench, by role (utime +
    stime of /proc/PID/stat, every thread of a process included)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(p) == FR_PID:
            role = "fillrelay"
        elif cmd.startswith("postgres") or "/postgres " in cmd:
            role = "PostgreSQL"
        elif "redis-server" in cmd:
            role = "Redis"
        elif "bybit_peer.py" in cmd:
            role = "peer"
        elif int(p) == os.getpid():
            role = "bench"
        else:
            continue
        f = st[st.rindex(")") + 2:].split()
        out[role] = out.get(role, 0.0) + (int(f[11]) + int(f[12])) / tick
    return out


def phase_thru(applied_before):
    log("throughput: %d fills" % N_THRU)
    st0 = proc_status(FR_PID)
    cpu0, w0 = cpu_by_role(), time.time()
    r = push_and_wait("tp", applied_before, N_THRU)
    cpu1, w1 = cpu_by_role(), time.time()
    st1 = proc_status(FR_PID)
    done = max(x for x in (r["pg"], r["rd"]) if x is not None) if (r["pg"] and r["rd"]) else None
    row("throughput: fills/s (PG committed + Redis visible)",
        "%.0f fills/s" % (r["sent"] / done) if done else "INCOMPLETE", ">= 20000 fills/s",
        "%d fills, %d/msg; all committed in PG at %s s, Redis position final at %s s"
        % (r["sent"], PER_MSG, "%.2f" % r["pg"] if r["pg"] else "never(%d rows)" % r["pg_count"],
           "%.2f" % r["rd"] if r["rd"] else "never(%s)" % r["redis"]))
    row("throughput: push rate into fillrelay", "%.0f fills/s" % (r["sent"] / r["pushed"]), "",
        "peer /push time with fillrelay reading (%.2f s)" % r["pushed"])
    # Where the machine's CPU went: per fill, and what one full core would
    # give each part alone (its own ceiling on this machine).
    used = {k: cpu1.get(k, 0) - cpu0.get(k, 0) for k in cpu1}
    ncpu = os.cpu_count() or 1
    for role in ("fillrelay", "PostgreSQL", "Redis", "peer", "bench"):
        if role in used and r["sent"]:
            us = used[role] * 1e6 / r["sent"]
            row("throughput: CPU per fill, %s" % role, "%.0f us" % us, "",
                "%.1f CPU s in %.1f s; alone on one core: %.0f fills/s"
                % (used[role], w1 - w0, 1e6 / us if us else float("inf")))
    total_us = sum(used.values()) * 1e6 / r["sent"] if r["sent"] else 0
    row("throughput: CPU used, all of the above", "%.0f%% of %d cores" % (
        100 * sum(used.values()) / (w1 - w0) / ncpu, ncpu), "", "over the phase (push and drain)")
    if total_us:
        row("throughput: ceiling of this machine (all processes)", "%.0f fills/s" % (ncpu * 1e6 / total_us),
            "", "%d cores / %.0f us of CPU per fill, summed over the processes above" % (ncpu, total_us))
    log("RSS before/after throughput:", st0, st1)
    return r


def phase_rss(applied):
    want = N_RSS - applied
    if want <= 0:
        return applied
    log("rss: %d more fills (budget %.0f s)" % (want, RSS_BUDGET))
    r = push_and_wait("rs", applied, want, budget=RSS_BUDGET, backlog=RSS_BACKLOG)
    applied += r["sent"]
    done = r["pg"] or r["pushed"]
    rate = r["sent"] / done if done else 0
    if r["stopped"]:
        rest = N_RSS - applied
        row("RSS run: reached", "%d fills" % applied, "%d fills" % N_RSS,
            "time budget %.0f s hit; %.0f fills/s -> the rest (%d) would take %.0f s more"
            % (RSS_BUDGET, rate, rest, rest / rate if rate else float("inf")))
    else:
        row("RSS run: reached", "%d fills" % applied, "%d fills" % N_RSS, "%.0f fills/s, %.1f s" % (rate, done))
    return applied


def report_rss():
    m = SAMPLER.marks
    first = None
    for mark in (10000, 100000, 1000000):
        if mark in m:
            c, rss, hwm, arena = m[mark]
            row("VmRSS / VmHWM at %d fills" % mark, "%s / %s KiB" % (rss, hwm), "",
                "sampled at %d fills committed" % c)
            row("arena high-water at %d fills" % mark,
                "%.0f KiB" % (arena / 1024) if arena is not None else "?", "", "")
            if first is None:
                first = (mark, rss, hwm, arena)
            else:
                row("RSS growth %d -> %d fills" % (first[0], mark), "%+d KiB (HWM %+d KiB)"
                    % (rss - first[1], hwm - first[2]), "<= 64 KiB", "")
                if arena is not None and first[3] is not None:
                    row("arena high-water growth %d -> %d fills" % (first[0], mark),
                        "%+.0f KiB" % ((arena - first[3]) / 1024), "0 (flat)", "")
        else:
            row("VmRSS / VmHWM at %d fills" % mark, "not reached", "", "")
    st = proc_status(FR_PID)
    row("VmRSS / VmHWM at the end", "%s / %s KiB" % (st.get("VmRSS"), st.get("VmHWM")), "", "")
    t = metrics_text()
    row("arena high-water / size at the end", "%s / %s KiB" % (
        "%.0f" % (metric(t, "fillrelay_arena_high_water_bytes") / 1024),
        "%.0f" % (metric(t, "fillrelay_arena_size_bytes") / 1024)), "",
        "fillrelay_arena_* in /metrics; failures %s" % metric(t, "fillrelay_arena_failures_total"))


# ---- PostgreSQL ceilings -----------------------------------------------------------------


def phase_pg():
    n = int(psql("SELECT count(*) FROM trading.fills"))
    log("pg ceilings over %d rows" % n)
    dump = os.path.join(WORK, "fills.copy")
    psql("DROP TABLE IF EXISTS public.bench_fills; "
         "CREATE TABLE public.bench_fills (LIKE trading.fills INCLUDING ALL)")
    psql("\\copy trading.fills TO '%s'" % dump)
    t0 = time.time()
    psql("\\copy public.bench_fills FROM '%s'" % dump)
    dt = time.time() - t0
    row("PG COPY into a scratch trading.fills", "%.0f rows/s" % (n / dt), "(ceiling)",
        "%d rows (same rows, %.1f MB text), %.2f s, indexes and PK included, psql \\copy"
        % (n, os.path.getsize(dump) / 1e6, dt))
    psql("TRUNCATE public.bench_fills")
    g = max(n, 10000)
    t0 = time.time()
    cols = psql("SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_schema = 'trading' AND table_name = 'fills'")
    sel = ",".join("'gen-' || g" if c == "exec_id" else "f." + c for c in cols.split(","))
    t0 = time.time()
    psql("INSERT INTO public.bench_fills (%s) SELECT %s"
         " FROM (SELECT * FROM trading.fills LIMIT 1) f, generate_series(1, %d) g" % (cols, sel, g))
    dt = time.time() - t0
    row("PG INSERT ... SELECT generate_series", "%.0f rows/s" % (g / dt), "(ceiling)",
        "%d rows (one fill row, exec_id varied), %.2f s, indexes and PK included" % (g, dt))
    psql("DROP TABLE public.bench_fills")
    os.unlink(dump)


# ---- fsync -------------------------------------------------------------------------------


def phase_fsync():
    raw = execution("lt-123456", 123456, int(time.time() * 1000))
    rec = 24 + 16 + len(ACCOUNT) + len("linear") + len(raw)
    path = os.path.join(SPILL, "bench-fsync.tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    blob = os.urandom(rec)
    lat = []
    t_end = time.time() + float(E.get("FR_BENCH_FSYNC_S", "5"))
    while time.time() < t_end and len(lat) < 20000:
        os.write(fd, blob)
        t0 = time.perf_counter_ns()
        os.fsync(fd)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
    os.close(fd)
    os.unlink(path)
    fs = subprocess.run(["df", "-T", SPILL], capture_output=True, text=True).stdout.splitlines()[-1].split()
    t = metrics_text()
    le = {}
    for line in t.splitlines():
        mm = re.match(r'fillrelay_journal_fsync_us_bucket\{le="(\d+)"\} (\d+)', line)
        if mm:
            le[int(mm.group(1))] = int(mm.group(2))
    n = metric(t, "fillrelay_journal_fsyncs_total") or 0

    def bound(q):
        for b in sorted(le):
            if n and le[b] >= q * n:
                return "<= %.3f ms" % (b / 1000.0)
        return "> 1000 ms" if n else "none"
    row("journal fsync p50 / p99 (fillrelay's own)", "%s / %s" % (bound(0.5), bound(0.99)), "",
        "%d fsyncs of this run, bucket bounds from /metrics; slowest %.3f ms"
        % (n, (metric(t, "fillrelay_journal_fsync_us_max") or 0) / 1000.0))
    row("disk fsync p50 / p99 (ceiling)", "%.3f / %.3f ms" % (pct(lat, 50), pct(lat, 99)), "",
        "append %d B + fsync, %d times, in spill_dir (%s), by the bench itself"
        % (rec, len(lat), fs[1] if len(fs) > 1 else "?"))


# ---- main --------------------------------------------------------------------------------


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--subscriber":
        subscriber(sys.argv[2], sys.argv[3])
        return 0
    ok = True
    phases = E.get("FR_BENCH_PHASES", "peer,latency,thru,rss,pg,fsync").split(",")
    applied = 0
    st_start = proc_status(FR_PID)
    row("fillrelay VmRSS / VmHWM at start", "%s / %s KiB" % (st_start.get("VmRSS"), st_start.get("VmHWM")),
        "", "cores: %d" % os.cpu_count())
    for ph in phases:
        try:
            if ph == "peer":
                phase_peer()
            elif ph == "latency":
                # A low rate first (the path's own delay), then the 1,000/s.
                phase_latency(100, max(100, LAT_N // 10), "l100")
                applied += max(100, LAT_N // 10)
                phase_latency(LAT_RATE, LAT_N, "lt")
                applied += LAT_N
                # The same with fillrelay's loop ahead of the load generators in
                # the scheduler (an appliance runs nothing else): how much of the
                # above is waiting for a core rather than fillrelay's own work.
                try:
                    os.setpriority(os.PRIO_PROCESS, FR_PID, -10)
                except OSError as e:
                    log("latency: renice refused (%s); skipped" % e)
                else:
                    phase_latency(LAT_RATE, LAT_N, "ln", " (fillrelay nice -10)")
                    applied += LAT_N
                    os.setpriority(os.PRIO_PROCESS, FR_PID, 0)
            elif ph == "thru":
                r = phase_thru(applied)
                applied += r["sent"]
            elif ph == "rss":
                applied = phase_rss(applied)
                report_rss()
            elif ph == "pg":
                phase_pg()
            elif ph == "fsync":
                phase_fsync()
        except Exception as e:  # noqa: BLE001 -- a failed phase is reported, the rest runs
            ok = False
            row("phase %s" % ph, "FAILED", "", "%s: %s" % (type(e).__name__, e))
    mt = metrics_text()
    for name in ("fillrelay_fills_received_total", "fillrelay_fills_journaled_total",
                 "fillrelay_fills_written_total", "fillrelay_fills_published_total",
                 "fillrelay_fills_deduplicated_total", "fillrelay_commits_total",
                 "fillrelay_sink_latency_ms", "fillrelay_sink_latency_max_ms",
                 "fillrelay_spill_depth", "fillrelay_refused_total", "fillrelay_rejected_total"):
        v = metric(mt, name)
        row("/metrics " + name, "absent" if v is None else "%g" % v, "", "")
    with open(os.path.join(WORK, "metrics.txt"), "w") as f:
        f.write(mt)
    w = [max(len(str(r[i])) for r in rows + [("figure", "measured", "target", "note")]) for i in range(3)]
    lines = ["fillrelay bench -- %s, %d cores, %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), os.cpu_count(),
                                                      os.uname().release),
             "%-*s  %-*s  %-*s  %s" % (w[0], "figure", w[1], "measured", w[2], "target", "note"),
             "-" * (w[0] + w[1] + w[2] + 12)]
    for r in rows:
        lines.append("%-*s  %-*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], r[3]))
    lines.append("total bench time %.0f s" % (time.time() - T_START))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(REPORT, "w") as f:
        f.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
