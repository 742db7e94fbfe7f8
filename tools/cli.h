/* Helpers shared by the mlaudit subcommands: flag parsing, fatal errors, output.
 * Only the CLI prints and exits; the library returns statuses. */
#ifndef MLAUDIT_CLI_H
#define MLAUDIT_CLI_H

#include "mlaudit/core.h"

#include <signal.h>
#include <stdbool.h>

typedef enum { CLI_STR, CLI_INT, CLI_DOUBLE, CLI_FLAG } cli_kind;

/* One flag of a subcommand: "--name VALUE" (or "--name=VALUE"); CLI_FLAG takes no value.
 * For CLI_INT and CLI_DOUBLE the value must parse fully and lie in [min, max]. */
typedef struct {
    const char *name;   /* without the dashes */
    cli_kind kind;
    void *dst;          /* const char **, long *, double *, or bool * */
    double min, max;
    bool *seen;         /* optional: set when the flag was given */
} cli_opt;

/* Parses argv[1..argc) (argv[0] is the subcommand). Prints usage and exits 0 on
 * --help / -h; prints "mlaudit CMD: ..." and exits 2 on an unknown flag, a missing
 * or malformed value, or a positional argument. */
void cli_parse(const char *cmd, const char *usage, int argc, char **argv, const cli_opt *opts, int n_opts);

/* Prints "mlaudit: MESSAGE" on stderr and exits 1. */
_Noreturn void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Dies with mla_last_error() if s is not MLA_OK. */
void cli_check(mla_status s);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct {
    const char *label;
    long total;
    double start, last_draw;
    bool enabled;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, long total);
void cli_progress_update(cli_progress *p, long done, const char *extra);
void cli_progress_end(cli_progress *p);

/* Installs SIGINT / SIGTERM handlers that set the returned flag (for
 * mla_train_config.stop: training ends cleanly after the current batch). */
const volatile sig_atomic_t *cli_stop_flag(void);

/* Subcommands: each returns the process exit code. */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_mia(int argc, char **argv);
int cmd_dp(int argc, char **argv);
int cmd_robust(int argc, char **argv);
int cmd_fl(int argc, char **argv);
int cmd_anomaly(int argc, char **argv);

#endif
