/*
 * sub.h: subscriber internals that tests and fuzz harnesses drive.
 */
#ifndef REPNET_FEEDS_SUB_H
#define REPNET_FEEDS_SUB_H

#include "feeds/bus/bus.h"

/*
 * Runs one received message through every check and, if it passes,
 * applies it, exactly as the subscriber thread does. Only call it on a
 * subscription whose thread cannot run concurrently (a test that opened
 * it with opts.offline).
 */
int feeds_sub_receive(struct feeds_sub *s, const uint8_t *buf, size_t len);

/* Bumped on every applied change: cheap to poll. */
uint64_t feeds_sub_version(const struct feeds_sub *s);

#endif /* REPNET_FEEDS_SUB_H */
