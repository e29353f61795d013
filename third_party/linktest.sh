#!/bin/sh
# third_party/linktest.sh VARIANT -- link smoke test of build/deps/VARIANT.
#
# Compiles a small program (written to build/deps/linktest/VARIANT/, not into the
# source tree) that calls into every library -- br_sha256_*, wslay_frame_*,
# jsmn_parse, redisReader*, PQlibVersion -- and checks the results; links it with
# DEP_CC / DEP_CFLAGS / DEP_LIBS from build/deps/VARIANT/env.mk and -static; runs
# it (aarch64 under qemu-aarch64-static); checks that `file` calls it statically
# linked; prints its stripped size.  x86_64-glibc is additionally linked
# dynamically (as the AddressSanitizer build will use these archives).
set -eu
TP_DIR=$(cd "$(dirname "$0")" && pwd)
. "$TP_DIR/lib.sh"

usage() {
	echo "usage: sh third_party/linktest.sh x86_64-musl|aarch64-musl|x86_64-glibc" >&2
	exit 2
}
[ $# -eq 1 ] || usage
VARIANT=$1
case $VARIANT in x86_64-musl | aarch64-musl | x86_64-glibc) ;; *) usage ;; esac
export LC_ALL=C

ENV_MK=$ROOT_DIR/build/deps/$VARIANT/env.mk
[ -f "$ENV_MK" ] || die "$VARIANT: ${ENV_MK#"$ROOT_DIR"/} not found: run \`sh third_party/deps.sh $VARIANT\` first"
mkvar() { sed -n "s/^$1 := *//p" "$ENV_MK"; }
DEP_CC=$(mkvar DEP_CC)
DEP_CFLAGS=$(mkvar DEP_CFLAGS)
DEP_LIBS=$(mkvar DEP_LIBS)
DEP_STRIP=$(mkvar DEP_STRIP)
DEP_RUN=$(mkvar DEP_RUN)
if [ -z "$DEP_CC" ] || [ -z "$DEP_LIBS" ]; then die "$VARIANT: DEP_CC/DEP_LIBS missing from $ENV_MK"; fi
need_cmd file file
if [ -n "$DEP_RUN" ]; then need_cmd "$DEP_RUN" qemu-user-static; fi

# libpq's PQlibVersion() must match the pinned postgresql-15 version (15.18 -> 150018)
pgver=$(awk '$1 == "postgresql-15" { print $2; exit }' "$ROOT_DIR/build/deps/$VARIANT/pins.used")
pgup=${pgver%%-*}
expect_pq=$((${pgup%%.*} * 10000 + ${pgup#*.}))

W=$ROOT_DIR/build/deps/linktest/$VARIANT
rm -rf "$W"
mkdir -p "$W"
cat >"$W/linktest.c" <<'EOF'
/* third_party/linktest.sh: one call into each dependency, results checked. */
#include <stdio.h>
#include <string.h>
#include <bearssl.h>
#include <wslay/wslay.h>
#include <jsmn.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <fr_depvers.h>

static int fails;
#define CHECK(what, cond) do { \
	printf("%-8s %s\n", (cond) ? "ok" : "FAILED", what); \
	if (!(cond)) fails++; } while (0)

static unsigned char sent[64];
static size_t nsent;

static ssize_t ws_send(const uint8_t *d, size_t n, int flags, void *u)
{
	(void)flags; (void)u;
	if (n > sizeof sent - nsent) n = sizeof sent - nsent;
	memcpy(sent + nsent, d, n);
	nsent += n;
	return (ssize_t)n;
}
static ssize_t ws_recv(uint8_t *b, size_t n, int flags, void *u)
{
	(void)b; (void)n; (void)flags; (void)u;
	return -1;
}
static int ws_genmask(uint8_t *b, size_t n, void *u)
{
	(void)u;
	memset(b, 0, n);
	return 0;
}

int main(void)
{
	/* BearSSL */
	static const unsigned char abc_sha256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
		0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	br_sha256_context sc;
	unsigned char h[32];
	br_sha256_init(&sc);
	br_sha256_update(&sc, "abc", 3);
	br_sha256_out(&sc, h);
	CHECK("bearssl br_sha256(\"abc\")", memcmp(h, abc_sha256, 32) == 0);

	/* wslay */
	struct wslay_frame_callbacks cb = { ws_send, ws_recv, ws_genmask };
	wslay_frame_context_ptr fc;
	int ok = wslay_frame_context_init(&fc, &cb, NULL) == 0;
	if (ok) {
		struct wslay_frame_iocb io;
		memset(&io, 0, sizeof io);
		io.fin = 1;
		io.opcode = WSLAY_TEXT_FRAME;
		io.payload_length = 5;
		io.data = (const uint8_t *)"hello";
		io.data_length = 5;
		ok = wslay_frame_send(fc, &io) == 5 && nsent == 7 &&
		     sent[0] == 0x81 && sent[1] == 5 && memcmp(sent + 2, "hello", 5) == 0;
		wslay_frame_context_free(fc);
	}
	CHECK("wslay wslay_frame_send(text \"hello\")", ok);

	/* jsmn */
	const char *js = "{\"a\":[1,2]}";
	jsmn_parser jp;
	jsmntok_t tok[8];
	jsmn_init(&jp);
	int ntok = jsmn_parse(&jp, js, strlen(js), tok, 8);
	CHECK("jsmn jsmn_parse({\"a\":[1,2]})", ntok == 5 && tok[2].type == JSMN_ARRAY && tok[2].size == 2);

	/* hiredis */
	redisReader *rd = redisReaderCreate();
	void *rep = NULL;
	ok = rd != NULL && redisReaderFeed(rd, "*2\r\n+OK\r\n:42\r\n", 14) == REDIS_OK &&
	     redisReaderGetReply(rd, &rep) == REDIS_OK && rep != NULL;
	if (ok) {
		redisReply *r = rep;
		ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		     r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 42;
		freeReplyObject(rep);
	}
	if (rd) redisReaderFree(rd);
	CHECK("hiredis redisReader (*2 +OK :42)", ok);

	/* libpq */
	int pqv = PQlibVersion();
	printf("         PQlibVersion() = %d\n", pqv);
	CHECK("libpq PQlibVersion() == " EXPECT_PQ_STR, pqv == EXPECT_PQ);

	printf("%s\n%s\n%s\n%s\n%s\n%s\n", FR_DEP_BEARSSL, FR_DEP_WSLAY, FR_DEP_JSMN,
	       FR_DEP_HIREDIS, FR_DEP_LIBPQ, FR_DEP_MUSL);
	printf("linktest %s: %s\n", FR_DEP_VARIANT, fails ? "FAILED" : "OK");
	return fails != 0;
}
EOF

cd "$ROOT_DIR"
# link_run NAME EXTRA-LDFLAGS: compile, link, run, check
link_run() {
	_bin=$W/$1
	note "$VARIANT: $DEP_CC $DEP_CFLAGS -O2 $2 -o ${_bin#"$ROOT_DIR"/} linktest.c DEP_LIBS"
	# shellcheck disable=SC2086 # DEP_CFLAGS, DEP_LIBS and $2 are word lists
	if ! "$DEP_CC" $DEP_CFLAGS -O2 -Wall -Wextra $2 -DEXPECT_PQ="$expect_pq" \
		-DEXPECT_PQ_STR="\"$expect_pq\"" -o "$_bin" "$W/linktest.c" $DEP_LIBS >"$_bin.log" 2>&1; then
		sed 's/^/    /' "$_bin.log" >&2
		die "$VARIANT: linktest ($1) failed to compile/link"
	fi
	if [ -s "$_bin.log" ]; then
		note "$VARIANT: compiler/linker said:"
		sed 's/^/    /' "$_bin.log" >&2
	fi
	_file=$(file -b "$_bin")
	note "$VARIANT: file: $_file"
	# shellcheck disable=SC2086 # DEP_RUN is empty or one word
	if ! $DEP_RUN "$_bin"; then
		die "$VARIANT: linktest ($1) FAILED when run${DEP_RUN:+ under $DEP_RUN}"
	fi
}

link_run linktest-static -static
case $_file in
*"statically linked"*) ;;
*) case $VARIANT in
	*-musl) die "$VARIANT: \`file\` does not call the -static binary statically linked: $_file" ;;
	*) note "$VARIANT: note: not statically linked: $_file" ;;
	esac ;;
esac
"$DEP_STRIP" -o "$W/linktest-static.stripped" "$W/linktest-static"
size=$(wc -c <"$W/linktest-static.stripped")
note "$VARIANT: static binary OK; stripped size $size bytes ($(((size + 1023) / 1024)) KiB)"

# For information: the same with the linker dropping unused sections (the musl
# variants' archives are compiled with -ffunction-sections -fdata-sections).
# shellcheck disable=SC2086
if "$DEP_CC" $DEP_CFLAGS -O2 -static -Wl,--gc-sections -DEXPECT_PQ="$expect_pq" \
	-DEXPECT_PQ_STR="\"$expect_pq\"" -o "$W/linktest-gc" "$W/linktest.c" $DEP_LIBS >/dev/null 2>&1 &&
	"$DEP_STRIP" "$W/linktest-gc" && $DEP_RUN "$W/linktest-gc" >/dev/null; then
	note "$VARIANT: (with -Wl,--gc-sections: stripped size $(wc -c <"$W/linktest-gc") bytes, runs OK)"
fi

if [ "$VARIANT" = x86_64-glibc ]; then
	link_run linktest-dynamic ""
	note "$VARIANT: dynamically linked binary (as the ASan build links these archives) OK"
fi
