/* mlaudit report: an audit's results as files a person or a program reads.
 *
 * Two general parts, shared by every audit (membership, and later robustness and
 * anomaly detection), then the membership audit's own outputs:
 *  1. An HTML page builder (mla_html): headings, paragraphs, notes, tables and PNG
 *     figures inlined as base64 data URIs, so a page is ONE self-contained file with
 *     inline CSS, no scripts and no network reference. Every text given to it is
 *     HTML-escaped except mla_html_raw's.
 *  2. ROC helpers on lists of (name, positive scores, negative scores) following
 *     scoring.h's convention (larger score = more likely positive): the points as CSV
 *     and the curves as a figure on linear or log-log axes.
 *  3. The membership audit (mla_mia_report_*): mia.json, scores.csv, roc.csv, the
 *     figures and report.html from an mla_mia_result (mia.h).
 *
 * Every file is written atomically: on failure nothing is left at its path (files
 * written before the failing one stay). Errors follow core.h: MLA_ERR_INVALID for bad
 * arguments, MLA_ERR_IO naming the path, MLA_ERR_NOMEM.
 */
#ifndef MLAUDIT_REPORT_H
#define MLAUDIT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mlaudit/core.h"
#include "mlaudit/mia.h"
#include "mlaudit/plot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * 1. HTML pages
 * ====================================================================== */

/* HTML-escapes s (& < > " ') into a new string the caller frees; NULL on
 * out-of-memory (recorded). NULL s gives "". */
char *mla_html_escape(const char *s);
/* Standard base64 (RFC 4648, with padding) of n bytes into a new NUL-terminated
 * string the caller frees; NULL on out-of-memory (recorded). */
char *mla_base64(const void *data, size_t n);

/* A page under construction. Appending calls never fail on their own except for
 * out-of-memory or an unreadable figure; the first failure is kept, later calls do
 * nothing and return it, and so does mla_html_finish / mla_html_write. */
typedef struct mla_html mla_html;

/* A page titled `title` (the <title> and a first <h1>), with the built-in style sheet.
 * *out owns the page: free with mla_html_free. */
mla_status mla_html_create(const char *title, mla_html **out);
void mla_html_free(mla_html *h);

/* <h2>..<h4> for level 2..4 (clamped). */
mla_status mla_html_heading(mla_html *h, int level, const char *text);
/* One paragraph of printf-formatted text, escaped after formatting. */
mla_status mla_html_paragraph(mla_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A boxed side note (e.g. "how to read this"); text escaped. */
mla_status mla_html_note(mla_html *h, const char *title, const char *text);
/* Markup appended as it is: the caller vouches for it. */
mla_status mla_html_raw(mla_html *h, const char *html);

typedef struct {
    const char *caption;   /* NULL -> none */
    int numeric_from;      /* columns >= this are right-aligned (numbers); 0 -> none */
    int highlight_row;     /* row index + 1 drawn in bold; 0 -> none */
} mla_html_table_opts;

/* A table with `cols` header cells and rows x cols body cells (row-major; a NULL cell
 * is empty). Texts escaped. opts may be NULL. */
mla_status mla_html_table(mla_html *h, const char *const *header, int cols, const char *const *cells, int rows,
                          const mla_html_table_opts *opts);

/* A figure: the PNG bytes inline as a data URI, `alt` as its alternative text and an
 * optional caption (NULL -> none). */
mla_status mla_html_figure_png_data(mla_html *h, const void *png, size_t n, const char *alt, const char *caption);
/* The same from a PNG file (read whole; at most 64 MiB); a missing file fails with
 * MLA_ERR_IO naming it. */
mla_status mla_html_figure_png(mla_html *h, const char *png_path, const char *alt, const char *caption);

/* Closes the page and hands its text to *out (the caller frees; *len may be NULL);
 * the page stays usable only for mla_html_free. */
mla_status mla_html_finish(mla_html *h, char **out, size_t *len);
/* Closes the page and writes it atomically to path. */
mla_status mla_html_write(mla_html *h, const char *path);

/* ======================================================================
 * 2. ROC curves of several scorers
 * ====================================================================== */

/* One scorer: its positives' and negatives' scores (both counts >= 1, no NaN;
 * borrowed). */
typedef struct {
    const char *name;
    const double *pos, *neg;
    int64_t n_pos, n_neg;
} mla_roc_input;

/* Writes "<name_column>,threshold,fpr,tpr" (name_column NULL -> "name") and one row
 * per ROC point of each input, in scoring.h's order (the origin first, with threshold
 * inf; the last point (1, 1)). Values with %.17g. */
mla_status mla_roc_write_csv(const char *path, const char *name_column, const mla_roc_input *in, int n);

typedef struct {
    mla_plot_frame frame;  /* 0 -> 800 x 600, no title */
    int log_axes;          /* 1: log-log axes from max(1e-5, 1 / the largest n_neg) to 1 */
    const char *x_title, *y_title; /* NULL -> "false positive rate", "true positive rate" */
} mla_roc_figure_opts;

/* Draws every input's curve on one figure (plot.h's line chart) with the chance
 * diagonal; legend entries read "name (AUC 0.xxx)". opts may be NULL. The AUC of
 * input i goes to auc[i] when auc is not NULL. */
mla_status mla_roc_figure(const char *path, const mla_roc_input *in, int n, const mla_roc_figure_opts *opts,
                          double *auc);

/* Histogram densities of x[0..n) over `bins` equal bins of [lo, hi): equal in x
 * (log_bins 0; out[k] = count_k / (used x bin width)) or in log10 x (log_bins 1, lo > 0;
 * density per decade). Values below lo or at/above hi fall in the first or last bin
 * (log bins: values <= 0 in the first); non-finite values are skipped; out is all NaN
 * when none is used. For figures of two score distributions (members vs non-members,
 * normal vs anomalous). */
void mla_hist_density(const double *x, int64_t n, double lo, double hi, int bins, int log_bins, double *out);

/* ======================================================================
 * 3. The membership audit's outputs
 * ====================================================================== */

/* What the result does not hold: the setting the audit ran in. Every pointer is
 * borrowed; zero-initialise and fill what applies, but set the seconds_* of a phase that
 * did not happen to NaN (0 reads as "took 0 s"). */
typedef struct {
    const char *protocol, *dataset, *target_model, *shadow_model; /* NULL where not applicable */
    int shadows;
    uint64_t seed;
    int threads;
    double seconds_target, seconds_shadows, seconds_attacks, seconds_total; /* NaN: phase absent */
    /* The target's losses on the evaluated members / non-members (loss_hist.png);
     * NULL or a count of 0: no histogram. Non-finite values are skipped. */
    const double *member_loss, *nonmember_loss;
    int64_t n_member_loss, n_nonmember_loss;
    /* A JSON object echoed into mia.json under "settings"; NULL -> {}. Text that is
     * not a JSON object is refused with MLA_ERR_INVALID. */
    const char *settings_json;
    /* A JSON object whose members are added at mia.json's top level after "attacks"
     * (e.g. "per_client" of a federated target); NULL: none. Text that is not a JSON
     * object is refused with MLA_ERR_INVALID. */
    const char *extra_json;
} mla_mia_report_info;

/* mia.json's text (pretty-printed; the caller frees it with free()):
 *   {"protocol", "dataset", "target_model", "shadow_model", "shadows", "seed",
 *    "threads", "target": {"train_accuracy", "test_accuracy", "train_loss",
 *    "test_loss", "gap_accuracy", "gap_loss"}, "seconds": {"target", "shadows",
 *    "attacks", "total"}, "population_used", "settings": {...},
 *    "attacks": {NAME: {"auc", "balanced_accuracy", "accuracy", "precision", "recall",
 *      "advantage", "threshold", "tpr_at_fpr_0.001", "ci95_at_fpr_0.001": [lo, hi],
 *      "tpr_at_fpr_0.01", "ci95_at_fpr_0.01": [lo, hi], "n_members", "n_nonmembers",
 *      "excluded", and "batch_size" for batch attacks (batch_size > 0)}}}
 * (the FPR keys follow mla_score_fprs, printed with %g). Attacks keep the result's
 * order. Non-finite numbers (NaN, +-inf thresholds) and NULL strings are written as
 * null; the seed is written as an exact integer. seconds_attacks NaN in info falls
 * back to r->seconds_attacks. */
mla_status mla_mia_report_json(const mla_mia_result *r, const mla_mia_report_info *info, char **json);

/* Creates dir (one level; its parent must exist) if missing and writes into it, each
 * file atomically:
 *   mia.json       as mla_mia_report_json;
 *   scores.csv     "index,member,<each per-sample attack>" and one row per evaluated
 *                  sample (truth >= 0; every sample when r->truth is NULL, with an
 *                  empty member cell): the dataset index, 1/0, each score with %.17g
 *                  (empty for NaN);
 *   roc.csv        "attack,threshold,fpr,tpr" for every attack with members and
 *                  non-members (batch attacks included);
 *   roc.png, roc_log.png   those attacks' curves, linear and log-log;
 *   loss_hist.png  members' vs non-members' loss densities over shared bins equal on
 *                  a log axis (the pooled 1st to 99th percentile, tails in the end
 *                  bins), when info gives both losses;
 *   batch.png      accuracy and AUC of the shadow_batch_B attacks against B, with
 *                  shadow_sample's as dashed reference lines, when batch attacks exist;
 *   report.html    one self-contained page with all of the above and a summary in
 *                  plain words.
 * info may be NULL (no setting, no histogram). Stops at the first failure, which names
 * the file. */
mla_status mla_mia_report_write(const char *dir, const mla_mia_result *r, const mla_mia_report_info *info);

#ifdef __cplusplus
}
#endif
#endif
