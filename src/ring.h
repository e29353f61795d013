/*
 * ring.h -- the preallocated ring of records between decoding and the sinks
 * (DESIGN.md 1): the newest journal records, kept in memory so that sinks
 * that keep up never read the disk.
 *
 * Every record carries the journal's sequence number; sequences in a ring are
 * consecutive (ring_push refuses a gap). A push that does not fit evicts the
 * oldest records: the ring never refuses for lack of room, because the
 * journal holds every record until PostgreSQL has it -- a sink that asks for
 * an evicted sequence (ring_get -> FR_ERANGE) has fallen behind and reads the
 * journal instead ("spill"), then comes back to the ring when it catches up.
 * Each sink keeps its own cursor (the next sequence it wants); the ring has
 * no notion of consumers.
 *
 * Layout: the caller's byte buffer holds records back to back, each an 8-byte
 * aligned header (length, sequence) and the payload, wrapping to the start
 * when one does not fit at the end; an index of RING_INDEX_MAX offsets finds
 * a sequence in O(1). Nothing is allocated.
 */
#ifndef FR_RING_H
#define FR_RING_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define RING_INDEX_MAX 65536   /* records held at most, a power of two */
#define RING_ALIGN 8
#define RING_HDR 16            /* uint32 length, uint32 pad, uint64 sequence */

_Static_assert((RING_INDEX_MAX & (RING_INDEX_MAX - 1)) == 0, "index is a power of two");

struct ring {
	unsigned char *buf;
	size_t cap;          /* bytes, a multiple of RING_ALIGN */
	size_t head, tail;   /* oldest record's offset; where the next goes */
	size_t used;         /* bytes between head and tail, wrap waste included */
	uint64_t first_seq;  /* oldest held; == next_seq when empty */
	uint64_t next_seq;   /* what ring_push expects next */
	uint64_t evicted;    /* records pushed out by newer ones */
	uint32_t off[RING_INDEX_MAX];
};

/*
 * Readies r over buf (cap bytes, at least 4 * RING_HDR; rounded down to
 * RING_ALIGN), empty, expecting first_seq next. buf must outlive r.
 */
void ring_init(struct ring *r, void *buf, size_t cap, uint64_t first_seq);

/* Largest payload ring_push takes: half the buffer, less a header. */
size_t ring_payload_max(const struct ring *r);

/*
 * Appends payload[0..len) as sequence seq, evicting the oldest records as
 * needed. Returns 0, FR_EINVAL when seq is not r->next_seq, FR_ERANGE when len
 * exceeds ring_payload_max.
 */
int ring_push(struct ring *r, uint64_t seq, const void *payload, size_t len);

/*
 * Finds sequence seq: *payload points into the ring (valid until the next
 * ring_push or ring_reset) and *len gets its length. Returns 0, FR_EAGAIN
 * when seq has not been pushed yet (seq >= next_seq), FR_ERANGE when it was
 * evicted (seq < first_seq: read the journal).
 */
int ring_get(const struct ring *r, uint64_t seq, const void **payload, size_t *len);

/* Records held now. */
uint64_t ring_count(const struct ring *r);

/* Forgets everything; next_seq becomes first_seq (after a journal reopen). */
void ring_reset(struct ring *r, uint64_t first_seq);

#endif
