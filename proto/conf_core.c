/*
 * conf_core.c: the core section of the configuration (struct
 * rn_core_conf): the node's name, data directory, roles, log level, HTTP
 * listener, the user to run as, and shutdown grace. A table: no code.
 */
#include "proto/proto.h"

const char *const rn_role_names[] = {"collect", "score", "publish", "serve", "sync", NULL};
/* Index i is syslog level RN_LOG_ERR + i. */
static const char *const log_level_names[] = {"err", "warning", "notice", "info", "debug", NULL};

#define CORE_OFF(f) offsetof(struct rn_core_conf, f)

const struct rn_conf_key rn_core_conf_keys[] = {
        {.name = "instance",
         .type = RN_CONF_STRING,
         .offset = CORE_OFF(instance),
         .min = 1,
         .max = 63,
         .def = "repnet",
         .help = "Name of this node, in logs, metrics and the feed's publisher field."},
        {.name = "data_dir",
         .type = RN_CONF_STRING,
         .offset = CORE_OFF(data_dir),
         .min = 1,
         .max = 1024,
         .def = REPNET_DEFAULT_DATA_DIR,
         .help = "Directory for journals, snapshots, templates and keys. Created if absent."},
        {.name = "roles",
         .type = RN_CONF_FLAGS,
         .offset = CORE_OFF(roles),
         .def = "collect,score,publish,serve,sync",
         .enum_names = rn_role_names,
         .help = "Roles this process runs. All run in one process by default."},
        {.name = "log_level",
         .type = RN_CONF_ENUM,
         .offset = CORE_OFF(log_level),
         .def = "notice",
         .enum_names = log_level_names,
         .flags = RN_CONF_RELOAD,
         .help = "Least severe level logged: err, warning, notice, info or debug."},
        {.name = "http_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = CORE_OFF(http_listen),
         .def = "127.0.0.1:9477",
         .help = "Address of the HTTP listener that serves /metrics. Empty disables it."},
        {.name = "user",
         .type = RN_CONF_STRING,
         .offset = CORE_OFF(user),
         .min = 0,
         .max = 63,
         .def = "repnet",
         .help = "Started as root, repnetd becomes this user once its sockets and helpers are "
                 "open, with no capability left; the data directory is made its own. When "
                 "the default user repnet does not exist, repnetd stays as started and says "
                 "so; another name that does not exist is an error. Empty: stay as started."},
        {.name = "http_max_conns",
         .type = RN_CONF_INT,
         .offset = CORE_OFF(http_max_conns),
         .min = 1,
         .max = 100000,
         .def = "64",
         .help = "Open HTTP connections at most (lowered to the listener's share of the "
                 "descriptor limit). When full, a client holding fewer than the client "
                 "holding the most closes that client's oldest; others are refused."},
        {.name = "http_max_conns_per_client",
         .type = RN_CONF_INT,
         .offset = CORE_OFF(http_max_per_client),
         .min = 1,
         .max = 100000,
         .def = "16",
         .help = "Open HTTP connections of one client (IPv4 address, IPv6 /64) at most; its "
                 "next one closes its oldest."},
        {.name = "http_header_timeout",
         .type = RN_CONF_DURATION,
         .offset = CORE_OFF(http_header_timeout_ms),
         .min = 100,
         .max = 600000,
         .def = "10s",
         .help = "An HTTP request's head not complete this long after its first byte, or "
                 "its answer not read this long after the head, closes the connection; "
                 "more bytes do not extend it."},
        {.name = "http_idle",
         .type = RN_CONF_DURATION,
         .offset = CORE_OFF(http_idle_ms),
         .min = 1000,
         .max = 3600000,
         .def = "75s",
         .help = "An HTTP connection idle this long between requests is closed."},
        {.name = "shutdown_grace",
         .type = RN_CONF_DURATION,
         .offset = CORE_OFF(shutdown_grace_ms),
         .min = 0,
         .max = 600000,
         .def = "10s",
         .flags = RN_CONF_RELOAD,
         .help = "How long a stop waits for queues to drain before exiting."},
        {.name = NULL},
};
