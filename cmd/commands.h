/* Entry points of the smsguard sub-commands, called by cmd/smsguard.c's
 * dispatcher with argv[0] = the sub-command name ("rules", ...).  Each
 * returns the process exit status (0 ok, 1 failure found, 2 usage error).
 * One line per sub-command; its owner adds it. */
#ifndef SG_COMMANDS_H
#define SG_COMMANDS_H

int cmd_decode(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* smsguard rules check|test|eval ... (cmd/cmd-rules.c) */
int cmd_rules(int argc, char **argv);
int cmd_whitelist(int argc, char **argv);
int cmd_blacklist(int argc, char **argv);
int cmd_exception(int argc, char **argv);
int cmd_token(int argc, char **argv);
/* smsguard proxy: the inline SMPP proxy (cmd/cmd-proxy.c, proxy/) */
int cmd_proxy(int argc, char **argv);

#endif
