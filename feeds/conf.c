/*
 * conf.c: the feeds' configuration keys.
 */
#include "feeds/feeds.h"

const struct rn_conf_key feeds_conf_keys[] = {
        {.name = NULL},
};
