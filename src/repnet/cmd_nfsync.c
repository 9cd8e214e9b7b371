/*
 * cmd_nfsync.c: repnet nfsync, netfilter sync by hand: load a blocklist
 * into the kernel sets, apply a delta, dump, reconcile, remove; and a
 * line-oriented shell that tests and operators drive from stdin.
 *
 * Blocklist files hold one entry per line, "PREFIX [CATEGORY]": an
 * address or a prefix (host bits clear) and optionally a category name
 * (spam_source, scanner, ...; default unspecified). Blank lines and lines
 * starting with '#' are skipped. Delta files hold "+ENTRY" and "-ENTRY".
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"

#define FILE_MAX ((size_t)2 << 30)

struct entries {
	struct feeds_nfsync_entry *v;
	size_t n;
	size_t cap;
};

static int entries_push(struct entries *e, const struct feeds_nfsync_entry *x)
{
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 1024;
		void *v = realloc(e->v, nc * sizeof(*e->v));
		if (v == NULL)
			return -ENOMEM;
		e->v = v;
		e->cap = nc;
	}
	e->v[e->n++] = *x;
	return RN_OK;
}

/* Parses "PREFIX [CATEGORY]" (s is NUL-terminated and trimmed). */
static int entry_parse2(char *s, struct feeds_nfsync_entry *out, bool *has_cat)
{
	char *sp = strpbrk(s, " \t");
	enum rn_category cat = RN_CAT_UNSPECIFIED;
	*has_cat = sp != NULL;
	if (sp != NULL) {
		*sp++ = '\0';
		sp += strspn(sp, " \t");
		/* "unspecified" is a category of the feed, if not of a rule. */
		if (*sp != '\0' && strcmp(sp, "unspecified") != 0 &&
		    rn_category_parse(sp, &cat) != RN_OK)
			return RN_EPARSE;
	}
	memset(out, 0, sizeof(*out));
	out->category = (uint8_t)cat;
	return rn_prefix_parse_str(s, true, &out->prefix);
}

static int entry_parse(char *s, struct feeds_nfsync_entry *out)
{
	bool has_cat;
	return entry_parse2(s, out, &has_cat);
}

static char *trim(char *s)
{
	s += strspn(s, " \t\r");
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/*
 * Reads a blocklist (delta false) or a delta file into add (and del).
 * Errors name the line.
 */
static int read_entries(const char *path, bool delta, struct entries *add, struct entries *del)
{
	uint8_t *buf = NULL;
	size_t len = 0, lineno = 0;
	int rc = rn_file_read(path, FILE_MAX, &buf, &len);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: %s: %s\n", path, rn_strerror(rc));
		return rc;
	}
	char *p = (char *)buf, *end = p + len;
	/* One allocation for the common case of one entry a line. */
	size_t lines = 1;
	for (char *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
		lines++;
	if (!delta && add->cap < add->n + lines) {
		void *v = realloc(add->v, (add->n + lines) * sizeof(*add->v));
		if (v == NULL) {
			free(buf);
			return -ENOMEM;
		}
		add->v = v;
		add->cap = add->n + lines;
	}
	while (p < end && rc == RN_OK) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line_end = nl ? nl : end;
		lineno++;
		if (memchr(p, '\0', (size_t)(line_end - p)) != NULL) {
			rc = RN_EPARSE;
			break;
		}
		char save = *line_end;
		*line_end = '\0';
		char *s = trim(p);
		if (*s != '\0' && *s != '#') {
			struct feeds_nfsync_entry e;
			struct entries *to = add;
			if (delta) {
				if (*s != '+' && *s != '-') {
					rc = RN_EPARSE;
				} else {
					to = *s == '+' ? add : del;
					s = trim(s + 1);
				}
			}
			bool has_cat = true;
			if (rc == RN_OK)
				rc = entry_parse2(s, &e, &has_cat);
			if (rc == RN_OK)
				rc = entries_push(to, &e);
			/* "-PREFIX" alone removes it whatever lists it. */
			for (unsigned c = 1;
			     rc == RN_OK && to == del && !has_cat && c < RN_CAT_COUNT; c++) {
				e.category = (uint8_t)c;
				rc = entries_push(to, &e);
			}
		}
		if (line_end < end)
			*line_end = save;
		p = nl ? nl + 1 : end;
	}
	if (rc != RN_OK)
		fprintf(stderr, "repnet: %s:%zu: %s\n", path, lineno, rn_strerror(rc));
	free(buf);
	return rc;
}

static void print_report(FILE *f, const char *what, const struct feeds_nfsync_report *r)
{
	fprintf(f,
	        "%s added=%llu removed=%llu missing=%llu extra=%llu refused=%llu swaps=%u "
	        "created=%u deleted=%u chains=%d ops=%u txn_us=%lld total_us=%lld\n",
	        what, (unsigned long long)r->added, (unsigned long long)r->removed,
	        (unsigned long long)r->missing, (unsigned long long)r->extra,
	        (unsigned long long)r->refused, r->swaps, r->created, r->deleted, r->chains ? 1 : 0,
	        r->ops, (long long)r->txn_us, (long long)r->total_us);
}

static int print_item(const struct feeds_nfsync_item *it, void *arg)
{
	FILE *f = arg;
	char lo[RN_ADDR_STRLEN], hi[RN_ADDR_STRLEN];
	rn_addr_format(&it->lo, lo, sizeof(lo));
	if (rn_addr_equal(&it->lo, &it->hi)) {
		fprintf(f, "%s %s\n", it->set, lo);
		return 0;
	}
	/* An aligned range prints as a prefix, as nft prints it. */
	unsigned max = rn_addr_maxlen(&it->lo);
	for (unsigned len = 0; len <= max; len++) {
		struct rn_addr a = it->lo, b;
		rn_addr_mask(&a, len);
		if (!rn_addr_equal(&a, &it->lo))
			continue;
		struct rn_prefix p = {.addr = a, .len = (uint8_t)len};
		/* The last address of a/len must be hi. */
		uint8_t bytes[16];
		size_t n = rn_addr_to_bytes(&a, bytes);
		for (size_t i = 0; i < n; i++) {
			unsigned bit0 = (unsigned)i * 8;
			if (len <= bit0)
				bytes[i] = 0xff;
			else if (len < bit0 + 8)
				bytes[i] |= (uint8_t)(0xffu >> (len - bit0));
		}
		rn_addr_from_bytes(&b, bytes, n);
		if (rn_addr_equal(&b, &it->hi)) {
			char ps[RN_PREFIX_STRLEN];
			rn_prefix_format(&p, ps, sizeof(ps));
			fprintf(f, "%s %s\n", it->set, ps);
			return 0;
		}
	}
	rn_addr_format(&it->hi, hi, sizeof(hi));
	fprintf(f, "%s %s-%s\n", it->set, lo, hi);
	return 0;
}

/* Peak RSS of a process in kB (VmHWM), or -1. */
static long peak_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void print_rss(struct feeds_nfsync *s)
{
	fprintf(stdout, "rss_kb self=%ld applier=%ld\n", peak_rss_kb(getpid()),
	        peak_rss_kb(feeds_nfsync_applier_pid(s)));
}

struct shell {
	struct feeds_nfsync *s;
	struct rn_metrics *m;
	struct entries add, del;
};

static void shell_reply(int rc, const char *what, const struct feeds_nfsync_report *r)
{
	if (rc != RN_OK) {
		printf("err %s\n", rn_strerror(rc));
	} else if (r != NULL) {
		print_report(stdout, "ok", r);
	} else {
		printf("ok%s%s\n", what ? " " : "", what ? what : "");
	}
	fflush(stdout);
}

/* One shell command; returns false on quit. */
static bool shell_line(struct shell *sh, char *line)
{
	struct feeds_nfsync_report r;
	char *cmd = trim(line), *arg = strpbrk(cmd, " \t");
	int rc;
	if (arg != NULL) {
		*arg++ = '\0';
		arg = trim(arg);
	}
	if (*cmd == '\0' || *cmd == '#')
		return true;
	if (strcmp(cmd, "quit") == 0) {
		shell_reply(RN_OK, NULL, NULL);
		return false;
	}
	if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0) {
		struct feeds_nfsync_entry e;
		rc = arg ? entry_parse(arg, &e) : RN_EPARSE;
		if (rc == RN_OK)
			rc = entries_push(cmd[0] == 'a' ? &sh->add : &sh->del, &e);
		/* Quiet on success: deltas are thousands of lines. */
		if (rc != RN_OK)
			shell_reply(rc, NULL, NULL);
		return true;
	}
	memset(&r, 0, sizeof(r));
	if (strcmp(cmd, "commit") == 0) {
		rc = feeds_nfsync_apply(sh->s, sh->add.v, sh->add.n, sh->del.v, sh->del.n, &r);
		sh->add.n = sh->del.n = 0;
		shell_reply(rc, NULL, &r);
	} else if (strcmp(cmd, "load") == 0) {
		struct entries e = {0};
		rc = arg ? read_entries(arg, false, &e, NULL) : RN_EPARSE;
		if (rc == RN_OK)
			rc = feeds_nfsync_load(sh->s, e.v, e.n, &r);
		free(e.v);
		shell_reply(rc, NULL, &r);
	} else if (strcmp(cmd, "reconcile") == 0) {
		rc = feeds_nfsync_reconcile(sh->s, &r);
		shell_reply(rc, NULL, &r);
	} else if (strcmp(cmd, "adopt") == 0) {
		shell_reply(feeds_nfsync_adopt(sh->s), NULL, NULL);
	} else if (strcmp(cmd, "dump") == 0) {
		rc = feeds_nfsync_dump(sh->s, print_item, stdout);
		printf("end\n");
		shell_reply(rc, NULL, NULL);
	} else if (strcmp(cmd, "metrics") == 0) {
		char *out = NULL;
		size_t len = 0;
		rc = rn_metrics_render(sh->m, &out, &len);
		if (rc == RN_OK)
			fwrite(out, 1, len, stdout);
		free(out);
		printf("end\n");
		shell_reply(rc, NULL, NULL);
	} else if (strcmp(cmd, "pid") == 0) {
		char b[32];
		snprintf(b, sizeof(b), "%d", feeds_nfsync_applier_pid(sh->s));
		shell_reply(RN_OK, b, NULL);
	} else if (strcmp(cmd, "insync") == 0) {
		shell_reply(RN_OK, feeds_nfsync_in_sync(sh->s) ? "1" : "0", NULL);
	} else if (strcmp(cmd, "tick") == 0) {
		shell_reply(feeds_nfsync_tick(sh->s, rn_time_mono_ms(), NULL), NULL, NULL);
	} else if (strcmp(cmd, "rss") == 0) {
		char b[64];
		snprintf(b, sizeof(b), "self=%ld applier=%ld", peak_rss_kb(getpid()),
		         peak_rss_kb(feeds_nfsync_applier_pid(sh->s)));
		shell_reply(RN_OK, b, NULL);
	} else if (strcmp(cmd, "destroy") == 0) {
		shell_reply(feeds_nfsync_destroy(sh->s), NULL, NULL);
	} else {
		printf("err unknown command \"%s\"\n", cmd);
		fflush(stdout);
	}
	return true;
}

/* Reads commands from stdin; runs the periodic reconcile between them. */
static int run_shell(struct feeds_nfsync *s, struct rn_metrics *m)
{
	struct shell sh = {.s = s, .m = m};
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int64_t next = rn_time_mono_ms() + 1000;
	bool eof = false;

	if (buf == NULL)
		return 1;
	while (!eof || len > 0) {
		char *nl = memchr(buf, '\n', len);
		if (nl == NULL && !eof) {
			struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
			int64_t wait = next - rn_time_mono_ms();
			int r = poll(&p, 1, wait < 0 ? 0 : (int)(wait > 1000 ? 1000 : wait));
			if (rn_time_mono_ms() >= next)
				feeds_nfsync_tick(s, rn_time_mono_ms(), &next);
			if (r < 0 && errno != EINTR)
				break;
			if (r <= 0)
				continue;
			if (len == cap) {
				char *nb = realloc(buf, cap * 2);
				if (nb == NULL)
					break;
				buf = nb;
				cap *= 2;
			}
			ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				eof = true;
			else
				len += (size_t)n;
			continue;
		}
		size_t ll = nl ? (size_t)(nl - buf) : len;
		char line[4096];
		bool go = true;
		if (ll < sizeof(line)) {
			memcpy(line, buf, ll);
			line[ll] = '\0';
			go = shell_line(&sh, line);
		} else {
			printf("err line too long\n");
			fflush(stdout);
		}
		size_t used = nl ? ll + 1 : ll;
		memmove(buf, buf + used, len - used);
		len -= used;
		if (!go)
			break;
	}
	free(buf);
	free(sh.add.v);
	free(sh.del.v);
	return 0;
}

/*
 * repnet nfsync [-c FILE] [-o feeds.sync.key=value]... COMMAND [ARG]
 */
int cmd_nfsync(int argc, char **argv)
{
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {NULL, 0, NULL, 0}};
	struct conf_args ca;
	int ch, code = 1, rc;
	struct daemon_conf c;
	struct rn_metrics *m = NULL;
	struct feeds_nfsync *s = NULL;
	struct feeds_nfsync_report r;
	bool conf_loaded = false;

	if (conf_args_init(&ca, argc) != RN_OK)
		return 1;
	while ((ch = conf_args_getopt(&ca, argc, argv, "+c:o:v", lopts)) != -1) {
		switch (ch) {
		case 'v':
			rn_log_set_level(RN_LOG_DEBUG);
			break;
		default:
			conf_args_free(&ca);
			return 2;
		}
	}
	if (optind >= argc) {
		conf_args_free(&ca);
		return 2;
	}
	const char *cmd = argv[optind];
	const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	bool needs_arg = strcmp(cmd, "load") == 0 || strcmp(cmd, "apply") == 0;
	bool known = needs_arg || strcmp(cmd, "dump") == 0 || strcmp(cmd, "reconcile") == 0 ||
	             strcmp(cmd, "destroy") == 0 || strcmp(cmd, "shell") == 0;
	if (!known || (needs_arg != (arg != NULL)) || optind + 1 + (arg != NULL) != argc) {
		conf_args_free(&ca);
		return 2;
	}
	if (conf_args_load(&ca, "repnet", &c) != RN_OK) {
		goto out;
	}
	conf_loaded = true;
	if ((rc = rn_metrics_alloc(&m)) != RN_OK ||
	    (rc = feeds_nfsync_open(&s, &c.feeds.sync, m)) != RN_OK) {
		fprintf(stderr, "repnet: nfsync: %s\n", rn_strerror(rc));
		goto out;
	}
	memset(&r, 0, sizeof(r));
	if (strcmp(cmd, "load") == 0) {
		struct entries e = {0};
		int64_t t0 = rn_time_mono_ms();
		rc = read_entries(arg, false, &e, NULL);
		int64_t t1 = rn_time_mono_ms();
		if (rc == RN_OK)
			rc = feeds_nfsync_load(s, e.v, e.n, &r);
		free(e.v);
		if (rc == RN_OK) {
			print_report(stdout, "loaded", &r);
			printf("parse_ms=%lld\n", (long long)(t1 - t0));
			print_rss(s);
		}
	} else if (strcmp(cmd, "apply") == 0) {
		struct entries a = {0}, d = {0};
		rc = read_entries(arg, true, &a, &d);
		if (rc == RN_OK)
			rc = feeds_nfsync_adopt(s);
		if (rc == RN_OK)
			rc = feeds_nfsync_apply(s, a.v, a.n, d.v, d.n, &r);
		free(a.v);
		free(d.v);
		if (rc == RN_OK)
			print_report(stdout, "applied", &r);
	} else if (strcmp(cmd, "reconcile") == 0) {
		/* Without a replica the kernel's own content is the reference:
		 * this checks and repairs the structure (sets, chains). */
		rc = feeds_nfsync_adopt(s);
		if (rc == RN_OK)
			rc = feeds_nfsync_reconcile(s, &r);
		if (rc == RN_OK)
			print_report(stdout, "reconciled", &r);
	} else if (strcmp(cmd, "dump") == 0) {
		rc = feeds_nfsync_dump(s, print_item, stdout);
	} else if (strcmp(cmd, "destroy") == 0) {
		rc = feeds_nfsync_destroy(s);
	} else {
		rc = run_shell(s, m);
	}
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: nfsync %s: %s\n", cmd, rn_strerror(rc));
		goto out;
	}
	code = 0;
out:
	feeds_nfsync_close(s);
	rn_metrics_free(m);
	if (conf_loaded)
		daemon_conf_release(&c);
	conf_args_free(&ca);
	return code;
}
