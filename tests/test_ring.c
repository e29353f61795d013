/*
 * test_ring.c -- the fill ring: consecutive sequences, O(1) lookup, eviction
 * of the oldest when full (FR_ERANGE: read the journal), wrap-around, and a
 * random workload checked against a model of what must still be held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "t.h"

static struct ring tr;
static unsigned char tr_buf[4096];

static void tr_payload(uint64_t seq, size_t len, unsigned char *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(seq * 31 + i);
}

static int tr_check(uint64_t seq, size_t len)
{
	unsigned char want[4096];
	const void *p;
	size_t n;

	if (ring_get(&tr, seq, &p, &n) != 0 || n != len)
		return 0;
	tr_payload(seq, len, want);
	return memcmp(p, want, len) == 0;
}

TEST(ring_push_get_in_order)
{
	unsigned char p[100];
	const void *got;
	size_t n;

	ring_init(&tr, tr_buf, sizeof tr_buf, 100);
	T_EQ_INT(ring_count(&tr), 0);
	T_EQ_INT(ring_get(&tr, 100, &got, &n), FR_EAGAIN);
	for (uint64_t s = 100; s < 110; s++) {
		tr_payload(s, (size_t)(s - 95), p);
		T_EQ_INT(ring_push(&tr, s, p, (size_t)(s - 95)), 0);
	}
	T_EQ_INT(ring_count(&tr), 10);
	for (uint64_t s = 100; s < 110; s++)
		T_CHECK(tr_check(s, (size_t)(s - 95)));
	T_EQ_INT(ring_get(&tr, 99, &got, &n), FR_ERANGE);
	T_EQ_INT(ring_get(&tr, 110, &got, &n), FR_EAGAIN);
	/* a gap or a repeat is refused */
	T_EQ_INT(ring_push(&tr, 112, p, 1), FR_EINVAL);
	T_EQ_INT(ring_push(&tr, 109, p, 1), FR_EINVAL);
	T_EQ_INT(ring_push(&tr, 110, p, ring_payload_max(&tr) + 1), FR_ERANGE);
	T_EQ_INT(ring_push(&tr, 110, NULL, 0), 0); /* empty payloads are records too */
	T_EQ_INT(ring_get(&tr, 110, &got, &n), 0);
	T_EQ_INT(n, 0);
}

TEST(ring_evicts_oldest_and_wraps)
{
	unsigned char p[1000];
	uint64_t s;

	ring_init(&tr, tr_buf, sizeof tr_buf, 1);
	/* 1000-byte records (1016 with the header): four fit in 4096 */
	for (s = 1; s <= 4; s++) {
		tr_payload(s, 1000, p);
		T_REQUIRE(ring_push(&tr, s, p, 1000) == 0);
	}
	T_EQ_INT(tr.evicted, 0);
	tr_payload(5, 1000, p);
	T_REQUIRE(ring_push(&tr, 5, p, 1000) == 0);
	T_EQ_INT(tr.evicted, 1);
	T_EQ_INT(tr.first_seq, 2);
	for (s = 2; s <= 5; s++)
		T_CHECK(tr_check(s, 1000));
	/* a larger record evicts as many as it needs */
	tr_payload(6, 1000, p);
	T_REQUIRE(ring_push(&tr, 6, p, 1000) == 0); /* same size again */
	T_CHECK(tr_check(6, 1000));
	{
		static unsigned char big[2000];

		tr_payload(7, 2000, big);
		T_REQUIRE(ring_push(&tr, 7, big, 2000) == 0);
		T_CHECK(tr_check(7, 2000));
	}
	T_CHECK(tr.first_seq >= 5);
	T_CHECK(tr.used <= tr.cap);
	ring_reset(&tr, 50);
	T_EQ_INT(ring_count(&tr), 0);
	T_EQ_INT(ring_push(&tr, 50, p, 10), 0);
}

/* Random sizes: every record the ring claims to hold reads back intact, the
 * held records are always the newest ones, and the buffer is never more than
 * full. */
TEST(ring_random_workload_against_model)
{
	static unsigned char p[2100];
	uint64_t s = 1000;
	size_t lens[RING_INDEX_MAX];
	unsigned seed = 12345;
	long bad = 0, held_sum = 0;

	ring_init(&tr, tr_buf, sizeof tr_buf, s);
	for (int i = 0; i < 200000; i++) {
		size_t len;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % (i % 7 == 0 ? 2033 : 200);
		tr_payload(s, len, p);
		if (ring_push(&tr, s, p, len) != 0) {
			bad++;
			break;
		}
		lens[s % RING_INDEX_MAX] = len;
		s++;
		if (tr.used > tr.cap || tr.next_seq != s)
			bad++;
		if (i % 97 == 0) {
			for (uint64_t k = tr.first_seq; k < tr.next_seq; k++)
				if (!tr_check(k, lens[k % RING_INDEX_MAX]))
					bad++;
			held_sum += (long)ring_count(&tr);
		}
	}
	printf("    200000 pushes, %llu evicted, %ld held on average\n",
	       (unsigned long long)tr.evicted, held_sum / (200000 / 97 + 1));
	T_EQ_INT(bad, 0);
	T_CHECK(ring_count(&tr) >= 2); /* the newest always fit */
}

TEST(ring_index_bound_evicts_by_count)
{
	static unsigned char big[RING_INDEX_MAX * 32];
	static struct ring r2;
	const void *got;
	size_t n;

	ring_init(&r2, big, sizeof big, 0);
	for (uint64_t s = 0; s < RING_INDEX_MAX + 10; s++)
		T_REQUIRE(ring_push(&r2, s, "x", 1) == 0);
	T_EQ_INT(ring_count(&r2), RING_INDEX_MAX);
	T_EQ_INT(ring_get(&r2, 9, &got, &n), FR_ERANGE);
	T_EQ_INT(ring_get(&r2, 10, &got, &n), 0);
	T_EQ_INT(ring_get(&r2, RING_INDEX_MAX + 9, &got, &n), 0);
}
