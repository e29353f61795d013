#!/bin/sh
# image/board/fetch.sh -- the Debian arm64 binary packages the board image is
# made of (the kernel with its modules, systemd-boot's EFI binary), pinned by
# sha256 in image/board/pins, downloaded into third_party/cache.
#
#   sh image/board/fetch.sh            prints the path of each selected .deb
#   sh image/board/fetch.sh --refresh  re-pins image/board/pins to what the
#                                      archive serves now (make pins-refresh)
#
# The pins file has the format of third_party/pins (ROLE VERSION FILE SHA256):
# ROLE is "kernel" or "boot", FILE the .deb's name (NAME_VERSION_arm64.deb, which
# says what to ask apt for). Several versions of a role may be listed, newest
# first; the first whose .deb is cached or downloadable with exactly its hash
# wins. Debian drops kernel ABIs at point releases: when none of the pinned
# ones is served any more, this fails with "pinned version withdrawn: run
# `make pins-refresh`".
#
# apt runs with a private state (third_party/cache/apt-arm64): the system's
# binary sources, APT::Architecture=arm64, lists of its own; the system's apt
# configuration is only read.
set -eu
TP_DIR=$(cd "$(dirname "$0")/../../third_party" && pwd)
FR_PINS=${FR_BOARD_PINS:-$(cd "$(dirname "$0")" && pwd)/pins}
. "$TP_DIR/lib.sh"
A64=$FR_CACHE/apt-arm64
need_cmd sha256sum coreutils
need_cmd apt-get apt
cache_lock

a64() { # a64 apt-get|apt-cache ARGS...
	_t=$1
	shift
	"$_t" -q -o APT::Architecture=arm64 -o APT::Architectures=arm64 \
		-o "Dir::State::Lists=$A64/lists" -o "Dir::Cache=$A64/cache" "$@"
}
a64_update() {
	mkdir -p "$A64/lists/partial" "$A64/cache/archives/partial"
	note "apt-get update (arm64 binary lists in ${A64#"$ROOT_DIR"/})"
	a64 apt-get update >"$A64/update.log" 2>&1 && ! grep -q '^\(E\|W\): Failed to fetch' "$A64/update.log" ||
		{ sed 's/^/    /' "$A64/update.log" >&2; die "apt-get update (arm64) failed (no network?)"; }
}

if [ "${1:-}" = --refresh ]; then
	a64_update
	# The newest three kernel ABIs the archive lists, and the newest boot loader.
	abis=$(a64 apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-arm64$' |
		sed -n 's/^\(linux-image-[0-9.]*-[0-9]*-arm64\) .*/\1/p' | sort -t- -k4,4nr | head -n 3)
	[ -n "$abis" ] || die "no arm64 kernel listed"
	{
		sed -n '1,/^$/p' "$FR_PINS"
		for p in $abis systemd-boot-efi; do
			role=kernel
			[ "$p" = systemd-boot-efi ] && role=boot
			a64 apt-cache show "$p" | awk -v r="$role" -v p="$p" '
				/^Version: / { v = $2 } /^Filename: / { f = $2 } /^SHA256: / { h = $2 }
				/^$/ && v != "" { n = split(f, a, "/"); print r, p "=" v, a[n], h; v = "" }
				END { if (v != "") { n = split(f, a, "/"); print r, p "=" v, a[n], h } }' | head -n 1
		done
	} >"$FR_PINS.new"
	FR_PINS=$FR_PINS.new pins_validate
	diff -u "$FR_PINS" "$FR_PINS.new" >&2 || true
	mv "$FR_PINS.new" "$FR_PINS"
	note "re-pinned ${FR_PINS#"$ROOT_DIR"/}"
	exit 0
fi

pins_validate
updated=0
for role in $(pins_packages); do
	hit=""
	why=""
	for ver in $(pins_versions "$role"); do
		pins_files "$role" "$ver" >"$FR_CACHE/.board-pin"
		read -r file hash <"$FR_CACHE/.board-pin"
		rm -f "$FR_CACHE/.board-pin"
		if [ ! -f "$FR_CACHE/$file" ]; then
			[ "$updated" = 1 ] || { a64_update; updated=1; }
			stage=$A64/stage
			stage_dir "$stage"
			note "apt-get download $ver (arm64)"
			(cd "$stage" && a64 apt-get download "$ver") >"$A64/download.log" 2>&1 || true
			if [ ! -f "$stage/$file" ]; then
				why="$why
    $ver: not served ($(sed -n 's/^E: //p' "$A64/download.log" | head -n 1))"
				continue
			fi
			a=$(sha256_of "$stage/$file")
			[ "$a" = "$hash" ] || die "hash mismatch: $file ($ver as downloaded)
    expected sha256 $hash (from ${FR_PINS#"$ROOT_DIR"/})
    actual   sha256 $a"
			cache_put "$stage/$file"
			rm -rf "$stage"
		fi
		a=$(sha256_of "$FR_CACHE/$file")
		[ "$a" = "$hash" ] || die "hash mismatch: $FR_CACHE/$file: expected $hash, have $a; delete it and run again"
		hit=$FR_CACHE/$file
		break
	done
	[ -n "$hit" ] || die "$role: pinned version withdrawn: run \`make pins-refresh\`$why"
	printf '%s %s\n' "$role" "$hit"
done
