#!/usr/bin/env bash
# image/test-oci.sh -- checks the OCI image `make image` built, by running it.
#
#   bash image/test-oci.sh [IMAGE_DIR]        (default build/image)
#
# 1. skopeo reads the index and both architectures' configurations: labels
#    (title, version, source, revision, created), user 10001, the HEALTHCHECK,
#    entrypoint; the docker-load archives hold one image each, tagged.
#    A second build from the same binaries gives the same digests.
# 2. The compressed layer of each architecture is printed and held to < 2 MiB.
# 3. umoci unpacks each architecture; `fillrelay version` runs from the amd64
#    root filesystem under unshare + chroot, and from the arm64 one under
#    qemu-aarch64-static.
# 4. End to end, from inside the amd64 root filesystem, as a container runs it:
#    new mount and PID namespaces (fillrelay is PID 1), chroot as uid 10001, the
#    configuration, the secrets and the journal's volume bind-mounted where
#    image/compose.yaml puts them; against a local PostgreSQL, Redis and the
#    Bybit peer. The image's HEALTHCHECK command answers healthy; one fill
#    pushed on the live stream lands in PostgreSQL and Redis; SIGTERM stops it
#    with status 0 and the journal is in the volume, owned by 10001.
# Ends with "N passed, N failed"; exit 1 on any failure. Needs root (unshare).
set -uo pipefail
cd "$(dirname "$0")/.."
img=${1:-build/image}
. image/e2e.sh
work=$(mktemp -d /tmp/fr-oci.XXXXXX)
upid=
cleanup() {
	[ -z "$upid" ] || { kill -KILL "$upid" 2>/dev/null; wait "$upid" 2>/dev/null; }
	e2e_down
	umount -R "$work/root" 2>/dev/null
	[ -n "${FR_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
version=$(sed -n 's/^VERSION := //p' Makefile)
archive=$img/fillrelay-$version.oci.tar

# A chroot whose root is not a mount point cannot have private mounts
# (unshare -m says "cannot change root filesystem propagation"): say so.
if ! unshare -m true 2>/dev/null; then
	bad "unshare -m works here (in a chroot, bind-mount its root on itself first)"
fi

echo "== skopeo: the index and both architectures"
raw=$(skopeo inspect --raw "oci-archive:$archive:$version")
for a in amd64 arm64; do
	check "index lists linux/$a" grep -q "\"architecture\":\"$a\",\"os\":\"linux\"" <<<"$raw"
	# --raw: the blob as stored (the parsed form drops Docker's Healthcheck).
	cfg=$(skopeo inspect --config --raw --override-arch "$a" "oci-archive:$archive:$version" | tr -d ' \n')
	info=$(skopeo inspect --override-arch "$a" "oci-archive:$archive:$version")
	check "$a: architecture in the config" grep -q "\"architecture\":\"$a\"" <<<"$cfg"
	for l in title version source revision created; do
		v=$(grep -o "\"org.opencontainers.image.$l\": \"[^\"]*\"" <<<"$info" | head -1)
		check "$a: label ${v:-org.opencontainers.image.$l (missing)}" test -n "$v"
	done
	check "$a: runs as 10001:10001" grep -q '"User":"10001:10001"' <<<"$cfg"
	check "$a: HEALTHCHECK runs /fillrelay health" \
		grep -q '"Healthcheck":{"Test":\["CMD","/fillrelay","health"\]' <<<"$cfg"
	d=$img/fillrelay-$version-$a.docker.tar
	m=$(tar -xOf "$d" manifest.json 2>/dev/null)
	check "$a: docker-load archive $d tagged fillrelay:$version" \
		grep -q "\"RepoTags\":\[\"docker.io/library/fillrelay:$version\"\]" <<<"$m"
done
check "the revision label is this commit's" grep -q "\"org.opencontainers.image.revision\":\"$(git rev-parse --short=12 HEAD)\"" <<<"$raw"

echo "== reproducible: the same inputs built again give the same digests"
rev=$(grep -o '"org.opencontainers.image.revision":"[^"]*"' <<<"$raw" | cut -d'"' -f4)
src=$(grep -o '"org.opencontainers.image.source":"[^"]*"' <<<"$raw" | cut -d'"' -f4)
sh image/oci.sh "$work/again" "$version" "$rev" "$src" build/x86_64/fillrelay build/aarch64/fillrelay >/dev/null 2>&1
check "second build: index.json identical" cmp -s "$img/oci/index.json" "$work/again/oci/index.json"

echo "== sizes (compressed layer per architecture; target < 2 MiB)"
while read -r a gz tar; do
	awk -v a="$a" -v gz="$gz" -v t="$tar" \
		'BEGIN { printf "   %s: %d bytes compressed (%.2f MiB), %d uncompressed\n", a, gz, gz / 1048576, t }'
	check "$a layer under 2 MiB compressed ($gz bytes)" [ "$gz" -lt 2097152 ]
done <"$img/sizes.txt"

echo "== umoci unpack, fillrelay version"
for a in amd64 arm64; do
	umoci unpack --image "$img/oci:$version-$a" "$work/$a" >/dev/null 2>"$work/umoci-$a.log" ||
		{ bad "umoci unpack $a: $(tail -1 "$work/umoci-$a.log")"; continue; }
	ok "umoci unpack $version-$a"
done
v=$(unshare -m -n -p -f --mount-proc chroot "$work/amd64/rootfs" /fillrelay version 2>&1 | head -1)
check "amd64 rootfs: $v" grep -q "^fillrelay $version .*x86_64, static" <<<"$v"
v=$(qemu-aarch64-static "$work/arm64/rootfs/fillrelay" version 2>&1 | head -1)
check "arm64 rootfs (qemu-aarch64-static): $v" grep -q "^fillrelay $version .*aarch64, static" <<<"$v"
check "the rootfs holds only what the issue lists" test "$(cd "$work/amd64/rootfs" && find . -type f | sort | tr '\n' ' ')" = \
	"./etc/fillrelay/fillrelay.conf.example ./etc/group ./etc/passwd ./etc/ssl/certs/ca-certificates.crt ./fillrelay "

echo "== image/compose.yaml's fillrelay.conf, checked inside the image with compose's mounts"
mkdir -p "$work/csec"
for f in bybit_api_key bybit_api_secret postgres_password redis_password; do echo "compose-$f" >"$work/csec/$f"; done
chown -R 10001:10001 "$work/csec"
mkdir -p "$work/amd64/rootfs/run/secrets"
touch "$work/amd64/rootfs/etc/fillrelay/fillrelay.conf"
out=$(unshare -m -n -p -f --mount-proc sh -c '
	mount --bind -o ro "$1" "$2/etc/fillrelay/fillrelay.conf"
	mount --bind -o ro "$3" "$2/run/secrets"
	exec chroot --userspec=10001:10001 "$2" /fillrelay check -c /etc/fillrelay/fillrelay.conf
' sh "$PWD/image/compose/fillrelay.conf.example" "$work/amd64/rootfs" "$work/csec" 2>&1)
echo "$out" | sed 's/^/   /'
check "fillrelay check accepts image/compose/fillrelay.conf.example in the image" \
	grep -q ': ok: 1 account, 1 bot' <<<"$out"
grep -q compose- <<<"$out" && bad "check printed a secret" || ok "check printed no secret"
rm "$work/amd64/rootfs/etc/fillrelay/fillrelay.conf"

echo "== end to end from inside the amd64 root filesystem"
root=$work/root
mv "$work/amd64/rootfs" "$root"
e2e_up "$work/e2e"
mkdir -p "$work/etc" "$work/volume" "$root/run/secrets"
cp "$work/e2e/peer/ca.pem" "$work/etc/exchange-ca.pem"
port=$(e2e_free_port)
e2e_conf "$work/etc/fillrelay.conf" localhost "$E2E_WS" "$E2E_REST" /etc/fillrelay/exchange-ca.pem \
	"$FR_TEST_PGHOST" "$FR_TEST_PGPORT" "$FR_TEST_REDIS_HOST" "$FR_TEST_REDIS_PORT" \
	/var/lib/fillrelay /run/secrets "127.0.0.1:$port"
chmod 644 "$work/etc/fillrelay.conf" "$work/etc/exchange-ca.pem"
chown -R 10001:10001 "$work/volume" "$work/e2e/secrets"
touch "$root/etc/hosts"
mkdir -p "$root/dev"
# What a container runtime does: the volume, the configuration (read-only),
# the secrets, /etc/hosts and a minimal /dev mounted (libpq reads /dev/urandom
# for its SCRAM nonce); the image's user; fillrelay as PID 1.
unshare -m -p -f --mount-proc sh -c '
	set -e
	mount --bind "$1/volume" "$2/var/lib/fillrelay"
	mount --bind -o ro "$1/etc" "$2/etc/fillrelay"
	mount --bind -o ro "$1/e2e/secrets" "$2/run/secrets"
	mount --bind -o ro /etc/hosts "$2/etc/hosts"
	mount -t tmpfs -o mode=0755,nosuid,size=64k tmpfs "$2/dev"
	for d in null zero random urandom; do
		touch "$2/dev/$d"
		mount --bind "/dev/$d" "$2/dev/$d"
	done
	exec chroot --userspec=10001:10001 "$2" /fillrelay run -c /etc/fillrelay/fillrelay.conf
' sh "$work" "$root" >"$work/run.log" 2>&1 &
upid=$!
healthy=0
for _ in $(seq 150); do
	if chroot --userspec=10001:10001 "$root" /fillrelay health "127.0.0.1:$port" >"$work/health.out" 2>&1; then
		healthy=1
		break
	fi
	kill -0 "$upid" 2>/dev/null || break
	sleep 0.2
done
check "the image's HEALTHCHECK command (/fillrelay health) answers healthy" [ "$healthy" = 1 ]
check "the peer saw the stream subscribe" e2e_subscribed 20
# unshare's child (fillrelay, after sh and chroot exec'd it), from /proc.
fpid=$(cat /proc/"$upid"/task/*/children 2>/dev/null | tr ' ' '\n' | head -n 1)
check "fillrelay runs as PID 1 of its namespace and uid 10001 (pid ${fpid:-?}: $(tr '\0' ' ' </proc/"${fpid:-0}"/cmdline 2>/dev/null))" \
	sh -c "grep -q '^NSpid:.*[[:space:]]1$' /proc/$fpid/status && [ \$(stat -c %u /proc/$fpid) = 10001 ]"
e2e_push 1
e2e_wait 1 20
kill -TERM "$fpid" 2>/dev/null
rc=0
wait "$upid" || rc=$?
upid=
check "SIGTERM: fillrelay exited with status $rc, want 0" [ "$rc" = 0 ]
check "journal written to the volume by uid 10001" \
	sh -c "[ -n \"\$(find '$work/volume' -type f -user 10001)\" ]"
grep -q 'subscription successful' "$work/run.log" && ok "log: subscription successful" ||
	bad "log: subscription successful"
if [ "$E2E_FAIL" != 0 ]; then
	echo "-- fillrelay's log:"
	tail -n 30 "$work/run.log"
fi
if grep -q -e "$E2E_SECRET" -e "$FR_TEST_PGPASSWORD" -e "$FR_TEST_REDIS_PASSWORD" "$work/run.log"; then
	bad "a secret reached the log"
else
	ok "no secret in the log"
fi
e2e_summary
