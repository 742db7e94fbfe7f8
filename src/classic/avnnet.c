/* The averaged neural net (kind "avnnet"), after R caret's avNNet: several
 * single-hidden-layer nets (logistic hidden units, softmax output) trained from
 * different seeds with weight decay; the prediction averages their class
 * probabilities. Built on the nn engine (nn.h, train.h).
 *
 * Hyperparameters (defaults): size (hidden units, 32), decay (L2 weight decay in the
 * Adam update, 1e-4), repeats (nets averaged, 5), epochs (30), lr (Adam, 0.003),
 * batch (128). Net r is seeded from seed + r.
 * Saved state: the settings, then each net's flat parameter vector.
 */
#include "classifier_impl.h"
#include "mlaudit/data.h"
#include "mlaudit/nn.h"
#include "mlaudit/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_BATCH 1024

typedef struct {
    int size, repeats, epochs, batch;
    double decay, lr;
    uint64_t seed;
    int d, classes;
    mla_net **nets; /* repeats nets once fitted */
} avnnet_state;

static const char *const avnnet_params[] = {"size", "decay", "repeats", "epochs", "lr", "batch", NULL};

static void free_nets(avnnet_state *s) {
    for (int r = 0; s->nets && r < s->repeats; r++) mla_net_free(s->nets[r]);
    free(s->nets);
    s->nets = NULL;
}

static void avnnet_free(void *p) {
    if (!p) return;
    free_nets(p);
    free(p);
}

static int whole_in(double v, double lo, double hi) { return v == floor(v) && v >= lo && v <= hi; }

static mla_status check_settings(const avnnet_state *s) {
    if (s->size < 1 || s->size > 100000) return mla_error(MLA_ERR_INVALID, "avnnet: size must be 1..100000 hidden units");
    if (s->repeats < 1 || s->repeats > 1000) return mla_error(MLA_ERR_INVALID, "avnnet: repeats must be 1..1000");
    if (s->epochs < 1 || s->epochs > 100000) return mla_error(MLA_ERR_INVALID, "avnnet: epochs must be 1..100000");
    if (s->batch < 1 || s->batch > 1000000) return mla_error(MLA_ERR_INVALID, "avnnet: batch must be 1..1000000");
    if (!(s->decay >= 0 && s->decay < 10)) return mla_error(MLA_ERR_INVALID, "avnnet: decay must be in [0, 10), got %g", s->decay);
    if (!(s->lr > 0 && s->lr < 10)) return mla_error(MLA_ERR_INVALID, "avnnet: lr must be in (0, 10), got %g", s->lr);
    return MLA_OK;
}

static mla_status avnnet_create(const mla_param *params, int n_params, uint64_t seed, void **out) {
    double v[6] = {32, 1e-4, 5, 30, 0.003, 128};
    for (int i = 0; i < n_params; i++)
        for (int j = 0; j < 6; j++)
            if (!strcmp(params[i].name, avnnet_params[j])) v[j] = params[i].value;
    const int integer[6] = {1, 0, 1, 1, 0, 1};
    for (int j = 0; j < 6; j++)
        if (integer[j] && !whole_in(v[j], 1, 1e9))
            return mla_error(MLA_ERR_INVALID, "avnnet: %s must be a positive whole number, got %g", avnnet_params[j], v[j]);
    avnnet_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    *s = (avnnet_state){.size = (int)v[0], .decay = v[1], .repeats = (int)v[2], .epochs = (int)v[3], .lr = v[4],
                        .batch = (int)v[5], .seed = seed};
    mla_status st = check_settings(s);
    if (st != MLA_OK) {
        free(s);
        return st;
    }
    *out = s;
    return MLA_OK;
}

static mla_status make_net(const avnnet_state *s, int d, int classes, uint64_t seed, mla_net **out) {
    char spec[320];
    snprintf(spec, sizeof spec,
             "{\"name\": \"avnnet\", \"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": %d}, "
             "{\"type\": \"sigmoid\"}, {\"type\": \"dense\", \"units\": \"classes\"}]}",
             s->size);
    return mla_net_create(spec, (mla_shape){d, 1, 1}, classes, seed, out);
}

static mla_status train_one(const avnnet_state *s, const mla_dataset *ds, int n, int r, mla_net *net) {
    mla_train_config cfg = mla_train_defaults();
    cfg.epochs = s->epochs;
    cfg.batch = s->batch;
    cfg.seed = s->seed + (uint64_t)r;
    cfg.opt = mla_opt_defaults(MLA_OPT_ADAM);
    cfg.opt.lr = (float)s->lr;
    cfg.opt.weight_decay = (float)s->decay;
    mla_train_stats stats;
    return mla_train(net, ds, NULL, n, &cfg, &stats);
}

static mla_status avnnet_fit(void *p, const float *x, const int32_t *y, int n, int d, int classes) {
    avnnet_state *s = p;
    free_nets(s);
    mla_dataset *ds = NULL;
    mla_status st = mla_dataset_from_memory(n, d, 1, 1, NULL, x, y, classes, &ds);
    if (st != MLA_OK) return st;
    s->nets = mla_alloc((size_t)s->repeats, sizeof *s->nets);
    if (!s->nets) st = MLA_ERR_NOMEM;
    for (int r = 0; st == MLA_OK && r < s->repeats; r++) {
        st = make_net(s, d, classes, s->seed + (uint64_t)r, &s->nets[r]);
        if (st == MLA_OK) st = train_one(s, ds, n, r, s->nets[r]);
    }
    mla_dataset_free(ds);
    if (st != MLA_OK) {
        free_nets(s);
        return mla_error_prefix(st, "avnnet");
    }
    s->d = d;
    s->classes = classes;
    return MLA_OK;
}

static mla_status avnnet_predict_proba(const void *p, const float *x, int n, int d, int classes, float *proba) {
    const avnnet_state *s = p;
    float *probs = mla_alloc((size_t)PREDICT_BATCH * classes, sizeof *probs);
    if (!probs) return MLA_ERR_NOMEM;
    memset(proba, 0, (size_t)n * classes * sizeof *proba);
    mla_status st = MLA_OK;
    for (int r = 0; st == MLA_OK && r < s->repeats; r++)
        for (int first = 0; st == MLA_OK && first < n; first += PREDICT_BATCH) {
            int m = n - first < PREDICT_BATCH ? n - first : PREDICT_BATCH;
            const float *logits = NULL;
            st = mla_net_forward(s->nets[r], x + (size_t)first * d, m, false, &logits);
            if (st != MLA_OK) break;
            mla_softmax_rows(logits, m, classes, probs);
            for (size_t i = 0; i < (size_t)m * classes; i++) proba[(size_t)first * classes + i] += probs[i] / (float)s->repeats;
        }
    free(probs);
    return st;
}

/* ---- files: int32 size, repeats, epochs, batch; double decay, lr; uint64 seed; then per net
 * uint64 parameter count and the floats ---- */

static mla_status avnnet_save(const void *p, FILE *fp) {
    const avnnet_state *s = p;
    int32_t head[4] = {s->size, s->repeats, s->epochs, s->batch};
    double rates[2] = {s->decay, s->lr};
    if (fwrite(head, sizeof head, 1, fp) != 1 || fwrite(rates, sizeof rates, 1, fp) != 1 || fwrite(&s->seed, 8, 1, fp) != 1)
        return mla_error(MLA_ERR_IO, "avnnet: write failed");
    for (int r = 0; r < s->repeats; r++) {
        uint64_t count = mla_net_param_count(s->nets[r]);
        if (fwrite(&count, 8, 1, fp) != 1 || fwrite(mla_net_params(s->nets[r]), sizeof(float), count, fp) != count)
            return mla_error(MLA_ERR_IO, "avnnet: write failed");
    }
    return MLA_OK;
}

static mla_status read_net(FILE *fp, const avnnet_state *s, int r, mla_net **net) {
    uint64_t count = 0;
    mla_status st = make_net(s, s->d, s->classes, 0, net);
    if (st != MLA_OK) return st;
    if (fread(&count, 8, 1, fp) != 1 || count != mla_net_param_count(*net))
        return mla_error(MLA_ERR_FORMAT, "avnnet: net %d: truncated or wrong parameter count", r);
    float *params = mla_net_params(*net);
    if (fread(params, sizeof(float), count, fp) != count) return mla_error(MLA_ERR_FORMAT, "avnnet: net %d truncated", r);
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(params[i])) return mla_error(MLA_ERR_FORMAT, "avnnet: net %d holds a non-finite weight", r);
    return MLA_OK;
}

static mla_status avnnet_load(FILE *fp, int d, int classes, void **out) {
    int32_t head[4];
    double rates[2];
    uint64_t seed;
    if (fread(head, sizeof head, 1, fp) != 1 || fread(rates, sizeof rates, 1, fp) != 1 || fread(&seed, 8, 1, fp) != 1)
        return mla_error(MLA_ERR_FORMAT, "avnnet: truncated settings");
    avnnet_state *s = mla_alloc(1, sizeof *s);
    if (!s) return MLA_ERR_NOMEM;
    *s = (avnnet_state){.size = head[0], .repeats = head[1], .epochs = head[2], .batch = head[3], .decay = rates[0],
                        .lr = rates[1], .seed = seed, .d = d, .classes = classes};
    mla_status st = check_settings(s);
    if (st == MLA_OK && !(s->nets = mla_alloc((size_t)s->repeats, sizeof *s->nets))) st = MLA_ERR_NOMEM;
    for (int r = 0; st == MLA_OK && r < s->repeats; r++) st = read_net(fp, s, r, &s->nets[r]);
    if (st != MLA_OK) {
        avnnet_free(s);
        return st == MLA_ERR_INVALID ? mla_error_prefix(MLA_ERR_FORMAT, "corrupt model") : st;
    }
    *out = s;
    return MLA_OK;
}

const mla_classifier_ops mla_avnnet_ops = {
    .kind = "avnnet",
    .param_names = avnnet_params,
    .create = avnnet_create,
    .fit = avnnet_fit,
    .predict_proba = avnnet_predict_proba,
    .predict = NULL,
    .save = avnnet_save,
    .load = avnnet_load,
    .free = avnnet_free,
};
