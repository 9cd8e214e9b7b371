/*
 * cmd_keygen.c: repnet keygen, an ed25519 signing key (a publisher's or a
 * collector's: the same kind of key).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

int cmd_keygen(int argc, char **argv)
{
	static const struct option lopts[] = {{"out", required_argument, NULL, 'o'},
	                                      {NULL, 0, NULL, 0}};
	const char *prefix = "publisher";
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", lopts, NULL)) != -1) {
		if (ch != 'o')
			return 2;
		prefix = optarg;
	}
	if (optind != argc)
		return 2;
	char sk[4096], pk[4096], pub[FEEDS_PUBKEY_B64];
	if (snprintf(sk, sizeof(sk), "%s.key", prefix) >= (int)sizeof(sk) ||
	    snprintf(pk, sizeof(pk), "%s.pub", prefix) >= (int)sizeof(pk)) {
		fprintf(stderr, "repnet: %s: name too long\n", prefix);
		return 1;
	}
	int rc = feeds_key_generate(sk, pk, pub);
	if (rc != RN_OK) {
		fprintf(stderr, "repnet: cannot write %s: %s\n", sk, rn_strerror(rc));
		return 1;
	}
	printf("secret key: %s (keep it; mode 0600)\n", sk);
	printf("public key: %s\n", pk);
	printf("\nmembers trust it as a publisher (feeds.bus.peers), or a scorer as a collector\n"
	       "(feeds.bus.collectors), with:\n  key = \"%s\";\n",
	       pub);
	return 0;
}
