/*
 * policy.h: the Postfix policy delegation request reader. Internal to
 * feeds; policy.c serves it.
 */
#ifndef REPNET_FEEDS_POLICY_H
#define REPNET_FEEDS_POLICY_H

#include "feeds/rbl/rbl.h"

#define POLICY_LINE_MAX    2048  /* one "name=value" line */
#define POLICY_REQUEST_MAX 16384 /* one request, up to its blank line */
#define POLICY_VALUE_MAX   64    /* the attributes we keep */

/* The attributes repnet uses; every other one is ignored. */
struct policy_req {
	char request[POLICY_VALUE_MAX];
	char protocol_state[POLICY_VALUE_MAX];
	char client_address[POLICY_VALUE_MAX];
	bool have_request;
	bool have_client;
	unsigned attrs; /* attribute lines read */
};

/*
 * Reads one request from buf[0..len): "name=value" lines up to an empty
 * line. RN_OK: a whole request, *used bytes long. RN_ETRUNC: not complete
 * yet (read more; the caller closes when POLICY_REQUEST_MAX bytes do not
 * hold one). RN_EPARSE: malformed (a line without "=", an empty or bad
 * name, a NUL byte, no request attribute); RN_EOVERLONG: a line over
 * POLICY_LINE_MAX. Values of the attributes kept are cut at
 * POLICY_VALUE_MAX - 1 bytes. Allocates nothing.
 */
int policy_req_parse(const uint8_t *buf, size_t len, struct policy_req *r, size_t *used);

extern const char *const feeds_policy_state_names[];

/*
 * Parses policy.unix_mode: 3 or 4 octal digits, owner read and write
 * set, no execute bit and nothing above 0666. RN_EPARSE otherwise.
 */
int feeds_policy_mode_parse(const char *s, unsigned *mode);

/* ------------------------------------------------------------------ */
/* Postfix policy service                                              */
/* ------------------------------------------------------------------ */

/*
 * Postfix's policy delegation protocol (check_policy_service) on
 * c->policy_listen (TCP) and c->policy_unix (a unix socket), served by
 * one thread. Connections stay open across requests. Free with
 * feeds_policy_stop().
 */
struct feeds_policy;
int feeds_policy_start(struct feeds_policy **out, const struct feeds_rbl_conf *c,
                       const struct feeds_view *v, struct rn_metrics *m);
unsigned feeds_policy_port(const struct feeds_policy *p);
void feeds_policy_stop(struct feeds_policy *p);

#endif /* REPNET_FEEDS_POLICY_H */
