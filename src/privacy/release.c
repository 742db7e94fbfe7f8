/* Output masking at release (release.h): parsing a policy and applying it row by row. */
#include "mlaudit/release.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlaudit/nn.h"

#define KINDS "none, topk:K[:raw], round:D, label, noise:S, reverse-sigmoid:BETA,GAMMA"
#define RS_CLIP 1e-9

/* ---- parsing ---- */

/* An integer that is the whole of s. */
static bool whole_int(const char *s, long *v) {
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return end != s && !*end && !errno;
}

/* A finite double that is the whole of s. */
static bool whole_double(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && !*end && !errno && isfinite(*v);
}

static mla_status parse_topk(const char *text, const char *arg, int classes, mla_release *r) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    char *raw = strchr(buf, ':');
    r->renormalise = true;
    if (raw) {
        *raw++ = '\0';
        if (strcmp(raw, "raw"))
            return mla_error(MLA_ERR_INVALID, "--release %s: expected topk:K or topk:K:raw", text);
        r->renormalise = false;
    }
    long k;
    if (!whole_int(buf, &k) || k < 1 || k > classes)
        return mla_error(MLA_ERR_INVALID, "--release %s: K must be 1..%d", text, classes);
    r->kind = MLA_RELEASE_TOPK, r->k = (int)k;
    snprintf(r->text, sizeof r->text, "topk:%d%s", r->k, r->renormalise ? "" : ":raw");
    return MLA_OK;
}

static mla_status parse_round(const char *text, const char *arg, mla_release *r) {
    long d;
    if (!whole_int(arg, &d) || d < 0 || d > 8)
        return mla_error(MLA_ERR_INVALID, "--release %s: D must be 0..8 decimals", text);
    r->kind = MLA_RELEASE_ROUND, r->decimals = (int)d;
    snprintf(r->text, sizeof r->text, "round:%d", r->decimals);
    return MLA_OK;
}

static mla_status parse_noise(const char *text, const char *arg, mla_release *r) {
    double s;
    if (!whole_double(arg, &s) || s <= 0)
        return mla_error(MLA_ERR_INVALID, "--release %s: S must be a finite number > 0", text);
    r->kind = MLA_RELEASE_NOISE, r->sigma = s;
    snprintf(r->text, sizeof r->text, "noise:%.17g", s);
    return MLA_OK;
}

static mla_status parse_reverse_sigmoid(const char *text, const char *arg, mla_release *r) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    char *comma = strchr(buf, ',');
    double beta = 0, gamma = 0;
    if (comma) *comma = '\0';
    if (!comma || !whole_double(buf, &beta) || !whole_double(comma + 1, &gamma) || beta <= 0 || gamma <= 0)
        return mla_error(MLA_ERR_INVALID, "--release %s: expected reverse-sigmoid:BETA,GAMMA with BETA > 0 and GAMMA > 0",
                         text);
    r->kind = MLA_RELEASE_REVERSE_SIGMOID, r->beta = beta, r->gamma = gamma;
    snprintf(r->text, sizeof r->text, "reverse-sigmoid:%.17g,%.17g", beta, gamma);
    return MLA_OK;
}

static mla_status parse_kind(const char *text, int classes, mla_release *r) {
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    const char *arg = colon ? colon + 1 : NULL;
    bool bare = !arg;
#define IS(name) (len == strlen(name) && !strncmp(text, name, len))
    if (IS("none") && bare) return snprintf(r->text, sizeof r->text, "none"), MLA_OK;
    if (IS("label") && bare) {
        r->kind = MLA_RELEASE_LABEL;
        snprintf(r->text, sizeof r->text, "label");
        return MLA_OK;
    }
    if (IS("topk") && arg) return parse_topk(text, arg, classes, r);
    if (IS("round") && arg) return parse_round(text, arg, r);
    if (IS("noise") && arg) return parse_noise(text, arg, r);
    if (IS("reverse-sigmoid") && arg) return parse_reverse_sigmoid(text, arg, r);
    if (IS("none") || IS("label"))
        return mla_error(MLA_ERR_INVALID, "--release %s: %.*s takes no argument", text, (int)len, text);
    if (IS("topk") || IS("round") || IS("noise") || IS("reverse-sigmoid"))
        return mla_error(MLA_ERR_INVALID, "--release %s: %.*s needs an argument (%s)", text, (int)len, text, KINDS);
#undef IS
    return mla_error(MLA_ERR_INVALID, "--release %s: unknown kind (%s)", text, KINDS);
}

mla_status mla_release_parse(const char *text, int classes, mla_release *out) {
    memset(out, 0, sizeof *out);
    if (!text) return mla_error(MLA_ERR_INVALID, "--release: no policy");
    if (classes < 2) return mla_error(MLA_ERR_INVALID, "--release %s: needs 2 or more classes, got %d", text, classes);
    if (strlen(text) > 48) return mla_error(MLA_ERR_INVALID, "--release %.48s...: too long", text);
    mla_status s = parse_kind(text, classes, out);
    if (s) memset(out, 0, sizeof *out);
    return s;
}

bool mla_release_active(const mla_release *r) { return r && r->kind != MLA_RELEASE_NONE; }

/* ---- applying ---- */

static int argmax_row(const float *p, int c) {
    int best = 0;
    for (int j = 1; j < c; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

/* Where p[j] ranks in its row: how many entries come before it (larger, or equal at a
 * lower index). */
static int rank_of(const float *p, int c, int j) {
    int rank = 0;
    for (int i = 0; i < c; i++) rank += p[i] > p[j] || (p[i] == p[j] && i < j);
    return rank;
}

/* The K largest entries of p kept (lower index first on ties), the rest zeroed. */
static void topk_row(const float *p, int c, int k, bool renormalise, float *out) {
    double kept = 0;
    for (int j = 0; j < c; j++) {
        out[j] = rank_of(p, c, j) < k ? p[j] : 0.0f;
        kept += out[j];
    }
    for (int j = 0; renormalise && kept > 0 && j < c; j++) out[j] = (float)(out[j] / kept);
}

static void round_row(const float *p, int c, int d, float *out) {
    double scale = pow(10.0, d);
    for (int j = 0; j < c; j++) out[j] = (float)(round((double)p[j] * scale) / scale);
}

static void label_row(const float *p, int c, float *out) {
    int best = argmax_row(p, c);
    for (int j = 0; j < c; j++) out[j] = j == best ? 1.0f : 0.0f;
}

/* softmax(z + sigma e) through tmp (c floats): mla_softmax_rows takes no aliasing. */
static void noise_row(const float *z, int c, double sigma, mla_rng *rng, float *tmp, float *out) {
    for (int j = 0; j < c; j++) tmp[j] = (float)((double)z[j] + sigma * mla_rng_normal(rng));
    mla_softmax_rows(tmp, 1, c, out);
}

static double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

/* u_j of release.h's reverse sigmoid. */
static double reverse_sigmoid_u(float p, double beta, double gamma) {
    double q = fmin(fmax((double)p, RS_CLIP), 1.0 - RS_CLIP);
    double r = beta * (sigmoid(gamma * log(q / (1.0 - q))) - 0.5);
    return fmin(fmax((double)p - r, 0.0), 1.0);
}

static void reverse_sigmoid_row(const float *p, int c, double beta, double gamma, float *out) {
    double sum = 0;
    for (int j = 0; j < c; j++) sum += reverse_sigmoid_u(p[j], beta, gamma);
    for (int j = 0; j < c; j++) out[j] = (float)(reverse_sigmoid_u(p[j], beta, gamma) / sum);
}

static bool finite_row(const float *x, int c) {
    for (int j = 0; j < c; j++)
        if (!isfinite(x[j])) return false;
    return true;
}

static mla_status check_args(const mla_release *r, const float *logits, const float *probs, int n, int c,
                             const float *out) {
    if (!r || n < 0 || c < 2 || (n && !out))
        return mla_error(MLA_ERR_INVALID, "release: bad arguments (n %d, classes %d)", n, c);
    if (n && r->kind == MLA_RELEASE_NOISE && !logits)
        return mla_error(MLA_ERR_INVALID, "release %s: needs the logits", r->text);
    if (n && r->kind != MLA_RELEASE_NOISE && !probs)
        return mla_error(MLA_ERR_INVALID, "release %s: needs the probabilities", r->text);
    if (r->kind == MLA_RELEASE_TOPK && (r->k < 1 || r->k > c))
        return mla_error(MLA_ERR_INVALID, "release %s: K must be 1..%d", r->text, c);
    return MLA_OK;
}

mla_status mla_release_apply(const mla_release *r, const float *logits, const float *probs, int n, int c,
                             uint64_t seed, float *out) {
    mla_status s = check_args(r, logits, probs, n, c, out);
    if (s) return s;
    float *tmp = NULL;
    if (n && r->kind == MLA_RELEASE_NOISE && !(tmp = mla_alloc((size_t)c, sizeof *tmp))) return MLA_ERR_NOMEM;
    mla_rng base;
    mla_rng_seed(&base, seed);
    for (int i = 0; !s && i < n; i++) {
        const float *p = probs ? probs + (size_t)i * c : NULL;
        float *o = out + (size_t)i * c;
        if (!finite_row(r->kind == MLA_RELEASE_NOISE ? logits + (size_t)i * c : p, c)) {
            s = mla_error(MLA_ERR_INVALID, "release %s: row %d holds a non-finite %s", r->text, i,
                          r->kind == MLA_RELEASE_NOISE ? "logit" : "probability");
            break;
        }
        switch (r->kind) {
        case MLA_RELEASE_NONE: memcpy(o, p, (size_t)c * sizeof *o); break;
        case MLA_RELEASE_TOPK: topk_row(p, c, r->k, r->renormalise, o); break;
        case MLA_RELEASE_ROUND: round_row(p, c, r->decimals, o); break;
        case MLA_RELEASE_LABEL: label_row(p, c, o); break;
        case MLA_RELEASE_NOISE: {
            mla_rng rng = mla_rng_fork(&base, (uint64_t)i);
            noise_row(logits + (size_t)i * c, c, r->sigma, &rng, tmp, o);
            break;
        }
        case MLA_RELEASE_REVERSE_SIGMOID: reverse_sigmoid_row(p, c, r->beta, r->gamma, o); break;
        }
        for (int j = 0; !s && j < c; j++)
            if (!isfinite(o[j])) s = mla_error(MLA_ERR_INVALID, "release %s: row %d gives a non-finite value", r->text, i);
    }
    free(tmp);
    return s;
}
