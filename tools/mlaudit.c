/* mlaudit: the command-line tool. Dispatches to one function per subcommand. */
#include "cli.h"

#include <string.h>

#define MLAUDIT_VERSION "0.1.0"

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("mlaudit %s\n", MLAUDIT_VERSION);
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out) {
    fputs("usage: mlaudit COMMAND [FLAGS]   (mlaudit COMMAND --help for its flags)\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mlaudit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
