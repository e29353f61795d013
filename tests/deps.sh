#!/usr/bin/env bash
# Installs, with apt-get, every Debian package the build and the tests need.
# Idempotent; needs root (or sudo). Used by .ci/run and by the README's commands.
set -euo pipefail
pkgs=(
	make gcc libc6-dev binutils file patch perl bzip2 xz-utils ca-certificates python3
	git                                          # the revision in fillrelay version and the image
	musl-tools                                   # the static product build
	clang-14 libclang-rt-14-dev                  # libFuzzer and sanitizer runtimes
	gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static   # arm64
	linux-libc-dev-arm64-cross                   # the board init's linux/ and asm/ headers
	postgresql-15 redis-server pgbouncer         # the integration tests' servers
	python3-websockets openssl curl              # the Bybit-compatible test peer
	skopeo umoci                                 # make image and its test
	qemu-system-arm qemu-efi-aarch64 dosfstools mtools fdisk cpio e2fsprogs socat chrony dnsmasq-base iproute2   # make board, its test
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}"
$sudo apt-get update -q
# Servers installed here must not start system-wide instances: the tests run
# their own on free ports (policy-rc.d 101 = "do not start").
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
