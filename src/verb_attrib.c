/*
 * verb_attrib.c -- the book behind `fillrelay decode -c`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "book.h"
#include "cfg.h"
#include "dec.h"
#include "err.h"
#include "verb_attrib.h"
#include "verb_decode.h"

static struct book attrib_book;
static struct book_result attrib_res;
static const char *attrib_account;

static const char *attrib_via_name(enum book_via v)
{
	static const char *const names[] = { "?", "link", "parent", "split", "holder", "default",
					     "unattributed" };

	return (int)v >= 1 && (int)v <= BOOK_VIA_UNATTRIBUTED ? names[v] : "?";
}

/* Appends printf output to buf[*len..n), never past n - 1 (a cut is silent:
 * decode's line buffer is far larger than these members). */
__attribute__((format(printf, 4, 5))) static void attrib_put(char *buf, size_t n, size_t *len,
							    const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*len >= n - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *len, n - *len, fmt, ap);
	va_end(ap);
	*len = k < 0 ? *len : (*len + (size_t)k < n ? *len + (size_t)k : n - 1);
}

static void attrib_put_allocs(char *buf, size_t n, size_t *len)
{
	char qty[DEC_STR_MAX], fee[DEC_STR_MAX];

	attrib_put(buf, n, len, ",\"allocations\":[");
	for (int i = 0; i < attrib_res.allocs_n; i++) {
		const struct book_alloc *a = &attrib_res.allocs[i];

		dec_format(a->qty, qty, sizeof qty);
		dec_format(a->fee, fee, sizeof fee);
		attrib_put(buf, n, len, "%s{\"bot\":\"%s\",\"qty\":\"%s\",\"fee\":\"%s\"}",
			   i ? "," : "", a->bot, qty, fee);
	}
	attrib_put(buf, n, len, "]");
}

/* see verb_decode.h: verb_decode_exec_hook. Bot ids and reasons are
 * [A-Za-z0-9_]: they need no JSON escaping. */
static int attrib_hook(const struct cfg *c, const struct decode_env *env,
		       const struct decode_exec *e, char *buf, size_t n)
{
	char pnl[DEC_STR_MAX], size[DEC_STR_MAX];
	size_t len = 0;
	int rc = book_apply(&attrib_book, attrib_account, e, NULL, &attrib_res);
	const char *status = rc >= 0 ? book_status_name(rc) : "error";

	(void)c;
	(void)env;
	attrib_put(buf, n, &len, ",\"account\":\"%s\",\"status\":\"%s\"", attrib_account, status);
	if (rc < 0) {
		attrib_put(buf, n, &len, ",\"error\":\"%s\"", err_str(rc));
		return (int)len;
	}
	if (rc != BOOK_APPLIED)
		return (int)len;
	dec_format(attrib_res.realized_pnl, pnl, sizeof pnl);
	attrib_put(buf, n, &len,
		   ",\"bot\":\"%s\",\"via\":\"%s\",\"reason\":\"%s\",\"close_reason\":\"%s\","
		   "\"realized_pnl\":\"%s\",\"trade_seq\":%lld",
		   attrib_res.bot, attrib_via_name(attrib_res.via), attrib_res.reason,
		   attrib_res.close_reason, pnl, (long long)attrib_res.trade_seq);
	if (attrib_res.positions_n > 0) {
		dec_format(attrib_res.positions[0].size, size, sizeof size);
		attrib_put(buf, n, &len, ",\"size_after\":\"%s\"", size);
	}
	if (attrib_res.allocs_n > 1)
		attrib_put_allocs(buf, n, &len);
	return (int)len;
}

/* see verb_attrib.h */
int verb_attrib_setup(const struct cfg *c, const char *account, char *err, size_t errn)
{
	const struct cfg_account *a;

	if (!account && c->accounts_n != 1) {
		snprintf(err, errn, "the configuration has %d accounts: name one with --account",
			 c->accounts_n);
		return FR_EINVAL;
	}
	a = account ? cfg_account_find(c, account) : &c->accounts[0];
	if (!a) {
		snprintf(err, errn, "no [account %s] in the configuration", account);
		return FR_EINVAL;
	}
	if (book_init(&attrib_book, c, NULL) != 0) {
		snprintf(err, errn, "cannot set up the book");
		return FR_EINVAL;
	}
	attrib_account = a->name;
	verb_decode_set_exec_hook(attrib_hook);
	return 0;
}
