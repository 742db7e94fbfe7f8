/* report.html of the membership audit: the setting, the tables, the figures inline and
 * a summary in plain words written from the figures. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_impl.h"

#define CELL 64
#define PATH_CAP 4096

static const char HOW_TO_READ[] =
    "Each attack gives every sample a score; a larger score means 'more likely a member' (a sample "
    "the target model was trained on). AUC is the chance that a random member outscores a random "
    "non-member: 0.5 is a coin flip, 1 a perfect attack. TPR at 0.1% FPR is the share of members an "
    "attack finds while wrongly accusing only 0.1% of non-members; guessing at random finds 0.1%, so "
    "anything clearly above it means some samples leak with confidence. The intervals are exact "
    "(Clopper-Pearson) 95% intervals: an interval whose lower end is above the FPR excludes chance. "
    "On the log-log ROC figure the dashed diagonal is chance; a curve above it on the left finds "
    "members at very low false-positive rates. Accuracy is taken at the threshold the attacker "
    "chose on its own shadow models, as a real attacker would.";

static void pct(char *b, double v) {
    if (isfinite(v))
        snprintf(b, CELL, "%.2f%%", 100 * v);
    else
        snprintf(b, CELL, "n/a");
}
static void fix3(char *b, double v) {
    if (isfinite(v))
        snprintf(b, CELL, "%.3f", v);
    else
        snprintf(b, CELL, "n/a");
}
/* "4.40% [3.50, 5.30]": a TPR and its interval, in percent. */
static void tpr_cell(char *b, double v, double lo, double hi) {
    pct(b, v);
    if (isfinite(v) && isfinite(lo) && isfinite(hi))
        snprintf(b + strlen(b), CELL - strlen(b), " [%.2f, %.2f]", 100 * lo, 100 * hi);
}

/* The attack to headline: per-sample, with a curve, not the random baseline; the
 * largest TPR at the lowest FPR bound, ties broken by AUC. by_auc: largest AUC. */
static const mla_mia_attack_result *strongest(const mla_mia_result *r, int by_auc) {
    const mla_mia_attack_result *best = NULL;
    for (int a = 0; a < r->n_attacks; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        if (at->batch_size > 0 || !mia_attack_has_roc(at) || strcmp(at->name, "random") == 0) continue;
        double t = at->summary.tpr_at_fpr[0], u = at->summary.auc;
        if (!best) {
            best = at;
            continue;
        }
        double bt = best->summary.tpr_at_fpr[0], bu = best->summary.auc;
        if (by_auc ? u > bu : (t > bt || (t == bt && u > bu))) best = at;
    }
    return best;
}

static mla_status setting_table(mla_html *h, const mla_mia_result *r, const mla_mia_report_info *in) {
    static const char *const head[2] = {"setting", "value"};
    char val[16][CELL];
    const char *cells[32];
    int n = 0;
#define ROW(label, ...) do { snprintf(val[n], CELL, __VA_ARGS__); cells[2 * n] = label; cells[2 * n + 1] = val[n]; n++; } while (0)
    if (in->protocol) ROW("protocol", "%s", in->protocol);
    if (in->dataset) ROW("dataset", "%s", in->dataset);
    if (in->target_model) ROW("target model", "%s", in->target_model);
    if (in->shadow_model) ROW("shadow model", "%s", in->shadow_model);
    if (in->shadows > 0) ROW("shadow models", "%d", in->shadows);
    ROW("seed", "%llu", (unsigned long long)in->seed);
    if (in->threads > 0) ROW("threads", "%d", in->threads);
    if (r->population_used > 0) ROW("RMIA population used", "%lld", (long long)r->population_used);
    double attacks = isnan(in->seconds_attacks) ? r->seconds_attacks : in->seconds_attacks;
    if (isfinite(in->seconds_target)) ROW("time: target", "%.1f s", in->seconds_target);
    if (isfinite(in->seconds_shadows)) ROW("time: shadows", "%.1f s", in->seconds_shadows);
    if (isfinite(attacks)) ROW("time: attacks", "%.1f s", attacks);
    if (isfinite(in->seconds_total)) ROW("time: total", "%.1f s", in->seconds_total);
#undef ROW
    mla_html_heading(h, 2, "Setting");
    return mla_html_table(h, head, 2, cells, n, NULL);
}

static mla_status target_table(mla_html *h, const mla_mia_result *r) {
    static const char *const head[4] = {"", "members (training data)", "non-members (unseen data)", "gap"};
    char v[6][CELL];
    pct(v[0], r->train_accuracy);
    pct(v[1], r->test_accuracy);
    if (isfinite(r->gap_accuracy))
        snprintf(v[2], CELL, "%.2f points", 100 * r->gap_accuracy);
    else
        snprintf(v[2], CELL, "n/a");
    fix3(v[3], r->train_loss);
    fix3(v[4], r->test_loss);
    fix3(v[5], r->gap_loss);
    const char *cells[8] = {"accuracy", v[0], v[1], v[2], "mean loss", v[3], v[4], v[5]};
    mla_html_table_opts o = {.numeric_from = 1};
    mla_html_heading(h, 2, "The target model");
    return mla_html_table(h, head, 4, cells, 2, &o);
}

#define ACOLS 10
static mla_status attacks_table(mla_html *h, const mla_mia_result *r) {
    char head_s[2][CELL];
    snprintf(head_s[0], CELL, "TPR at %g%% FPR [95%% interval]", 100 * mla_score_fprs[0]);
    snprintf(head_s[1], CELL, "TPR at %g%% FPR [95%% interval]", 100 * mla_score_fprs[1]);
    const char *head[ACOLS] = {"attack", "AUC", "balanced accuracy", "advantage", head_s[0], head_s[1],
                               "accuracy at the shadow threshold", "members", "non-members", "excluded"};
    int n = r->n_attacks;
    char (*v)[CELL] = mla_alloc((size_t)n * ACOLS + 1, CELL);
    const char **cells = mla_alloc((size_t)n * ACOLS + 1, sizeof *cells);
    if (!v || !cells) {
        free(v);
        free(cells);
        return MLA_ERR_NOMEM;
    }
    const mla_mia_attack_result *best = strongest(r, 0);
    int hl = 0;
    for (int a = 0; a < n; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        const mla_score_summary *m = &at->summary;
        char(*c)[CELL] = v + (size_t)a * ACOLS;
        snprintf(c[0], CELL, "%s", at->name);
        fix3(c[1], m->auc);
        pct(c[2], m->balanced_accuracy);
        fix3(c[3], m->advantage);
        tpr_cell(c[4], m->tpr_at_fpr[0], m->ci95_lo[0], m->ci95_hi[0]);
        tpr_cell(c[5], m->tpr_at_fpr[1], m->ci95_lo[1], m->ci95_hi[1]);
        pct(c[6], m->accuracy);
        snprintf(c[7], CELL, "%lld", (long long)m->n_pos);
        snprintf(c[8], CELL, "%lld", (long long)m->n_neg);
        snprintf(c[9], CELL, "%lld", (long long)m->excluded);
        for (int k = 0; k < ACOLS; k++) cells[(size_t)a * ACOLS + k] = c[k];
        if (at == best) hl = a + 1;
    }
    mla_html_heading(h, 2, "The attacks");
    mla_html_paragraph(h, "One row per attack; the row in bold is the strongest at low false-positive rates. "
                          "Batch attacks score batches of samples, so their counts are batches.");
    mla_html_table_opts o = {.numeric_from = 1, .highlight_row = hl};
    mla_status s = mla_html_table(h, head, ACOLS, cells, n, &o);
    free(v);
    free(cells);
    return s;
}

/* A bounded text the summary grows sentence by sentence (cut at the end if ever full). */
typedef struct {
    char b[4096];
    size_t n;
} text;

static void say(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(text *t, const char *fmt, ...) {
    if (t->n + 1 >= sizeof t->b) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->b + t->n, sizeof t->b - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n = t->n + (size_t)k < sizeof t->b ? t->n + (size_t)k : sizeof t->b - 1;
}

/* What the strongest attack finds at the lowest FPR bound, and whether it beats chance. */
static void say_strongest(text *t, const mla_mia_attack_result *b) {
    const mla_score_summary *m = &b->summary;
    double f = mla_score_fprs[0];
    say(t, "The strongest attack at low false-positive rates is %s (AUC %.3f, where 0.5 is chance). ", b->name, m->auc);
    if (m->tpr_at_fpr[0] > 0)
        say(t, "Wrongly accusing only %g%% of non-members, it identifies %.2f%% of the members (95%% interval "
               "%.2f%% to %.2f%%), %.1f times the %g%% a random guess finds. ",
            100 * f, 100 * m->tpr_at_fpr[0], 100 * m->ci95_lo[0], 100 * m->ci95_hi[0], m->tpr_at_fpr[0] / f,
            100 * f);
    else
        say(t, "Wrongly accusing only %g%% of non-members, it identifies no member at all. ", 100 * f);
    if (m->ci95_lo[0] > f)
        say(t, "The interval lies above %g%%, so this is not chance: some members are recognisable with "
               "confidence. ", 100 * f);
    else
        say(t, "The interval reaches down to the %g%% of a random guess, so at this sample size the attack "
               "is not distinguishable from chance at that rate. ", 100 * f);
    if (m->n_neg > 0 && 1.0 / (double)m->n_neg > f)
        say(t, "(With %lld non-members the smallest false-positive rate measurable is %.2f%%, so the %g%% "
               "figure counts only members scored above every non-member.) ",
            (long long)m->n_neg, 100.0 / (double)m->n_neg, 100 * f);
}

static void say_gap(text *t, const mla_mia_result *r) {
    if (!isfinite(r->train_accuracy) || !isfinite(r->test_accuracy)) return;
    say(t, "The target classifies its training data with %.1f%% accuracy and unseen data with %.1f%%, a gap of "
           "%.1f points",
        100 * r->train_accuracy, 100 * r->test_accuracy, 100 * r->gap_accuracy);
    if (isfinite(r->train_loss) && isfinite(r->test_loss))
        say(t, " (mean loss %.3f against %.3f)", r->train_loss, r->test_loss);
    if (r->gap_accuracy > 0.05)
        say(t, ": the model fits its training set much better than new data, and that memorisation is what "
               "membership attacks exploit. ");
    else
        say(t, ": little overfitting on average, though single samples can still leak, as the low "
               "false-positive figures show. ");
}

static void say_batch(text *t, const mla_mia_result *r) {
    const mla_mia_attack_result *best = NULL, *ref = mla_mia_result_find(r, "shadow_sample");
    for (int a = 0; a < r->n_attacks; a++) {
        const mla_mia_attack_result *at = &r->attacks[a];
        if (at->batch_size > 0 && isfinite(at->summary.accuracy) &&
            (!best || at->summary.accuracy > best->summary.accuracy))
            best = at;
    }
    if (!best) return;
    say(t, "Judging batches instead of single samples, the shadow-model attack reaches %.1f%% accuracy at "
           "B = %d (AUC %.3f)",
        100 * best->summary.accuracy, best->batch_size, best->summary.auc);
    if (ref && isfinite(ref->summary.accuracy)) {
        double d = best->summary.accuracy - ref->summary.accuracy;
        say(t, ", against %.1f%% sample by sample: %s. ", 100 * ref->summary.accuracy,
            d > 0.01 ? "averaging a batch's outputs makes membership easier to tell, so a set of records leaks "
                       "more than one record"
                     : "batching does not help the attacker here");
    } else {
        say(t, ". ");
    }
}

/* t as one paragraph, then emptied. */
static void flush(mla_html *h, text *t) {
    if (t->n) mla_html_paragraph(h, "%s", t->b);
    t->n = 0;
    t->b[0] = '\0';
}

static mla_status summary(mla_html *h, const mla_mia_result *r) {
    text t = {.n = 0};
    mla_html_heading(h, 2, "What leaked");
    mla_html_raw(h, "<div class=\"summary\">");
    const mla_mia_attack_result *b = strongest(r, 0), *ba = strongest(r, 1);
    if (!b) {
        say(&t, "No per-sample attack had both members and non-members to evaluate, so this audit cannot say "
                "what leaked. ");
    } else {
        say_strongest(&t, b);
        if (ba && ba != b)
            say(&t, "Over all thresholds, %s separates members best (AUC %.3f): AUC averages over every sample, "
                    "while the low false-positive rate shows the few most exposed ones. ",
                ba->name, ba->summary.auc);
    }
    flush(h, &t);
    say_gap(&t, r);
    flush(h, &t);
    say_batch(&t, r);
    flush(h, &t);
    return mla_html_raw(h, "</div>\n");
}

static mla_status figure(mla_html *h, const char *dir, const char *file, const char *alt, const char *caption) {
    char path[PATH_CAP];
    mla_status s = mia_report_path(path, sizeof path, dir, file);
    return s == MLA_OK ? mla_html_figure_png(h, path, alt, caption) : s;
}

static mla_status figures(mla_html *h, const char *dir, const mia_figures *f) {
    if (f->roc) {
        mla_html_heading(h, 2, "ROC curves");
        figure(h, dir, "roc_log.png", "ROC curves of every attack on log-log axes",
               "Log-log axes show the low false-positive region where confident leaks live; the dashed "
               "diagonal is a random guess.");
        figure(h, dir, "roc.png", "ROC curves of every attack on linear axes",
               "Linear axes: the area under each curve is its AUC.");
    }
    if (f->loss_hist) {
        mla_html_heading(h, 2, "Loss of members and non-members");
        figure(h, dir, "loss_hist.png", "Histogram of the target's loss on members and non-members",
               "Where the two densities differ, a loss threshold tells members from non-members; members "
               "usually sit at lower loss.");
    }
    if (f->batch) {
        mla_html_heading(h, 2, "Batch attacks");
        figure(h, dir, "batch.png", "Accuracy and AUC of the batch attacks against the batch size",
               "Solid: the attack on batches of B samples' averaged outputs; dashed: the same attack on "
               "single samples.");
    }
    return mla_html_raw(h, "");
}

mla_status mia_report_page(const char *dir, const mla_mia_result *r, const mla_mia_report_info *in,
                           const mia_figures *figs) {
    char title[256], path[PATH_CAP];
    mla_status s = mia_report_path(path, sizeof path, dir, "report.html");
    if (s != MLA_OK) return s;
    if (in->dataset && in->target_model)
        snprintf(title, sizeof title, "Membership-inference audit: %s on %s", in->target_model, in->dataset);
    else
        snprintf(title, sizeof title, "Membership-inference audit");
    mla_html *h = NULL;
    s = mla_html_create(title, &h);
    if (s == MLA_OK) s = summary(h, r);
    if (s == MLA_OK) s = mla_html_note(h, "How to read this", HOW_TO_READ);
    if (s == MLA_OK) s = setting_table(h, r, in);
    if (s == MLA_OK) s = target_table(h, r);
    if (s == MLA_OK) s = attacks_table(h, r);
    if (s == MLA_OK) s = figures(h, dir, figs);
    if (s != MLA_OK) {
        mla_html_free(h);
        return s;
    }
    mla_html_paragraph(h, "Files beside this page: mia.json (every figure as data), scores.csv (each sample's "
                          "scores), roc.csv (every curve's points) and the figures as PNG.");
    s = mla_html_write(h, path);
    mla_html_free(h);
    return s;
}
