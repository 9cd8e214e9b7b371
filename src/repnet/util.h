/*
 * util.h: small helpers the repnet subcommands share: a minimal HTTP GET
 * to a running repnetd, reading values out of its /metrics text, and
 * printing observations and JSON lines. Internal to the repnet executable.
 */
#ifndef REPNET_CLI_UTIL_H
#define REPNET_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "proto/proto.h"

/*
 * GET path from host:port (an IPv4 or [IPv6] literal), HTTP/1.0, at most
 * max bytes of body, within timeout_ms. On success *body is malloc'd and
 * NUL-terminated and *status holds the HTTP status. Returns 0 or -errno /
 * a repnet error.
 */
int cli_http_get(const char *hostport, const char *path, int timeout_ms, size_t max, char **body,
                 int *status);
/* The same with "Authorization: Bearer token" (token may be NULL: none). */
int cli_http_get_bearer(const char *hostport, const char *path, const char *token, int timeout_ms,
                        size_t max, char **body, int *status);
/*
 * GET path from the repnetd whose data directory is data_dir, through its
 * operator API: the endpoint and the token it wrote there (api.endpoint,
 * api.token, which only root and core.user can read). where (wlen bytes)
 * gets the endpoint, or why there is none. RN_ENOTFOUND when no repnetd
 * runs there; -errno from reading the token or connecting; otherwise as
 * cli_http_get().
 */
int cli_api_get(const char *data_dir, const char *path, size_t max, char **body, int *status,
                char *where, size_t wlen);
/* The same with POST (an action; its parameters in the query string). */
int cli_api_post(const char *data_dir, const char *path, size_t max, char **body, int *status,
                 char *where, size_t wlen);
/* s percent-encoded for a query string into out (len bytes, cut short when full); its length. */
size_t cli_url_escape(const char *s, char *out, size_t len);

/*
 * The value of one sample in Prometheus text: name with the exact label
 * list (NULL: none). Returns 0 and *out, or -1 when absent.
 */
int cli_metric(const char *text, const char *name, const char *labels, double *out);

/* Calls fn for every sample of name: its label list (without braces) and value. */
void cli_metric_each(const char *text, const char *name,
                     void (*fn)(void *arg, const char *labels, double v), void *arg);

/*
 * Prints o to f as one JSON line, the observation format every command
 * shares (rn_obs_json_line). Returns 0 or a repnet error.
 */
int cli_obs_print(FILE *f, const struct rn_obs *o);

/*
 * Finishes the document w wrote into b and prints it to f as one line.
 * Returns 0, or the writer's error (then nothing is printed).
 */
int cli_json_print(FILE *f, struct rn_jsonw *w, struct rn_strbuf *b);

/*
 * A JSON array of category names (its first token tok) into out as
 * "a,b" (len bytes). Returns the reader's error.
 */
int cli_json_cats(struct rn_json *r, int tok, char *out, size_t len);

#endif /* REPNET_CLI_UTIL_H */
