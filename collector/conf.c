/*
 * conf.c: the collector's configuration keys.
 */
#include "collector/collector.h"

const struct rn_conf_key collector_conf_keys[] = {
        {.name = NULL},
};
