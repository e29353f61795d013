/*
 * stream.h -- a non-blocking byte stream, the only thing ws and http ask of
 * the transport.
 *
 * In production the context is a struct tls_conn and the functions are
 * one-line adapters to tls_read / tls_write; in tests they are in-memory
 * buffers, so the protocol layers run without sockets or TLS.
 *
 * Both functions move at most n bytes (n > 0) and return:
 *   > 0         the count moved (possibly < n);
 *   FR_EAGAIN   nothing can move now (an ordinary outcome: retry after the
 *               next poll / tls_pump);
 *   FR_ECLOSED  the peer closed (read: after everything before it was read);
 *   other < 0   the transport's sticky error (err.h).
 * Zero is never returned.
 */
#ifndef FR_STREAM_H
#define FR_STREAM_H

#include <stddef.h>

struct fr_stream {
	int (*read)(void *ctx, void *buf, size_t n);
	int (*write)(void *ctx, const void *buf, size_t n);
	void *ctx;
};

#endif
