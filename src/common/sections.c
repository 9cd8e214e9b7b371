/*
 * sections.c: binding and loading the executables' configuration sections.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/sections.h"

void daemon_conf_bind(struct daemon_conf *c)
{
	c->secs[0] = (struct rn_conf_section){"core", rn_core_conf_keys, &c->core};
	c->secs[1] =
	        (struct rn_conf_section){"collector", collector_smtp_conf_keys, &c->collector.smtp};
	c->secs[2] =
	        (struct rn_conf_section){"collector", collector_flow_conf_keys, &c->collector.flow};
	c->secs[3] = (struct rn_conf_section){"scoring", scoring_conf_keys, &c->scoring};
	c->secs[4] = (struct rn_conf_section){"feeds", feeds_bus_conf_keys, &c->feeds.bus};
	c->secs[5] = (struct rn_conf_section){"feeds", feeds_rbl_conf_keys, &c->feeds.rbl};
	c->secs[6] = (struct rn_conf_section){"feeds", feeds_sync_conf_keys, &c->feeds.sync};
}

/* The fixed start of a reason template: up to its first "%" or "$", without trailing blanks. */
static int add_text_prefix(struct rn_strlist *l, const char *tmpl)
{
	char buf[256];
	size_t n = 0;
	if (tmpl == NULL)
		return RN_OK;
	while (tmpl[n] != '\0' && tmpl[n] != '%' && tmpl[n] != '$' && n < sizeof(buf) - 1)
		n++;
	while (n > 0 && (tmpl[n - 1] == ' ' || tmpl[n - 1] == '\t'))
		n--;
	if (n < COLLECTOR_ENFORCE_TEXT_MIN)
		return RN_OK; /* too short to tell our text from anyone's */
	memcpy(buf, tmpl, n);
	buf[n] = '\0';
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], buf) == 0)
			return RN_OK;
	return rn_strlist_add(l, buf);
}

/*
 * Loop safety with no configuration: the collector learns this node's
 * DNSBL zones (feeds.dnsbl.zones, without their ":category" filters) and
 * the fixed start of its DNSBL TXT and policy texts, so that rejects they
 * cause are counted as enforcement rather than observed again.
 */
static int daemon_conf_enforcement(struct daemon_conf *c)
{
	struct collector_smtp_conf *s = &c->collector.smtp;
	const struct feeds_rbl_conf *r = &c->feeds.rbl;
	int rc = RN_OK;
	for (size_t i = 0; i < r->dnsbl_zones.n && rc == RN_OK; i++) {
		char z[256];
		const char *v = r->dnsbl_zones.v[i];
		size_t n = strcspn(v, ":");
		if (n == 0 || n >= sizeof(z))
			continue;
		memcpy(z, v, n);
		z[n] = '\0';
		rc = rn_strlist_add(&s->enforce_zones, z);
	}
	if (rc == RN_OK)
		rc = add_text_prefix(&s->enforce_texts, r->policy_text);
	if (rc == RN_OK)
		rc = add_text_prefix(&s->enforce_texts, r->dnsbl_reason);
	return rc;
}

int daemon_conf_load(struct daemon_conf *c, const char *path, const char *const *overrides,
                     struct rn_conf_error *err)
{
	memset(c, 0, sizeof(*c));
	daemon_conf_bind(c);
	int rc = rn_conf_load(path, overrides, c->secs, DAEMON_NSECS, err);
	if (rc == RN_OK && (rc = daemon_conf_enforcement(c)) != RN_OK) {
		if (err != NULL) {
			snprintf(err->key, sizeof(err->key), "collector");
			snprintf(err->msg, sizeof(err->msg), "%s", rn_strerror(rc));
		}
		daemon_conf_release(c);
	}
	return rc;
}

int daemon_conf_check(const struct daemon_conf *c, char *err, size_t errlen)
{
	if ((c->core.roles & RN_ROLE_COLLECT) == 0)
		return RN_OK;
	int rc = collector_flow_conf_check(&c->collector.flow, err, errlen);
	if (rc == RN_OK)
		rc = collector_smtp_conf_check(&c->collector.smtp, err, errlen);
	return rc;
}

void daemon_conf_release(struct daemon_conf *c)
{
	rn_strlist_clear(&c->collector.smtp.enforce_zones);
	rn_strlist_clear(&c->collector.smtp.enforce_texts);
	rn_conf_release(c->secs, DAEMON_NSECS);
}

int conf_args_init(struct conf_args *a, int argc)
{
	memset(a, 0, sizeof(*a));
	optind = 1;
	a->ov = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof(*a->ov));
	return a->ov != NULL ? RN_OK : -ENOMEM;
}

bool conf_args_take(struct conf_args *a, int ch, const char *arg)
{
	if (ch == 'c') {
		a->path = arg;
		return true;
	}
	if (ch == 'o') {
		a->ov[a->nov++] = arg;
		return true;
	}
	return false;
}

int conf_args_getopt(struct conf_args *a, int argc, char **argv, const char *shortopts,
                     const struct option *lopts)
{
	int ch;
	while ((ch = getopt_long(argc, argv, shortopts, lopts, NULL)) != -1)
		if (!conf_args_take(a, ch, optarg))
			break;
	return ch;
}

void conf_args_free(struct conf_args *a)
{
	free(a->ov);
	a->ov = NULL;
	a->nov = 0;
}

int conf_args_load(const struct conf_args *a, const char *prog, struct daemon_conf *c)
{
	struct rn_conf_error err;
	int rc = daemon_conf_load(c, a->path, a->ov, &err);
	if (rc != RN_OK) {
		char msg[1024];
		rn_conf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s: %s\n", prog, msg);
	}
	return rc;
}
