/*
 * apply.c: the netfilter applier, the only process of repnet that
 * holds CAP_NET_ADMIN: its main, its privileges, and its message loop.
 *
 * Design notes: the applier is a small process (src/repnet-nfsync runs
 * feeds_nfsync_applier_main) that the sync engine spawns with one end of
 * a SOCK_SEQPACKET socketpair. It drops every capability but
 * CAP_NET_ADMIN, sets no_new_privs, and then only ever does this: read one
 * typed message from the engine, check it (msg.c refuses anything
 * malformed or with trailing bytes, and the applier exits on it), and
 * turn it into netlink for its one table (nftables) or its own prefixed
 * sets (ipset), through the backend --backend chose (nft_apply.c,
 * ipset_apply.c). The table and the set name prefix come from its command
 * line, never from a message, so the engine can only ever touch repnet's
 * own objects. It never reads network input; the only other input is the
 * kernel's netlink answers, which go through nlreply.c.
 *
 * Transactions: BEGIN, operations, COMMIT. Operations are numbered in the
 * order they arrive; the first that the backend refuses fails the
 * transaction (the rest are counted, not built), and the RESULT names it.
 * Nothing reaches the kernel before COMMIT, so an abandoned transaction
 * (the engine closed its end) changes nothing. LIST and DUMP are refused
 * inside a transaction.
 *
 * Single-threaded; all buffers are owned here and freed on exit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "feeds/nfapply/netlink.h"

/* ------------------------------------------------------------------ */
/* The engine's side of the socket                                     */
/* ------------------------------------------------------------------ */

static int eng_send(struct applier *a, const struct rn_wcur *w)
{
	if (!rn_wcur_ok(w))
		return RN_EINTERNAL;
	for (;;) {
		ssize_t n = send(a->fd, w->p, w->len, MSG_NOSIGNAL);
		if (n == (ssize_t)w->len)
			return RN_OK;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : RN_EINTERNAL;
	}
}

static int send_result(struct applier *a, int32_t rc, int32_t kerr, uint32_t op, const char *text)
{
	struct rn_wcur w;
	rn_wcur_init(&w, a->out, sizeof(a->out));
	nfs_enc_result(&w, a->txn, rc, kerr, op, text);
	return eng_send(a, &w);
}

/* ------------------------------------------------------------------ */
/* LIST and DUMP                                                       */
/* ------------------------------------------------------------------ */

static int do_list(struct applier *a)
{
	struct nfs_sets *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	a->last_kerr = 0;
	int rc = a->be->list(a, s);
	struct rn_wcur w;
	rn_wcur_init(&w, a->out, sizeof(a->out));
	if (rc == RN_OK) {
		nfs_enc_sets(&w, s);
		rc = eng_send(a, &w);
	} else {
		/* The answer to LIST is SETS or a RESULT with the error. */
		rc = send_result(a, rc, a->last_kerr, UINT32_MAX,
		                 a->last_kerr ? strerror(a->last_kerr) : "listing failed");
	}
	free(s);
	return rc;
}

static int dump_flush(struct nfa_dump *d)
{
	if (d->n == 0)
		return RN_OK;
	int rc = nfs_enc_elems_finish(&d->w, d->n);
	if (rc == RN_OK)
		rc = eng_send(d->a, &d->w);
	d->n = 0;
	nfs_enc_elems_start(&d->w, NFS_OP_DUMP, &d->id, 0);
	return rc;
}

int nfa_dump_put(struct nfa_dump *d, const uint8_t *item)
{
	if (d->n == nfs_elems_per_msg(d->id.kind)) {
		int rc = dump_flush(d);
		if (rc != RN_OK)
			return rc;
	}
	rn_wcur_bytes(&d->w, item, nfs_item_len(d->id.kind));
	d->n++;
	d->count++;
	return rn_wcur_ok(&d->w) ? RN_OK : RN_EINTERNAL;
}

/* DUMP: the set's items in ELEMS messages, then DUMP_END. */
static int do_dump(struct applier *a, const struct nfs_setid *id, uint8_t flags)
{
	char name[NFS_NAME_MAX];
	struct nfa_query q = {0};
	struct nfa_dump d = {.a = a, .id = *id, .name = name};
	bool ipset = a->backend == FEEDS_SYNC_IPSET;

	uint8_t *wb = malloc(NFS_MSG_MAX);
	if (wb == NULL)
		return -ENOMEM;
	rn_wcur_init(&d.w, wb, NFS_MSG_MAX);
	nfs_enc_elems_start(&d.w, NFS_OP_DUMP, id, 0);
	int rc = nfs_set_name(id, ipset ? a->prefix : NULL, (flags & NFS_SETF_TMP) != 0, name,
	                      sizeof(name));
	if (rc == RN_OK)
		rc = a->be->dump(a, &d, &q);
	if (rc == RN_OK)
		rc = dump_flush(&d);
	free(wb);
	struct rn_wcur w;
	rn_wcur_init(&w, a->out, sizeof(a->out));
	nfs_enc_dump_end(&w, rc, d.count, d.anomalies, q.res_set ? q.res_id : 0);
	return eng_send(a, &w);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static int begin(struct applier *a, const struct nfs_msg *m)
{
	a->in_txn = true;
	a->txn = m->u.begin.txn;
	a->genid = m->u.begin.genid;
	a->nops = 0;
	a->err = RN_OK;
	a->err_text[0] = '\0';
	int rc = a->be->begin(a);
	if (rc != RN_OK) {
		a->err = rc;
		a->err_op = a->nops;
		snprintf(a->err_text, sizeof(a->err_text), "cannot start a batch");
	}
	return RN_OK;
}

/* One operation: built into the transaction, or it fails the transaction. */
static int operation(struct applier *a, const struct nfs_msg *m)
{
	uint32_t op = a->nops++;
	if (a->err != RN_OK)
		return RN_OK;
	int rc = a->be->op(a, m, op);
	if (rc != RN_OK) {
		a->err = rc;
		a->err_op = op;
		snprintf(a->err_text, sizeof(a->err_text), "operation %u refused: %s", op,
		         rn_strerror(rc));
	}
	return RN_OK;
}

static int commit(struct applier *a)
{
	struct nfa_err err = {.op = UINT32_MAX};
	a->in_txn = false;
	if (a->err != RN_OK)
		return send_result(a, a->err, 0, a->err_op, a->err_text);
	int rc = a->be->commit(a, &err);
	return send_result(a, rc, err.kerr, err.op, err.text);
}

/* One message from the engine; an error ends the applier. */
static int handle(struct applier *a, const struct nfs_msg *m)
{
	switch (m->type) {
	case NFS_M_BEGIN:
		return a->in_txn ? RN_ESTATE : begin(a, m);
	case NFS_M_COMMIT:
		return a->in_txn ? commit(a) : RN_ESTATE;
	case NFS_M_LIST:
		return a->in_txn ? RN_ESTATE : do_list(a);
	case NFS_M_DUMP:
		return a->in_txn ? RN_ESTATE : do_dump(a, &m->u.set.id, m->u.set.flags);
	case NFS_M_TABLE:
	case NFS_M_SET_ADD:
	case NFS_M_SET_DEL:
	case NFS_M_SET_SWAP:
	case NFS_M_CHAIN_FLUSH:
	case NFS_M_CHAIN_DEL:
	case NFS_M_CHAIN_ADD:
	case NFS_M_RULES:
	case NFS_M_DESTROY:
	case NFS_M_ELEMS:
		return a->in_txn ? operation(a, m) : RN_ESTATE;
	default:
		return RN_EPARSE;
	}
}

/* ------------------------------------------------------------------ */
/* Privileges and main                                                 */
/* ------------------------------------------------------------------ */

/* Keeps CAP_NET_ADMIN and nothing else; no privilege can be regained. */
static void drop_privileges(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return;
	bool have = (data[0].effective & (1u << CAP_NET_ADMIN)) != 0;
	for (int c = 0; c <= 63; c++) {
		if (c != CAP_NET_ADMIN && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	}
	memset(data, 0, sizeof(data));
	if (have) {
		data[0].effective = 1u << CAP_NET_ADMIN;
		data[0].permitted = 1u << CAP_NET_ADMIN;
	}
	if (syscall(SYS_capset, &hdr, data) != 0)
		log_warn("capset");
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (!have)
		log_warnx("applier: no CAP_NET_ADMIN; the kernel will refuse every change");
}

static void usage(void)
{
	fprintf(stderr, "usage: repnet-nfsync --fd N [--backend nft|ipset] [--table \"inet "
	                "repnet\"] [--ipset-prefix repnet] [--timeout-ms N] [--batch-limit "
	                "BYTES]\n"
	                "The netfilter applier of repnet; repnetd and `repnet nfsync` start "
	                "it.\n");
}

int feeds_nfsync_applier_main(int argc, char **argv)
{
	static const struct option lopts[] = {{"fd", required_argument, NULL, 'f'},
	                                      {"backend", required_argument, NULL, 'b'},
	                                      {"table", required_argument, NULL, 't'},
	                                      {"ipset-prefix", required_argument, NULL, 'p'},
	                                      {"timeout-ms", required_argument, NULL, 'T'},
	                                      {"batch-limit", required_argument, NULL, 'L'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {NULL, 0, NULL, 0}};
	struct applier *a = calloc(1, sizeof(*a));
	const char *table = "inet repnet";
	int ch, code = 1;

	rn_log_init("repnet-nfsync", true, RN_LOG_NOTICE);
	if (a == NULL)
		return 1;
	a->fd = -1;
	a->timeout_ms = 30000;
	a->batch_limit = (size_t)1 << 30;
	snprintf(a->prefix, sizeof(a->prefix), "repnet");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 'f':
			a->fd = (int)strtol(optarg, &end, 10);
			break;
		case 'b':
			if (strcmp(optarg, "nft") == 0)
				a->backend = FEEDS_SYNC_NFT;
			else if (strcmp(optarg, "ipset") == 0)
				a->backend = FEEDS_SYNC_IPSET;
			else
				goto bad;
			break;
		case 't':
			table = optarg;
			break;
		case 'p':
			if (strlen(optarg) == 0 || strlen(optarg) > NFS_IPSET_PREFIX_MAX)
				goto bad;
			snprintf(a->prefix, sizeof(a->prefix), "%s", optarg);
			break;
		case 'T':
			a->timeout_ms = strtoll(optarg, &end, 10);
			if (a->timeout_ms < 100 || a->timeout_ms > 3600000)
				goto bad;
			break;
		case 'L':
			a->batch_limit = (size_t)strtoull(optarg, &end, 10);
			if (a->batch_limit < (1u << 20))
				goto bad;
			break;
		case 'h':
			usage();
			free(a);
			return 0;
		default:
			goto bad;
		}
		if (end != NULL && *end != '\0')
			goto bad;
	}
	if (optind != argc || a->fd < 0 ||
	    nfs_table_parse(table, &a->family, a->table, sizeof(a->table)) != RN_OK)
		goto bad;

	drop_privileges();
	a->be = a->backend == FEEDS_SYNC_IPSET ? &nfa_backend_ipset : &nfa_backend_nft;
	a->rbuf = malloc(NFA_RBUF_SIZE);
	if (a->rbuf == NULL || nfb_init(&a->nb, a->family, a->table, a->batch_limit) != RN_OK)
		goto out;
	int rc = nfa_nl_open(a);
	if (rc != RN_OK) {
		log_errx("netlink: %s", rn_strerror(rc));
		goto out;
	}
	a->seq = (uint32_t)rn_time_now_ms();
	a->be->init(a);
	struct rn_wcur w;
	rn_wcur_init(&w, a->out, sizeof(a->out));
	nfs_enc_ready(&w, (uint8_t)a->backend, (uint32_t)getpid());
	if (eng_send(a, &w) != RN_OK)
		goto out;
	for (;;) {
		ssize_t n = recv(a->fd, a->in, sizeof(a->in), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			code = 0; /* the engine closed: abandon any open transaction */
			break;
		}
		if (n < 0) {
			log_warn("applier: recv");
			break;
		}
		if ((size_t)n > sizeof(a->in)) {
			log_warnx("applier: message of %zd bytes refused", n);
			break;
		}
		struct nfs_msg m;
		rc = nfs_msg_decode(a->in, (size_t)n, &m);
		if (rc == RN_OK)
			rc = handle(a, &m);
		if (rc != RN_OK) {
			log_warnx("applier: message type %u: %s; exiting", a->in[0],
			          rn_strerror(rc));
			break;
		}
	}
out:
	nfa_nl_close(a);
	nfb_release(&a->nb);
	for (size_t i = 0; i < NFA_STAGES_MAX; i++)
		ipb_release(&a->stages[i]);
	free(a->rbuf);
	free(a);
	return code;
bad:
	usage();
	free(a);
	return 2;
}
