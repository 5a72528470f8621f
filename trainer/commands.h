/* commands.h - the subcommands of the shardnet binary.  Each takes the
 * arguments after its name (argv[0] is the command name) and returns the
 * process exit status: 0 success, 1 failure, 2 usage error. */
#ifndef SHARDNET_COMMANDS_H
#define SHARDNET_COMMANDS_H

int cmd_prepare(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif
