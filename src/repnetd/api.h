/*
 * api.h: repnetd's operator API on its HTTP listener: the live state of
 * one address, for `repnet explain` and `repnet lookup` and an
 * operator's scripts. Internal to repnetd.
 */
#ifndef REPNET_API_H
#define REPNET_API_H

#include "src/common/sections.h"

struct roles;
struct api;

/*
 * Makes or reads the token (data_dir/api.token, mode 0600), writes where
 * the listener is (data_dir/api.endpoint) and registers GET /v1/explain
 * and GET /v1/lookup on http, both requiring "Authorization: Bearer
 * TOKEN". r must outlive the listener's handlers. Free with api_stop()
 * after the listener stopped, also when this failed with *out set (a
 * handler may have been registered).
 */
int api_start(struct api **out, const struct daemon_conf *c, struct feeds_http *http,
              struct roles *r, struct rn_metrics *m);
/* Removes data_dir/api.endpoint and frees a. Safe on NULL. */
void api_stop(struct api *a);

#endif /* REPNET_API_H */
