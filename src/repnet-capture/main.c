/*
 * main.c: repnet-capture, the privileged capture helper that repnetd and
 * repnet start for the tpacket and xdp capture paths. It takes the number
 * of the descriptor that carries its one request (3 when started by the
 * collector) and is not meant to be run by hand.
 */
#include <stdio.h>
#include <stdlib.h>

#include "collector/collector.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: repnet-capture FD (started by repnetd, not by hand)\n");
		return 2;
	}
	char *end;
	long fd = strtol(argv[1], &end, 10);
	if (*end != '\0' || fd < 3 || fd > 1024) {
		fprintf(stderr, "repnet-capture: bad descriptor %s\n", argv[1]);
		return 2;
	}
	return collector_capture_helper((int)fd);
}
