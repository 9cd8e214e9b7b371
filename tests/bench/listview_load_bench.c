/*
 * listview_load_bench.c: what loading a list file into the list view
 * costs, as the serve role does it (not a test).
 *
 *   listview_load_bench FILE [FORMAT] [ROUNDS] [array]
 *
 * FORMAT defaults to ip4set (tests/bench/gen_zone.py writes 1M addresses
 * as ip4tset.txt). By default the file goes through a bulk load
 * (feeds_import_load, feeds_listview_replace_load), as the serve role
 * loads it; "array" reads it into an array of entries and calls
 * feeds_listview_replace() instead. Prints, for the first load into an
 * empty view and for
 * reloads of the same file into the loaded view: the time to read and
 * parse the file, the time to replace the view's content, the view's
 * memory, and the process's RSS and peak RSS (VmRSS, VmHWM) after each
 * step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feeds/rbl/rbl.h"
#include "feeds/view/view.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	enum feeds_list_format fmt = FEEDS_FMT_IP4SET;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	bool array = argc > 4 && strcmp(argv[4], "array") == 0;
	struct feeds_listview *lv = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [FORMAT] [ROUNDS] [array]\n", argv[0]);
		return 2;
	}
	if (argc > 2 && feeds_list_format_parse(argv[2], &fmt) != RN_OK) {
		fprintf(stderr, "unknown format %s\n", argv[2]);
		return 2;
	}
	if (feeds_listview_alloc(&lv, 65536) != RN_OK)
		return 1;
	printf("%-8s %9s %9s %9s %10s %9s %9s\n", "round", "parse_s", "replace_s", "total_s",
	       "view_kB", "rss_kB", "hwm_kB");
	for (int i = 0; i < rounds; i++) {
		struct feeds_view_entry *e = NULL;
		struct feeds_listview_load *ld = NULL;
		size_t n = 0;
		struct feeds_import_stats st;
		double t0 = now_s(), t1;
		int rc;
		if (array) {
			rc = feeds_import_file(argv[1], fmt, 1u << RN_CAT_DROP, (size_t)16 << 20,
			                       &e, &n, &st);
			t1 = now_s();
			if (rc == RN_OK)
				rc = feeds_listview_replace(lv, e, n);
			free(e);
		} else {
			rc = feeds_listview_load_alloc(&ld);
			if (rc == RN_OK)
				rc = feeds_import_load(argv[1], fmt, 1u << RN_CAT_DROP,
				                       (size_t)16 << 20, ld, &st);
			t1 = now_s();
			if (rc == RN_OK)
				rc = feeds_listview_replace_load(lv, ld);
			feeds_listview_load_free(ld);
		}
		double t2 = now_s();
		if (rc != RN_OK) {
			fprintf(stderr, "load: %s\n", rn_strerror(rc));
			return 1;
		}
		printf("%-8s %9.3f %9.3f %9.3f %10zu %9ld %9ld\n", i == 0 ? "first" : "reload",
		       t1 - t0, t2 - t1, t2 - t0, feeds_listview_memory(lv) / 1024,
		       status_kb("VmRSS"), status_kb("VmHWM"));
	}
	printf("# %zu entries\n", feeds_listview_count(lv));
	feeds_listview_free(lv);
	return 0;
}
