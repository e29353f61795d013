#!/bin/sh
# image/board/build.sh -- the arm64 board disk image: a generic UEFI GPT disk.
#
#   sh image/board/build.sh OUT.img INIT FILLRELAY DATA_DIR
#
# INIT and FILLRELAY are static aarch64 binaries (image/board/init.c, the
# product); DATA_DIR is copied onto the data partition as it is (board.conf,
# fillrelay.conf, secrets/, hosts: image/board/data for `make board`, the
# test's own for image/test-board.sh). The kernel and systemd-boot come from
# Debian's arm64 packages, pinned in image/board/pins (image/board/fetch.sh).
#
# Partitions:
#   1  "EFI system", vfat, 64 MiB: EFI/BOOT/BOOTAA64.EFI (systemd-boot, the
#      removable-media path every UEFI firmware, U-Boot's included, boots),
#      loader/entries/fillrelay.conf (the kernel command line: edit it on
#      any PC for a board whose serial console is not ttyAMA0),
#      fillrelay/Image (Debian's kernel, an EFI application), fillrelay/initrd.img
#      (init, fillrelay, the modules it loads, the build machine's CA bundle);
#   2  "fillrelay-data", ext4 (FR_BOARD_DATA_MB, default 512 MiB): DATA_DIR and
#      journal/ (uid 10001). init finds it by this GPT name, whatever the disk.
# Prints the image's size and what went in. Needs: dpkg-deb, objcopy for
# aarch64 (module dependencies), cpio, gzip, mkfs.vfat + mtools, mkfs.ext4,
# sfdisk; root (device node and owners in the archives).
set -eu
[ $# -eq 4 ] || { echo "usage: sh image/board/build.sh OUT.img INIT FILLRELAY DATA_DIR" >&2; exit 2; }
out=$1 init=$2 fr=$3 data=$4
here=$(cd "$(dirname "$0")" && pwd)
esp_mb=64
data_mb=${FR_BOARD_DATA_MB:-512}
die() { echo "board: $*" >&2; exit 1; }
for f in "$init" "$fr" "$data/board.conf"; do [ -f "$f" ] || die "missing $f"; done
for c in dpkg-deb aarch64-linux-gnu-objcopy cpio mkfs.vfat mcopy mkfs.ext4 sfdisk; do
	command -v "$c" >/dev/null || die "needs $c (make setup)"
done
[ -n "${SOURCE_DATE_EPOCH:-}" ] || SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

w=$(mktemp -d "${TMPDIR:-/tmp}/fr-board.XXXXXX")
trap 'rm -rf "$w"' EXIT
sh "$here/fetch.sh" >"$w/debs"
kdeb=$(sed -n 's/^kernel //p' "$w/debs")
bdeb=$(sed -n 's/^boot //p' "$w/debs")
dpkg-deb -x "$kdeb" "$w/k"
dpkg-deb -x "$bdeb" "$w/b"
kver=$(ls "$w/k/lib/modules")
mods=$w/k/lib/modules/$kver

# ---- modules: what init loads, dependencies first ------------------------------
# The dependencies come from each module's .modinfo "depends=" (what depmod
# reads); crc32c_generic is ext4's soft dependency (no modprobe here to ask for
# it at mount time).
want="virtio_pci virtio_blk virtio_net crc32c_generic ext4 nls_cp437 nls_ascii vfat evdev gpio_keys"
find "$mods" -name '*.ko' >"$w/all"
path_of() { grep -E "/$(echo "$1" | sed 's/[-_]/[-_]/g')\.ko$" "$w/all" | head -n 1; }
deps_of() {
	aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$1" "$w/modinfo"
	tr '\0' '\n' <"$w/modinfo" | sed -n 's/^depends=//p' | tr ',' ' '
}
: >"$w/order"
visit() {
	grep -qx "$1" "$w/order" && return 0
	p=$(path_of "$1")
	[ -n "$p" ] || die "module $1 not in $kver"
	for d in $(deps_of "$p"); do visit "$d"; done
	echo "$1" >>"$w/order"
}
for m in $want; do visit "$m"; done

# ---- initramfs -------------------------------------------------------------------
r=$w/initramfs
mkdir -p "$r/bin" "$r/etc" "$r/dev" "$r/lib/modules/$kver" "$r/data" "$r/proc" "$r/sys" "$r/run" "$r/tmp"
cp "$init" "$r/init"
cp "$fr" "$r/bin/fillrelay"
chmod 0755 "$r/init" "$r/bin/fillrelay"
: >"$r/lib/modules/load"
while read -r m; do
	p=$(path_of "$m")
	cp "$p" "$r/lib/modules/$kver/"
	echo "/lib/modules/$kver/$(basename "$p")" >>"$r/lib/modules/load"
done <"$w/order"
printf 'root:x:0:0:root:/:/nonexistent\nfillrelay:x:10001:10001:fillrelay:/data/journal:/nonexistent\n' >"$r/etc/passwd"
printf 'root:x:0:\nfillrelay:x:10001:\n' >"$r/etc/group"
mkdir -p "$r/etc/ssl/certs"
cp "${FR_IMAGE_CA:-/etc/ssl/certs/ca-certificates.crt}" "$r/etc/ssl/certs/ca-certificates.crt"
mknod -m 600 "$r/dev/console" c 5 1
find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) |
	gzip -n -9 >"$w/initrd.img"

# ---- the EFI system partition ----------------------------------------------------
esp=$w/esp.img
mkfs.vfat -C -F 32 -n FR-BOOT -i 46524254 "$esp" $((esp_mb * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/fillrelay
mcopy -i "$esp" "$w/b/usr/lib/systemd/boot/efi/systemd-bootaa64.efi" ::/EFI/BOOT/BOOTAA64.EFI
mcopy -i "$esp" "$w/k/boot/vmlinuz-$kver" ::/fillrelay/Image
mcopy -i "$esp" "$w/initrd.img" ::/fillrelay/initrd.img
printf 'default fillrelay.conf\ntimeout 0\nconsole-mode keep\n' >"$w/loader.conf"
cat >"$w/entry.conf" <<EOF
title fillrelay (Debian kernel $kver)
linux /fillrelay/Image
initrd /fillrelay/initrd.img
options console=ttyAMA0 loglevel=4 panic=10
EOF
mcopy -i "$esp" "$w/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$w/entry.conf" ::/loader/entries/fillrelay.conf

# ---- the data partition ------------------------------------------------------------
d=$w/data
mkdir -p "$d"
cp -R "$data/." "$d/"
mkdir -p "$d/journal"
chown -R 0:0 "$d"
chown 10001:10001 "$d/journal"
chmod 0700 "$d/journal"
for f in "$d/fillrelay.conf" "$d/secrets" "$d"/secrets/*; do
	[ -e "$f" ] || continue
	chown 10001:10001 "$f"
	chmod go-rwx "$f"
done
mkfs.ext4 -q -F -L fillrelay-data -U 6a1f3c2e-5d0b-4f7e-9c1a-46524c444154 \
	-E root_owner=0:0 -d "$d" "$w/data.img" "${data_mb}M" >/dev/null

# ---- the GPT disk ----------------------------------------------------------------------
esp_sec=$((esp_mb * 2048))
data_sec=$((data_mb * 2048))
total_mb=$((1 + esp_mb + data_mb + 1))
rm -f "$out"
truncate -s "${total_mb}M" "$out"
sfdisk -q "$out" <<EOF
label: gpt
label-id: 46524C59-0000-4000-8000-424F41524430
first-lba: 2048
start=2048, size=$esp_sec, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system", uuid=46524C59-0001-4000-8000-424F41524430
start=$((2048 + esp_sec)), size=$data_sec, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="fillrelay-data", uuid=46524C59-0002-4000-8000-424F41524430
EOF
dd if="$esp" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$w/data.img" of="$out" bs=1M seek=$((1 + esp_mb)) conv=notrunc,sparse status=none
echo "board: $out: ${total_mb} MiB GPT disk ($(du -k "$out" | cut -f1) KiB allocated)"
echo "board:   kernel $kver ($(basename "$kdeb")), boot $(basename "$bdeb")"
echo "board:   initrd $(stat -c %s "$w/initrd.img") bytes: init, fillrelay, $(wc -l <"$w/order") modules ($(tr '\n' ' ' <"$w/order"))"
