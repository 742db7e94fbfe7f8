/* Flag parsing, fatal errors and the progress bar for the mlaudit CLI. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void cli_die(const char *fmt, ...) {
    va_list ap;
    fputs("mlaudit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void cli_check(mla_status s) {
    if (s != MLA_OK) cli_die("%s", *mla_last_error() ? mla_last_error() : mla_status_string(s));
}

static _Noreturn void usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "mlaudit %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'mlaudit %s --help')\n", cmd);
    exit(2);
}

static void set_value(const char *cmd, const cli_opt *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_STR:
        if (!*v) usage_error(cmd, "--%s needs a non-empty value", o->name);
        *(const char **)o->dst = v;
        break;
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end) usage_error(cmd, "--%s expects an integer, got '%s'", o->name, v);
        if (x < o->min || x > o->max)
            usage_error(cmd, "--%s must be between %.0f and %.0f, got %ld", o->name, o->min, o->max, x);
        *(long *)o->dst = x;
        break;
    }
    case CLI_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || !*v || *end || !isfinite(x))
            usage_error(cmd, "--%s expects a number, got '%s'", o->name, v);
        if (x < o->min || x > o->max)
            usage_error(cmd, "--%s must be between %g and %g, got %g", o->name, o->min, o->max, x);
        *(double *)o->dst = x;
        break;
    }
    case CLI_FLAG:
        *(bool *)o->dst = true;
        break;
    }
    if (o->seen) *o->seen = true;
}

void cli_parse(const char *cmd, const char *usage, int argc, char **argv, const cli_opt *opts, int n_opts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) usage_error(cmd, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, name, len)) o = &opts[k];
        if (!o) usage_error(cmd, "unknown flag '--%.*s'", (int)len, name);
        if (o->kind == CLI_FLAG) {
            if (eq) usage_error(cmd, "--%s takes no value", o->name);
            set_value(cmd, o, "");
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) usage_error(cmd, "--%s needs a value", o->name);
        set_value(cmd, o, v);
    }
}

void cli_progress_start(cli_progress *p, const char *label, long total) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->start = mla_seconds();
    p->last_draw = 0;
    p->enabled = isatty(STDERR_FILENO);
}

void cli_progress_update(cli_progress *p, long done, const char *extra) {
    if (!p->enabled) return;
    double now = mla_seconds();
    if (done < p->total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    int width = 30, fill = (int)(width * done / p->total);
    double elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : 0;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%% %5.1fs eta %5.1fs %s\033[K", (int)(100 * done / p->total), elapsed, eta,
            extra ? extra : "");
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->enabled) fputs("\r\033[K", stderr);
}

static volatile sig_atomic_t stop_requested = 0;
static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

const volatile sig_atomic_t *cli_stop_flag(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_requested;
}
