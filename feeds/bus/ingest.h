/*
 * ingest.h: ingest internals that tests and fuzz harnesses drive.
 */
#ifndef REPNET_FEEDS_INGEST_H
#define REPNET_FEEDS_INGEST_H

#include "feeds/bus/bus.h"

/*
 * Decodes a repnet.v1.BatchAck received from the scorer, under a 4 KiB
 * allocation budget, and checks that it answers batch batch_seq of the
 * collector collector_id (16 bytes). Returns RN_OK and sets *status (a
 * REPNET__V1__BATCH_ACK__STATUS__* value, one of the four the schema
 * names) and *accepted; RN_EPARSE when it does not decode or carries
 * another status; RN_ESTATE when it answers another batch or collector.
 * STATUS_UNAUTHENTICATED is the exception: the scorer refused the
 * signature without reading the batch, so it names none (an empty
 * collector id and batch_seq 0), and is taken as an answer as it is.
 * The outputs are untouched on failure.
 */
int feeds_ingest_ack_decode(const uint8_t *buf, size_t len, uint64_t batch_seq,
                            const uint8_t *collector_id, int *status, uint32_t *accepted);

#endif /* REPNET_FEEDS_INGEST_H */
