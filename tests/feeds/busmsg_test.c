/*
 * busmsg_test.c: the decoders of the bus answers and requests a daemon
 * takes from its peers: the publisher's resync request and the
 * collector's batch acknowledgement.
 */
#include <string.h>

#include "feeds/bus/ingest.h"
#include "feeds/bus/pub.h"
#include "test.h"

static const uint8_t coll[16] = "0123456789abcdef";

static size_t ack_pack(uint8_t *buf, uint64_t seq, int status, uint32_t accepted)
{
	Repnet__V1__BatchAck a = REPNET__V1__BATCH_ACK__INIT;
	a.collector_id.data = (uint8_t *)coll;
	a.collector_id.len = sizeof(coll);
	a.batch_seq = seq;
	a.status = (Repnet__V1__BatchAck__Status)status;
	a.accepted = accepted;
	return repnet__v1__batch_ack__pack(&a, buf);
}

static void test_ack(void **state)
{
	(void)state;
	uint8_t buf[64];
	int st = -7;
	uint32_t acc = 0;

	size_t n = ack_pack(buf, 7, REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED, 12);
	RN_PASS(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc));
	assert_int_equal(st, REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED);
	assert_int_equal(acc, 12);

	/* Another batch, another collector: not an answer. */
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n, 8, coll, &st, &acc), RN_ESTATE);
	RN_FAILS_WITH(
	        feeds_ingest_ack_decode(buf, n, 7, (const uint8_t *)"0123456789abcdeX", &st, &acc),
	        RN_ESTATE);

	/* A status the schema does not name decodes (open enum) but is refused:
	 * a negative one used to read as "stopped" and end the sender thread. */
	st = -7;
	n = ack_pack(buf, 7, -1, 0);
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc), RN_EPARSE);
	n = ack_pack(buf, 7, 4, 0);
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc), RN_EPARSE);
	assert_int_equal(st, -7);

	/* A refused signature names no batch (the scorer never read it): taken for
	 * any batch, but only without a collector id and sequence. */
	Repnet__V1__BatchAck u = REPNET__V1__BATCH_ACK__INIT;
	u.status = REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED;
	n = repnet__v1__batch_ack__pack(&u, buf);
	RN_PASS(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc));
	assert_int_equal(st, REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED);
	RN_PASS(feeds_ingest_ack_decode(buf, n, 8, coll, &st, &acc));
	n = ack_pack(buf, 7, REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED, 0);
	RN_PASS(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc));
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n, 8, coll, &st, &acc), RN_ESTATE);
	/* Any other status without a batch is no answer. */
	u.status = REPNET__V1__BATCH_ACK__STATUS__STATUS_OK;
	n = repnet__v1__batch_ack__pack(&u, buf);
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n, 7, coll, &st, &acc), RN_ESTATE);
	st = -7;

	/* Truncated and garbage input. */
	n = ack_pack(buf, 7, REPNET__V1__BATCH_ACK__STATUS__STATUS_OK, 1000);
	RN_FAILS_WITH(feeds_ingest_ack_decode(buf, n - 1, 7, coll, &st, &acc), RN_EPARSE);
	static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
	RN_FAILS_WITH(feeds_ingest_ack_decode(junk, sizeof(junk), 7, coll, &st, &acc), RN_EPARSE);
}

static void test_resync(void **state)
{
	(void)state;
	uint8_t buf[128], dig[32];
	memset(dig, 0xab, sizeof(dig));
	Repnet__V1__ResyncRequest r = REPNET__V1__RESYNC_REQUEST__INIT;
	r.publisher = "pub-a";
	r.epoch = 3;
	r.have_seq = 41;
	r.have_digest.data = dig;
	r.have_digest.len = 32;
	size_t n = repnet__v1__resync_request__pack(&r, buf);

	struct feeds_pub_resync_req q;
	RN_PASS(feeds_pub_resync_decode(buf, n, "pub-a", &q));
	assert_true(q.epoch == 3 && q.have_seq == 41 && q.has_digest);
	assert_memory_equal(q.have_digest, dig, 32);
	RN_FAILS_WITH(feeds_pub_resync_decode(buf, n, "pub-b", &q), RN_ENOTFOUND);
	RN_FAILS_WITH(feeds_pub_resync_decode(buf, n - 1, "pub-a", &q), RN_EPARSE);

	/* A digest of another length is no digest: the answer is a snapshot. */
	r.have_digest.len = 31;
	n = repnet__v1__resync_request__pack(&r, buf);
	RN_PASS(feeds_pub_resync_decode(buf, n, "pub-a", &q));
	assert_false(q.has_digest);

	/* Larger than the 4 KiB budget: refused, not allocated. */
	static uint8_t big[8192];
	Repnet__V1__ResyncRequest b = REPNET__V1__RESYNC_REQUEST__INIT;
	static char name[6000];
	memset(name, 'x', sizeof(name) - 1);
	b.publisher = name;
	assert_true(repnet__v1__resync_request__get_packed_size(&b) <= sizeof(big));
	n = repnet__v1__resync_request__pack(&b, big);
	RN_FAILS_WITH(feeds_pub_resync_decode(big, n, name, &q), RN_EPARSE);
}

RN_TEST_MAIN(test_ack, test_resync)
