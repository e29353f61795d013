#!/bin/sh
# image/oci.sh -- the FROM-scratch OCI image of fillrelay, for amd64 and arm64 in
# one image index, built without a container engine: tar, gzip and sha256sum.
#
#   sh image/oci.sh OUTDIR VERSION REVISION SOURCE BIN_AMD64 BIN_ARM64
#
# Writes into OUTDIR (emptied first):
#   oci/                         the OCI image layout (index.json -> one image
#                                index tagged VERSION and "latest" -> one manifest
#                                per architecture, each with a single layer; the
#                                manifests are also tagged VERSION-amd64 and
#                                VERSION-arm64)
#   fillrelay-VERSION.oci.tar    the same layout as one archive (skopeo's
#                                oci-archive:, podman load, docker load 25+)
#   sizes.txt                    "ARCH LAYER_GZ_BYTES LAYER_TAR_BYTES" per arch
#   fillrelay-VERSION-ARCH.docker.tar   per architecture, for `docker load`
#                                (tagged fillrelay:VERSION), made from the
#                                layout by skopeo
#
# The layer holds only: /fillrelay (static), /etc/ssl/certs/ca-certificates.crt
# (the build machine's Debian CA bundle), /etc/passwd and /etc/group with the
# unprivileged user fillrelay (uid/gid 10001), /etc/fillrelay/
# fillrelay.conf.example (the commented example configuration) and the journal's
# volume /var/lib/fillrelay (owned by 10001, mode 0700).
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the commit's
# time), owners are numeric, entries sorted, gzip carries no name or time. Two
# builds of the same commit give the same digests.
set -eu
[ $# -eq 6 ] || { echo "usage: sh image/oci.sh OUTDIR VERSION REVISION SOURCE BIN_AMD64 BIN_ARM64" >&2; exit 2; }
out=$1 version=$2 revision=$3 source=$4 bin_amd64=$5 bin_arm64=$6
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ca=${FR_IMAGE_CA:-/etc/ssl/certs/ca-certificates.crt}
conf=$root/tests/cfg/example.conf
uid=10001

die() { echo "image: $*" >&2; exit 1; }
for f in "$bin_amd64" "$bin_arm64" "$ca" "$conf"; do
	[ -f "$f" ] || die "missing input $f"
done
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	# The commit's time; without git, the amd64 binary's (the same inputs
	# still give the same image).
	SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || stat -c %Y "$bin_amd64")
fi
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

rm -rf "$out"
mkdir -p "$out/oci/blobs/sha256"
out=$(cd "$out" && pwd)
blobs=$out/oci/blobs/sha256

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
# blob FILE: moves FILE into the layout under its digest; prints the digest.
blob() {
	_d=$(sha "$1")
	mv "$1" "$blobs/$_d"
	echo "$_d"
}
# json_str TEXT: TEXT as a JSON string (the inputs here hold no control characters).
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# layer ARCH BIN: the layer's tar.gz in $out/layer-ARCH.tar.gz, its tar in
# $out/layer-ARCH.tar (the diff_id is the tar's digest).
layer() {
	_s=$out/rootfs-$1
	rm -rf "$_s"
	mkdir -p "$_s/etc/ssl/certs" "$_s/etc/fillrelay" "$_s/var/lib/fillrelay"
	cp "$2" "$_s/fillrelay"
	cp "$ca" "$_s/etc/ssl/certs/ca-certificates.crt"
	cp "$conf" "$_s/etc/fillrelay/fillrelay.conf.example"
	printf 'root:x:0:0:root:/:/nonexistent\nfillrelay:x:%d:%d:fillrelay:/var/lib/fillrelay:/nonexistent\n' \
		"$uid" "$uid" >"$_s/etc/passwd"
	printf 'root:x:0:\nfillrelay:x:%d:\n' "$uid" >"$_s/etc/group"
	chmod 0755 "$_s/fillrelay"
	chmod 0644 "$_s/etc/passwd" "$_s/etc/group" "$_s/etc/ssl/certs/ca-certificates.crt" \
		"$_s/etc/fillrelay/fillrelay.conf.example"
	find "$_s" -type d -exec chmod 0755 {} +
	chmod 0700 "$_s/var/lib/fillrelay"
	_t="--sort=name --mtime=@$SOURCE_DATE_EPOCH --numeric-owner --format=gnu"
	# Everything root's, then the journal's directory the user's (appended).
	# shellcheck disable=SC2086
	(cd "$_s" && tar -cf "$out/layer-$1.tar" $_t --owner=0 --group=0 \
		--exclude=./var/lib/fillrelay ./)
	# shellcheck disable=SC2086
	(cd "$_s" && tar -rf "$out/layer-$1.tar" $_t --owner=$uid --group=$uid \
		--no-recursion ./var/lib/fillrelay)
	gzip -n -9 -c "$out/layer-$1.tar" >"$out/layer-$1.tar.gz"
	rm -rf "$_s"
}

# image ARCH BIN: layer, config and manifest of one architecture; prints the
# manifest's descriptor (one JSON object) on stdout.
image() {
	layer "$1" "$2"
	_tar=$out/layer-$1.tar
	_diff=$(sha "$_tar")
	_gzsize=$(size "$_tar.gz")
	echo "$1 $_gzsize $(size "$_tar")" >>"$out/sizes.txt"
	_layer=$(blob "$_tar.gz")
	rm -f "$_tar"
	# Healthcheck is Docker's extension of the image config (OCI tools ignore
	# it; docker and podman run it): `fillrelay health` asks /healthz on the
	# default metrics address. Durations in nanoseconds.
	{
		printf '{"created":"%s","architecture":"%s","os":"linux",' "$created" "$1"
		[ "$1" = arm64 ] && printf '"variant":"v8",'
		printf '"config":{"User":"%d:%d",' "$uid" "$uid"
		printf '"Entrypoint":["/fillrelay"],"Cmd":["run","-c","/etc/fillrelay/fillrelay.conf"],'
		printf '"WorkingDir":"/var/lib/fillrelay","Volumes":{"/var/lib/fillrelay":{}},'
		printf '"ExposedPorts":{"9464/tcp":{}},"StopSignal":"SIGTERM",'
		printf '"Healthcheck":{"Test":["CMD","/fillrelay","health"],'
		printf '"Interval":30000000000,"Timeout":5000000000,"StartPeriod":60000000000,"Retries":3},'
		printf '"Labels":{%s}},' "$labels"
		printf '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},' "$_diff"
		printf '"history":[{"created":"%s","created_by":"image/oci.sh (fillrelay %s)"}]}' \
			"$created" "$version"
	} >"$out/config.json"
	_csize=$(size "$out/config.json")
	_config=$(blob "$out/config.json")
	{
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
		printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},' \
			"$_config" "$_csize"
		printf '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}],' \
			"$_layer" "$_gzsize"
		printf '"annotations":{%s}}' "$labels"
	} >"$out/manifest.json"
	_msize=$(size "$out/manifest.json")
	_manifest=$(blob "$out/manifest.json")
	printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,' \
		"$_manifest" "$_msize"
	printf '"platform":{"architecture":"%s","os":"linux"%s}}' "$1" \
		"$([ "$1" = arm64 ] && printf ',"variant":"v8"')"
}

labels=$(printf '"org.opencontainers.image.title":"fillrelay",'
	printf '"org.opencontainers.image.description":%s,' \
		"$(json_str "Bybit private-stream listener: fills to PostgreSQL and Redis, exactly once")"
	printf '"org.opencontainers.image.version":%s,' "$(json_str "$version")"
	printf '"org.opencontainers.image.source":%s,' "$(json_str "$source")"
	printf '"org.opencontainers.image.revision":%s,' "$(json_str "$revision")"
	printf '"org.opencontainers.image.created":"%s"' "$created")

: >"$out/sizes.txt"
amd64=$(image amd64 "$bin_amd64")
arm64=$(image arm64 "$bin_arm64")
# tagged DESCRIPTOR TAG: DESCRIPTOR with a ref.name annotation (umoci, which
# cannot pick a platform out of an index, unpacks "VERSION-ARCH").
tagged() { printf '%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}' "${1%\}}" "$2"; }
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s],"annotations":{%s}}' \
	"$amd64" "$arm64" "$labels" >"$out/index.json"
isize=$(size "$out/index.json")
index=$(blob "$out/index.json")
ref() {
	printf '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}' \
		"$index" "$isize" "$1"
}
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s,%s,%s]}' \
	"$(ref "$version")" "$(ref latest)" "$(tagged "$amd64" "$version-amd64")" \
	"$(tagged "$arm64" "$version-arm64")" >"$out/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci/oci-layout"
(cd "$out/oci" && tar -cf "$out/fillrelay-$version.oci.tar" --sort=name --mtime=@"$SOURCE_DATE_EPOCH" \
	--owner=0 --group=0 --numeric-owner --format=gnu oci-layout index.json blobs)
echo "image: index sha256:$index ($out/oci, tags $version and latest; $version-amd64, $version-arm64)"
while read -r arch gz tar; do
	printf 'image: %s layer %d bytes compressed (%d KiB), %d bytes uncompressed\n' \
		"$arch" "$gz" $((gz / 1024)) "$tar"
done <"$out/sizes.txt"
for arch in amd64 arm64; do
	skopeo copy -q --override-arch "$arch" "oci:$out/oci:$version-$arch" \
		"docker-archive:$out/fillrelay-$version-$arch.docker.tar:fillrelay:$version"
	echo "image: $out/fillrelay-$version-$arch.docker.tar (docker load; fillrelay:$version)"
done
echo "image: $out/fillrelay-$version.oci.tar (both architectures)"
