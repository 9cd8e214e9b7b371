/*
 * conf.c: the netfilter sync's configuration keys, "sync.*" in the
 * "feeds" section, and the engine's copy of a configuration.
 *
 * Design notes: the table below is the whole schema (name, type, bounds,
 * default, reload); the checks only validate, they keep no state. The
 * engine owns a deep copy of the configuration it was opened with, so
 * that the caller may free or reload its own. Thread-safe: no state.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feeds/nfsync/engine.h"

#define SYNC_OFF(f) offsetof(struct feeds_sync_conf, f)

static const char *const backend_names[] = {"nft", "ipset", NULL};
static const char *const hook_names[] = {"input", "forward", NULL};

static int check_table(const void *field, char *err, size_t errlen)
{
	const char *spec = *(const char *const *)field;
	char name[NFS_NAME_MAX];
	int family;
	if (spec == NULL || nfs_table_parse(spec, &family, name, sizeof(name)) != RN_OK) {
		snprintf(err, errlen,
		         "must be \"FAMILY NAME\": FAMILY inet, ip or ip6, NAME of "
		         "letters, digits, '_', '-' and '.'");
		return RN_ECONF;
	}
	return RN_OK;
}

static int check_prefix(const void *field, char *err, size_t errlen)
{
	const char *p = *(const char *const *)field;
	if (p == NULL || p[0] == '\0')
		goto bad;
	for (const char *c = p; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			goto bad;
	return RN_OK;
bad:
	snprintf(err, errlen, "must be 1 to %d characters of a-z, 0-9 and '_'",
	         NFS_IPSET_PREFIX_MAX);
	return RN_ECONF;
}

const struct rn_conf_key feeds_sync_conf_keys[] = {
        {.name = "sync.backend",
         .type = RN_CONF_ENUM,
         .offset = SYNC_OFF(backend),
         .def = "nft",
         .enum_names = backend_names,
         .help = "Kernel sets to keep equal to the blocklist: nft (nftables sets, over "
                 "netlink) or ipset (for hosts that still run iptables)."},
        {.name = "sync.table",
         .type = RN_CONF_STRING,
         .offset = SYNC_OFF(table),
         .min = 3,
         .max = 64,
         .def = "inet repnet",
         .check = check_table,
         .help = "nftables table of repnet's own, \"FAMILY NAME\" (inet, ip or ip6). Created "
                 "if absent; `repnet nfsync destroy` removes it."},
        {.name = "sync.ipset_prefix",
         .type = RN_CONF_STRING,
         .min = 1,
         .max = NFS_IPSET_PREFIX_MAX,
         .offset = SYNC_OFF(ipset_prefix),
         .def = "repnet",
         .check = check_prefix,
         .help = "ipset backend: set names start with this and '_' (repnet_v4, repnet_net6, "
                 "...)."},
        {.name = "sync.per_category",
         .type = RN_CONF_BOOL,
         .offset = SYNC_OFF(per_category),
         .def = "false",
         .help = "One group of sets per category (spam_source_v4, ...) with its own drop "
                 "counters, instead of one group for all."},
        {.name = "sync.hooks",
         .type = RN_CONF_FLAGS,
         .offset = SYNC_OFF(hooks),
         .def = "input",
         .enum_names = hook_names,
         .help = "nft backend: base chains (input, forward) that jump to the blocklist chain. "
                 "Empty: none; hook the sets into your own ruleset."},
        {.name = "sync.priority",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(priority),
         .min = -400,
         .max = 400,
         .def = "-10",
         .help = "Priority of those base chains; below 0 runs before the usual filter "
                 "chains."},
        {.name = "sync.allow",
         .type = RN_CONF_PREFIXES,
         .offset = SYNC_OFF(allow),
         .max = 4096,
         .def = NULL,
         .help = "nft backend: prefixes accepted by rules placed before the drop rules, "
                 "whatever the blocklist says."},
        {.name = "sync.size_min",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(size_min),
         .min = 1024,
         .max = 1LL << 30,
         .def = "65536",
         .help = "Smallest declared size of an address set. A declared size makes the kernel "
                 "use its fixed-size hash, three times faster to load."},
        {.name = "sync.headroom",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(headroom_pct),
         .min = 0,
         .max = 1000,
         .def = "50",
         .help = "Percent of room above the current count when sizing a set; outgrowing it "
                 "swaps in a bigger set."},
        {.name = "sync.max_elements",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(max_elements),
         .min = 1024,
         .max = 1LL << 30,
         .def = "16777216",
         .help = "Most elements in one set; entries beyond are refused and counted."},
        {.name = "sync.min_prefix4",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(min_prefix4),
         .min = 0,
         .max = 32,
         .def = "8",
         .help = "Shorter IPv4 prefixes are refused (a guard against a feed blocking the "
                 "world)."},
        {.name = "sync.min_prefix6",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(min_prefix6),
         .min = 0,
         .max = 128,
         .def = "19",
         .help = "Shorter IPv6 prefixes are refused."},
        {.name = "sync.swap",
         .type = RN_CONF_INT,
         .offset = SYNC_OFF(swap_pct),
         .min = 1,
         .max = 100,
         .def = "25",
         .help = "A load or repair that changes more than this percent of a set builds a "
                 "fresh set and swaps it in."},
        {.name = "sync.reconcile_interval",
         .type = RN_CONF_DURATION,
         .offset = SYNC_OFF(reconcile_ms),
         .min = 1000,
         .max = 86400000,
         .def = "5m",
         .flags = RN_CONF_RELOAD,
         .help = "How often the kernel sets are compared with the blocklist and repaired."},
        {.name = "sync.dump_interval",
         .type = RN_CONF_DURATION,
         .offset = SYNC_OFF(dump_ms),
         .min = 1000,
         .max = 604800000,
         .def = "1h",
         .flags = RN_CONF_RELOAD,
         .help = "A reconcile skips the dump while the ruleset generation is still the one "
                 "repnet's last commit left (nothing else changed it); this long at most."},
        {.name = "sync.timeout",
         .type = RN_CONF_DURATION,
         .offset = SYNC_OFF(timeout_ms),
         .min = 100,
         .max = 3600000,
         .def = "30s",
         .help = "Longest wait for the applier; past it the applier is killed, restarted and "
                 "the sets resynchronised."},
        {.name = "sync.applier",
         .type = RN_CONF_STRING,
         .offset = SYNC_OFF(applier),
         .min = 0,
         .max = 1024,
         .def = NULL,
         .help = "Path of repnet-nfsync, the privileged applier. Empty: beside the running "
                 "executable, else in the installed sbin directory."},
        {.name = NULL},
};

int nfs_conf_copy(struct feeds_sync_conf *dst, const struct feeds_sync_conf *src)
{
	*dst = *src;
	dst->table = strdup(src->table ? src->table : "inet repnet");
	dst->ipset_prefix = strdup(src->ipset_prefix ? src->ipset_prefix : "repnet");
	dst->applier = src->applier ? strdup(src->applier) : NULL;
	memset(&dst->allow, 0, sizeof(dst->allow));
	if (dst->table == NULL || dst->ipset_prefix == NULL || (src->applier && !dst->applier))
		return -ENOMEM;
	for (size_t i = 0; i < src->allow.n; i++) {
		int rc = rn_prefix_list_add(&dst->allow, &src->allow.v[i]);
		if (rc != RN_OK)
			return rc;
	}
	return RN_OK;
}

void nfs_conf_free(struct feeds_sync_conf *c)
{
	free(c->table);
	free(c->ipset_prefix);
	free(c->applier);
	rn_prefix_list_clear(&c->allow);
}
