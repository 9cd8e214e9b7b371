/*
 * busmsg_fuzz.c: the bus messages a daemon decodes from its peers that no
 * other harness reaches. The first byte picks the decoder, the rest is the
 * message:
 *   even: a repnet.v1.ResyncRequest, as the publisher's resync service
 *         takes it (feeds_pub_resync_decode, for the publisher "fuzz-pub");
 *   odd:  a repnet.v1.BatchAck, as the collector's sender takes it
 *         (feeds_ingest_ack_decode, for batch 7 of collector "0123456789abcdef").
 * Whatever is accepted is packed again from the decoded fields and must
 * decode to the same fields. An accepted BatchAck must carry one of the
 * schema's four statuses. ObsBatch, the third bus message, is covered by
 * fuzz_journal, which replays every record through rn_obs_batch_unpack,
 * and its envelope by fuzz_envelope.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/bus/ingest.h"
#include "feeds/bus/pub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pub_name[] = "fuzz-pub";
static const uint8_t coll_id[16] = "0123456789abcdef";

static void resync_check(const uint8_t *buf, size_t len)
{
	struct feeds_pub_resync_req a, b;
	if (feeds_pub_resync_decode(buf, len, pub_name, &a) != RN_OK)
		return;
	Repnet__V1__ResyncRequest r = REPNET__V1__RESYNC_REQUEST__INIT;
	r.publisher = (char *)pub_name;
	r.epoch = a.epoch;
	r.have_seq = a.have_seq;
	if (a.has_digest) {
		r.have_digest.data = a.have_digest;
		r.have_digest.len = 32;
	}
	uint8_t out[256];
	if (repnet__v1__resync_request__get_packed_size(&r) > sizeof(out))
		abort();
	size_t n = repnet__v1__resync_request__pack(&r, out);
	if (feeds_pub_resync_decode(out, n, pub_name, &b) != RN_OK || b.epoch != a.epoch ||
	    b.have_seq != a.have_seq || b.has_digest != a.has_digest ||
	    (a.has_digest && memcmp(a.have_digest, b.have_digest, 32) != 0))
		abort();
	/* Another publisher's name is refused. */
	if (feeds_pub_resync_decode(out, n, "fuzz-pub2", &b) != RN_ENOTFOUND)
		abort();
}

static void ack_check(const uint8_t *buf, size_t len)
{
	int st, st2;
	uint32_t acc, acc2;
	if (feeds_ingest_ack_decode(buf, len, 7, coll_id, &st, &acc) != RN_OK)
		return;
	if (st != REPNET__V1__BATCH_ACK__STATUS__STATUS_OK &&
	    st != REPNET__V1__BATCH_ACK__STATUS__STATUS_REJECTED &&
	    st != REPNET__V1__BATCH_ACK__STATUS__STATUS_RETRY &&
	    st != REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED)
		abort();
	/* A refused signature names no batch, and is taken for any. */
	if (st == REPNET__V1__BATCH_ACK__STATUS__STATUS_UNAUTHENTICATED) {
		Repnet__V1__BatchAck *u = repnet__v1__batch_ack__unpack(NULL, len, buf);
		if (u == NULL)
			abort();
		bool ours = u->collector_id.len == 16 && u->batch_seq == 7;
		repnet__v1__batch_ack__free_unpacked(u, NULL);
		if (!ours) {
			if (feeds_ingest_ack_decode(buf, len, 8, coll_id, &st2, &acc2) != RN_OK)
				abort();
			return;
		}
	}
	Repnet__V1__BatchAck a = REPNET__V1__BATCH_ACK__INIT;
	a.collector_id.data = (uint8_t *)coll_id;
	a.collector_id.len = sizeof(coll_id);
	a.batch_seq = 7;
	a.status = (Repnet__V1__BatchAck__Status)st;
	a.accepted = acc;
	uint8_t out[64];
	if (repnet__v1__batch_ack__get_packed_size(&a) > sizeof(out))
		abort();
	size_t n = repnet__v1__batch_ack__pack(&a, out);
	if (feeds_ingest_ack_decode(out, n, 7, coll_id, &st2, &acc2) != RN_OK || st2 != st ||
	    acc2 != acc)
		abort();
	/* The same answer is not for batch 8. */
	if (feeds_ingest_ack_decode(out, n, 8, coll_id, &st2, &acc2) != RN_ESTATE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		resync_check(data + 1, size - 1);
	else
		ack_check(data + 1, size - 1);
	return 0;
}
