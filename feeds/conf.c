/*
 * conf.c: the feeds' configuration keys.
 */
#include "feeds/feeds.h"

const struct rn_conf_key feeds_bus_conf_keys[] = {
        {.name = NULL},
};

const struct rn_conf_key feeds_rbl_conf_keys[] = {
        {.name = NULL},
};

/* feeds_sync_conf_keys: nfsync_conf.c. */
