/*
 * main.c: repnet, the command-line tool. Each subcommand is one row of
 * the table below, with its own --help.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"

struct cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static const struct cmd *find_cmd(const char *name);
static void main_usage(FILE *f);

static void cmd_usage(const struct cmd *c)
{
	printf("usage: repnet %s\n\n%s\n", c->usage, c->summary);
	if (c->run == cmd_demo)
		cmd_demo_help(stdout); /* where its data is, found at run time */
}

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

static int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return 2;
	printf("repnet %s\n", REPNET_VERSION_STRING);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stdout);
		return 0;
	}
	const struct cmd *c = find_cmd(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "repnet: no command \"%s\"\n", argv[1]);
		return 2;
	}
	cmd_usage(c);
	return 0;
}

static const struct cmd cmds[] = {
        {"config",
         "Print every configuration key with its type, default and range (Markdown),\n"
         "or with --dump the effective configuration after FILE and overrides.",
         "config [--dump] [-c FILE] [-o section.key=value]...", cmd_config},
        {"logs",
         "Read Postfix or Exim logs and print one JSON object per observation (ts, ip,\n"
         "kind, source, program, evidence, count); --summary prints counts per kind and\n"
         "unparsed lines per program instead. FILE or - reads in event time; --follow,\n"
         "--udp and --tcp (with --stdin) run the live sources until SIGINT or SIGTERM.",
         "logs [--format auto|postfix|exim] [--summary] [--no-detect] [--show-unparsed]\n"
         "       [--ref-time RFC3339] [-c FILE] [-o section.key=value]... FILE|-\n"
         "   or: repnet logs [options] [--follow FILE]... [--udp HOST:PORT] [--tcp HOST:PORT] "
         "[--stdin]",
         cmd_logs},
        {"keygen",
         "Make an ed25519 signing key, a publisher's or a collector's: PREFIX.key\n"
         "(secret) and PREFIX.pub.",
         "keygen [-o PREFIX]", cmd_keygen},
        {"export",
         "Write a blocklist as rbldnsd data, an nft script, an ipset restore file, a plain\n"
         "list or JSON lines, read from a list file (--from, in --from-format; entries\n"
         "without categories get --category, default drop). --output replaces FILE\n"
         "atomically; without it the export goes to standard output. Entries expired now,\n"
         "or at --at TIME (RFC 3339: a list scored from old logs), are left out.",
         "export --format rbldnsd|nft|ipset|plain|json --from FILE [--from-format FMT]\n"
         "       [--category CAT] [--at TIME] [--output FILE] [-c CONF]\n"
         "       [-o section.key=value]...",
         cmd_export},
        {"import",
         "Read an external list (Spamhaus DROP JSON or text, rbldnsd ip4set, CIDR list)\n"
         "or a blocklist repnet wrote (json, plain) as observations of kind \"imported\":\n"
         "print them as JSON lines (the format of repnet logs, which repnet score reads),\n"
         "or send them to a scorer's ingest listener with --to, signed with a collector\n"
         "key the scorer trusts (--key; default feeds.bus.collector_key, else\n"
         "core.data_dir/keys/collector.key), and wait for the acknowledgement. FILE -\n"
         "reads standard input.",
         "import --format drop-json|drop-txt|ip4set|cidr|json|plain FILE|- [--to URL [--key "
         "FILE]]\n"
         "       [-c CONF] [-o section.key=value]...",
         cmd_import},
        {"flows",
         "Decode the NetFlow v5/v9, IPFIX and sFlow datagrams in a pcap file: one JSON\n"
         "object per flow record, or totals and defect counts with --summary. --detect\n"
         "runs the flow detectors and prints their observations; --obs prints only the\n"
         "observations, in the line format of repnet logs (for repnet score --obs -);\n"
         "--mirror reads the\n"
         "file as mirror-port traffic through the packet meter. --live runs the\n"
         "configured collector (listeners or capture path) and prints what it decodes,\n"
         "until --count records, --seconds, or SIGINT/SIGTERM.",
         "flows [--summary] [--detect|--obs] [--mirror] [-c FILE] [-o section.key=value]... "
         "FILE.pcap\n"
         "       repnet flows --live [--count N] [--seconds S] [--summary] [--detect] [-c FILE] "
         "[-o ...]",
         cmd_flows},
        {"nfsync",
         "Netfilter sync by hand: load a blocklist FILE into the kernel sets (one\n"
         "\"PREFIX [CATEGORY]\" per line), apply a delta FILE (\"+ENTRY\"/\"-ENTRY\"),\n"
         "dump or reconcile the sets, destroy them, or read commands from stdin\n"
         "(shell: load, add, del, commit, reconcile, dump, metrics, pid, quit).",
         "nfsync [-c FILE] [-o section.key=value]... load FILE|apply FILE|dump|reconcile|"
         "destroy|shell",
         cmd_nfsync},
        {"sub",
         "Subscribe to a publisher's feed, verify every message, and print the verified\n"
         "snapshots, deltas and heartbeats as JSON lines. --resync defaults to the feed's\n"
         "port + 1. TLS (tls+tcp:// URLs) takes feeds.bus.tls.* from -c or -o. At the end\n"
         "it prints the state's epoch, sequence and digest, and with --list writes the\n"
         "entries held (- for standard output), as repnet score does.",
         "sub URL --name PUBLISHER --key PUBKEY [--resync URL] [--count N] [--timeout S]\n"
         "       [--list FILE] [-c FILE] [-o section.key=value]...",
         cmd_sub},
        {"score",
         "Score observations (JSON lines, as `repnet logs` prints them) offline, in event\n"
         "time, and print the final blocklist as JSON lines.",
         "score [-c FILE] [-o section.key=value]... --obs FILE|- [--never-block CIDR,...]\n"
         "       [--no-default-never-block] [--dry-run] [--lenient]",
         cmd_score},
        {"explain",
         "Explain an address's score and listing: as of now, from the running repnetd\n"
         "(its operator API); else, or with --offline, from the scorer's state in the\n"
         "data directory (read-only); or from observations replayed as score does. It\n"
         "says which, and as of when.",
         "explain [-c FILE] [-o section.key=value]... [--offline | --data-dir DIR | --obs FILE|-]\n"
         "       [--never-block CIDR,...] [--no-default-never-block] [--json] IP",
         cmd_explain},
        {"lookup",
         "Where an address stands now, from the running repnetd: the scorer's blocklist,\n"
         "the list its DNSBL and policy service answer from, and the DNSBL's answer.",
         "lookup [-c FILE] [-o section.key=value]... [--json] IP", cmd_lookup},
        {"list",
         "The running repnetd's current blocklist, a page at a time: the scorer's table,\n"
         "or with --source served the list its DNSBL answers from; filtered by category\n"
         "and by a covering prefix. One listing a line: prefix, categories, expiry.",
         "list [-c FILE] [-o section.key=value]... [--category C] [--within PREFIX]\n"
         "       [--source scorer|served] [--limit N] [--after PREFIX] [--all] [--json]",
         cmd_list},
        {"delist",
         "Take an address or a prefix off the blocklist now, through the running scorer:\n"
         "an allow entry that is saved before the answer, kept across restarts and\n"
         "removed at its expiry (--for, 24h by default); --reason is required.",
         "delist [-c FILE] [-o section.key=value]... --reason TEXT [--for DURATION] IP|PREFIX",
         cmd_delist},
        {"demo",
         "Run the whole pipeline on real data: start repnetd on its defaults, replay the\n"
         "real Postfix and Exim logs and a softflowd NetFlow export through it at --speed\n"
         "(0: as fast as possible), show listings as the feed announces them, a dig\n"
         "answer, the feed's sequence and digest, and a summary; then stop repnetd. Its\n"
         "state lives in DATA_DIR/demo, emptied at each run unless --resume.",
         "demo [--speed X] [--data DIR] [--keep-running] [--resume] [-c FILE]\n"
         "       [-o section.key=value]...",
         cmd_demo},
        {"replay",
         "Send a syslog file (\"Mmm dd hh:mm:ss host tag[pid]: msg\" lines) to a syslog\n"
         "listener, for a lab: over UDP (syslog://, udp://) or TCP (tcp://, octet-counted\n"
         "framing, or --framing newline), as RFC 5424 (--rfc3164: traditional). --now\n"
         "moves every timestamp so that the last line is now, keeping the gaps; --rate\n"
         "sends at most N lines a second.",
         "replay FILE --to syslog://HOST:PORT|udp://HOST:PORT|tcp://HOST:PORT [--now]\n"
         "       [--rate N] [--framing octet|newline] [--rfc3164]",
         cmd_replay},
        {"status",
         "Summarise a running repnetd: roles, ingest, scorer, feed state, replica and\n"
         "members, from its /status (--json prints it as is).",
         "status [--http HOST:PORT] [--json] [-c FILE]", cmd_status},
        {"feed",
         "Feed state of a running repnetd: `repnet feed status` prints the publisher's and\n"
         "every subscription's epoch, sequence, digest, age and rejections.",
         "feed status [--http HOST:PORT] [-c FILE]", cmd_feed},
        {"version", "Print the version.", "version", cmd_version},
        {"help", "Describe a command.", "help [COMMAND]", cmd_help},
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < RN_ARRAY_LEN(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static void main_usage(FILE *f)
{
	fprintf(f, "usage: repnet COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < RN_ARRAY_LEN(cmds); i++) {
		const char *nl = strchr(cmds[i].summary, '\n');
		int n = nl ? (int)(nl - cmds[i].summary) : (int)strlen(cmds[i].summary);
		fprintf(f, "  %-10s %.*s\n", cmds[i].name, n, cmds[i].summary);
	}
	fprintf(f, "\nrepnet COMMAND --help describes one command.\n");
}

int main(int argc, char **argv)
{
	rn_log_init("repnet", true, RN_LOG_WARNING);
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	const struct cmd *c = find_cmd(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "repnet: no command \"%s\"\n\n", argv[1]);
		main_usage(stderr);
		return 2;
	}
	if (want_help(argc - 1, argv + 1)) {
		cmd_usage(c);
		return 0;
	}
	int code = c->run(argc - 1, argv + 1);
	if (code == 2)
		fprintf(stderr, "usage: repnet %s\n", c->usage);
	return code;
}
