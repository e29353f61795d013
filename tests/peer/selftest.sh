#!/usr/bin/env bash
# selftest.sh -- starts the Bybit test peer on free loopback ports and checks every behaviour
# with independent clients (tests/peer/test_peer.py: python3-websockets client, ssl with the
# test CA, http.client with its own HMAC signing). Ends with "N passed, N failed"; exits
# non-zero on any failure. Bounded (about 20 s; hard limit 120 s); the peer is stopped on exit.
#
# Usage: tests/peer/selftest.sh [-v]     (-v: show the peer's log at the end)
# Needs (Debian 12): python3 python3-websockets openssl
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${FR_PYTHON:-/usr/bin/python3} # Debian's python3, which has python3-websockets
verbose=0
[ "${1:-}" = -v ] && verbose=1
tmp=$(mktemp -d /tmp/fr-peer-selftest-XXXXXX)
pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "selftest: $*"
	[ -f "$tmp/peer.log" ] && tail -n 40 "$tmp/peer.log"
	echo "0 passed, 1 failed"
	exit 1
}

bash "$here/mkcerts.sh" "$tmp/certs" 2>"$tmp/mkcerts.log" || fail "mkcerts.sh failed: $(cat "$tmp/mkcerts.log")"

"$PY" "$here/bybit_peer.py" --dir "$tmp/certs" --ws-port 0 --rest-port 0 --control-port 0 \
	--accounts "PEERTESTKEY1:peer-test-secret-1" --ready-file "$tmp/ready" \
	>"$tmp/stdout" 2>"$tmp/peer.log" &
pid=$!
for _ in $(seq 1 100); do
	[ -s "$tmp/ready" ] && break
	kill -0 "$pid" 2>/dev/null || fail "the peer exited at start"
	sleep 0.1
done
[ -s "$tmp/ready" ] || fail "no ready line within 10 s"
read -r word ws rest ctl <"$tmp/ready"
[ "$word" = ready ] || fail "bad ready line: $(cat "$tmp/ready")"
ws=${ws#ws=} rest=${rest#rest=} ctl=${ctl#control=}
grep -qx "ready ws=$ws rest=$rest control=$ctl" "$tmp/stdout" || fail "stdout lacks the ready line"
echo "peer: ws=$ws rest=$rest control=$ctl (pid $pid)"

fixtures=
for d in "$here/../../../shared/fixtures/bybit" "$here/../../shared/fixtures/bybit"; do
	[ -d "$d" ] && fixtures=$(cd "$d" && pwd) && break
done

timeout 120 "$PY" "$here/test_peer.py" --ws "$ws" --rest "$rest" --control "$ctl" \
	--ca "$tmp/certs/ca.pem" --fixtures "$fixtures"
rc=$?

# the control channel's shutdown stops the peer cleanly
curl -s -m 5 -X POST "http://127.0.0.1:$ctl/shutdown" >/dev/null 2>&1 ||
	"$PY" -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$ctl/shutdown', data=b'{}'), timeout=5)" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	echo "selftest: the peer did not stop on /shutdown"
	rc=1
else
	wait "$pid"
	prc=$?
	[ "$prc" -eq 0 ] || { echo "selftest: the peer exited with $prc"; rc=1; }
	pid=
fi
if grep -q Traceback "$tmp/peer.log"; then
	echo "selftest: the peer logged a traceback:"
	grep -A 15 Traceback "$tmp/peer.log" | head -n 60
	rc=1
fi
if [ "$rc" -ne 0 ] || [ "$verbose" = 1 ]; then
	echo "--- peer log (tail)"
	tail -n 60 "$tmp/peer.log"
fi
exit "$rc"
