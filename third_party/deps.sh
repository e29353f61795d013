#!/bin/sh
# third_party/deps.sh VARIANT -- build the pinned third-party libraries as static
# archives for one build variant:
#
#   x86_64-musl   product build: musl-gcc (Debian musl-tools)
#   aarch64-musl  product build for arm64: musl 1.2.3 built here from the pinned
#                 source with gcc-aarch64-linux-gnu, its musl-gcc wrapper as compiler
#   x86_64-glibc  plain gcc/glibc archives of the same sources (-g -O1 -fPIC) for the
#                 AddressSanitizer build of the program
#
# Sources: fetch.sh (pinned Debian source packages, sha256-verified), unpacked into
# build/deps/src/VARIANT/, Debian patch series applied in order.  Output:
#   build/deps/VARIANT/include/   bearssl*.h, hiredis/*.h, wslay/*.h, jsmn.h,
#                                 libpq-fe.h libpq-events.h postgres_ext.h
#                                 pg_config_ext.h, fr_depvers.h
#   build/deps/VARIANT/lib/       libpq.a libpgcommon_shlib.a libpgport_shlib.a
#                                 libhiredis.a libwslay.a libbearssl.a
#   build/deps/VARIANT/env.mk     DEP_CC, DEP_CFLAGS, DEP_LIBS (+ DEP_STRIP, DEP_RUN)
#   build/deps/VARIANT/pins.used  the pins lines of the versions built
#   build/deps/log/VARIANT/       one log per build step
# A stamp (build/deps/VARIANT/.stamp) makes a second run with unchanged inputs
# (pins, these scripts, compiler, checkout path) a no-op.
# shellcheck disable=SC2086 # unquoted expansions below are intentional word lists
set -eu
TP_DIR=$(cd "$(dirname "$0")" && pwd)
. "$TP_DIR/lib.sh"

usage() {
	echo "usage: sh third_party/deps.sh x86_64-musl|aarch64-musl|x86_64-glibc" >&2
	exit 2
}
[ $# -eq 1 ] || usage
VARIANT=$1
case $VARIANT in x86_64-musl | aarch64-musl | x86_64-glibc) ;; *) usage ;; esac
JOBS=${FR_JOBS:-2}

# Keep the caller's environment out of the libraries' builds.  MAKELEVEL matters:
# when this script runs from a make recipe, PostgreSQL's makefiles would otherwise
# skip generating the headers src/common needs.
unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS LIBS CC CXX AR RANLIB CROSS_COMPILE \
	MAKEFLAGS MFLAGS MAKELEVEL MAKEFILES GNUMAKEFLAGS TAR_OPTIONS POSIXLY_CORRECT \
	QUILT_PATCHES CDPATH 2>/dev/null || true
export LC_ALL=C

case $ROOT_DIR in
*[[:space:]]*) die "the checkout path '$ROOT_DIR' contains whitespace; the libraries' build systems cannot cope with that" ;;
esac

OUT_REL=build/deps/$VARIANT
OUT=$ROOT_DIR/$OUT_REL
SRC=$ROOT_DIR/build/deps/src/$VARIANT
LOGDIR=$ROOT_DIR/build/deps/log/$VARIANT

for c in tar:tar gzip:gzip xz:xz-utils bzip2:bzip2 patch:patch make:make perl:perl \
	awk:mawk sed:sed sha256sum:coreutils; do
	need_cmd "${c%%:*}" "${c#*:}"
done

first_line() { "$@" 2>/dev/null | sed -n 1p; }
deb_version() { # Debian package version or "?"
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"
}

case $VARIANT in
x86_64-musl)
	need_cmd musl-gcc musl-tools
	need_cmd ar binutils
	CC=musl-gcc AR=ar STRIP=strip RUN=
	CFLAGS_LIB="-O2 -fstack-protector-strong -ffunction-sections -fdata-sections"
	CFLAGS_BEARSSL="-Os -fstack-protector-strong -ffunction-sections -fdata-sections"
	TOOLID="$(first_line musl-gcc --version); musl-dev $(deb_version musl-dev)"
	;;
aarch64-musl)
	need_cmd aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
	need_cmd aarch64-linux-gnu-ar binutils-aarch64-linux-gnu
	CC=$OUT/musl/bin/musl-gcc # built below
	AR=aarch64-linux-gnu-ar STRIP=aarch64-linux-gnu-strip RUN=qemu-aarch64-static
	CFLAGS_LIB="-O2 -fstack-protector-strong -ffunction-sections -fdata-sections"
	CFLAGS_BEARSSL="-Os -fstack-protector-strong -ffunction-sections -fdata-sections"
	TOOLID=$(first_line aarch64-linux-gnu-gcc --version)
	;;
x86_64-glibc)
	need_cmd gcc gcc
	need_cmd ar binutils
	CC=gcc AR=ar STRIP=strip RUN=
	CFLAGS_LIB="-g -O1 -fPIC"
	CFLAGS_BEARSSL="-g -O1 -fPIC"
	TOOLID="$(first_line gcc --version); libc6-dev $(deb_version libc6-dev)"
	;;
esac

pins_validate
key=$({
	echo "variant $VARIANT"
	echo "root $ROOT_DIR"
	echo "tools $TOOLID"
	awk '!/^[ \t]*#/ && NF == 4' "$FR_PINS" # the pins' data, not their comments
	cat "$TP_DIR/deps.sh" "$TP_DIR/lib.sh"
	cat "$TP_DIR"/patches/*/*.patch 2>/dev/null
} | sha256sum)
key=${key%% *}

mkdir -p "$ROOT_DIR/build/deps"
if command -v flock >/dev/null 2>&1; then
	exec 8>"$ROOT_DIR/build/deps/.lock-$VARIANT"
	flock 8
fi
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$key" ] && [ -f "$OUT/env.mk" ]; then
	# Inputs that do not change the build (fetch.sh, comments...) may be newer than
	# env.mk: touch it so a make rule "env.mk: pins deps.sh fetch.sh" settles.
	for _f in "$FR_PINS" "$TP_DIR/deps.sh" "$TP_DIR/fetch.sh" "$TP_DIR/lib.sh" "$TP_DIR"/patches/*/*.patch; do
		if [ "$_f" -nt "$OUT/env.mk" ]; then
			touch "$OUT/env.mk"
			break
		fi
	done
	note "$VARIANT: up to date ($OUT_REL)"
	exit 0
fi

T_START=$(date +%s)
note "$VARIANT: building into $OUT_REL"
SELECTED=$(sh "$TP_DIR/fetch.sh") || die "$VARIANT: could not obtain the pinned sources (see above)"

rm -rf "$OUT" "$SRC" "$LOGDIR"
mkdir -p "$OUT/include" "$OUT/lib" "$SRC" "$LOGDIR"

sel_ver() { # version of PKG selected by fetch.sh
	_v=$(printf '%s\n' "$SELECTED" | awk -v p="$1" '$1 == p { print $2 }')
	[ -n "$_v" ] || die "$VARIANT: package $1 is not pinned in ${FR_PINS#"$ROOT_DIR"/}"
	printf '%s\n' "$_v"
}

pinned_names() { pins_files "$1" "$2" | awk '{ print $1 }'; }

# step NAME DIR CMD...: run CMD in DIR, output to build/deps/log/VARIANT/NAME.log
step() {
	_s_name=$1 _s_dir=$2
	shift 2
	_s_log=$LOGDIR/$_s_name.log
	printf '$ (cd %s && %s)\n' "$_s_dir" "$*" >>"$_s_log"
	if ! (cd "$_s_dir" && "$@") >>"$_s_log" 2>&1; then
		note "$VARIANT: step '$_s_name' failed; last lines of ${_s_log#"$ROOT_DIR"/}:"
		tail -n 30 "$_s_log" | sed 's/^/    /' >&2
		exit 1
	fi
}

# unpack PKG VERSION DIR: .orig tarball(s) + Debian diff, like dpkg-source -x
unpack() {
	_pkg=$1 _ver=$2 _dir=$3
	rm -rf "$_dir"
	mkdir -p "$_dir"
	_orig="" _deb=""
	for _f in $(pinned_names "$_pkg" "$_ver"); do
		case $_f in
		*.asc) ;;
		*.orig.tar.*) _orig=$_f ;;
		*.orig-*.tar.*) ;; # component tarballs, below
		*.debian.tar.* | *.diff.gz) _deb=$_f ;;
		esac
	done
	[ -n "$_orig" ] || die "pins: $_pkg $_ver has no .orig tarball pinned"
	step "unpack-$_pkg" "$_dir" tar -xf "$FR_CACHE/$_orig" --strip-components=1 --no-same-owner
	for _f in $(pinned_names "$_pkg" "$_ver"); do
		case $_f in
		*.asc) ;;
		*.orig-*.tar.*)
			_c=${_f#*.orig-}
			_c=${_c%%.tar.*}
			rm -rf "${_dir:?}/$_c"
			mkdir -p "$_dir/$_c"
			step "unpack-$_pkg" "$_dir/$_c" tar -xf "$FR_CACHE/$_f" --strip-components=1 --no-same-owner
			;;
		esac
	done
	DIFF_STATE=served
	case $_deb in
	"")
		in_list "$_pkg" "$FR_DIFF_OPTIONAL" ||
			die "pins: $_pkg $_ver has no Debian diff pinned, but its patch series must be applied"
		DIFF_STATE=missing
		;;
	*.debian.tar.*)
		rm -rf "$_dir/debian"
		step "unpack-$_pkg" "$_dir" tar -xf "$FR_CACHE/$_deb" --no-same-owner
		;;
	*.diff.gz) # source format 1.0
		step "unpack-$_pkg" "$_dir" sh -c 'gzip -dc "$1" | patch -p1 --batch --forward' sh "$FR_CACHE/$_deb"
		;;
	esac
}

# apply_series DIR PKG: apply debian/patches/series in order; sets APPLIED (names)
apply_series() {
	APPLIED=""
	_series=$1/debian/patches/series
	if [ "$DIFF_STATE" = missing ]; then
		note "$VARIANT: $2: Debian diff not served; building the .orig source as is"
		return 0
	fi
	if [ ! -f "$_series" ]; then
		note "$VARIANT: $2: no debian/patches/series: no Debian patches to apply"
		return 0
	fi
	while read -r _p _opt _rest; do
		case $_p in "" | "#"*) continue ;; esac
		_lvl=1
		case $_opt in
		-p[0-9]*) _lvl=${_opt#-p} ;;
		"" | "#"*) ;;
		*) die "$2: unsupported option '$_opt' for $_p in debian/patches/series" ;;
		esac
		[ -f "$1/debian/patches/$_p" ] || die "$2: $_p is listed in debian/patches/series but missing"
		step "patch-$2" "$1" patch -p"$_lvl" --batch --forward --no-backup-if-mismatch -i "$1/debian/patches/$_p"
		APPLIED="$APPLIED $_p"
	done <"$_series"
	APPLIED=${APPLIED# }
	note "$VARIANT: $2: applied Debian patches: ${APPLIED:-(series empty)}"
}

# apply_local DIR PKG: apply fillrelay's own fixes, third_party/patches/PKG/*.patch in
# name order, after Debian's series; sets LOCAL_APPLIED (names).
apply_local() {
	LOCAL_APPLIED=""
	for _p in "$TP_DIR/patches/$2"/*.patch; do
		[ -f "$_p" ] || continue
		step "patch-$2-local" "$1" patch -p1 --batch --forward --no-backup-if-mismatch -i "$_p"
		LOCAL_APPLIED="$LOCAL_APPLIED $(basename "$_p")"
	done
	LOCAL_APPLIED=${LOCAL_APPLIED# }
	if [ -n "$LOCAL_APPLIED" ]; then
		note "$VARIANT: $2: applied fillrelay patches: $LOCAL_APPLIED"
	fi
}

desc_patches() { # ", Debian patches applied: a, b" or nothing
	if [ -n "$APPLIED" ]; then
		printf ', Debian patches applied: %s' "$(patch_names "$APPLIED")"
	fi
}

patch_names() { # "01_a.patch 02_b" -> "01_a, 02_b"
	printf '%s\n' "$1" | sed -e 's/\.\(patch\|diff\)\( \|$\)/\2/g' -e 's/ /, /g'
}

elapsed() { echo "$(($(date +%s) - $1)) s"; }

# ---- musl (aarch64 only) ------------------------------------------------------------
MUSL_DESC=""
build_musl_aarch64() {
	_t=$(date +%s)
	_v=$(sel_ver musl)
	_d=$SRC/musl
	unpack musl "$_v" "$_d"
	# Debian's musl 1.2.3-1 ships an empty debian/patches/ (no series file): nothing to
	# apply.  The rest of its debian/ directory is packaging only.
	apply_series "$_d" musl
	# --enable-wrapper=gcc: "auto" builds the musl-gcc wrapper only when the cross
	# compiler can include glibc's aarch64 headers (libc6-dev-arm64-cross, a mere
	# recommendation of gcc-aarch64-linux-gnu), so it silently built none on a
	# machine installed with --no-install-recommends.
	step musl-configure "$_d" ./configure --target=aarch64-linux-gnu \
		CROSS_COMPILE=aarch64-linux-gnu- --disable-shared --enable-wrapper=gcc \
		--prefix="$OUT/musl"
	step musl-make "$_d" make -j"$JOBS"
	step musl-install "$_d" make install
	[ -x "$CC" ] || die "$VARIANT: musl install did not produce $CC"
	MUSL_DESC="musl $_v (built from Debian source for aarch64$(desc_patches))"
	note "$VARIANT: musl $_v built ($(elapsed "$_t"))"
}

# ---- BearSSL ------------------------------------------------------------------------
build_bearssl() {
	_t=$(date +%s)
	_v=$(sel_ver bearssl)
	_d=$SRC/bearssl
	unpack bearssl "$_v" "$_d"
	apply_series "$_d" bearssl
	BEARSSL_DESC="bearssl $_v (Debian source$(desc_patches))"
	# BearSSL's own build, static library only; conf/Unix.mk with our compiler.
	cat >"$_d/conf/fillrelay.mk" <<EOF
include conf/Unix.mk
BUILD = build
CC = $CC
AR = $AR
CFLAGS = -W -Wall $CFLAGS_BEARSSL
EOF
	mkdir -p "$_d/build/obj" # its rules do not order the mkdir before -j compiles
	step bearssl "$_d" make -j"$FG_JOBS" CONF=fillrelay lib
	cp "$_d/build/libbearssl.a" "$OUT/lib/"
	cp "$_d"/inc/*.h "$OUT/include/"
	note "$VARIANT: bearssl $_v built ($(elapsed "$_t"))"
}

# ---- hiredis ------------------------------------------------------------------------
build_hiredis() {
	_t=$(date +%s)
	_v=$(sel_ver hiredis)
	_d=$SRC/hiredis
	unpack hiredis "$_v" "$_d"
	apply_series "$_d" hiredis
	apply_local "$_d" hiredis
	# hiredis 0.14.1's .orig lacks the fix for CVE-2021-32765; Debian's series carries
	# it.  Make sure it is in the source we build: the series patch, if there is one,
	# must be applied (reverse-applies cleanly), and the overflow check must be there.
	_cve="" _cvenote=""
	for _p in $APPLIED; do
		case $_p in *CVE-2021-32765*) _cve=$_p ;; esac
	done
	if [ -n "$_cve" ]; then
		patch -d "$_d" -p1 -R --dry-run --batch -s -i "$_d/debian/patches/$_cve" >/dev/null 2>&1 ||
			die "$VARIANT: hiredis: $_cve is in the series but its changes are not in the source"
		_cvenote=", incl. CVE-2021-32765"
	else
		_cvenote=", CVE-2021-32765 fix upstream"
	fi
	grep -q 'SIZE_MAX / sizeof(redisReply\*) < elements' "$_d/hiredis.c" ||
		die "$VARIANT: hiredis $_v: the CVE-2021-32765 fix (SIZE_MAX check in createArrayObject) is not in hiredis.c; refusing to build a known hole"
	if [ -n "$APPLIED" ]; then
		HIREDIS_DESC="hiredis $_v (Debian patches applied: $(patch_names "$APPLIED")$_cvenote"
	else
		HIREDIS_DESC="hiredis $_v (Debian source$_cvenote"
	fi
	if [ -n "$LOCAL_APPLIED" ]; then
		HIREDIS_DESC="$HIREDIS_DESC; fillrelay patches: $(patch_names "$LOCAL_APPLIED")"
	fi
	HIREDIS_DESC="$HIREDIS_DESC)"
	step hiredis "$_d" make -j"$JOBS" CC="$CC" OPTIMIZATION= DEBUG_FLAGS= \
		CFLAGS="$CFLAGS_LIB" "STLIB_MAKE_CMD=$AR rcs \$(STLIBNAME)" static
	cp "$_d/libhiredis.a" "$OUT/lib/"
	mkdir -p "$OUT/include/hiredis"
	for _h in hiredis.h read.h sds.h async.h alloc.h; do
		if [ -f "$_d/$_h" ]; then cp "$_d/$_h" "$OUT/include/hiredis/"; fi
	done
	note "$VARIANT: hiredis $_v built ($(elapsed "$_t"))"
}

# ---- wslay (from aria2's deps/wslay) ------------------------------------------------
build_wslay() {
	_t=$(date +%s)
	_v=$(sel_ver aria2)
	_d=$SRC/aria2
	unpack aria2 "$_v" "$_d"
	apply_series "$_d" aria2
	_w=$_d/deps/wslay
	[ -f "$_w/lib/wslay_frame.c" ] || die "$VARIANT: aria2 $_v has no deps/wslay/lib (wslay is taken from there)"
	_wv=$(sed -n 's/^AC_INIT(\[wslay\], *\[\([^]]*\)\].*/\1/p' "$_w/configure.ac")
	[ -n "$_wv" ] || die "$VARIANT: cannot read wslay's version from aria2 deps/wslay/configure.ac"
	sed "s/@PACKAGE_VERSION@/$_wv/g" "$_w/lib/includes/wslay/wslayver.h.in" >"$_w/lib/includes/wslay/wslayver.h"
	mkdir -p "$_w/lib/obj"
	for _c in wslay_event wslay_frame wslay_net wslay_queue; do
		step wslay "$_w/lib" "$CC" $CFLAGS_LIB -Wall -DHAVE_ARPA_INET_H -DHAVE_NETINET_IN_H \
			-Iincludes -I. -c "$_c.c" -o "obj/$_c.o"
	done
	rm -f "$_w/lib/obj/libwslay.a"
	step wslay "$_w/lib/obj" "$AR" rcs libwslay.a wslay_event.o wslay_frame.o wslay_net.o wslay_queue.o
	cp "$_w/lib/obj/libwslay.a" "$OUT/lib/"
	mkdir -p "$OUT/include/wslay"
	cp "$_w/lib/includes/wslay/wslay.h" "$_w/lib/includes/wslay/wslayver.h" "$OUT/include/wslay/"
	WSLAY_DESC="wslay $_wv (from aria2 $_v deps/wslay$(desc_patches))"
	note "$VARIANT: wslay $_wv (aria2 $_v) built ($(elapsed "$_t"))"
}

# ---- jsmn (header only) -------------------------------------------------------------
build_jsmn() {
	_v=$(sel_ver jsmn)
	_d=$SRC/jsmn
	unpack jsmn "$_v" "$_d"
	apply_series "$_d" jsmn
	[ -f "$_d/jsmn.h" ] || die "$VARIANT: jsmn $_v has no jsmn.h"
	cp "$_d/jsmn.h" "$OUT/include/"
	if [ "$DIFF_STATE" = missing ]; then
		JSMN_DESC="jsmn $_v (Debian .orig source, header only; Debian diff not served)"
	elif [ -n "$APPLIED" ]; then
		JSMN_DESC="jsmn $_v (header only, Debian patches applied: $(patch_names "$APPLIED"))"
	else
		JSMN_DESC="jsmn $_v (Debian source, header only)"
	fi
}

# ---- libpq (postgresql-15) ----------------------------------------------------------
# Three stages so that the slow, mostly serial part (unpacking a 23 MB .tar.bz2,
# configure) overlaps with the other libraries' builds:
#   libpq_prepare    unpack + Debian series          (background, from the start)
#   libpq_configure  ./configure                     (background, once CC exists)
#   libpq_make       the static archives, -j         (foreground, at the end)
PG_DIR=$SRC/postgresql
libpq_prepare() {
	unpack postgresql-15 "$(sel_ver postgresql-15)" "$PG_DIR"
	apply_series "$PG_DIR" postgresql-15
	printf '%s\n' "$APPLIED" >"$PG_DIR/.fr-applied"
}
libpq_configure() {
	_host=""
	if [ "$VARIANT" = aarch64-musl ]; then
		_host="--host=aarch64-linux-gnu --build=$(sh "$PG_DIR/config/config.guess")"
	fi
	# --prefix/--sysconfdir as Debian's libpq (pg_service.conf lookup); nothing is
	# installed from this tree.  $_host is deliberately unquoted (empty or 2 words).
	# shellcheck disable=SC2086
	step libpq-configure "$PG_DIR" ./configure $_host CC="$CC" CFLAGS="$CFLAGS_LIB" \
		--prefix=/usr --sysconfdir=/etc/postgresql-common \
		--without-openssl --without-readline --without-zlib --without-icu \
		--without-gssapi --without-ldap
}
libpq_make() {
	_t=$(date +%s)
	_v=$(sel_ver postgresql-15)
	APPLIED=$(cat "$PG_DIR/.fr-applied")
	_n=$(printf '%s\n' $APPLIED | grep -c .) || true
	LIBPQ_DESC="libpq $_v (no TLS; $_n Debian patches applied)"
	# Only the frontend/shlib flavours of pgcommon and pgport are needed (what libpq.so
	# links): build those, then libpq.a without its submake of every flavour.
	step libpq-make "$PG_DIR" make -C src/backend generated-headers
	step libpq-make "$PG_DIR" make -j"$JOBS" -C src/port libpgport_shlib.a
	step libpq-make "$PG_DIR" make -j"$JOBS" -C src/common libpgcommon_shlib.a
	step libpq-make "$PG_DIR" make -j"$JOBS" -C src/interfaces/libpq all-static-lib SHLIB_PREREQS=
	cp "$PG_DIR/src/interfaces/libpq/libpq.a" "$PG_DIR/src/common/libpgcommon_shlib.a" \
		"$PG_DIR/src/port/libpgport_shlib.a" "$OUT/lib/"
	cp "$PG_DIR/src/interfaces/libpq/libpq-fe.h" "$PG_DIR/src/interfaces/libpq/libpq-events.h" \
		"$PG_DIR/src/include/postgres_ext.h" "$PG_DIR/src/include/pg_config_ext.h" "$OUT/include/"
	note "$VARIANT: libpq $_v built (make $(elapsed "$_t"))"
}

# bg NAME FUNCTION: run FUNCTION in the background; bg_wait NAME waits for it.
# A failure in the foreground kills the pending background jobs (EXIT trap).
BG_PIDS=""
bg() {
	"$2" &
	eval "BG_$1=\$!"
	BG_PIDS="$BG_PIDS $!"
}
bg_wait() {
	eval "_pid=\$BG_$1"
	_rc=0
	wait "$_pid" || _rc=$?
	BG_PIDS=$(printf '%s\n' $BG_PIDS | grep -vx "$_pid" | tr '\n' ' ') || true
	[ "$_rc" = 0 ] || die "$VARIANT: $1 failed (see above)"
}
trap 'if [ -n "$BG_PIDS" ]; then kill $BG_PIDS 2>/dev/null || true; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

c_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }

# ---- build --------------------------------------------------------------------------
# PostgreSQL's unpack + configure is the long serial chain: it runs in the
# background on one core while the rest builds in the foreground on the others.
FG_JOBS=$((JOBS > 1 ? JOBS - 1 : 1))
T_PG=$(date +%s)
case $VARIANT in
aarch64-musl)
	bg pg_prepare libpq_prepare
	build_musl_aarch64 # needs both cores; CC exists after this
	bg_wait pg_prepare
	T_PG=$(date +%s)
	bg pg_configure libpq_configure
	;;
*)
	if [ "$VARIANT" = x86_64-musl ]; then
		MUSL_DESC="musl $(deb_version musl-dev) (Debian musl-dev, system musl-gcc)"
		if [ "$(deb_version musl-dev)" != "$(sel_ver musl)" ]; then
			note "$VARIANT: note: the system's musl-dev is $(deb_version musl-dev), the pinned musl source $(sel_ver musl) (used for aarch64 only)"
		fi
	else
		MUSL_DESC="glibc $(deb_version libc6-dev) (system)"
	fi
	libpq_prepare_configure() {
		libpq_prepare
		libpq_configure
	}
	bg pg_configure libpq_prepare_configure
	;;
esac
build_bearssl
build_hiredis
build_wslay
build_jsmn
bg_wait pg_configure
note "$VARIANT: libpq source prepared and configured ($(elapsed "$T_PG"), in parallel)"
libpq_make
trap - EXIT

# Static link order: libpq needs pgcommon/pgport; nothing below needs anything above.
LIBS=""
for _l in libpq libpgcommon_shlib libpgport_shlib libhiredis libwslay libbearssl; do
	[ -f "$OUT/lib/$_l.a" ] || die "$VARIANT: $OUT_REL/lib/$_l.a was not built"
	LIBS="$LIBS $OUT_REL/lib/$_l.a"
done
DEP_CC=$CC

cat >"$OUT/include/fr_depvers.h" <<EOF
/* Generated by third_party/deps.sh $VARIANT from third_party/pins -- do not edit. */
#ifndef FR_DEPVERS_H
#define FR_DEPVERS_H
#define FR_DEP_VARIANT $(c_str "$VARIANT")
#define FR_DEP_BEARSSL $(c_str "$BEARSSL_DESC")
#define FR_DEP_WSLAY $(c_str "$WSLAY_DESC")
#define FR_DEP_JSMN $(c_str "$JSMN_DESC")
#define FR_DEP_HIREDIS $(c_str "$HIREDIS_DESC")
#define FR_DEP_LIBPQ $(c_str "$LIBPQ_DESC")
#define FR_DEP_MUSL $(c_str "$MUSL_DESC")
#endif
EOF

for _p in $(printf '%s\n' "$SELECTED" | awk '{ print $1 }'); do
	pins_files "$_p" "$(sel_ver "$_p")" | sed "s|^|$_p $(sel_ver "$_p") |"
done >"$OUT/pins.used"

cat >"$OUT/env.mk" <<EOF
# Generated by third_party/deps.sh $VARIANT -- do not edit.  Paths are relative to the
# repository root (the make working directory).
DEP_VARIANT := $VARIANT
DEP_CC := $DEP_CC
DEP_CFLAGS := -I$OUT_REL/include
DEP_LIBS :=$LIBS
DEP_STRIP := $STRIP
DEP_RUN := $RUN
EOF

printf '%s\n' "$key" >"$OUT/.stamp"
note "$VARIANT: done in $(elapsed "$T_START"): $OUT_REL/{include,lib,env.mk}"
