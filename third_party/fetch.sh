#!/bin/sh
# third_party/fetch.sh -- make sure one accepted (pinned) version of every package in
# third_party/pins is in third_party/cache/, hash-verified.
#
# Prints "PACKAGE VERSION" for the version selected for each package on stdout
# (progress and errors go to stderr).
#
# * No network access at all when every package already has an accepted version
#   whose pinned files are all in the cache with the pinned sha256 (offline rebuilds).
# * Otherwise: private deb-src apt configuration under cache/apt/, `apt-get update`,
#   then `apt-get source --download-only PKG=VERSION` for the accepted versions in
#   order until one yields all its pinned files.  apt-get's exit status is not
#   trusted (jsmn's Debian diff is not served, so apt fails after fetching everything
#   we need): success is judged by the pinned files and their hashes only.
# * A file whose sha256 differs from its pin is a hard error, wherever it comes from.
# * A package none of whose accepted versions can be obtained fails with
#   "third_party: PKG: pinned version withdrawn: run `make pins-refresh`".
set -eu
TP_DIR=$(cd "$(dirname "$0")" && pwd)
. "$TP_DIR/lib.sh"

need_cmd sha256sum coreutils
pins_validate
cache_lock

mismatch() { # mismatch FILE PKG VERSION EXPECTED ACTUAL WHERE
	die "hash mismatch: $1 ($2 $3, $6)
    expected sha256 $4 (from ${FR_PINS#"$ROOT_DIR"/})
    actual   sha256 $5
  refusing to use it.  If the pin is right, the file is corrupt or was tampered with:
  delete it and run again.  If the archive really changed, run \`make pins-refresh\`."
}

# cached_ok PKG VERSION: 0 if every pinned file of that version is in the cache with
# the right hash; 1 if some file is missing; a wrong hash is fatal.
cached_ok() {
	_ok=0
	while read -r _f _h; do
		if [ ! -f "$FR_CACHE/$_f" ]; then
			_ok=1
			continue
		fi
		_a=$(sha256_of "$FR_CACHE/$_f")
		[ "$_a" = "$_h" ] || mismatch "$_f" "$1" "$2" "$_h" "$_a" "in ${FR_CACHE#"$ROOT_DIR"/}"
	done <<EOF
$(pins_files "$1" "$2")
EOF
	return $_ok
}

selected=""
todo=""
for pkg in $(pins_packages); do
	hit=""
	for ver in $(pins_versions "$pkg"); do
		if cached_ok "$pkg" "$ver"; then
			hit=$ver
			break
		fi
	done
	if [ -n "$hit" ]; then
		selected="$selected$pkg $hit
"
	else
		todo="$todo $pkg"
	fi
done
[ -n "$selected$todo" ] || die "no packages pinned in $FR_PINS"

if [ -n "$todo" ]; then
	note "not in cache:$todo -- downloading"
	stage=$FR_CACHE/incoming
	log=$FR_CACHE/fetch.log
	apt_setup
	apt_update "$log.update"
	: >"$log"
	withdrawn=""
	for pkg in $todo; do
		hit=""
		why=""
		for ver in $(pins_versions "$pkg"); do
			stage_dir "$stage"
			# Reuse what is already cached (apt skips files whose hash matches).
			pins_files "$pkg" "$ver" | while read -r f h; do
				if [ -f "$FR_CACHE/$f" ]; then cp "$FR_CACHE/$f" "$stage/"; fi
			done
			note "apt-get source --download-only $pkg=$ver"
			printf '\n### apt-get source --download-only %s=%s\n' "$pkg" "$ver" >>"$log"
			rc=0
			(cd "$stage" && apt_run apt-get source --download-only "$pkg=$ver") >"$log.one" 2>&1 || rc=$?
			cat "$log.one" >>"$log"
			aptsays=$(sed -n 's/^E: /      apt: /p' "$log.one")
			rm -f "$log.one"
			missing=""
			while read -r f h; do
				if [ ! -f "$stage/$f" ]; then
					missing="$missing $f"
					continue
				fi
				a=$(sha256_of "$stage/$f")
				[ "$a" = "$h" ] || mismatch "$f" "$pkg" "$ver" "$h" "$a" "as downloaded"
			done <<EOF
$(pins_files "$pkg" "$ver")
EOF
			if [ -z "$missing" ]; then
				pins_files "$pkg" "$ver" | while read -r f h; do cache_put "$stage/$f"; done
				[ "$rc" = 0 ] || note "($pkg $ver: apt-get exited $rc, but all pinned files arrived and verified)"
				hit=$ver
				break
			fi
			why="$why
    $pkg $ver: not obtainable, missing:$missing${aptsays:+
$aptsays}"
			note "$pkg $ver: not obtainable (missing:$missing)"
		done
		rm -rf "$stage"
		if [ -n "$hit" ]; then
			selected="$selected$pkg $hit
"
		else
			withdrawn="$withdrawn
third_party: $pkg: pinned version withdrawn: run \`make pins-refresh\`$why"
		fi
	done
	if [ -n "$withdrawn" ]; then
		printf '%s\n' "$withdrawn" | sed '1d' >&2
		printf '    (apt output: %s)\n' "$log" >&2
		exit 1
	fi
fi

printf '%s' "$selected" | while read -r pkg ver; do
	note "$pkg $ver: all pinned files in cache, sha256 verified"
done
printf '%s' "$selected"
