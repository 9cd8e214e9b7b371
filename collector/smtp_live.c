#include "collector/smtp.h"
int collector_smtp_start(struct collector_smtp_live **out, const struct collector_smtp_conf *conf,
                         const char *data_dir, struct rn_metrics *m,
                         const struct collector_sink *sink)
{
	(void)out; (void)conf; (void)data_dir; (void)m; (void)sink;
	return RN_EUNSUPP;
}
unsigned collector_smtp_udp_port(const struct collector_smtp_live *l) { (void)l; return 0; }
unsigned collector_smtp_tcp_port(const struct collector_smtp_live *l) { (void)l; return 0; }
void collector_smtp_stop(struct collector_smtp_live *l) { (void)l; }
