/*
 * nfsmsg_fuzz.c: the decoder of the engine <-> applier messages
 * (feeds/nfs_msg.c), which the privileged applier runs on everything the
 * unprivileged engine sends. A message that decodes must encode back to
 * the same bytes: nothing is accepted that the encoder would not write.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/nfapply/nfapply.h"

static uint8_t out[NFS_MSG_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nfs_msg m;
	struct rn_wcur w;
	static struct nfs_sets s;
	int rc = -1;

	rn_wcur_init(&w, out, sizeof(out));
	if (size > 0 && data[0] == NFS_M_SETS) {
		if (nfs_msg_decode_sets(data, size, &s) == RN_OK)
			rc = nfs_enc_sets(&w, &s);
	} else if (nfs_msg_decode(data, size, &m) == RN_OK) {
		switch (m.type) {
		case NFS_M_READY:
			/* The version is checked by the engine, not the decoder. */
			if (m.u.ready.version == NFS_PROTO_VERSION)
				rc = nfs_enc_ready(&w, m.u.ready.backend, m.u.ready.pid);
			break;
		case NFS_M_RESULT:
			rc = nfs_enc_result(&w, m.u.result.txn, m.u.result.rc, m.u.result.kerr,
			                    m.u.result.op, m.u.result.text);
			break;
		case NFS_M_DUMP_END:
			rc = nfs_enc_dump_end(&w, m.u.dump_end.rc, m.u.dump_end.count,
			                      m.u.dump_end.anomalies, m.u.dump_end.genid);
			break;
		case NFS_M_BEGIN:
			rc = nfs_enc_begin(&w, m.u.begin.txn, m.u.begin.genid);
			break;
		case NFS_M_SET_ADD:
		case NFS_M_SET_DEL:
		case NFS_M_SET_SWAP:
		case NFS_M_DUMP:
			rc = nfs_enc_set(&w, m.type, &m.u.set.id, m.u.set.flags, m.u.set.size);
			break;
		case NFS_M_CHAIN_FLUSH:
		case NFS_M_CHAIN_DEL:
		case NFS_M_CHAIN_ADD:
			rc = nfs_enc_chain(&w, m.type, m.u.chain.chain, m.u.chain.prio);
			break;
		case NFS_M_RULES:
			rc = nfs_enc_rules(&w, m.u.rules.ids, m.u.rules.n);
			break;
		case NFS_M_ELEMS:
			rc = nfs_enc_elems_start(&w, m.u.elems.op, &m.u.elems.id, m.u.elems.flags);
			rn_wcur_bytes(&w, m.u.elems.items,
			              (size_t)m.u.elems.n * nfs_item_len(m.u.elems.id.kind));
			if (rc == RN_OK)
				rc = nfs_enc_elems_finish(&w, m.u.elems.n);
			break;
		default:
			rc = nfs_enc_simple(&w, m.type);
			break;
		}
	}
	if (rc == RN_OK && (w.len != size || memcmp(w.p, data, size) != 0))
		abort(); /* accepted, but not in the one form the encoder writes */
	return 0;
}
