/*
 * cmds.h: the subcommands of repnet, one file each (cmd_<name>.c). Each
 * takes argv with argv[0] the command name, and returns the exit code
 * (2 for a usage error, which main() answers with the usage line).
 * Internal to the repnet executable.
 */
#ifndef REPNET_CMDS_H
#define REPNET_CMDS_H

#include <stdio.h>

#include "src/common/sections.h"

int cmd_config(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_nfsync(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_feed(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_delist(int argc, char **argv);
int cmd_replay(int argc, char **argv);

/* repnet demo --help: where the demo finds its data and repnetd (cmd_demo.c). */
void cmd_demo_help(FILE *f);

/* Shared by score and explain (cmd_score.c). */
int score_conf_load(const struct conf_args *ca, const char *never_block, bool no_default,
                    bool dry_run, struct scoring_conf *out);
int score_replay(struct scoring_engine *e, const char *file, bool lenient,
                 struct scoring_ingest_stats *st);
/* Milli-points as text: "5", "5.25". */
#define SCORE_POINTS_STRLEN 16
const char *score_points_format(uint32_t milli, char buf[SCORE_POINTS_STRLEN]);
void score_print_points(FILE *out, uint32_t milli);
/* Categories as a JSON array of names (rn_category_json_write), printed. */
void score_print_cats(FILE *out, uint32_t cats);
/* One blocklist entry as a JSON line, the format repnet export --from reads. */
void score_print_entry(FILE *out, const struct scoring_entry *e, bool dry_run);

#endif /* REPNET_CMDS_H */
