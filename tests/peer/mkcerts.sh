#!/usr/bin/env bash
# mkcerts.sh -- the test certificate set of the Bybit test peer, made with the openssl CLI.
#
# Usage: tests/peer/mkcerts.sh DIR
#
# Writes into DIR (created if missing; every file is made anew):
#   ca.pem                 the trust bundle for clients: ca-ec.pem + ca-rsa.pem
#   ca-ec.pem ca-ec.key    test CA, ECDSA P-256 (signs the *-ec server certificates)
#   ca-rsa.pem ca-rsa.key  test CA, RSA 2048    (signs the *-rsa server certificates)
#   untrusted-ca-{ec,rsa}.pem   a second CA pair that no client trusts
# and for KEY in ec (P-256) and rsa (2048), a certificate KIND-KEY.pem with its key KIND-KEY.key:
#   good       SAN DNS:localhost, DNS:exchange.fillrelay.test (the board image's test), IP:127.0.0.1; valid 2020-01-01 .. 2049-12-31; signed by ca-KEY
#   untrusted  same names and dates, signed by untrusted-ca-KEY
#   expired    same names, valid 2020-01-01 .. 2021-01-01 only; signed by ca-KEY
#   notyet     same names, valid 2090-01-01 .. 2099-01-01; signed by ca-KEY
#   wronghost  SAN DNS:wronghost.invalid only (no localhost, no IP); signed by ca-KEY
# Leaf certificates carry basicConstraints CA:FALSE, keyUsage (digitalSignature, plus
# keyEncipherment for RSA), extendedKeyUsage serverAuth, SKI/AKI. Dates are set with
# `openssl ca -startdate/-enddate`: no faketime needed.
# Takes about a second; needs only the `openssl` package.
set -euo pipefail

[ $# -eq 1 ] || {
	sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.mkcerts-XXXXXX")
trap 'rm -rf "$work"' EXIT
export OPENSSL_CONF=/dev/null # no system defaults leak in

# newkey KEYTYPE FILE
newkey() {
	case $1 in
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$2" 2>/dev/null ;;
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" 2>/dev/null ;;
	esac
	chmod 600 "$2"
}

# mkca NAME KEYTYPE CN: a self-signed CA and its own `openssl ca` database in $work/NAME.
mkca() {
	local name=$1 kt=$2 cn=$3 d="$work/$1"
	mkdir -p "$d/new"
	: >"$d/index.txt"
	printf '1000\n' >"$d/serial"
	newkey "$kt" "$out/$name.key"
	openssl req -new -x509 -key "$out/$name.key" -out "$out/$name.pem" -sha256 \
		-days 10950 -subj "/O=fillrelay tests/CN=$cn" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
	cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
dir = $d
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
certificate = $out/$name.pem
private_key = $out/$name.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = supplied
[ ext_good ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,$4
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,DNS:exchange.fillrelay.test,IP:127.0.0.1
[ ext_wronghost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,$4
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wronghost.invalid
EOF
}

# leaf KIND KEYTYPE CA EXT CN START END
leaf() {
	local kind=$1 kt=$2 ca=$3 ext=$4 cn=$5 start=$6 end=$7 base="$out/$1-$2"
	newkey "$kt" "$base.key"
	openssl req -new -key "$base.key" -out "$work/$kind-$kt.csr" -subj "/O=fillrelay tests/CN=$cn" 2>/dev/null
	openssl ca -batch -notext -config "$work/$ca/ca.cnf" -extensions "$ext" \
		-startdate "$start" -enddate "$end" \
		-in "$work/$kind-$kt.csr" -out "$base.pem" 2>"$work/ca.log" || {
		cat "$work/ca.log" >&2
		exit 1
	}
}

for kt in ec rsa; do
	if [ "$kt" = rsa ]; then ku=digitalSignature,keyEncipherment; else ku=digitalSignature; fi
	mkca "ca-$kt" "$kt" "fillrelay test CA ($kt)" "$ku"
	mkca "untrusted-ca-$kt" "$kt" "fillrelay UNTRUSTED test CA ($kt)" "$ku"
	leaf good "$kt" "ca-$kt" ext_good localhost 20200101000000Z 20491231235959Z
	leaf untrusted "$kt" "untrusted-ca-$kt" ext_good localhost 20200101000000Z 20491231235959Z
	leaf expired "$kt" "ca-$kt" ext_good localhost 20200101000000Z 20210101000000Z
	leaf notyet "$kt" "ca-$kt" ext_good localhost 20900101000000Z 20990101000000Z
	leaf wronghost "$kt" "ca-$kt" ext_wronghost wronghost.invalid 20200101000000Z 20491231235959Z
done
rm -f "$out"/untrusted-ca-*.key
cat "$out/ca-ec.pem" "$out/ca-rsa.pem" >"$out/ca.pem"

# Sanity: the good ones verify, the bad ones do not, for the reason intended.
must_fail() {
	if openssl verify -CAfile "$out/ca.pem" "$@" >/dev/null 2>&1; then
		echo "mkcerts.sh: ${*: -1} verifies but must not" >&2
		exit 1
	fi
}
for kt in ec rsa; do
	openssl verify -CAfile "$out/ca.pem" -verify_hostname localhost -verify_ip 127.0.0.1 "$out/good-$kt.pem" >/dev/null
	must_fail "$out/untrusted-$kt.pem"
	must_fail "$out/expired-$kt.pem"
	must_fail "$out/notyet-$kt.pem"
	openssl verify -CAfile "$out/ca.pem" "$out/wronghost-$kt.pem" >/dev/null
	must_fail -verify_hostname localhost "$out/wronghost-$kt.pem"
	must_fail -verify_ip 127.0.0.1 "$out/wronghost-$kt.pem"
done
echo "mkcerts.sh: certificates in $out" >&2
