"""Client order ids (Bybit orderLinkId) for Python bots whose fills fillrelay records.

Standard library only (os.urandom, time). Copy this file next to your bot.

    import fillrelay_orderid

    order_link_id = fillrelay_orderid.new("shortseller_001", "entry")
    params["orderLinkId"] = order_link_id

It replaces the seed guide's f"{bot_id}:{reason}:{int(time.time())}", which Bybit
refuses (colons, more than 36 characters, one id per second).

RETRIES: make the id once per order and send the SAME id on every retry of that
order (timeout, network error, 5xx). Bybit refuses a duplicate orderLinkId (110072,
170141): on a retry that answer means the first attempt landed. A new id for a
retry could place the order twice.

Format (the contract is fillrelay's src/orderid.h; `fillrelay orderid new`,
fillrelay_orderid.h and this module agree, tested by tests/orderid_cross.sh):

    BOT-REASON-STAMP, at most 36 characters of [A-Za-z0-9_-]
    BOT     the bot id, [A-Za-z0-9_]{1,20}, as in fillrelay's [bot ID]
    REASON  why the order is placed, [A-Za-z0-9_]{1,32}, in its shortest
            spelling: the built-in alias of the seed's standard reasons (BUILTIN;
            rule_N is rN), else the reason itself; an alias you pass (the
            [reasons] of fillrelay's configuration) replaces that only when
            strictly shorter. fillrelay stores the canonical reason.
    STAMP   15 characters [0-9a-z]: 9 of milliseconds since the epoch in base36,
            6 of a per-process counter added to a random start.

BOT and REASON together fit in 19 characters; a longer pair raises OrderIdError
with a message naming the fix. Ids of one generator never repeat; two generators
(two processes, a restart) collide with chance 4.6e-10 per pair of ids made in the
same millisecond for the same bot and reason. A generator re-seeds itself after
os.fork(); it is thread-safe.

Command line (the same JSON as `fillrelay orderid`):
    python3 fillrelay_orderid.py new BOT REASON [--alias ALIAS=REASON]...
    python3 fillrelay_orderid.py parse ID [--alias ALIAS=REASON]...
"""

import collections
import os
import re
import sys
import threading
import time

MAX = 36
MS_LEN = 9
UNIQUE_LEN = 6
STAMP_LEN = MS_LEN + UNIQUE_LEN
MS_LIMIT = 36 ** 9
UNIQUE_MOD = 36 ** 6
BOT_MAX = 20
REASON_MAX = 32
NAMES_MAX = MAX - STAMP_LEN - 2  # BOT and REASON together: 19
PARSE_MAX = BOT_MAX + REASON_MAX + 15 + 2
RULE_DIGITS_MAX = REASON_MAX - 5
COLON_SECONDS_LIMIT = 10 ** 11
QUOTE_MAX = 40

# The seed's standard reasons, alias -> canonical reason (rule_N is rN, apart).
BUILTIN = collections.OrderedDict([
    ("en", "entry"), ("si", "scale_in"), ("me", "manual_entry"),
    ("ts", "trailing_stop"), ("tp", "take_profit"), ("sl", "stop_loss"),
    ("ma", "ma_exit"), ("te", "time_exit"), ("rl", "risk_limit"),
    ("mx", "manual_exit"), ("vb", "volatility_breakout"), ("ec", "ema_cross"),
])
_BUILTIN_B = {a.encode(): r.encode() for a, r in BUILTIN.items()}
_BUILTIN_REV = {r: a for a, r in _BUILTIN_B.items()}
_NAME = re.compile(rb"[A-Za-z0-9_]+")
_DIGITS = re.compile(rb"[0-9]+")
_B36 = re.compile(rb"[0-9a-z]+")
_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyz"

Parsed = collections.namedtuple(
    "Parsed", "bot reason reason_wire stamp_ms unique form")
Parsed.__doc__ = """A fillrelay id: reason is canonical, form "wire" or "colon"."""


class OrderIdError(ValueError):
    """The id cannot be made; code is "invalid", "range", "config" or "io"."""

    def __init__(self, code, message):
        ValueError.__init__(self, message)
        self.code = code


def _bytes(s):
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode("utf-8", "surrogateescape")
    raise TypeError("expected str or bytes, got %s" % type(s).__name__)


def _is_name(s, max_len):
    return 0 < len(s) <= max_len and _NAME.fullmatch(s) is not None


def _aliases(aliases):
    """[(alias, reason)] as bytes, invalid entries dropped, order kept."""
    out = []
    for alias, reason in (aliases or {}).items():
        a, r = _bytes(alias), _bytes(reason)
        if _is_name(a, REASON_MAX) and _is_name(r, REASON_MAX):
            out.append((a, r))
    return out


def _builtin_expand(w):
    if 2 <= len(w) <= 1 + RULE_DIGITS_MAX and w[:1] == b"r" and _DIGITS.fullmatch(w[1:]):
        return b"rule_" + w[1:]
    return _BUILTIN_B.get(w)


def _builtin_shorten(r):
    if 6 <= len(r) <= 5 + RULE_DIGITS_MAX and r[:5] == b"rule_" and _DIGITS.fullmatch(r[5:]):
        return b"r" + r[5:]
    return _BUILTIN_REV.get(r)


def _expand(al, w):
    got = _builtin_expand(w)
    if got is not None:
        return got
    for a, r in al:
        if a == w:
            return r
    return w


def _shorten(al, r):
    best = _builtin_shorten(r)
    if best is None:
        best = r
    for a, reason in al:
        if len(a) < len(best) and reason == r:
            best = a
    return best


def _quote(s):
    q = bytes(c if 0x20 <= c <= 0x7E else 0x3F for c in s[:QUOTE_MAX])
    return q.decode("ascii") + ("..." if len(s) > QUOTE_MAX else "")


def _check(what, s, max_len):
    if len(s) == 0:
        raise OrderIdError("invalid", "%s is empty" % what)
    if len(s) > max_len:
        raise OrderIdError("invalid", "%s '%s' is longer than %d characters"
                           % (what, _quote(s), max_len))
    if not _NAME.fullmatch(s):
        raise OrderIdError("invalid", "%s '%s' has a character outside [A-Za-z0-9_]"
                           % (what, _quote(s)))


def _too_long(length, bot, canon, wire):
    """The message naming the fixes that work (same text as fillrelay's orderid.c)."""
    bot_room, alias_room = NAMES_MAX - len(wire), NAMES_MAX - len(bot)
    bot, canon = bot.decode(), canon.decode()
    a1, a2 = (("give '", "' a shorter [reasons] alias") if wire != canon.encode()
              else ("add a [reasons] alias for '", "'"))
    fix_bot = "shorten bot id '%s' to at most %d character%s" % (
        bot, bot_room, "" if bot_room == 1 else "s")
    fix_alias = "%s%s%s of at most %d character%s" % (
        a1, canon, a2, alias_room, "" if alias_room == 1 else "s")
    head = "id would be %d characters (max %d): " % (length, MAX)
    if bot_room >= 1 and alias_room >= 1:
        return head + fix_bot + " or " + fix_alias
    if bot_room >= 1 or alias_room >= 1:
        return head + (fix_bot if bot_room >= 1 else fix_alias)
    return head + "shorten bot id '%s' and %s%s%s (together at most %d characters)" % (
        bot, a1, canon, a2, NAMES_MAX)


def _b36(v, width):
    out = bytearray(width)
    for i in range(width - 1, -1, -1):
        out[i] = _ALPHABET[v % 36]
        v //= 36
    return bytes(out)


def now_ms():
    """The wall clock in milliseconds since the epoch (integer arithmetic)."""
    return time.time_ns() // 1000000


class Generator(object):
    """Per-process id state; seed=None draws from os.urandom (production)."""

    def __init__(self, seed=None):
        self._lock = threading.Lock()
        self._fixed = seed is not None
        self._seed(seed)

    def _seed(self, seed):
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "big")
        self.base = seed % UNIQUE_MOD
        self.count = 0
        self.pid = os.getpid()

    def new(self, bot, reason, aliases=None, now_ms=None):
        """A new id (str) for bot and reason (canonical, or an alias)."""
        b, r = _bytes(bot), _bytes(reason)
        _check("bot id", b, BOT_MAX)
        _check("reason", r, REASON_MAX)
        if now_ms is None:
            now_ms = time.time_ns() // 1000000
        if not 0 <= now_ms < MS_LIMIT:
            raise OrderIdError("range", "clock reads %d ms, outside the id's range" % now_ms)
        al = _aliases(aliases)
        canon = _expand(al, r)
        wire = _shorten(al, canon)
        if _expand(al, wire) != canon:
            raise OrderIdError(
                "config", "[reasons] alias '%s' of '%s' clashes with the built-in aliases "
                "(fillrelay check names the line)" % (wire.decode(), canon.decode()))
        length = len(b) + len(wire) + 2 + STAMP_LEN
        if length > MAX:
            raise OrderIdError("range", _too_long(length, b, canon, wire))
        with self._lock:
            if not self._fixed and self.pid != os.getpid():
                self._seed(None)  # a forked child must not walk the parent's values
            unique = (self.base + self.count) % UNIQUE_MOD
            self.count += 1
        return (b + b"-" + wire + b"-" + _b36(now_ms, MS_LEN)
                + _b36(unique, UNIQUE_LEN)).decode("ascii")


_default = None
_default_lock = threading.Lock()


def new(bot, reason, aliases=None, now_ms=None):
    """A new id from this process's generator; aliases: {alias: reason}."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Generator()
    return _default.new(bot, reason, aliases, now_ms)


def _parse_wire(s, al):
    n = len(s)
    if n > MAX or n < STAMP_LEN + 4:
        return None
    head = n - STAMP_LEN - 1
    stamp = s[head + 1:]
    if s[head:head + 1] != b"-" or b"-" not in s[:head]:
        return None
    dash = s.index(b"-")
    bot, wire = s[:dash], s[dash + 1:head]
    if not (_is_name(bot, BOT_MAX) and _is_name(wire, REASON_MAX) and _B36.fullmatch(stamp)):
        return None
    return Parsed(bot.decode(), _expand(al, wire).decode(), wire.decode(),
                  int(stamp[:MS_LEN], 36), int(stamp[MS_LEN:], 36), "wire")


def _parse_colon(s, al):
    parts = s.split(b":", 2)
    if len(parts) != 3:
        return None
    bot, wire, stamp = parts
    if not (_is_name(bot, BOT_MAX) and _is_name(wire, REASON_MAX) and len(stamp) <= 15
            and _DIGITS.fullmatch(stamp)):
        return None
    v = int(stamp)
    return Parsed(bot.decode(), _expand(al, wire).decode(), wire.decode(),
                  v * 1000 if v < COLON_SECONDS_LIMIT else v, 0, "colon")


def parse(order_link_id, aliases=None):
    """Parsed for a fillrelay id (BOT-REASON-STAMP or the seed's BOT:REASON:TIME),
    None for a foreign one ("", random hex, a UUID, ...)."""
    s = _bytes(order_link_id)
    if len(s) == 0 or len(s) > PARSE_MAX:
        return None
    al = _aliases(aliases)
    return _parse_colon(s, al) if b":" in s else _parse_wire(s, al)


def _json_str(s):
    out = []
    for c in s:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif c < 0x20 or c > 0x7E:
            out.append("\\u%04x" % c)
        else:
            out.append(chr(c))
    return '"' + "".join(out) + '"'


def _main(argv):
    usage = ("usage: fillrelay_orderid.py new BOT REASON | parse ID "
             "[--alias ALIAS=REASON]...\n")
    args, aliases = [], collections.OrderedDict()
    i = 0
    while i < len(argv):
        if argv[i] == b"--alias" and i + 1 < len(argv) and b"=" in argv[i + 1]:
            a, r = argv[i + 1].split(b"=", 1)
            aliases[a] = r
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if not ((args[:1] == [b"new"] and len(args) == 3) or (args[:1] == [b"parse"] and len(args) == 2)):
        sys.stderr.write(usage)
        return 64
    if args[0] == b"new":
        try:
            oid = new(args[1], args[2], aliases)
        except OrderIdError as e:
            sys.stderr.write("fillrelay_orderid new: %s\n" % e)
            return {"invalid": 64, "config": 78, "io": 71}.get(e.code, 65)
        p = parse(oid, aliases)
        sys.stdout.write('{"id":"%s","bot":"%s","reason":"%s","stamp_ms":%d}\n'
                         % (oid, p.bot, p.reason, p.stamp_ms))
        return 0
    p = parse(args[1], aliases)
    if p is None:
        sys.stdout.write('{"id":%s,"ours":false}\n' % _json_str(args[1]))
        sys.stderr.write("fillrelay_orderid parse: not a fillrelay order id (neither "
                         "BOT-REASON-STAMP nor BOT:REASON:TIMESTAMP)\n")
        return 65
    sys.stdout.write('{"id":%s,"bot":"%s","reason":"%s","reason_wire":"%s","stamp_ms":%d,'
                     '"form":"%s","ours":true}\n'
                     % (_json_str(args[1]), p.bot, p.reason, p.reason_wire, p.stamp_ms, p.form))
    return 0


if __name__ == "__main__":
    sys.exit(_main([os.fsencode(a) for a in sys.argv[1:]]))
