/* mlaudit dp epsilon | sigma: DP-SGD's RDP accountant (dp.h) from the command line. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mlaudit/dp.h"

static const char dp_usage[] =
    "usage: mlaudit dp epsilon|sigma [flags]   (mlaudit dp SUBCOMMAND --help for its flags)\n"
    "\n"
    "The privacy accountant of DP-SGD (Renyi DP of the Poisson-subsampled Gaussian mechanism,\n"
    "Mironov et al. 2019): no data, no model, one JSON line.\n"
    "  epsilon   the (epsilon, delta) a training plan spends at noise multiplier --sigma\n"
    "  sigma     the smallest noise multiplier whose epsilon stays within --epsilon\n";

#define PLAN_HELP                                                                                       \
    "The plan: either\n"                                                                                \
    "  --q Q               sampling rate in [0, 1] (each example joins a step's batch with probability Q)\n" \
    "  --steps T           number of DP-SGD steps\n"                                                    \
    "or, in a training run's terms,\n"                                                                  \
    "  --batch B --n N --epochs E   q = B / N and steps = E * ceil(N / B)\n"                           \
    "  --delta D           the delta of (epsilon, delta), in (0, 1); 1 / N or below is usual\n"         \
    "  --orders SET        Renyi orders minimised over: tf (default; 1.25..4.5 step 0.25, 5..63,\n"     \
    "                      128, 256, 512), opacus (1.1..10.9 step 0.1, 12..63) or int (2..64)\n"

static const char epsilon_usage[] =
    "usage: mlaudit dp epsilon --q Q --sigma S --steps T --delta D [--orders tf|opacus|int]\n"
    "       mlaudit dp epsilon --batch B --n N --epochs E --sigma S --delta D [--orders SET]\n"
    "\n"
    "Prints the epsilon of T DP-SGD steps at sampling rate Q and noise multiplier S (noise\n"
    "standard deviation S times the clipping norm) as one JSON line: \"epsilon\" by the improved\n"
    "conversion of Balle et al. 2020 (as Opacus and TF Privacy report it) and \"epsilon_classic\"\n"
    "by rdp + log(1/delta) / (alpha - 1), each with the order that gave it.\n"
    "\n"
    "  --sigma S           noise multiplier, > 0\n" PLAN_HELP;

static const char sigma_usage[] =
    "usage: mlaudit dp sigma --q Q --epsilon E --steps T --delta D [--orders SET] [--tol X]\n"
    "       mlaudit dp sigma --batch B --n N --epochs E --epsilon E --delta D [--orders SET] [--tol X]\n"
    "\n"
    "Prints the smallest noise multiplier found whose (improved) epsilon is at most E, by\n"
    "Opacus's bisection, with that sigma's epsilon fields, as one JSON line. Fails when even\n"
    "sigma 640 spends more than E.\n"
    "\n"
    "  --epsilon E         the budget, > 0\n"
    "  --tol X             stop when E - epsilon(sigma) <= X (default 1e-6)\n" PLAN_HELP;

typedef struct {
    double q, sigma, delta, epsilon, tol;
    long steps, batch, n, epochs;
    const char *orders_name;
    mla_dp_orders orders;
    bool has_q, has_steps, has_batch, has_n, has_epochs, has_sigma, has_delta, has_epsilon;
} dp_args;

/* Resolves the plan into q and steps: --q/--steps or --batch/--n/--epochs, not both. */
static void resolve_plan(const char *cmd, dp_args *a) {
    bool direct = a->has_q || a->has_steps, runs = a->has_batch || a->has_n || a->has_epochs;
    if (direct && runs) cli_die("%s: give --q and --steps, or --batch, --n and --epochs, not both", cmd);
    if (runs) {
        if (!(a->has_batch && a->has_n && a->has_epochs))
            cli_die("%s: --batch, --n and --epochs go together (all three are needed)", cmd);
        if (a->batch > a->n) cli_die("%s: --batch %ld exceeds --n %ld (q would be above 1)", cmd, a->batch, a->n);
        mla_dp_plan(a->batch, a->n, a->epochs, &a->q, &a->steps);
    } else if (!(a->has_q && a->has_steps)) {
        cli_die("%s: the plan needs --q and --steps (or --batch, --n and --epochs)", cmd);
    }
    if (!a->has_delta) cli_die("%s: --delta is required", cmd);
    cli_check(mla_dp_orders_parse(a->orders_name, &a->orders));
}

static void parse_dp(const char *cmd, const char *usage, bool sigma_mode, int argc, char **argv, dp_args *a) {
    *a = (dp_args){.orders_name = "tf", .tol = 1e-6};
    double big = HUGE_VAL;
    cli_opt opts[] = {
        {"q", CLI_DOUBLE, &a->q, 0, 1, &a->has_q},
        {"steps", CLI_INT, &a->steps, 0, 1e15, &a->has_steps},
        {"batch", CLI_INT, &a->batch, 1, 1e12, &a->has_batch},
        {"n", CLI_INT, &a->n, 1, 1e12, &a->has_n},
        {"epochs", CLI_INT, &a->epochs, 0, 1e6, &a->has_epochs},
        {"delta", CLI_DOUBLE, &a->delta, -big, big, &a->has_delta},
        {"orders", CLI_STR, &a->orders_name, 0, 0, NULL},
        {sigma_mode ? "epsilon" : "sigma", CLI_DOUBLE, sigma_mode ? &a->epsilon : &a->sigma, -big, big,
         sigma_mode ? &a->has_epsilon : &a->has_sigma},
        {"tol", CLI_DOUBLE, &a->tol, -big, big, NULL},
    };
    cli_parse(cmd, usage, argc, argv, opts, sigma_mode ? 9 : 8);
    if (sigma_mode && !a->has_epsilon) cli_die("%s: --epsilon is required", cmd);
    if (!sigma_mode && !a->has_sigma) cli_die("%s: --sigma is required", cmd);
    resolve_plan(cmd, a);
}

/* One JSON line on stdout: sigma's epsilon and the plan. */
static void print_result(const dp_args *a, double sigma, const mla_dp_epsilon *e, bool sigma_mode) {
    cJSON *o = cJSON_CreateObject();
    if (!o) cli_die("out of memory");
    if (sigma_mode) cJSON_AddNumberToObject(o, "sigma", sigma);
    cJSON_AddNumberToObject(o, "epsilon", e->epsilon);
    cJSON_AddNumberToObject(o, "order", e->order);
    cJSON_AddNumberToObject(o, "epsilon_classic", e->epsilon_classic);
    cJSON_AddNumberToObject(o, "order_classic", e->order_classic);
    cJSON_AddNumberToObject(o, "q", a->q);
    if (!sigma_mode) cJSON_AddNumberToObject(o, "sigma", sigma);
    cJSON_AddNumberToObject(o, "steps", (double)a->steps);
    cJSON_AddNumberToObject(o, "delta", a->delta);
    cJSON_AddStringToObject(o, "orders", mla_dp_orders_name(a->orders));
    if (a->has_batch) {
        cJSON_AddNumberToObject(o, "batch", (double)a->batch);
        cJSON_AddNumberToObject(o, "n", (double)a->n);
        cJSON_AddNumberToObject(o, "epochs", (double)a->epochs);
    }
    if (sigma_mode) {
        cJSON_AddNumberToObject(o, "target_epsilon", a->epsilon);
        cJSON_AddNumberToObject(o, "tol", a->tol);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) cli_die("out of memory formatting JSON");
    puts(text);
    free(text);
}

int cmd_dp(int argc, char **argv) {
    if (argc < 2) {
        fputs("mlaudit dp: give a subcommand, epsilon or sigma (see 'mlaudit dp --help')\n", stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(dp_usage, stdout);
        return 0;
    }
    bool sigma_mode = !strcmp(sub, "sigma");
    if (!sigma_mode && strcmp(sub, "epsilon")) {
        fprintf(stderr, "mlaudit dp: unknown subcommand '%s' (expected epsilon or sigma)\n", sub);
        return 2;
    }
    const char *cmd = sigma_mode ? "dp sigma" : "dp epsilon";
    dp_args a;
    parse_dp(cmd, sigma_mode ? sigma_usage : epsilon_usage, sigma_mode, argc - 1, argv + 1, &a);
    double sigma = a.sigma;
    if (sigma_mode) cli_check(mla_dp_sigma_for(a.q, a.epsilon, a.steps, a.delta, a.orders, a.tol, &sigma));
    mla_dp_epsilon e;
    cli_check(mla_dp_epsilon_of(a.q, sigma, a.steps, a.delta, a.orders, &e));
    print_result(&a, sigma, &e, sigma_mode);
    return 0;
}
