/*
 * util.h: small helpers the repnet subcommands share: a minimal HTTP GET
 * to a running repnetd, and reading values out of its /metrics text.
 * Internal to the repnet executable.
 */
#ifndef REPNET_CLI_UTIL_H
#define REPNET_CLI_UTIL_H

#include <stddef.h>

/*
 * GET path from host:port (an IPv4 or [IPv6] literal), HTTP/1.0, at most
 * max bytes of body, within timeout_ms. On success *body is malloc'd and
 * NUL-terminated and *status holds the HTTP status. Returns 0 or -errno /
 * a repnet error.
 */
int cli_http_get(const char *hostport, const char *path, int timeout_ms, size_t max, char **body,
                 int *status);

/*
 * The value of one sample in Prometheus text: name with the exact label
 * list (NULL: none). Returns 0 and *out, or -1 when absent.
 */
int cli_metric(const char *text, const char *name, const char *labels, double *out);

/* Calls fn for every sample of name: its label list (without braces) and value. */
void cli_metric_each(const char *text, const char *name,
                     void (*fn)(void *arg, const char *labels, double v), void *arg);

#endif /* REPNET_CLI_UTIL_H */
