/* mlaudit: the command-line tool. Dispatches to one function per subcommand. */
#include "cli.h"
#include "cmd_classic.h"
#include "mlaudit/knn.h"
#include "mlaudit/nn.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MLAUDIT_VERSION "0.1.0"

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("mlaudit %s\n", MLAUDIT_VERSION);
    /* Which kernels this CPU (and MLA_ISA) gets: make bench prints this line. */
    const char *env = getenv("MLA_ISA");
    printf("kernels: nn %s; exact kNN %s; OpenBLAS %s (MLA_ISA=%s)\n", mla_nn_kernels_name(),
           mla_knn_exact_kernels(), mla_blas_core(), env && *env ? env : "unset");
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a neural network and save it (.safetensors)"},
    {"eval", cmd_eval, "evaluate a saved model on a dataset split"},
    {"predict", cmd_predict, "write a saved model's softmax outputs as .npy"},
    {"models", cmd_models, "list the architecture presets, print one, or summarise a spec"},
    {"mia", cmd_mia, "membership-inference audit: target, shadows, every attack, report.html"},
    {"fl", cmd_fl, "federated learning (FedAvg) in one process or over MPI: clients, rounds, global model"},
    {"dp", cmd_dp, "DP-SGD's privacy accountant: epsilon of a training plan, or the noise for a budget"},
    {"robust", cmd_robust, "robustness audit: attacks on a model, its DNN, kNN and Deep kNN side by side"},
    {"anomaly", cmd_anomaly, "one-class anomaly detection: methods side by side on one-out / one-in, AUROC/AUPR"},
    {"classic", cmd_classic, "fit and score a classical model (knn, svm, logreg, nb, rf, gbm) with CV"},
    {"pca", cmd_pca, "principal components of a dataset's training images"},
    {"explore", cmd_explore, "pixel statistics: mean and standard-deviation images per class"},
    {"version", cmd_version, "print the version and the kernels this CPU runs (MLA_ISA)"},
};

static void usage(FILE *out) {
    fputs("usage: mlaudit COMMAND [FLAGS]   (mlaudit COMMAND --help for its flags)\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

/* The tool's own data folder is the data/ beside the folder holding the binary
 * (build/mlaudit -> data/), where `make` puts MNIST; MLA_DATA_DIR overrides it. */
static void set_default_data_dir(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (getenv("MLA_DATA_DIR") || n <= 0) return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    strcpy(slash, "/../data");
    struct stat st;
    if (stat(exe, &st) == 0 && S_ISDIR(st.st_mode)) setenv("MLA_DATA_DIR", exe, 0);
}

int main(int argc, char **argv) {
    set_default_data_dir();
    if (mla_isa_check_env() != MLA_OK) {
        fprintf(stderr, "mlaudit: %s\n", mla_last_error());
        return 2;
    }
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
    fprintf(stderr, "mlaudit: unknown command '%s' (see 'mlaudit --help')\n", argv[1]);
    return 2;
}
