/*
 * cmds.h: the subcommands of repnet, one file each (cmd_<name>.c). Each
 * takes argv with argv[0] the command name, and returns the exit code
 * (2 for a usage error, which main() answers with the usage line).
 * Internal to the repnet executable.
 */
#ifndef REPNET_CMDS_H
#define REPNET_CMDS_H

#include "src/common/sections.h"

int cmd_config(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_nfsync(int argc, char **argv);
int cmd_sub(int argc, char **argv);

#endif /* REPNET_CMDS_H */
