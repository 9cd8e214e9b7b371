/*
 * flow_conf.c: the flow telemetry keys of the "collector" section
 * (collector_flow_conf_keys, all named "flow.*").
 *
 * Design notes: the table is the single source of truth for defaults and
 * bounds; `repnet config` prints it and the README repeats it. Caps that
 * bound memory (exporters, templates, pending bytes, detector state) are
 * all here so that an operator can see what a hostile exporter can cost.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "collector/collector.h"

#define FOFF(f) offsetof(struct collector_flow_conf, f)

static const char *const backend_names[] = {"udp", "tpacket", "xdp", NULL};
static const char *const xdp_mode_names[] = {"skb", "native", NULL};
static const char *const xdp_bind_names[] = {"auto", "copy", "zerocopy", NULL};

const struct rn_conf_key collector_flow_conf_keys[] = {
        {.name = "flow.netflow_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = FOFF(netflow_listen),
         .def = "127.0.0.1:2055",
         .help = "UDP address for NetFlow v5/v9 (any listener decodes any flow protocol). "
                 "Empty disables it."},
        {.name = "flow.ipfix_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = FOFF(ipfix_listen),
         .def = "127.0.0.1:4739",
         .help = "UDP address for IPFIX. Empty disables it."},
        {.name = "flow.sflow_listen",
         .type = RN_CONF_HOSTPORT,
         .offset = FOFF(sflow_listen),
         .def = "127.0.0.1:6343",
         .help = "UDP address for sFlow v5. Empty disables it."},
        {.name = "flow.backend",
         .type = RN_CONF_ENUM,
         .offset = FOFF(backend),
         .def = "udp",
         .enum_names = backend_names,
         .help = "Capture path for the listeners: udp (recvmmsg), tpacket (AF_PACKET "
                 "TPACKET_V3 ring on flow.interface) or xdp (AF_XDP on flow.interface)."},
        {.name = "flow.interface",
         .type = RN_CONF_STRING,
         .offset = FOFF(interface),
         .min = 0,
         .max = 15,
         .help = "Interface the tpacket and xdp backends capture the listeners' UDP ports on."},
        {.name = "flow.xdp_mode",
         .type = RN_CONF_ENUM,
         .offset = FOFF(xdp_mode),
         .def = "skb",
         .enum_names = xdp_mode_names,
         .help = "XDP attach mode: skb (generic, any driver) or native (driver support)."},
        {.name = "flow.xdp_bind",
         .type = RN_CONF_ENUM,
         .offset = FOFF(xdp_bind),
         .def = "auto",
         .enum_names = xdp_bind_names,
         .help = "AF_XDP bind: auto tries zero-copy and falls back to copy; copy; zerocopy."},
        {.name = "flow.exporters",
         .type = RN_CONF_PREFIXES,
         .offset = FOFF(exporters),
         .min = 0,
         .max = 4096,
         .help = "Prefixes that may send flow export to the live collector, on every capture "
                 "path; datagrams from anywhere else are dropped and counted "
                 "(repnet_flow_refused_total). Empty: loopback, and a listener off loopback "
                 "refuses to start. UDP sources can be forged: this helps only where the "
                 "network drops forged sources."},
        {.name = "flow.workers",
         .type = RN_CONF_INT,
         .offset = FOFF(workers),
         .min = 1,
         .max = 64,
         .def = "1",
         .help = "Decoding threads; udp: SO_REUSEPORT sockets per listener; tpacket: fanout "
                 "members; xdp: queues 0..workers-1."},
        {.name = "flow.rcvbuf",
         .type = RN_CONF_SIZE,
         .offset = FOFF(rcvbuf),
         .min = 65536,
         .max = 1073741824,
         .def = "8M",
         .help = "SO_RCVBUF of each UDP socket (SO_RCVBUFFORCE when the limit is lower and "
                 "the process may)."},
        {.name = "flow.batch",
         .type = RN_CONF_INT,
         .offset = FOFF(batch),
         .min = 1,
         .max = 1024,
         .def = "64",
         .help = "Datagrams or frames taken per receive call."},
        {.name = "flow.fanout_group",
         .type = RN_CONF_INT,
         .offset = FOFF(fanout_group),
         .min = 0,
         .max = 65535,
         .def = "0",
         .help = "PACKET_FANOUT group id for tpacket workers; 0 derives one from the pid."},
        {.name = "flow.helper",
         .type = RN_CONF_STRING,
         .offset = FOFF(helper),
         .min = 0,
         .max = 1024,
         .def = NULL,
         .help = "Path of repnet-capture, the privileged helper that opens AF_PACKET and "
                 "AF_XDP sockets and passes them over. Empty: in the installed libexec "
                 "directory (repnet/repnet-capture), else beside the running executable."},
        {.name = "flow.mirror_interface",
         .type = RN_CONF_STRING,
         .offset = FOFF(mirror_interface),
         .min = 0,
         .max = 15,
         .help = "Mirror port whose raw packets feed the flow meter. Empty disables it."},
        {.name = "flow.mirror_backend",
         .type = RN_CONF_ENUM,
         .offset = FOFF(mirror_backend),
         .def = "tpacket",
         .enum_names = backend_names,
         .help = "Capture path of the mirror port: tpacket or xdp (udp is refused at start)."},
        {.name = "flow.max_exporters",
         .type = RN_CONF_INT,
         .offset = FOFF(max_exporters),
         .min = 1,
         .max = 65536,
         .def = "1024",
         .help = "Exporters with their own metrics; more are counted as exporter=\"other\"."},
        {.name = "flow.max_templates",
         .type = RN_CONF_INT,
         .offset = FOFF(max_templates),
         .min = 16,
         .max = 1048576,
         .def = "4096",
         .help = "Templates held per worker, all exporters together."},
        {.name = "flow.max_templates_per_exporter",
         .type = RN_CONF_INT,
         .offset = FOFF(max_templates_per_exporter),
         .min = 1,
         .max = 65535,
         .def = "256",
         .help = "Templates one exporter (address, source ID or domain) may hold."},
        {.name = "flow.pending_bytes",
         .type = RN_CONF_SIZE,
         .offset = FOFF(pending_bytes),
         .min = 0,
         .max = 67108864,
         .def = "256k",
         .help = "Per worker, data sets that arrive before their template are held in this "
                 "many bytes until it arrives; 0 drops them (counted either way)."},
        {.name = "flow.pending_max_age",
         .type = RN_CONF_DURATION,
         .offset = FOFF(pending_max_age_ms),
         .min = 0,
         .max = 3600000,
         .def = "30s",
         .help = "How long a data set waits for its template."},
        {.name = "flow.template_save_interval",
         .type = RN_CONF_DURATION,
         .offset = FOFF(template_save_ms),
         .min = 1000,
         .max = 86400000,
         .def = "60s",
         .help = "How often changed templates are written to core.data_dir (and at stop)."},
        {.name = "flow.template_lifetime",
         .type = RN_CONF_DURATION,
         .offset = FOFF(template_lifetime_ms),
         .min = 1000,
         .max = 604800000,
         .def = "90m",
         .help = "A template (or options template) the exporter has not sent again for this "
                 "long expires (RFC 7011 8.4); 3 times the exporter's refresh interval or "
                 "more."},
        {.name = "flow.scale_sampling",
         .type = RN_CONF_BOOL,
         .offset = FOFF(scale_sampling),
         .def = "true",
         .help = "Multiply packets and bytes by the exporter's sampling interval when known "
                 "(records are flagged sampled either way)."},
        {.name = "flow.detect.enabled",
         .type = RN_CONF_BOOL,
         .offset = FOFF(detect),
         .def = "true",
         .help = "Run the flow detectors on decoded records."},
        {.name = "flow.detect.window",
         .type = RN_CONF_DURATION,
         .offset = FOFF(window_ms),
         .min = 1000,
         .max = 86400000,
         .def = "5m",
         .help = "Event-time window over which a source's behaviour is counted."},
        {.name = "flow.detect.pair_window",
         .type = RN_CONF_DURATION,
         .offset = FOFF(pair_window_ms),
         .min = 0,
         .max = 3600000,
         .def = "2m",
         .help = "How long a one-way record waits for its reverse direction (event time "
                 "offline, wall clock live)."},
        {.name = "flow.detect.max_sources",
         .type = RN_CONF_INT,
         .offset = FOFF(max_sources),
         .min = 64,
         .max = 16777216,
         .def = "65536",
         .help = "Addresses with detector state; the least recently seen are evicted "
                 "(counted)."},
        {.name = "flow.detect.max_pending",
         .type = RN_CONF_INT,
         .offset = FOFF(max_pending),
         .min = 64,
         .max = 16777216,
         .def = "262144",
         .help = "One-way records waiting for their reverse; the oldest are evicted "
                 "(counted)."},
        {.name = "flow.detect.spray_dsts",
         .type = RN_CONF_INT,
         .offset = FOFF(spray_dsts),
         .min = 2,
         .max = 100000,
         .def = "20",
         .help = "Distinct destinations reached with completed TCP on 25/465/587 in a window "
                 "that make an SMTP spray."},
        {.name = "flow.detect.hscan_dsts",
         .type = RN_CONF_INT,
         .offset = FOFF(hscan_dsts),
         .min = 2,
         .max = 100000,
         .def = "50",
         .help = "Distinct hosts that answered one source's probes in a window: a "
                 "horizontal scan."},
        {.name = "flow.detect.vscan_ports",
         .type = RN_CONF_INT,
         .offset = FOFF(vscan_ports),
         .min = 2,
         .max = 65536,
         .def = "50",
         .help = "Distinct destination ports that answered one source's probes in a window: "
                 "a vertical scan."},
        {.name = "flow.detect.bruteforce_sessions",
         .type = RN_CONF_INT,
         .offset = FOFF(bruteforce_sessions),
         .min = 2,
         .max = 1000000,
         .def = "20",
         .help = "Completed short sessions to authentication ports (22, 23, 21, 110, 143, "
                 "993, 995, 3389, 5900, 3306, 5432, 1433) in a window that make brute force."},
        {.name = "flow.detect.amp_reflectors",
         .type = RN_CONF_INT,
         .offset = FOFF(amp_reflectors),
         .min = 2,
         .max = 100000,
         .def = "10",
         .help = "Distinct reflectors answering one address with amplification-sized UDP "
                 "that make it an amplification victim."},
        {.name = "flow.detect.amp_bytes_per_packet",
         .type = RN_CONF_INT,
         .offset = FOFF(amp_bytes_per_packet),
         .min = 64,
         .max = 65535,
         .def = "400",
         .help = "Mean UDP packet size from an amplifier port (53, 123, 19, 161, 389, 1900, "
                 "11211, ...) that counts as amplified."},
        {.name = "flow.detect.context_min",
         .type = RN_CONF_INT,
         .offset = FOFF(context_min),
         .min = 1,
         .max = 1000000,
         .def = "5",
         .help = "One-way flows (SYN-only TCP, one-way UDP) from a source, or amplified "
                 "packets from a reflector, in a window before syn_only, udp_oneway or "
                 "reflector is reported."},
        {.name = NULL},
};

int collector_flow_conf_check(const struct collector_flow_conf *c, char *err, size_t errlen)
{
	static const char *const keys[3] = {"netflow_listen", "ipfix_listen", "sflow_listen"};
	const char *l[3] = {c->netflow_listen, c->ipfix_listen, c->sflow_listen};

	if (c->exporters.n > 0)
		return RN_OK;
	for (int i = 0; i < 3; i++) {
		if (l[i] == NULL)
			continue;
		if (c->backend != COLLECTOR_FLOW_BACKEND_UDP) {
			if (c->interface != NULL && strcmp(c->interface, "lo") == 0)
				continue;
			snprintf(err, errlen,
			         "collector.flow.exporters is empty and the %s backend captures "
			         "collector.flow.%s on %s, off loopback: list the exporters that "
			         "may send flow export (collector.flow.exporters)",
			         c->backend == COLLECTOR_FLOW_BACKEND_XDP ? "xdp" : "tpacket",
			         keys[i], c->interface != NULL ? c->interface : "no interface");
			return RN_ECONF;
		}
		if (!rn_hostport_is_loopback(l[i])) {
			snprintf(err, errlen,
			         "collector.flow.%s %s is off loopback and "
			         "collector.flow.exporters is "
			         "empty: list the exporters that may send flow export there "
			         "(collector.flow.exporters)",
			         keys[i], l[i]);
			return RN_ECONF;
		}
	}
	return RN_OK;
}
