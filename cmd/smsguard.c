/* smsguard: one binary, git-style sub-commands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct subcommand {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"decode", cmd_decode, "decode SMPP from a capture or interface to JSON Lines"},
    {"replay", cmd_replay, "judge a capture offline, one verdict per message"},
    {"run", cmd_run, "the daemon: judge live or file traffic, reload on SIGHUP"},
    {"rules", cmd_rules, "check, test and evaluate rule sets"},
    {"whitelist", cmd_whitelist, "manage the verified-sender whitelist"},
    {"blacklist", cmd_blacklist, "manage the blacklist"},
    {"exception", cmd_exception, "manage narrow sender-to-subscriber exceptions"},
    {"token", cmd_token, "create and revoke admin API tokens"},
    {"proxy", cmd_proxy, "inline SMPP proxy: judge and stop messages between ESMEs and an SMSC"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: smsguard COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n'smsguard COMMAND --help' describes a command; see also docs/smsguard.1.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("smsguard %s\n", SMSGUARD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(argv[1], subcommands[i].name) != 0)
            continue;
        return subcommands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "smsguard: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
