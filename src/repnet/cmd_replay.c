/*
 * cmd_replay.c: repnet replay, a lab replay of real mail logs into a
 * syslog listener (repnetd's, or any other).
 *
 * Design notes: the input is a traditional syslog file ("Mmm dd hh:mm:ss
 * host tag[pid]: msg", as Postfix's maillog_file or a syslogd writes it);
 * each line is parsed with its length checked, and the lines that do not
 * parse are counted and reported, never sent half-read. The year is not
 * in the line: it is this year, or the one before when that would put the
 * line more than a day ahead, and it rolls over when the file crosses a
 * new year. With --now every timestamp moves by one offset so that the
 * last line is stamped now and the gaps stay as they were (the file is
 * read twice: once for the last stamp). The messages go out as RFC 5424
 * (RFC 3164 with --rfc3164) over UDP (syslog://, udp://, one datagram per
 * message) or TCP (tcp://, octet-counted framing as RFC 6587 says, or
 * newline framing with --framing newline, as rsyslog's omfwd sends).
 * --rate paces the sending at N messages a second against the monotonic
 * clock; without it, as fast as the socket takes them. A TCP sender
 * closes its side at the end and waits (bounded) for the receiver to read
 * everything.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"

#define REPLAY_LINE_MAX 8192 /* longer lines are skipped */
#define REPLAY_MSG_MAX  (REPLAY_LINE_MAX + 128)

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* One parsed line; the strings point into the caller's buffer. */
struct replay_line {
	unsigned mon, day, h, m, s; /* mon 1..12 */
	const uint8_t *host, *app, *pid, *msg;
	size_t host_len, app_len, pid_len, msg_len;
};

static bool digits(const uint8_t *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* "Mmm dd hh:mm:ss host tag[pid]: msg" or "... host tag: msg". */
static int replay_parse(const uint8_t *buf, size_t len, struct replay_line *l)
{
	if (len < 17 || buf[3] != ' ' || buf[6] != ' ' || buf[9] != ':' || buf[12] != ':' ||
	    buf[15] != ' ')
		return RN_EPARSE;
	l->mon = 0;
	for (unsigned i = 0; i < 12; i++)
		if (memcmp(buf, months[i], 3) == 0)
			l->mon = i + 1;
	const uint8_t dd[2] = {buf[4] == ' ' ? '0' : buf[4], buf[5]};
	if (l->mon == 0 || !digits(dd, 2, &l->day) || !digits(buf + 7, 2, &l->h) ||
	    !digits(buf + 10, 2, &l->m) || !digits(buf + 13, 2, &l->s) || l->day < 1 ||
	    l->day > 31 || l->h > 23 || l->m > 59 || l->s > 60)
		return RN_EPARSE;
	size_t i = 16;
	l->host = buf + i;
	while (i < len && buf[i] != ' ')
		i++;
	l->host_len = (size_t)(buf + i - l->host);
	if (l->host_len == 0 || l->host_len > 255 || i >= len)
		return RN_EPARSE;
	i++;
	l->app = buf + i;
	while (i < len && buf[i] != '[' && buf[i] != ':' && buf[i] != ' ')
		i++;
	l->app_len = (size_t)(buf + i - l->app);
	if (l->app_len == 0 || l->app_len > 48 || i >= len)
		return RN_EPARSE;
	l->pid = NULL;
	l->pid_len = 0;
	if (buf[i] == '[') {
		l->pid = buf + ++i;
		while (i < len && buf[i] >= '0' && buf[i] <= '9')
			i++;
		l->pid_len = (size_t)(buf + i - l->pid);
		if (l->pid_len == 0 || l->pid_len > 10 || i >= len || buf[i] != ']')
			return RN_EPARSE;
		i++;
	}
	if (i + 1 >= len || buf[i] != ':' || buf[i + 1] != ' ')
		return RN_EPARSE;
	l->msg = buf + i + 2;
	l->msg_len = len - i - 2;
	return RN_OK;
}

/* Seconds since the epoch of the line's stamp (UTC) in year y. */
static int64_t line_time(const struct replay_line *l, int64_t y)
{
	return rn_time_days_from_civil(y, l->mon, l->day) * 86400 +
	       (int64_t)(l->h * 3600 + l->m * 60 + l->s);
}

/* Assigns years along the file: the first from the clock, then rolls over. */
struct yearer {
	int64_t year, prev;
	bool started;
};

static int64_t yearer_time(struct yearer *y, const struct replay_line *l, int64_t now_s)
{
	if (!y->started) {
		time_t t = (time_t)now_s;
		struct tm tm;
		gmtime_r(&t, &tm);
		y->year = tm.tm_year + 1900;
		if (line_time(l, y->year) > now_s + 86400)
			y->year--;
		y->started = true;
	}
	int64_t t = line_time(l, y->year);
	if (y->prev != 0 && t < y->prev - 180 * 86400) {
		y->year++;
		t = line_time(l, y->year);
	}
	y->prev = t;
	return t;
}

enum replay_framing { FRAME_OCTET, FRAME_NEWLINE };

struct replay {
	const char *path;
	bool tcp, now, rfc3164;
	enum replay_framing framing;
	double rate;
	int fd;
	uint64_t sent, skipped;
	int64_t shift_s;
};

/* Formats one message into out; returns its length. */
static size_t replay_format(const struct replay *r, const struct replay_line *l, int64_t t,
                            char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	int n;
	if (r->rfc3164)
		n = snprintf(out, cap, "<22>%s %2d %02d:%02d:%02d %.*s %.*s%s%.*s%s: %.*s",
		             months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		             (int)l->host_len, (const char *)l->host, (int)l->app_len,
		             (const char *)l->app, l->pid ? "[" : "", (int)l->pid_len,
		             l->pid ? (const char *)l->pid : "", l->pid ? "]" : "", (int)l->msg_len,
		             (const char *)l->msg);
	else
		n = snprintf(
		        out, cap, "<22>1 %04d-%02d-%02dT%02d:%02d:%02dZ %.*s %.*s %.*s - - %.*s",
		        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		        tm.tm_sec, (int)l->host_len, (const char *)l->host, (int)l->app_len,
		        (const char *)l->app, l->pid ? (int)l->pid_len : 1,
		        l->pid ? (const char *)l->pid : "-", (int)l->msg_len, (const char *)l->msg);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return RN_OK;
}

static int replay_send(struct replay *r, const char *msg, size_t n)
{
	if (!r->tcp) {
		ssize_t w = send(r->fd, msg, n, 0);
		return w == (ssize_t)n ? RN_OK : w < 0 ? -errno : RN_ETRUNC;
	}
	if (r->framing == FRAME_NEWLINE) {
		int rc = send_all(r->fd, msg, n);
		return rc != RN_OK ? rc : send_all(r->fd, "\n", 1);
	}
	char hdr[24];
	int h = snprintf(hdr, sizeof(hdr), "%zu ", n);
	int rc = send_all(r->fd, hdr, (size_t)h);
	return rc != RN_OK ? rc : send_all(r->fd, msg, n);
}

/* Sleeps until message i is due at rate r (messages a second) from t0. */
static void replay_pace(const struct replay *r, uint64_t i, int64_t t0_ns)
{
	if (r->rate <= 0)
		return;
	int64_t due = t0_ns + (int64_t)((double)i * 1e9 / r->rate);
	struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

/* One pass over the file: with send false, only finds the last stamp. */
static int replay_pass(struct replay *r, bool send, int64_t *last)
{
	FILE *f = fopen(r->path, "r");
	if (f == NULL)
		return -errno;
	static char line[REPLAY_LINE_MAX + 2], msg[REPLAY_MSG_MAX];
	struct yearer y = {0};
	int64_t now_s = rn_time_now_ms() / 1000;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t t0_ns = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
	int rc = RN_OK;
	bool longline = false;
	while (rc == RN_OK && fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);
		bool complete = len > 0 && line[len - 1] == '\n';
		if (!complete && !feof(f)) {
			longline = true; /* the rest of this line comes next: skip it all */
			continue;
		}
		if (longline) {
			longline = false;
			if (send)
				r->skipped++;
			continue;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		struct replay_line l;
		if (replay_parse((const uint8_t *)line, len, &l) != RN_OK) {
			if (send && len > 0)
				r->skipped++;
			continue;
		}
		int64_t t = yearer_time(&y, &l, now_s);
		if (!send) {
			*last = t;
			continue;
		}
		size_t n = replay_format(r, &l, t + r->shift_s, msg, sizeof(msg));
		replay_pace(r, r->sent, t0_ns);
		rc = replay_send(r, msg, n);
		if (rc == RN_OK)
			r->sent++;
	}
	if (rc == RN_OK && ferror(f))
		rc = -EIO;
	fclose(f);
	return rc;
}

static int replay_connect(struct replay *r, const char *to)
{
	const char *hp;
	if (strncmp(to, "syslog://", 9) == 0 || strncmp(to, "udp://", 6) == 0) {
		hp = strchr(to, '/') + 2;
		r->tcp = false;
	} else if (strncmp(to, "tcp://", 6) == 0) {
		hp = to + 6;
		r->tcp = true;
	} else {
		fprintf(stderr,
		        "repnet replay: --to %s: not syslog://, udp:// or tcp://HOST:PORT\n", to);
		return -EINVAL;
	}
	struct sockaddr_storage ss;
	unsigned sslen;
	int rc = rn_hostport_parse(hp, &ss, &sslen);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet replay: --to %s: %s\n", to, rn_strerror(rc));
		return rc;
	}
	r->fd = socket(ss.ss_family, (r->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&ss, sslen) != 0) {
		rc = -errno;
		fprintf(stderr, "repnet replay: %s: %s\n", to, strerror(errno));
		return rc;
	}
	return RN_OK;
}

/* TCP: close our side, then read until the receiver closes or goes quiet (2 s). */
static void replay_finish(struct replay *r)
{
	if (r->tcp) {
		shutdown(r->fd, SHUT_WR);
		struct timeval tv = {.tv_sec = 2};
		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char b[512];
		for (int i = 0; i < 1000 && recv(r->fd, b, sizeof(b), 0) > 0; i++) {
		}
	}
	close(r->fd);
}

/*
 * repnet replay FILE --to syslog://HOST:PORT|udp://HOST:PORT|tcp://HOST:PORT [--now]
 *                [--rate N] [--framing octet|newline] [--rfc3164]
 */
int cmd_replay(int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"to", required_argument, NULL, 't'},   {"now", no_argument, NULL, 'n'},
	        {"rate", required_argument, NULL, 'r'}, {"framing", required_argument, NULL, 'f'},
	        {"rfc3164", no_argument, NULL, '3'},    {NULL, 0, NULL, 0}};
	struct replay r = {.fd = -1, .framing = FRAME_OCTET};
	const char *to = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			to = optarg;
			break;
		case 'n':
			r.now = true;
			break;
		case 'r': {
			char *end;
			r.rate = strtod(optarg, &end);
			if (*end != '\0' || !(r.rate > 0) || r.rate > 1e7) {
				fprintf(stderr,
				        "repnet replay: --rate %s: a number of lines a second\n",
				        optarg);
				return 2;
			}
			break;
		}
		case 'f':
			if (strcmp(optarg, "octet") == 0)
				r.framing = FRAME_OCTET;
			else if (strcmp(optarg, "newline") == 0)
				r.framing = FRAME_NEWLINE;
			else {
				fprintf(stderr, "repnet replay: --framing %s: octet or newline\n",
				        optarg);
				return 2;
			}
			break;
		case '3':
			r.rfc3164 = true;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || to == NULL)
		return 2;
	r.path = argv[optind];
	int rc = RN_OK;
	if (r.now) {
		int64_t last = INT64_MIN;
		rc = replay_pass(&r, false, &last);
		if (rc == RN_OK && last == INT64_MIN) {
			fprintf(stderr,
			        "repnet replay: %s: no syslog lines (Mmm dd hh:mm:ss host tag: "
			        "msg)\n",
			        r.path);
			return 1;
		}
		r.shift_s = rn_time_now_ms() / 1000 - last;
	}
	if (rc == RN_OK)
		rc = replay_connect(&r, to);
	if (rc == RN_OK)
		rc = replay_pass(&r, true, NULL);
	if (r.fd >= 0)
		replay_finish(&r);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet replay: %s: %s (%llu sent)\n", r.path, rn_strerror(rc),
		        (unsigned long long)r.sent);
		return 1;
	}
	printf("sent %llu messages to %s", (unsigned long long)r.sent, to);
	if (r.skipped > 0)
		printf("; %llu lines skipped (not \"Mmm dd hh:mm:ss host tag[pid]: msg\")",
		       (unsigned long long)r.skipped);
	if (r.now)
		printf("; timestamps moved by %+llds", (long long)r.shift_s);
	printf("\n");
	return 0;
}
