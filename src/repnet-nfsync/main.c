/*
 * main.c: repnet-nfsync, the netfilter applier: the only repnet process
 * with CAP_NET_ADMIN. It is started by the sync engine (repnetd's sync
 * role, or `repnet nfsync`) with one end of a socketpair as --fd, and
 * applies the typed batches it receives there; see feeds/nfs_apply.c.
 */
#include "feeds/nfapply/nfapply.h"

int main(int argc, char **argv)
{
	return feeds_nfsync_applier_main(argc, argv);
}
