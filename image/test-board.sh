#!/usr/bin/env bash
# image/test-board.sh -- boots the arm64 board image and checks it end to end.
#
#   bash image/test-board.sh          (after make board-init; make test-board)
#
# Builds a board image whose data partition holds a test configuration (one
# account, one bot; image/e2e.sh) and boots it under qemu-system-aarch64 -M virt
# with Debian's UEFI firmware (AAVMF), the disk on virtio-blk, the network on
# virtio-net through qemu's user-mode stack with restrict=on: the guest can
# reach nothing but the loopback ports forwarded to it (guestfwd: the local
# PostgreSQL, Redis and the Bybit peer's WebSocket and REST ports at
# 10.0.2.100, which the data partition's hosts file names
# exchange.fillrelay.test), and the host reaches its /healthz through hostfwd.
# First, init's pieces that run on this machine (image/board/test_init.c, with
# ASan/UBSan): board.conf parsing, the SNTP client against chronyd and against
# servers that misbehave (image/board/sntp_peer.py), the DHCP client against
# dnsmasq in a network namespace (a lease, its renewal, a NAK, no server) and a
# static address with its route, host name, hosts and resolv.conf. Then:
#   1. "subscription successful" on the serial console; boot-to-subscribed
#      printed (from qemu's start: firmware, kernel, init, DHCP, TLS, backfill);
#   2. /healthz through hostfwd; a fill pushed by the peer lands in PostgreSQL
#      and Redis;
#   3. "kill" on the serial console: init SIGKILLs fillrelay and starts it
#      again after its backoff; it subscribes again and a second fill lands;
#      "status" answers; "restart" stops it with SIGTERM and starts it at once;
#   4. a power-off request (qemu's system_powerdown: the ACPI power button
#      under UEFI): init stops fillrelay with SIGTERM, syncs and unmounts the
#      data partition, powers off; qemu exits;
#   5. the data partition, read from the disk image afterwards: e2fsck finds it
#      clean, `fillrelay spill verify` and `dump` (the host's build) find the
#      journal whole with both fills in it, and /log/fillrelay.log holds
#      fillrelay's and init's lines up to fillrelay's last.
# Ends with "N passed, N failed". FR_BOARD_TIMEOUT (default 300) bounds the wait
# for the first subscription (software emulation of a Cortex-A57).
set -uo pipefail
cd "$(dirname "$0")/.."
. image/e2e.sh
work=$(mktemp -d /tmp/fr-board.XXXXXX)
qpid=
cleanup() {
	[ -z "$qpid" ] || { kill -KILL "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; }
	exec 3>&- 2>/dev/null
	e2e_down
	[ -n "${FR_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fw=/usr/share/AAVMF/AAVMF_CODE.fd
for f in build/board/init build/aarch64/fillrelay build/x86_64/fillrelay "$fw"; do
	[ -f "$f" ] || { echo "missing $f (make board-init, make; qemu-efi-aarch64)"; echo "0 passed, 1 failed"; exit 1; }
done
limit=${FR_BOARD_TIMEOUT:-300}

# tally OUTPUT: a runner's output, indented, its "N passed, N failed" counted.
tally() {
	local last p f
	echo "$1" | sed 's/^/   /'
	last=$(tail -n 1 <<<"$1")
	p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$last")
	f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$last")
	E2E_PASS=$((E2E_PASS + ${p:-0}))
	E2E_FAIL=$((E2E_FAIL + ${f:-1}))
}

echo "== init's pieces on this machine (image/board/test_init.c: board.conf, SNTP, DHCP)"
cport=$(/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'port %s\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\npidfile %s\n' \
	"$cport" "$work/chronyd.pid" >"$work/chrony.conf"
# -x: serve time without ever touching this machine's clock.
chronyd -x -d -f "$work/chrony.conf" >"$work/chronyd.log" 2>&1 &
cpid=$!
/usr/bin/python3 image/board/sntp_peer.py >"$work/sntp_peer.ready" 2>"$work/sntp_peer.log" &
spid=$!
for _ in $(seq 50); do [ -s "$work/sntp_peer.ready" ] && [ -s "$work/chronyd.pid" ] && break; sleep 0.1; done
rm -rf build/board/test_init.data build/board/test_init.etc   # (the test's /data and /etc)
if gcc -std=c11 -g -O1 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wvla \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Itests -Iimage/board \
	-o "$work/test_init" tests/t.c image/board/test_init.c; then
	tally "$(FR_CHRONY_PORT=$cport FR_SNTP_PEER="$(sed 's/^ready //' "$work/sntp_peer.ready")" \
		"$work/test_init" board_ sntp_ 2>&1)"
	# The DHCP client against dnsmasq, two network namespaces on one link.
	tally "$(sh image/board/dhcp-netns.sh "$work" "$work/test_init" 2>&1)"
else
	bad "image/board/test_init.c builds"
fi
kill "$cpid" "$spid" 2>/dev/null
wait "$cpid" "$spid" 2>/dev/null

e2e_up "$work/e2e"
data=$work/data
mkdir -p "$data/secrets"
cp image/board/data/board.conf "$data/"
cp "$work/e2e/secrets/"* "$data/secrets/"
cp "$work/e2e/peer/ca.pem" "$data/exchange-ca.pem"
echo "10.0.2.100 exchange.fillrelay.test" >"$data/hosts"
e2e_conf "$data/fillrelay.conf" exchange.fillrelay.test 9443 9444 /data/exchange-ca.pem \
	10.0.2.100 5432 10.0.2.100 6379 /data/journal /data/secrets 0.0.0.0:9464
FR_BOARD_DATA_MB=64 sh image/board/build.sh "$work/board.img" build/board/init \
	build/aarch64/fillrelay "$data" || { bad "board image built"; e2e_summary; exit 1; }
ok "board image built with the test's data partition"

hp=$(e2e_free_port)
fwd() { echo "guestfwd=tcp:10.0.2.100:$1-cmd:socat - TCP:127.0.0.1:$2"; }
net="user,id=n0,restrict=on,$(fwd 5432 "$FR_TEST_PGPORT"),$(fwd 6379 "$FR_TEST_REDIS_PORT")"
net="$net,$(fwd 9443 "$E2E_WS"),$(fwd 9444 "$E2E_REST"),hostfwd=tcp:127.0.0.1:$hp-:9464"
cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/vars.fd"
mkfifo "$work/console.in"
log=$work/console.log
t0=$(date +%s%N)
qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 512 -display none -no-reboot \
	-drive "if=pflash,format=raw,readonly=on,file=$fw" -drive "if=pflash,format=raw,file=$work/vars.fd" \
	-drive "if=none,id=d0,file=$work/board.img,format=raw" -device virtio-blk-pci,drive=d0 \
	-netdev "$net" -device virtio-net-pci,netdev=n0,romfile= \
	-serial stdio -monitor "unix:$work/monitor,server=on,wait=off" \
	<"$work/console.in" >"$log" 2>&1 &
qpid=$!
exec 3>"$work/console.in"

# wait_for PATTERN COUNT SECONDS: the console log has COUNT lines matching.
wait_for() {
	local end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ "$(grep -a -c -- "$1" "$log")" -ge "$2" ] && return 0
		kill -0 "$qpid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
console() { printf '%s\n' "$1" >&3; }

echo "== boot"
if wait_for 'msg="subscription successful"' 1 "$limit"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	ok "subscription successful"
	printf '   boot to subscribed: %d.%03d s (qemu start -> UEFI -> systemd-boot -> kernel -> init -> DHCP -> fillrelay)\n' \
		$((ms / 1000)) $((ms % 1000))
	grep -a -E 'init: (modules|data partition|dhcp|fillrelay started|power key)' "$log" | sed 's/^/   /'
else
	bad "subscription successful within $limit s"
fi
check "/healthz through hostfwd: healthy" build/x86_64/fillrelay health "127.0.0.1:$hp"
check "fillrelay runs as uid 10001" grep -a -q 'fillrelay started: pid [0-9]*, uid 10001' "$log"
e2e_push 1
e2e_wait 1 30

echo "== kill: init restarts fillrelay"
console kill
check "init: fillrelay killed by signal 9" wait_for 'init: fillrelay (ran [0-9]* ms) killed by signal 9' 1 20
check "init: restart after its backoff (1 s first)" grep -a -q 'init: restarting fillrelay in 1000 ms' "$log"
check "init: restarted it" wait_for 'init: fillrelay started' 2 20
check "subscribed again" wait_for 'msg="subscription successful"' 2 60
e2e_push 2
e2e_wait 2 30
console status
check "console status: fillrelay's pid and the DHCP address" \
	wait_for 'init: fillrelay pid [0-9]*, up [0-9]* ms, address 10.0.2.15' 1 10
console restart
check "console restart: fillrelay stopped with status 0" \
	wait_for 'init: fillrelay (ran [0-9]* ms) exited with status 0' 1 30
check "console restart: started again at once" wait_for 'init: fillrelay started' 3 10
check "console restart: subscribed again" wait_for 'msg="subscription successful"' 3 60

echo "== power-off request"
printf 'system_powerdown\n' | socat - "UNIX-CONNECT:$work/monitor" >/dev/null
rc=
for _ in $(seq 600); do
	kill -0 "$qpid" 2>/dev/null || { wait "$qpid"; rc=$?; qpid=; break; }
	sleep 0.1
done
check "qemu exited after the power-off (status ${rc:-still running})" [ "${rc:-x}" = 0 ]
check "init: power-off requested" grep -a -q 'init: power-off requested' "$log"
check "fillrelay stopped cleanly (exit=0)" grep -a -q 'msg="fillrelay stopped".*exit=0' "$log"
check "init: data partition synced and unmounted" grep -a -q 'init: data partition synced and unmounted' "$log"
check "init: powering off" grep -a -q 'init: powering off' "$log"

echo "== the data partition afterwards"
dd if="$work/board.img" of="$work/data.img" bs=1M skip=65 count=64 status=none
check "e2fsck: the data partition is clean" e2fsck -f -n "$work/data.img"
debugfs -R "rdump /journal $work" "$work/data.img" >/dev/null 2>&1
check "fillrelay spill verify: the journal is whole" \
	build/x86_64/fillrelay spill verify --dir "$work/journal"
flog=$(debugfs -R "cat /log/fillrelay.log" "$work/data.img" 2>/dev/null)
check "log file: fillrelay's lines, all three runs subscribed" \
	[ "$(grep -c 'msg="subscription successful"' <<<"$flog")" -ge 3 ]
check "log file: init's lines (power-off requested)" grep -q 'init: power-off requested' <<<"$flog"
check "log file: fillrelay's last line before the unmount (fillrelay stopped)" \
	grep -q 'msg="fillrelay stopped".*exit=0' <<<"$flog"
check "log file: no secret in it" sh -c '! grep -q -e "$1" -e "$2" -e "$3"' sh "$E2E_SECRET" \
	"$FR_TEST_PGPASSWORD" "$FR_TEST_REDIS_PASSWORD" <<<"$flog"
dump=$(build/x86_64/fillrelay spill dump --dir "$work/journal" 2>&1)
check "the journal holds fill 1" grep -q 'e2e-exec-1' <<<"$dump"
check "the journal holds fill 2" grep -q 'e2e-exec-2' <<<"$dump"
if [ "$E2E_FAIL" != 0 ]; then
	echo "-- the console's last lines:"
	tail -n 40 "$log" | tr -d '\r'
fi
e2e_summary
