#!/bin/sh
# third_party/pins-refresh.sh -- re-pin third_party/pins to what the Debian archive
# serves now (the `make pins-refresh` target).
#
# For every package in the current pins (or the default list if there are none):
# ask the private deb-src lists (`apt-cache showsrc`) which versions are listed,
# try them newest first with `apt-get source --download-only`, and pin the first
# version that actually downloads completely: .dsc, .orig tarball(s) and the Debian
# diff (the diff may be missing only for packages in FR_DIFF_OPTIONAL, i.e. jsmn,
# whose diff Debian does not serve).  A listed version whose files 404 (as
# postgresql-15 15.20 today) is skipped.  Every downloaded file is checked against
# the sha256 in the (signed) Sources index, the new pins file is written with those
# hashes, the verified files go into the cache, and what changed is printed.
#
# Only the newest obtainable version of each package is pinned; older pins are not
# kept.  Nothing is written if some package has no obtainable version.
# shellcheck disable=SC2086 # unquoted expansions below are intentional word lists
set -eu
TP_DIR=$(cd "$(dirname "$0")" && pwd)
. "$TP_DIR/lib.sh"

need_cmd sha256sum coreutils
need_cmd dpkg dpkg # dpkg --compare-versions
cache_lock
apt_setup
log=$FR_CACHE/pins-refresh.log
apt_update "$log.update"
: >"$log"

if [ -f "$FR_PINS" ]; then
	pins_validate
	packages=$(pins_packages)
else
	note "no ${FR_PINS#"$ROOT_DIR"/} yet: using the default package list"
	packages=$FR_DEFAULT_PACKAGES
fi

# showsrc PKG: "VERSION SHA256 FILE" for every file of every listed version
showsrc() {
	apt_run apt-cache showsrc --only-source "$1" 2>>"$log" | awk -v p="$1" '
		BEGIN { n = 0 }
		function flush() { if (pk == p) for (i = 0; i < n; i++) print ver, h[i], f[i]; pk = ""; ver = ""; n = 0; ck = 0 }
		/^$/ { flush(); next }
		/^Package:/ { pk = $2 }
		/^Version:/ { ver = $2 }
		/^[^ ]/ { ck = ($1 == "Checksums-Sha256:"); next }
		ck && NF == 3 { h[n] = $1; f[n] = $3; n++ }
		END { flush() }'
}

# newest_first: sort Debian versions (one per line) newest first
newest_first() {
	_sorted=""
	while read -r _v; do
		[ -n "$_v" ] || continue
		_new="" _placed=""
		for _s in $_sorted; do
			if [ -z "$_placed" ] && dpkg --compare-versions "$_v" gt "$_s"; then
				_new="$_new $_v"
				_placed=1
			fi
			_new="$_new $_s"
		done
		[ -n "$_placed" ] || _new="$_new $_v"
		_sorted=$_new
	done
	printf '%s\n' $_sorted
}

stage=$FR_CACHE/incoming
newpins=$(mktemp "${FR_PINS}.new.XXXXXX")
trap 'rm -f "$newpins"; rm -rf "$stage"' EXIT
notes=""
body=""
failed=""
for pkg in $packages; do
	listing=$(showsrc "$pkg")
	if [ -z "$listing" ]; then
		failed="$failed
  $pkg: not listed in the deb-src indexes at all"
		continue
	fi
	versions=$(printf '%s\n' "$listing" | awk '{ print $1 }' | sort -u | newest_first)
	note "$pkg: listed versions: $(echo $versions)"
	hit=""
	for ver in $versions; do
		stage_dir "$stage"
		files=$(printf '%s\n' "$listing" | awk -v v="$ver" '$1 == v { print $3 }')
		for f in $files; do # reuse cached files; apt skips them if their hash is right
			if [ -f "$FR_CACHE/$f" ]; then cp "$FR_CACHE/$f" "$stage/"; fi
		done
		note "$pkg: trying $ver"
		printf '\n### apt-get source --download-only %s=%s\n' "$pkg" "$ver" >>"$log"
		(cd "$stage" && apt_run apt-get source --download-only "$pkg=$ver") >>"$log" 2>&1 || true
		missing="" have_dsc="" have_orig="" have_diff="" lines=""
		for f in $files; do
			want=$(printf '%s\n' "$listing" | awk -v v="$ver" -v f="$f" '$1 == v && $3 == f { print $2; exit }')
			if [ ! -f "$stage/$f" ]; then
				missing="$missing $f"
				continue
			fi
			got=$(sha256_of "$stage/$f")
			[ "$got" = "$want" ] ||
				die "$pkg $ver: $f does not match the archive's Sources index (expected sha256 $want, got $got)"
			case $f in
			*.dsc) have_dsc=1 ;;
			*.asc) ;;
			*.orig.tar.* | *.orig-*.tar.*) have_orig=1 ;;
			*.debian.tar.* | *.diff.gz) have_diff=1 ;;
			esac
			lines="$lines$pkg $ver $f $got
"
		done
		for f in $missing; do # every listed .dsc and .orig tarball is needed
			case $f in
			*.asc) ;;
			*.dsc) have_dsc="" ;;
			*.orig.tar.* | *.orig-*.tar.*) have_orig="" ;;
			esac
		done
		ok=1
		[ -n "$have_dsc" ] || ok=""
		[ -n "$have_orig" ] || ok=""
		if [ -z "$have_diff" ] && ! in_list "$pkg" "$FR_DIFF_OPTIONAL"; then ok=""; fi
		if [ -n "$ok" ]; then
			for f in $(printf '%s' "$lines" | awk '{ print $3 }'); do cache_put "$stage/$f"; done
			hit=$ver
			if [ -n "$missing" ]; then
				notes="$notes
# $pkg $ver: not served, not pinned:$missing"
			fi
			break
		fi
		notes="$notes
# $pkg $ver: listed but not obtainable (missing:$missing), skipped"
		note "$pkg $ver: not obtainable (missing:$missing)"
	done
	if [ -z "$hit" ]; then
		failed="$failed
  $pkg: no listed version downloads completely ($(echo $versions))"
		continue
	fi
	body="$body
$lines"
done
rm -rf "$stage"

if [ -n "$failed" ]; then
	printf 'third_party: pins-refresh: nothing written; cannot pin:%s\n    (apt output: %s)\n' "$failed" "$log" >&2
	exit 1
fi

{
	cat <<'EOF'
# third_party/pins -- accepted Debian source package versions and the sha256 of
# every file each one needs.  Format: PACKAGE VERSION FILE SHA256
#
# A package may list several accepted versions, newest first; fetch.sh uses the
# first one whose pinned files are all obtainable with exactly these hashes.
# Written by `make pins-refresh` (third_party/pins-refresh.sh); hand edits are fine.
#
# Notes from the last refresh:
EOF
	printf '%s\n' "$notes" | sed '/^$/d'
	printf '%s' "$body"
} >"$newpins"

# What changed, per package
changed=""
for pkg in $packages; do
	old=""
	if [ -f "$FR_PINS" ]; then old=$(echo $(pins_versions "$pkg")); fi
	new=$(awk -v p="$pkg" '!/^#/ && $1 == p { print $2; exit }' "$newpins")
	if [ "$old" = "$new" ]; then
		if [ "$(pins_files "$pkg" "$new")" != "$(awk -v p="$pkg" '!/^#/ && NF == 4 && $1 == p { print $3, $4 }' "$newpins")" ]; then
			printf '  %-14s %s (same version, files/hashes changed!)\n' "$pkg" "$new"
			changed=1
		else
			printf '  %-14s %s (unchanged)\n' "$pkg" "$new"
		fi
	else
		printf '  %-14s %s -> %s\n' "$pkg" "${old:-(none)}" "$new"
		changed=1
	fi
done
if [ -f "$FR_PINS" ] && cmp -s "$FR_PINS" "$newpins"; then
	rm -f "$newpins"
	note "pins-refresh: ${FR_PINS#"$ROOT_DIR"/} is already current"
else
	chmod 644 "$newpins"
	mv "$newpins" "$FR_PINS"
	note "pins-refresh: wrote ${FR_PINS#"$ROOT_DIR"/}${changed:+ (versions changed: rebuild with third_party/deps.sh)}"
fi
