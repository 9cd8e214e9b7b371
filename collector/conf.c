/*
 * conf.c: the collector's configuration keys.
 */
#include "collector/collector.h"

const struct rn_conf_key collector_smtp_conf_keys[] = {
        {.name = NULL},
};

/* collector_flow_conf_keys is in flow_conf.c. */
