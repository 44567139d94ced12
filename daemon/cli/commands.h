/*
 * commands.h — the subcommands of the pledged binary. Each parses its own
 * flags, prints its own --help and returns an exit status (see cli.h).
 */
#ifndef COMMANDS_H
#define COMMANDS_H

int cmd_replay(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_rejections(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_upgrade(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_compact(int argc, char **argv);

#endif
