/*
 * ring.c -- see ring.h.
 *
 * A record takes RING_HDR + its payload rounded up to RING_ALIGN. When it
 * does not fit between tail and the end of the buffer, the rest of the
 * buffer is wasted (counted in used) and the record starts at 0; the header
 * of a wasted stretch is not needed since every record is found through the
 * index, and eviction walks records in sequence order through it too.
 */
#include "ring.h"

#include <assert.h>
#include <string.h>

static size_t ring_size(size_t len)
{
	return RING_HDR + ((len + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1));
}

void ring_init(struct ring *r, void *buf, size_t cap, uint64_t first_seq)
{
	cap &= ~(size_t)(RING_ALIGN - 1);
	assert(buf && cap >= 4 * RING_HDR && cap <= UINT32_MAX);
	r->buf = buf;
	r->cap = cap;
	r->evicted = 0;
	/* Touched now, not slot by slot as sequence numbers climb: resident
	 * memory is then what it will stay (the bench's RSS growth). */
	memset(r->off, 0, sizeof r->off);
	ring_reset(r, first_seq);
}

void ring_reset(struct ring *r, uint64_t first_seq)
{
	r->head = r->tail = r->used = 0;
	r->first_seq = r->next_seq = first_seq;
}

size_t ring_payload_max(const struct ring *r)
{
	return r->cap / 2 - RING_HDR;
}

uint64_t ring_count(const struct ring *r)
{
	return r->next_seq - r->first_seq;
}

static uint32_t ring_len_at(const struct ring *r, size_t off)
{
	uint32_t len;

	memcpy(&len, r->buf + off, sizeof len);
	return len;
}

/* Drops the oldest record; used shrinks by its size plus any waste between
 * it and the next record (or the tail). */
static void ring_evict(struct ring *r)
{
	size_t off = r->head, next;

	assert(ring_count(r) > 0);
	next = off + ring_size(ring_len_at(r, off));
	r->first_seq++;
	r->evicted++;
	if (r->first_seq == r->next_seq) {
		r->head = r->tail = r->used = 0; /* empty: start over at 0 */
		return;
	}
	next = r->off[r->first_seq & (RING_INDEX_MAX - 1)];
	r->used -= next > off ? next - off : r->cap - off + next;
	r->head = next;
}

/* Where a record of size sz goes, evicting until it fits; waste (the stretch
 * skipped at the end of the buffer) added to used. */
static size_t ring_place(struct ring *r, size_t sz)
{
	for (;;) {
		size_t end_room = r->cap - r->tail;

		if (ring_count(r) == 0)
			return 0;
		if (r->tail > r->head) { /* free: [tail, cap) and [0, head) */
			if (sz <= end_room)
				return r->tail;
			if (sz <= r->head) {
				r->used += end_room; /* skip the end */
				r->tail = 0;
				return 0;
			}
		} else if (sz <= r->head - r->tail) { /* free: [tail, head); none when equal: full */
			return r->tail;
		}
		ring_evict(r);
	}
}

int ring_push(struct ring *r, uint64_t seq, const void *payload, size_t len)
{
	size_t sz = ring_size(len), at;
	uint32_t len32 = (uint32_t)len, pad = 0;

	if (seq != r->next_seq)
		return FR_EINVAL;
	if (len > ring_payload_max(r))
		return FR_ERANGE;
	if (ring_count(r) == RING_INDEX_MAX)
		ring_evict(r);
	at = ring_place(r, sz);
	memcpy(r->buf + at, &len32, 4);
	memcpy(r->buf + at + 4, &pad, 4);
	memcpy(r->buf + at + 8, &seq, 8);
	if (len)
		memcpy(r->buf + at + RING_HDR, payload, len);
	r->off[seq & (RING_INDEX_MAX - 1)] = (uint32_t)at;
	r->tail = at + sz == r->cap ? 0 : at + sz;
	r->used += sz;
	if (ring_count(r) == 0)
		r->head = at;
	r->next_seq++;
	assert(r->used <= r->cap);
	return 0;
}

int ring_get(const struct ring *r, uint64_t seq, const void **payload, size_t *len)
{
	size_t off;
	uint64_t got;

	if (seq >= r->next_seq)
		return FR_EAGAIN;
	if (seq < r->first_seq)
		return FR_ERANGE;
	off = r->off[seq & (RING_INDEX_MAX - 1)];
	memcpy(&got, r->buf + off + 8, 8);
	assert(got == seq); /* the index and the record agree */
	*len = ring_len_at(r, off);
	*payload = r->buf + off + RING_HDR;
	return 0;
}
