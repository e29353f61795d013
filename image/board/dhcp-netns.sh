#!/bin/sh
# image/board/dhcp-netns.sh -- runs the board init's DHCP tests
# (image/board/test_init.c, dhcp_* and net_*) against dnsmasq, each in a network
# namespace of its own, joined by a veth pair as two machines on one link:
#
#   sh image/board/dhcp-netns.sh WORKDIR TEST_INIT
#
#   client namespace: veth1 (to the server), veth2 (its peer veth3 leads
#                     nowhere: no server, and net_static_up's static address),
#                     the test; its own host name (unshare -u)
#   server namespace: veth0 10.9.0.1/24, dnsmasq serving 10.9.0.50-59 (leases of
#                     2 min, authoritative: a request for an unknown lease gets
#                     a NAK), log WORKDIR/dnsmasq.log
# Exit status: the test's. Needs root, iproute2, dnsmasq-base.
set -eu
[ $# -eq 2 ] || { echo "usage: dhcp-netns.sh WORKDIR TEST_INIT" >&2; exit 2; }
case ${FR_DHCP_SIDE:-} in
server)
	touch "$1/server-netns" # (this shell runs in the new namespace already)
	while [ ! -e "$1/veth0-moved" ]; do sleep 0.05; done
	ip link set lo up
	ip addr add 10.9.0.1/24 dev veth0
	ip link set veth0 up
	exec dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --interface=veth0 \
		--bind-interfaces --dhcp-range=10.9.0.50,10.9.0.59,255.255.255.0,2m \
		--dhcp-authoritative --dhcp-option=3,10.9.0.1 --dhcp-option=6,10.9.0.1 \
		--dhcp-leasefile="$1/dnsmasq.leases" --pid-file="$1/dnsmasq.pid" --user=root \
		--log-dhcp --log-facility="$1/dnsmasq.log"
	;;
client)
	ip link set lo up
	ip link add veth0 type veth peer name veth1
	ip link add veth2 type veth peer name veth3
	for i in veth1 veth2 veth3; do ip link set "$i" up; done
	FR_DHCP_SIDE=server unshare -n sh "$0" "$1" "$2" &
	srv=$!
	while [ ! -e "$1/server-netns" ]; do sleep 0.05; done
	ip link set veth0 netns "$srv"
	touch "$1/veth0-moved"
	for _ in $(seq 50); do grep -q 'DHCP, sockets bound' "$1/dnsmasq.log" 2>/dev/null && break; sleep 0.1; done
	rc=0
	FR_DHCP_NETNS=1 "$2" dhcp_ net_ || rc=$?
	kill "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	exit "$rc"
	;;
*)
	rm -f "$1/server-netns" "$1/veth0-moved" "$1/dnsmasq.log"
	FR_DHCP_SIDE=client exec unshare -n -u sh "$0" "$1" "$2"
	;;
esac
