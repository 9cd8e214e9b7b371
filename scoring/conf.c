/*
 * conf.c: the scorer's configuration keys.
 */
#include "scoring/scoring.h"

const struct rn_conf_key scoring_conf_keys[] = {
        {.name = NULL},
};
