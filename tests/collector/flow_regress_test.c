/*
 * flow_regress_test.c: the decoders' regression vectors and behaviours.
 *
 * Each committed vector in tests/data/netflow/regress/ (written by
 * make_vectors.py: datagrams prefixed by a 2-byte length) must be refused
 * with its own defect counter and nothing else decoded wrongly. The other
 * tests build datagrams here: sampling options, RFC 5103 biflows,
 * withdrawal, data before its template, persistence, time conversion,
 * sFlow raw headers, and the exporters' caps, eviction and template
 * lifetime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/flow.h"
#include "test.h"

struct recs {
	struct collector_flow_rec v[64];
	size_t n;
};

static void on_rec(void *arg, const struct collector_flow_rec *r, size_t n)
{
	struct recs *x = arg;
	for (size_t i = 0; i < n && x->n < RN_ARRAY_LEN(x->v); i++)
		x->v[x->n++] = r[i];
}

struct fixture {
	struct flow_exporters *exps;
	struct flow_dec *dec;
	struct recs recs;
	struct rn_metrics *m;
};

static void fx_init_conf(struct fixture *f, const struct flow_dec_conf *dc)
{
	memset(f, 0, sizeof(*f));
	RN_PASS(rn_metrics_alloc(&f->m));
	RN_PASS(flow_exporters_alloc(&f->exps, 16, f->m, NULL));
	struct collector_flow_rec_sink s = {.rec = on_rec, .arg = &f->recs};
	RN_PASS(flow_dec_alloc(&f->dec, dc, f->exps, &s));
}

static void fx_init(struct fixture *f, size_t pending)
{
	struct flow_dec_conf dc = {.max_templates = 64,
	                           .max_templates_per_exporter = 16,
	                           .pending_bytes = pending,
	                           .pending_max_age_ms = 30000,
	                           .scale_sampling = true};
	memset(f, 0, sizeof(*f));
	RN_PASS(rn_metrics_alloc(&f->m));
	RN_PASS(flow_exporters_alloc(&f->exps, 16, f->m, NULL));
	struct collector_flow_rec_sink s = {.rec = on_rec, .arg = &f->recs};
	RN_PASS(flow_dec_alloc(&f->dec, &dc, f->exps, &s));
}

static void fx_free(struct fixture *f)
{
	flow_dec_free(f->dec);
	flow_exporters_free(f->exps);
	rn_metrics_free(f->m);
}

static int fx_feed(struct fixture *f, const uint8_t *b, size_t n)
{
	struct flow_origin o = {.port = 4739, .recv_ms = 1768471200000};
	rn_addr_set_v4(&o.addr, 0x7f000001);
	return flow_dec_datagram(f->dec, &o, b, n);
}

static double metric(struct fixture *f, const char *name, const char *labels)
{
	double v = -1;
	RN_PASS(rn_metrics_value(f->m, name, labels, &v));
	return v;
}

static double reason(struct fixture *f, const char *r)
{
	char lab[96];
	snprintf(lab, sizeof(lab), "exporter=\"127.0.0.1\",reason=\"%s\"", r);
	return metric(f, "repnet_flow_errors_total", lab);
}

static void feed_seq_file(struct fixture *f, const char *name)
{
	char path[512];
	uint8_t *buf;
	size_t len;
	snprintf(path, sizeof(path), "%s/netflow/regress/%s", REPNET_TEST_DATA, name);
	RN_PASS(rn_file_read(path, 1 << 20, &buf, &len));
	struct rn_cur c;
	rn_cur_init(&c, buf, len);
	while (rn_cur_left(&c) >= 2) {
		uint16_t n = rn_cur_u16(&c);
		const uint8_t *d = rn_cur_bytes(&c, n);
		assert_non_null(d);
		(void)fx_feed(f, d, n);
	}
	free(buf);
}

/* Each vector raises exactly its counter, and only it. */
static void test_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		const char *reason;
		int extra_unknown; /* data sets left without a template */
	} v[] = {
	        {"ipfix-field-longer-than-ie.seq", "bad_template", 1},
	        {"nf9-field-longer-than-ie.seq", "bad_template", 0},
	        {"nf9-template-no-fields.seq", "bad_template", 0},
	        {"ipfix-zero-length-record.seq", "bad_template", 1},
	        {"ipfix-stml-zero-size.seq", "bad_length", 0},
	        {"ipfix-set-length-wraps.seq", "bad_length", 0},
	        {"ipfix-message-length-wraps.seq", "bad_length", 0},
	        {"nf9-flowset-length-zero.seq", "bad_length", 0},
	        {"nf5-count-wraps.seq", "bad_length", 0},
	        {"ipfix-varlen-past-end.seq", "truncated", 0},
	        {"sflow-sample-length-wraps.seq", "bad_length", 0},
	};
	for (size_t i = 0; i < RN_ARRAY_LEN(v); i++) {
		struct fixture f;
		fx_init(&f, 4096);
		feed_seq_file(&f, v[i].file);
		double got = reason(&f, v[i].reason);
		if (got != 1)
			print_error("%s: %s = %g, want 1\n", v[i].file, v[i].reason, got);
		assert_true(got == 1);
		double total = 0;
		for (int r = 0; r < FLOW_R_COUNT; r++)
			total += reason(&f, flow_reason_names[r]);
		assert_true(total == 1 + v[i].extra_unknown);
		assert_int_equal(f.recs.n, 0);
		fx_free(&f);
	}
}

/* A template redefined mid-stream decodes each data set with its own layout. */
static void test_replacement(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f, 4096);
	feed_seq_file(&f, "ipfix-template-replaced.seq");
	assert_int_equal(f.recs.n, 2);
	assert_int_equal(f.recs.v[0].src.family, RN_AF_INET);
	assert_int_equal(f.recs.v[0].packets, 3);
	assert_int_equal(f.recs.v[0].bytes, 300);
	assert_int_equal(f.recs.v[0].proto, 17);
	assert_int_equal(f.recs.v[1].src.family, RN_AF_INET6);
	assert_int_equal(f.recs.v[1].packets, 5);
	assert_int_equal(f.recs.v[1].bytes, 5000);
	assert_int_equal(f.recs.v[1].proto, 6);
	assert_true(metric(&f, "repnet_flow_templates_total",
	                   "exporter=\"127.0.0.1\",event=\"replaced\"") == 1);
	for (int r = 0; r < FLOW_R_COUNT; r++)
		assert_true(reason(&f, flow_reason_names[r]) == 0);
	fx_free(&f);
}

/* ---- builders ------------------------------------------------------------------- */

struct pkt {
	uint8_t b[2048];
	size_t n;
};

static void p8(struct pkt *p, uint8_t v)
{
	p->b[p->n++] = v;
}
static void p16(struct pkt *p, uint16_t v)
{
	p8(p, (uint8_t)(v >> 8));
	p8(p, (uint8_t)v);
}
static void p32(struct pkt *p, uint32_t v)
{
	p16(p, (uint16_t)(v >> 16));
	p16(p, (uint16_t)v);
}
static void p64(struct pkt *p, uint64_t v)
{
	p32(p, (uint32_t)(v >> 32));
	p32(p, (uint32_t)v);
}
static void set_len16(struct pkt *p, size_t at, size_t len)
{
	p->b[at] = (uint8_t)(len >> 8);
	p->b[at + 1] = (uint8_t)len;
}

static size_t ipfix_begin(struct pkt *p, uint32_t seq)
{
	p->n = 0;
	p16(p, 10);
	p16(p, 0);
	p32(p, 1768471200);
	p32(p, seq);
	p32(p, 7);
	return 0;
}
static void ipfix_end(struct pkt *p)
{
	set_len16(p, 2, p->n);
}
static size_t set_begin(struct pkt *p, uint16_t id)
{
	size_t at = p->n;
	p16(p, id);
	p16(p, 0);
	return at;
}
static void set_end(struct pkt *p, size_t at)
{
	set_len16(p, at + 2, p->n - at);
}

/* IPFIX options template with samplingPacketInterval and a flow template with selectorId. */
static void test_sampling(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 4096);
	ipfix_begin(&p, 0);
	size_t s = set_begin(&p, 3);
	p16(&p, 300); /* options template 300: scope selectorId, option 305 */
	p16(&p, 2);
	p16(&p, 1);
	p16(&p, 302), p16(&p, 4);
	p16(&p, 305), p16(&p, 4);
	set_end(&p, s);
	s = set_begin(&p, 2);
	p16(&p, 256);
	p16(&p, 5);
	p16(&p, 8), p16(&p, 4);
	p16(&p, 12), p16(&p, 4);
	p16(&p, 2), p16(&p, 4);
	p16(&p, 1), p16(&p, 4);
	p16(&p, 302), p16(&p, 1);
	set_end(&p, s);
	s = set_begin(&p, 300);
	p32(&p, 9), p32(&p, 100); /* selector 9 samples 1 in 100 */
	set_end(&p, s);
	s = set_begin(&p, 256);
	p32(&p, 0xc0000201), p32(&p, 0xc0000202), p32(&p, 2), p32(&p, 120), p8(&p, 9);
	p32(&p, 0xc0000203), p32(&p, 0xc0000204), p32(&p, 1), p32(&p, 60), p8(&p, 4);
	set_end(&p, s);
	ipfix_end(&p);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 2);
	assert_int_equal(f.recs.v[0].sampling, 100);
	assert_int_equal(f.recs.v[0].packets, 200);
	assert_int_equal(f.recs.v[0].bytes, 12000);
	assert_true(f.recs.v[0].flags & COLLECTOR_FLOW_SCALED);
	/* Selector 4 is unknown: not sampled as far as we know. */
	assert_int_equal(f.recs.v[1].sampling, 1);
	assert_int_equal(f.recs.v[1].packets, 1);
	fx_free(&f);
}

/* NetFlow v9 options (scope System; SAMPLING_INTERVAL, SAMPLING_ALGORITHM). */
static void test_v9_sampling(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p = {.n = 0};
	fx_init(&f, 4096);
	p16(&p, 9), p16(&p, 4), p32(&p, 100000), p32(&p, 1768471200), p32(&p, 0), p32(&p, 0);
	size_t s = set_begin(&p, 1);
	p16(&p, 257), p16(&p, 4), p16(&p, 8); /* id, scope bytes, option bytes */
	p16(&p, 1), p16(&p, 4);               /* scope: System, 4 bytes */
	p16(&p, 34), p16(&p, 4);
	p16(&p, 35), p16(&p, 1);
	p16(&p, 0); /* padding */
	set_end(&p, s);
	s = set_begin(&p, 257);
	p32(&p, 0), p32(&p, 64), p8(&p, 2), p8(&p, 0), p8(&p, 0), p8(&p, 0);
	set_end(&p, s);
	s = set_begin(&p, 0);
	p16(&p, 256), p16(&p, 4);
	p16(&p, 8), p16(&p, 4);
	p16(&p, 12), p16(&p, 4);
	p16(&p, 2), p16(&p, 4);
	p16(&p, 1), p16(&p, 4);
	set_end(&p, s);
	s = set_begin(&p, 256);
	p32(&p, 0xc0000201), p32(&p, 0xc0000202), p32(&p, 2), p32(&p, 100);
	set_end(&p, s);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	assert_int_equal(f.recs.v[0].sampling, 64);
	assert_int_equal(f.recs.v[0].packets, 128);
	assert_int_equal(f.recs.v[0].bytes, 6400);
	assert_int_equal(f.recs.v[0].source, RN_SRC_NETFLOW_V9);
	fx_free(&f);
}

/* RFC 5103 biflow with reverse counters (PEN 29305) and absolute ms times. */
static void test_biflow(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 4096);
	ipfix_begin(&p, 0);
	size_t s = set_begin(&p, 2);
	p16(&p, 257);
	p16(&p, 8);
	p16(&p, 8), p16(&p, 4);
	p16(&p, 12), p16(&p, 4);
	p16(&p, 2), p16(&p, 8);
	p16(&p, 1), p16(&p, 8);
	p16(&p, 0x8000 | 2), p16(&p, 8), p32(&p, 29305);
	p16(&p, 0x8000 | 1), p16(&p, 8), p32(&p, 29305);
	p16(&p, 152), p16(&p, 8);
	p16(&p, 153), p16(&p, 8);
	set_end(&p, s);
	s = set_begin(&p, 257);
	p32(&p, 0xc0000201), p32(&p, 0xc0000202);
	p64(&p, 10), p64(&p, 1000), p64(&p, 8), p64(&p, 9000);
	p64(&p, 1768471200123ULL), p64(&p, 1768471201456ULL);
	set_end(&p, s);
	ipfix_end(&p);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	assert_true(f.recs.v[0].flags & COLLECTOR_FLOW_BIFLOW);
	assert_int_equal(f.recs.v[0].rev_packets, 8);
	assert_int_equal(f.recs.v[0].rev_bytes, 9000);
	assert_int_equal(f.recs.v[0].first_ms, 1768471200123LL);
	assert_int_equal(f.recs.v[0].last_ms, 1768471201456LL);
	fx_free(&f);
}

static void build_tmpl_and_data(struct pkt *p, bool with_tmpl, bool with_data, uint32_t seq)
{
	ipfix_begin(p, seq);
	if (with_tmpl) {
		size_t s = set_begin(p, 2);
		p16(p, 258), p16(p, 3);
		p16(p, 8), p16(p, 4);
		p16(p, 12), p16(p, 4);
		p16(p, 2), p16(p, 4);
		set_end(p, s);
	}
	if (with_data) {
		size_t s = set_begin(p, 258);
		p32(p, 0xc6336401), p32(p, 0xcb007101), p32(p, 42);
		set_end(p, s);
	}
	ipfix_end(p);
}

/* Data before its template is held and decoded when the template comes. */
static void test_pending(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 4096);
	build_tmpl_and_data(&p, false, true, 0);
	RN_FAILS_WITH(fx_feed(&f, p.b, p.n), RN_ETEMPLATE);
	assert_int_equal(f.recs.n, 0);
	build_tmpl_and_data(&p, true, false, 1);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	assert_int_equal(f.recs.v[0].packets, 42);
	assert_true(reason(&f, "unknown_template") == 1);
	assert_true(metric(&f, "repnet_flow_pending_total",
	                   "exporter=\"127.0.0.1\",result=\"decoded\"") == 1);
	fx_free(&f);

	/* Without a pending area the set is counted and dropped. */
	fx_init(&f, 0);
	build_tmpl_and_data(&p, false, true, 0);
	RN_FAILS_WITH(fx_feed(&f, p.b, p.n), RN_ETEMPLATE);
	build_tmpl_and_data(&p, true, false, 1);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 0);
	assert_true(metric(&f, "repnet_flow_pending_total",
	                   "exporter=\"127.0.0.1\",result=\"dropped\"") == 1);
	fx_free(&f);
}

/* Withdrawal removes a template; data for it is then unknown. */
static void test_withdrawal(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 0);
	build_tmpl_and_data(&p, true, true, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	ipfix_begin(&p, 1);
	size_t s = set_begin(&p, 2);
	p16(&p, 258), p16(&p, 0);
	set_end(&p, s);
	ipfix_end(&p);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_true(metric(&f, "repnet_flow_templates_total",
	                   "exporter=\"127.0.0.1\",event=\"withdrawn\"") == 1);
	build_tmpl_and_data(&p, false, true, 1);
	RN_FAILS_WITH(fx_feed(&f, p.b, p.n), RN_ETEMPLATE);
	assert_int_equal(f.recs.n, 1);
	fx_free(&f);
}

/* Sequence numbers: IPFIX counts data records per domain. */
static void test_sequence(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 0);
	build_tmpl_and_data(&p, true, true, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	build_tmpl_and_data(&p, false, true, 1);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_true(metric(&f, "repnet_flow_sequence_gaps_total", "exporter=\"127.0.0.1\"") == 0);
	build_tmpl_and_data(&p, false, true, 5); /* 3 records lost */
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_true(metric(&f, "repnet_flow_sequence_gaps_total", "exporter=\"127.0.0.1\"") == 1);
	assert_true(metric(&f, "repnet_flow_lost_records_total", "exporter=\"127.0.0.1\"") == 3);
	fx_free(&f);
}

/* Templates survive a restart through the data directory. */
static void test_persistence(void **state)
{
	(void)state;
	char dir[] = "/tmp/repnet-tmpl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/flow-templates", dir);
	struct fixture f;
	struct pkt p;
	fx_init(&f, 0);
	build_tmpl_and_data(&p, true, false, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	struct flow_dec *decs[1] = {f.dec};
	RN_PASS(flow_tmpl_save(decs, 1, path));
	fx_free(&f);

	fx_init(&f, 0);
	struct flow_tmpl_load_stats st;
	RN_PASS(flow_tmpl_load(f.dec, path, 1768471200000, NULL, &st));
	assert_int_equal(st.loaded, 1);
	assert_int_equal(st.bad, 0);
	build_tmpl_and_data(&p, false, true, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	assert_int_equal(f.recs.v[0].packets, 42);
	fx_free(&f);

	/* A corrupted entry is skipped and counted, not trusted. */
	uint8_t *buf;
	size_t len;
	RN_PASS(rn_file_read(path, 1 << 20, &buf, &len));
	buf[len - 1] ^= 0x55;
	RN_PASS(rn_file_replace(path, buf, len, 0600));
	free(buf);
	fx_init(&f, 0);
	RN_PASS(flow_tmpl_load(f.dec, path, 1768471200000, NULL, &st));
	assert_int_equal(st.loaded, 0);
	assert_int_equal(st.bad, 1);
	fx_free(&f);
	unlink(path);
	rmdir(dir);
}

/* v5 times are sysUpTime-relative, across the 32-bit wrap too. */
static void test_v5_times(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p = {.n = 0};
	fx_init(&f, 0);
	p16(&p, 5), p16(&p, 1);
	p32(&p, 5000);       /* sysUpTime: 5 s after a wrap */
	p32(&p, 1768471200); /* export time */
	p32(&p, 250000000);  /* + 250 ms */
	p32(&p, 0), p8(&p, 0), p8(&p, 0), p16(&p, 0x4000 | 10);
	p32(&p, 0xc0000201), p32(&p, 0xc0000202), p32(&p, 0);
	p16(&p, 1), p16(&p, 2);
	p32(&p, 3), p32(&p, 180);
	p32(&p, 0xfffffc18u); /* first: 1 s before the wrap */
	p32(&p, 4000);        /* last: 1 s before export */
	p16(&p, 1234), p16(&p, 25), p8(&p, 0), p8(&p, 0x12), p8(&p, 6), p8(&p, 0);
	p16(&p, 0), p16(&p, 0), p8(&p, 0), p8(&p, 0), p16(&p, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	int64_t export_ms = 1768471200250LL;
	assert_int_equal(f.recs.v[0].last_ms, export_ms - 1000);
	assert_int_equal(f.recs.v[0].first_ms, export_ms - 5000 - 1000);
	/* Sampling mode 1, interval 10: scaled. */
	assert_int_equal(f.recs.v[0].sampling, 10);
	assert_int_equal(f.recs.v[0].packets, 30);
	fx_free(&f);
}

/* sFlow v5 flow sample with a raw Ethernet/IPv4/TCP header. */
static void test_sflow(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p = {.n = 0};
	static const uint8_t frame[] = {
	        /* Ethernet */
	        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
	        /* IPv4: 20 bytes, total 40, TCP */
	        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 7, 198, 51, 100, 25,
	        /* TCP: 1234 -> 25, SYN */
	        0x04, 0xd2, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
	        /* Ethernet padding, so the XDR opaque needs none */
	        0, 0};
	fx_init(&f, 0);
	p32(&p, 5), p32(&p, 1), p32(&p, 0xc0000263), p32(&p, 0), p32(&p, 77), p32(&p, 1000);
	p32(&p, 2);
	/* Flow sample. */
	size_t at = p.n;
	p32(&p, 1), p32(&p, 0);
	p32(&p, 1), p32(&p, 3), p32(&p, 512), p32(&p, 5120), p32(&p, 0), p32(&p, 1), p32(&p, 2);
	p32(&p, 1);
	p32(&p, 1), p32(&p, 16 + sizeof(frame));
	p32(&p, 1), p32(&p, 60), p32(&p, 4), p32(&p, sizeof(frame));
	memcpy(p.b + p.n, frame, sizeof(frame));
	p.n += sizeof(frame);
	p.b[at + 4] = 0;
	set_len16(&p, at + 6, p.n - at - 8);
	/* Counter sample with one (empty) record. */
	p32(&p, 2), p32(&p, 20);
	p32(&p, 1), p32(&p, 3), p32(&p, 1), p32(&p, 1), p32(&p, 0);
	RN_PASS(fx_feed(&f, p.b, p.n));
	assert_int_equal(f.recs.n, 1);
	const struct collector_flow_rec *r = &f.recs.v[0];
	assert_int_equal(r->source, RN_SRC_SFLOW);
	assert_int_equal(r->sport, 1234);
	assert_int_equal(r->dport, 25);
	assert_int_equal(r->proto, 6);
	assert_int_equal(r->tcp_flags, 2);
	assert_int_equal(r->sampling, 512);
	assert_int_equal(r->packets, 512);
	assert_int_equal(r->bytes, 60 * 512);
	assert_true(metric(&f, "repnet_flow_sflow_stats_samples_total", "exporter=\"127.0.0.1\"") ==
	            1);
	fx_free(&f);
}

/* Random mutations of a valid datagram never crash and always account. */
static void test_mutations(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt base, p;
	uint64_t seed = 42;
	fx_init(&f, 4096);
	build_tmpl_and_data(&base, true, true, 0);
	for (int i = 0; i < 20000; i++) {
		p = base;
		int k = 1 + (int)(rn_test_rand(&seed) % 4);
		for (int j = 0; j < k; j++)
			p.b[rn_test_rand(&seed) % p.n] = (uint8_t)rn_test_rand(&seed);
		p.n = (size_t)(rn_test_rand(&seed) % (p.n + 1));
		f.recs.n = 0;
		(void)fx_feed(&f, p.b, p.n);
	}
	fx_free(&f);
}

/* ---- exporters: caps, eviction, lifetime ------------------------------------ */

#define T0 1768471200000LL

/* An IPFIX message of domain dom from 127.0.0.<host>:port at t ms. */
static int feed_from(struct fixture *f, unsigned host, uint16_t port, int64_t t,
                     const struct pkt *p)
{
	struct flow_origin o = {.port = port, .recv_ms = t};
	rn_addr_set_v4(&o.addr, 0x7f000000u | host);
	return flow_dec_datagram(f->dec, &o, p->b, p->n);
}

/* Templates first .. first + n - 1, all of the layout of 258 (src, dst, packets). */
static void build_tmpls(struct pkt *p, uint32_t dom, uint16_t first, unsigned n)
{
	p->n = 0;
	p16(p, 10), p16(p, 0), p32(p, 1768471200), p32(p, 0), p32(p, dom);
	size_t s = set_begin(p, 2);
	for (unsigned i = 0; i < n; i++) {
		p16(p, (uint16_t)(first + i)), p16(p, 3);
		p16(p, 8), p16(p, 4);
		p16(p, 12), p16(p, 4);
		p16(p, 2), p16(p, 4);
	}
	set_end(p, s);
	ipfix_end(p);
}

static void build_data(struct pkt *p, uint32_t dom, uint16_t id, uint32_t packets)
{
	p->n = 0;
	p16(p, 10), p16(p, 0), p32(p, 1768471200), p32(p, 0), p32(p, dom);
	size_t s = set_begin(p, id);
	p32(p, 0xc6336401), p32(p, 0xcb007101), p32(p, packets);
	set_end(p, s);
	ipfix_end(p);
}

static double xmetric(struct fixture *f, const char *name, unsigned host, const char *extra)
{
	char lab[128];
	snprintf(lab, sizeof(lab), "exporter=\"127.0.0.%u\"%s", host, extra);
	return metric(f, name, lab);
}

/*
 * One exporter holds at most its cap (the rest counted as template_limit,
 * not bad_template); one address flooding many sessions fills the table
 * but never pushes out another address's templates, which are admitted
 * even when the table is full.
 */
static void test_template_caps(void **state)
{
	(void)state;
	struct fixture f;
	struct pkt p;
	fx_init(&f, 4096);
	int64_t t = T0;
	build_tmpls(&p, 1, 256, 20);
	RN_FAILS_WITH(feed_from(&f, 2, 4739, t, &p), RN_ELIMIT);
	assert_true(xmetric(&f, "repnet_flow_templates_total", 2, ",event=\"stored\"") == 16);
	assert_true(xmetric(&f, "repnet_flow_errors_total", 2, ",reason=\"template_limit\"") == 4);
	assert_true(xmetric(&f, "repnet_flow_errors_total", 2, ",reason=\"bad_template\"") == 0);

	/* 127.0.0.2 fills the table (64) with sessions of 16. */
	for (uint32_t dom = 2; dom <= 8; dom++) {
		build_tmpls(&p, dom, 256, 16);
		t += 1000;
		RN_PASS(feed_from(&f, 2, 4739, t, &p));
	}
	assert_int_equal(f.dec->ntmpl, 64);
	assert_true(xmetric(&f, "repnet_flow_templates_total", 2, ",event=\"evicted\"") == 64);

	/* A newcomer is admitted, and decodes. */
	build_tmpls(&p, 1, 300, 3);
	t += 1000;
	RN_PASS(feed_from(&f, 3, 4739, t, &p));
	build_data(&p, 1, 301, 7);
	RN_PASS(feed_from(&f, 3, 4739, t, &p));
	assert_int_equal(f.recs.n, 1);
	assert_int_equal(f.recs.v[0].packets, 7);

	/* 127.0.0.2 goes on flooding; it only evicts its own. */
	for (uint32_t dom = 9; dom <= 40; dom++) {
		build_tmpls(&p, dom, 256, 16);
		t += 1000;
		RN_PASS(feed_from(&f, 2, 4739, t, &p));
	}
	assert_true(f.dec->ntmpl <= 64);
	assert_true(xmetric(&f, "repnet_flow_templates_total", 3, ",event=\"evicted\"") == 0);
	build_data(&p, 1, 302, 9);
	t += 1000;
	RN_PASS(feed_from(&f, 3, 4739, t, &p));
	assert_int_equal(f.recs.n, 2);
	assert_int_equal(f.recs.v[1].packets, 9);
	assert_true(xmetric(&f, "repnet_flow_errors_total", 3, ",reason=\"unknown_template\"") ==
	            0);

	/* The saved file is bounded by the table. */
	char dir[] = "/tmp/repnet-tmpl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/flow-templates.0", dir);
	RN_PASS(flow_tmpl_save(&f.dec, 1, path));
	uint8_t *buf;
	size_t len;
	RN_PASS(rn_file_read(path, 1 << 22, &buf, &len));
	assert_true(len >= 12);
	uint32_t count = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | buf[10] << 8 | buf[11];
	assert_int_equal(count, f.dec->ntmpl);
	free(buf);
	unlink(path);
	rmdir(dir);
	fx_free(&f);
}

/*
 * RFC 7011 8.4: a template not sent again within its lifetime expires (at
 * use, or by the sweep, which also frees idle sessions); sending it again
 * renews it; data that met an expired template waits for a new one.
 */
static void test_template_lifetime(void **state)
{
	(void)state;
	struct flow_dec_conf dc = {.max_templates = 64,
	                           .max_templates_per_exporter = 16,
	                           .pending_bytes = 4096,
	                           .pending_max_age_ms = 30000,
	                           .template_lifetime_ms = 10000,
	                           .scale_sampling = true};
	struct fixture f;
	struct pkt p;
	fx_init_conf(&f, &dc);
	build_tmpls(&p, 1, 256, 1);
	RN_PASS(feed_from(&f, 2, 4739, T0, &p));
	build_data(&p, 1, 256, 1);
	RN_PASS(feed_from(&f, 2, 4739, T0 + 9000, &p));
	assert_int_equal(f.recs.n, 1);
	RN_FAILS_WITH(feed_from(&f, 2, 4739, T0 + 10001, &p), RN_ETEMPLATE);
	assert_int_equal(f.recs.n, 1);
	assert_true(xmetric(&f, "repnet_flow_templates_total", 2, ",event=\"expired\"") == 1);
	assert_true(xmetric(&f, "repnet_flow_errors_total", 2, ",reason=\"unknown_template\"") ==
	            1);
	/* Sent again: the held data decodes, and the lifetime starts over. */
	build_tmpls(&p, 1, 256, 1);
	RN_PASS(feed_from(&f, 2, 4739, T0 + 12000, &p));
	assert_int_equal(f.recs.n, 2);
	build_tmpls(&p, 1, 256, 1);
	RN_PASS(feed_from(&f, 2, 4739, T0 + 20000, &p));
	build_data(&p, 1, 256, 1);
	RN_PASS(feed_from(&f, 2, 4739, T0 + 29000, &p));
	assert_int_equal(f.recs.n, 3);
	/* The sweep: the template goes, then the idle session. */
	flow_tmpl_expire(f.dec, T0 + 29500);
	assert_int_equal(f.dec->ntmpl, 1);
	flow_tmpl_expire(f.dec, T0 + 30001);
	assert_int_equal(f.dec->ntmpl, 0);
	assert_int_equal(f.dec->nsessions, 1);
	flow_tmpl_expire(f.dec, T0 + 39001);
	assert_int_equal(f.dec->nsessions, 0);
	assert_true(xmetric(&f, "repnet_flow_templates_total", 2, ",event=\"expired\"") == 2);
	fx_free(&f);
}

static void build_v5(struct pkt *p, uint8_t engine)
{
	p->n = 0;
	p16(p, 5), p16(p, 1), p32(p, 1000), p32(p, 1768471200), p32(p, 0), p32(p, 0);
	p8(p, 0), p8(p, engine), p16(p, 0);
	for (int i = 0; i < 12; i++)
		p32(p, i == 0 ? 0xc6336401 : 0);
}

/*
 * A full session table frees the least recently used session; data held
 * for it is never replayed into the newcomer that takes its slot.
 */
static void test_session_eviction(void **state)
{
	(void)state;
	struct flow_dec_conf dc = {.max_templates = 16,
	                           .max_templates_per_exporter = 16,
	                           .pending_bytes = 4096,
	                           .pending_max_age_ms = 30000,
	                           .scale_sampling = true};
	struct fixture f;
	struct pkt p;
	fx_init_conf(&f, &dc);
	int64_t t = T0;
	/* 127.0.0.2 domain 1: data held for a template that never comes. */
	build_data(&p, 1, 258, 5);
	RN_FAILS_WITH(feed_from(&f, 2, 4739, t, &p), RN_ETEMPLATE);
	/* Fill the table with v5 sessions of 127.0.0.3 (engine IDs). */
	while (f.dec->nsessions < f.dec->nsessions_cap) {
		build_v5(&p, (uint8_t)f.dec->nsessions);
		t += 1000;
		RN_PASS(feed_from(&f, 3, 2055, t, &p));
	}
	/* 127.0.0.4 domain 1 takes the least recently used slot: 127.0.0.2's. */
	f.recs.n = 0;
	build_tmpls(&p, 1, 258, 1);
	t += 1000;
	RN_PASS(feed_from(&f, 4, 4739, t, &p));
	assert_int_equal(f.recs.n, 0);
	assert_true(xmetric(&f, "repnet_flow_pending_total", 4, ",result=\"decoded\"") == 0);
	assert_int_equal(f.dec->nsessions, f.dec->nsessions_cap);
	/* 127.0.0.3 holds half the table or more: it now gives up its own. */
	build_v5(&p, 200);
	t += 1000;
	RN_PASS(feed_from(&f, 3, 2055, t, &p));
	build_data(&p, 1, 258, 6);
	RN_PASS(feed_from(&f, 4, 4739, t, &p));
	assert_int_equal(f.recs.n, 2);
	assert_int_equal(f.recs.v[1].packets, 6);
	fx_free(&f);
}

/* Loading prunes what expired meanwhile and what is no longer allowed. */
static void test_persistence_prune(void **state)
{
	(void)state;
	struct flow_dec_conf dc = {.max_templates = 64,
	                           .max_templates_per_exporter = 16,
	                           .pending_bytes = 0,
	                           .pending_max_age_ms = 30000,
	                           .template_lifetime_ms = 60000,
	                           .scale_sampling = true};
	char dir[] = "/tmp/repnet-tmpl.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/flow-templates.0", dir);
	struct fixture f;
	struct pkt p;
	fx_init_conf(&f, &dc);
	build_tmpls(&p, 1, 256, 3);
	RN_PASS(feed_from(&f, 2, 4739, T0, &p));
	build_tmpls(&p, 1, 256, 2);
	RN_PASS(feed_from(&f, 3, 4739, T0 + 50000, &p));
	RN_PASS(flow_tmpl_save(&f.dec, 1, path));
	fx_free(&f);

	struct flow_tmpl_load_stats st;
	fx_init_conf(&f, &dc);
	RN_PASS(flow_tmpl_load(f.dec, path, T0 + 70000, NULL, &st));
	assert_int_equal(st.loaded, 2);
	assert_int_equal(st.pruned, 3);
	assert_int_equal(st.bad, 0);
	fx_free(&f);

	struct rn_prefix_list allow = {0};
	struct rn_prefix only3;
	RN_PASS(rn_prefix_parse_str("127.0.0.3/32", true, &only3));
	RN_PASS(rn_prefix_list_add(&allow, &only3));
	fx_init_conf(&f, &dc);
	RN_PASS(flow_tmpl_load(f.dec, path, T0 + 55000, &allow, &st));
	assert_int_equal(st.loaded, 2);
	assert_int_equal(st.pruned, 3);
	/* What loaded decodes. */
	build_data(&p, 1, 257, 11);
	RN_PASS(feed_from(&f, 3, 4739, T0 + 56000, &p));
	assert_int_equal(f.recs.n, 1);
	assert_int_equal(f.recs.v[0].packets, 11);
	fx_free(&f);
	rn_prefix_list_clear(&allow);
	unlink(path);
	rmdir(dir);
}

RN_TEST_MAIN(test_vectors, test_replacement, test_sampling, test_v9_sampling, test_biflow,
             test_pending, test_withdrawal, test_sequence, test_persistence, test_v5_times,
             test_sflow, test_mutations, test_template_caps, test_template_lifetime,
             test_session_eviction, test_persistence_prune)
