/*
 * syslog_server.h: the syslog UDP and TCP receiver. Internal to the
 * collector.
 */
#ifndef REPNET_COLLECTOR_SYSLOG_SERVER_H
#define REPNET_COLLECTOR_SYSLOG_SERVER_H

#include "collector/smtp.h"

/* TCP connections are counted by the connection server (listener "syslog"). */
struct syslog_counters {
	struct rn_counter datagrams;
	struct rn_counter frame_errors;
	struct rn_counter read_errors; /* UDP */
	struct rn_counter refused_udp; /* datagrams from outside syslog.senders */
	struct rn_counter refused_tcp; /* connections from outside syslog.senders */
};

struct syslog_server;

/*
 * Binds conf->syslog_udp and conf->syslog_tcp (either may be NULL) and
 * serves them from a thread into the two pipes; the TCP connections'
 * counters go to m (may be NULL). Only conf->syslog_senders (loopback
 * when empty; collector_smtp_conf_check() first) may send: UDP datagrams
 * and TCP connections from others are refused and counted. On failure
 * nothing is left bound. Free with syslog_server_stop().
 */
int syslog_server_start(struct syslog_server **out, const struct collector_smtp_conf *conf,
                        struct smtp_pipe *udp_pipe, struct smtp_pipe *tcp_pipe,
                        struct syslog_counters *ctr, struct rn_metrics *m);
/* The port bound (0: off). */
unsigned syslog_server_port(const struct syslog_server *s, bool tcp);
/* Stops after reading what is queued, flushes the pipes, frees. Safe on NULL. */
void syslog_server_stop(struct syslog_server *s);

#endif /* REPNET_COLLECTOR_SYSLOG_SERVER_H */
