/* The figures of mlaudit classic, pca and explore, drawn through plot.h. */
#include "cli.h"
#include "cmd_classic.h"
#include "mlaudit/plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SERIES 64
#define SCATTER_POINTS 10000 /* more points only hide each other */

static void ensure_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) cli_die("--plots %s: cannot create the folder: %s", dir, strerror(errno));
}

/* DIR/NAME.EXT into buf (static storage per call site is enough for the CLI). */
static const char *path_in(char *buf, size_t size, const char *dir, const char *name, const char *ext) {
    if (snprintf(buf, size, "%s/%s.%s", dir, name, ext) >= (int)size) cli_die("--plots %s: path too long", dir);
    return buf;
}

void classic_plot_confusion(const char *dir, const int64_t *cm, int classes, const char *const *names, const char *title) {
    double *v = malloc((size_t)classes * classes * sizeof *v);
    if (!v) cli_die("out of memory");
    for (int i = 0; i < classes * classes; i++) v[i] = (double)cm[i];
    mla_plot_heatmap_opts o = {.frame = {900, 780, title}, .x_title = "predicted class", .y_title = "true class",
                               .row_labels = names, .col_labels = names, .cmap = MLA_CMAP_BLUES, .show_values = 1,
                               .value_format = "%.0f"};
    char path[4096];
    ensure_dir(dir);
    cli_check(mla_plot_heatmap(path_in(path, sizeof path, dir, "confusion", "png"), v, classes, classes, &o));
    cli_check(mla_plot_heatmap(path_in(path, sizeof path, dir, "confusion", "svg"), v, classes, classes, &o));
    free(v);
}

void classic_plot_per_class(const char *dir, const double *sensitivity, int classes, const char *const *names,
                            const char *title) {
    mla_plot_bar_series s = {.name = NULL, .values = sensitivity};
    mla_plot_bar_opts o = {.frame = {900, 600, title}, .x_title = "class",
                           .y = {.title = "accuracy within the class (sensitivity)", .min = 0, .max = 1},
                           .value_labels = 1, .value_format = "%.3f", .legend = MLA_LEGEND_NONE};
    char path[4096];
    ensure_dir(dir);
    cli_check(mla_plot_bars(path_in(path, sizeof path, dir, "per_class_accuracy", "png"), names, classes, &s, 1, &o));
    cli_check(mla_plot_bars(path_in(path, sizeof path, dir, "per_class_accuracy", "svg"), names, classes, &s, 1, &o));
}

/* ---- CV tuning curve ---- */

typedef struct {
    double x[256], y[256];
    int n, first_setting;
    char name[160];
} cv_line;

/* The axis with the most distinct values: the x axis of the curve. */
static int widest_axis(const mla_cv_result *cv) {
    int best = 0, best_count = -1;
    for (int a = 0; a < cv->n_axes; a++) {
        int distinct = 0;
        for (int s = 0; s < cv->n_settings; s++) {
            int seen = 0;
            for (int t = 0; t < s && !seen; t++) seen = cv->values[(size_t)t * cv->n_axes + a] == cv->values[(size_t)s * cv->n_axes + a];
            distinct += !seen;
        }
        if (distinct > best_count) best = a, best_count = distinct;
    }
    return best;
}

static int same_other_values(const mla_cv_result *cv, int s, int t, int skip) {
    for (int a = 0; a < cv->n_axes; a++)
        if (a != skip && cv->values[(size_t)s * cv->n_axes + a] != cv->values[(size_t)t * cv->n_axes + a]) return 0;
    return 1;
}

static void name_line(const mla_cv_result *cv, int s, int skip, cv_line *line) {
    size_t used = 0;
    line->name[0] = '\0';
    for (int a = 0; a < cv->n_axes && used < sizeof line->name; a++)
        if (a != skip)
            used += (size_t)snprintf(line->name + used, sizeof line->name - used, "%s%s=%g", used ? " " : "", cv->names[a],
                                     cv->values[(size_t)s * cv->n_axes + a]);
}

/* Groups the settings into lines (same values on every axis but the x axis). */
static int group_lines(const mla_cv_result *cv, int xa, cv_line *lines) {
    int n_lines = 0;
    for (int s = 0; s < cv->n_settings; s++) {
        int l = 0;
        while (l < n_lines && !same_other_values(cv, s, lines[l].first_setting, xa)) l++;
        if (l == n_lines) {
            if (n_lines == MAX_SERIES) continue;
            lines[l] = (cv_line){.first_setting = s};
            name_line(cv, s, xa, &lines[l]);
            n_lines++;
        }
        if (lines[l].n < 256) {
            lines[l].x[lines[l].n] = cv->n_axes ? cv->values[(size_t)s * cv->n_axes + xa] : 0;
            lines[l].y[lines[l].n++] = cv->mean_accuracy[s];
        }
    }
    return n_lines;
}

void classic_plot_cv(const char *dir, const mla_cv_result *cv, const char *title) {
    int xa = widest_axis(cv);
    cv_line *lines = calloc(MAX_SERIES, sizeof *lines);
    mla_plot_series series[MAX_SERIES];
    if (!lines) cli_die("out of memory");
    int n_lines = group_lines(cv, xa, lines);
    double lo = INFINITY, hi = -INFINITY;
    for (int l = 0; l < n_lines; l++) {
        series[l] = (mla_plot_series){.name = n_lines > 1 ? lines[l].name : NULL, .x = lines[l].x, .y = lines[l].y,
                                      .n = lines[l].n, .markers = 1};
        for (int i = 0; i < lines[l].n; i++) lo = fmin(lo, lines[l].x[i]), hi = fmax(hi, lines[l].x[i]);
    }
    char xtitle[64];
    snprintf(xtitle, sizeof xtitle, "%s", cv->n_axes ? cv->names[xa] : "setting");
    mla_plot_line_opts o = {.frame = {800, 560, title}, .x = {.title = xtitle, .log_scale = lo > 0 && hi / lo >= 100},
                            .y = {.title = "mean cross-validated accuracy"}};
    char path[4096];
    ensure_dir(dir);
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "cv_tuning", "png"), series, n_lines, &o));
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "cv_tuning", "svg"), series, n_lines, &o));
    free(lines);
}

/* ---- PCA ---- */

static void plot_scree(const char *dir, const mla_pca *p) {
    int m = mla_pca_dim(p) < 50 ? mla_pca_dim(p) : 50;
    double x[50], y[50];
    for (int i = 0; i < m; i++) x[i] = i + 1, y[i] = mla_pca_explained_variance_ratio(p)[i];
    mla_plot_series s = {.x = x, .y = y, .n = m, .markers = 1};
    mla_plot_line_opts o = {.frame = {800, 560, "PCA scree plot (first 50 components)"},
                            .x = {.title = "component"}, .y = {.title = "explained variance ratio"}};
    char path[4096];
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "pca_scree", "png"), &s, 1, &o));
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "pca_scree", "svg"), &s, 1, &o));
}

static void plot_cumulative(const char *dir, const mla_pca *p, double share) {
    int d = mla_pca_dim(p), k = mla_pca_components(p);
    double *x = malloc((size_t)d * sizeof *x), *y = malloc((size_t)d * sizeof *y);
    if (!x || !y) cli_die("out of memory");
    for (int i = 0; i < d; i++) x[i] = i + 1, y[i] = mla_pca_explained_variance_ratio(p)[i] + (i ? y[i - 1] : 0);
    double hx[2] = {1, d}, hy[2] = {share, share}, vx[2] = {k, k}, vy[2] = {0, 1};
    char share_name[64], k_name[64], title[128];
    snprintf(share_name, sizeof share_name, "share %.3g", share);
    snprintf(k_name, sizeof k_name, "%d components", k);
    snprintf(title, sizeof title, "PCA: cumulative explained variance (%d components for %.3g)", k, share);
    mla_plot_series s[3] = {{.name = "cumulative", .x = x, .y = y, .n = d},
                            {.name = share_name, .x = hx, .y = hy, .n = 2, .dashed = 1},
                            {.name = k_name, .x = vx, .y = vy, .n = 2, .dashed = 1}};
    mla_plot_line_opts o = {.frame = {800, 560, title}, .x = {.title = "components"},
                            .y = {.title = "cumulative explained variance ratio", .min = 0, .max = 1},
                            .legend = MLA_LEGEND_BOTTOM_RIGHT};
    char path[4096];
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "pca_cumulative", "png"), s, 3, &o));
    cli_check(mla_plot_lines(path_in(path, sizeof path, dir, "pca_cumulative", "svg"), s, 3, &o));
    free(x);
    free(y);
}

static void plot_components(const char *dir, const mla_pca *p, int h, int w) {
    int n = mla_pca_components(p) < 16 ? mla_pca_components(p) : 16;
    char caps[16][16];
    const char *captions[16];
    for (int i = 0; i < n; i++) snprintf(caps[i], sizeof caps[i], "PC%d", i + 1), captions[i] = caps[i];
    mla_plot_images im = {.pixels = mla_pca_basis(p), .type = MLA_PIXELS_F32, .n = n, .channels = 1, .height = h, .width = w};
    mla_plot_grid_opts o = {.frame = {.title = "first principal components (blue negative, red positive)"}, .cols = n < 8 ? n : 8,
                            .tile_captions = captions, .signed_map = 1};
    char path[4096];
    cli_check(mla_plot_image_grid(path_in(path, sizeof path, dir, "pca_components", "png"), &im, &o));
}

static void plot_scatter(const char *dir, const mla_pca *p, const float *x, const int32_t *labels, int n, int classes,
                         const char *const *names) {
    int m = n < SCATTER_POINTS ? n : SCATTER_POINTS, k = mla_pca_components(p);
    float *z = malloc((size_t)m * k * sizeof *z);
    double *px = malloc((size_t)m * sizeof *px), *py = malloc((size_t)m * sizeof *py);
    double *sx = calloc((size_t)classes, sizeof *sx), *sy = calloc((size_t)classes, sizeof *sy);
    int *count = calloc((size_t)classes, sizeof *count);
    mla_plot_text *texts = calloc((size_t)classes, sizeof *texts);
    if (!z || !px || !py || !sx || !sy || !count || !texts) cli_die("out of memory");
    cli_check(mla_pca_transform(p, x, m, z));
    for (int i = 0; i < m; i++) {
        px[i] = z[(size_t)i * k], py[i] = z[(size_t)i * k + 1];
        sx[labels[i]] += px[i], sy[labels[i]] += py[i], count[labels[i]]++;
    }
    int n_texts = 0;
    for (int c = 0; c < classes; c++)
        if (count[c]) texts[n_texts++] = (mla_plot_text){names[c], sx[c] / count[c], sy[c] / count[c]};
    char title[96];
    snprintf(title, sizeof title, "training images on the first two principal components (%d shown)", m);
    mla_plot_scatter_opts o = {.frame = {900, 760, title}, .x = {.title = "PC1"}, .y = {.title = "PC2"},
                               .class_names = names, .n_classes = classes, .point_radius = 1.6, .opacity = 0.5,
                               .texts = texts, .n_texts = n_texts, .legend = MLA_LEGEND_OUTSIDE};
    char path[4096];
    cli_check(mla_plot_scatter(path_in(path, sizeof path, dir, "pca_scatter", "png"), px, py, labels, m, &o));
    free(z), free(px), free(py), free(sx), free(sy), free(count), free(texts);
}

/* mean + the first m components' projection of one row (d floats). */
static void reconstruct(const mla_pca *p, const float *row, int m, float *out) {
    int d = mla_pca_dim(p);
    const double *mean = mla_pca_mean(p);
    const float *basis = mla_pca_basis(p);
    for (int j = 0; j < d; j++) out[j] = (float)mean[j];
    for (int c = 0; c < m; c++) {
        double z = 0;
        for (int j = 0; j < d; j++) z += (row[j] - mean[j]) * basis[(size_t)c * d + j];
        for (int j = 0; j < d; j++) out[j] += (float)(z * basis[(size_t)c * d + j]);
    }
}

static void plot_reconstruction(const char *dir, const mla_pca *p, const float *x, const int32_t *labels, int n,
                                int classes, const char *const *names, int h, int w) {
    int d = mla_pca_dim(p), k = mla_pca_components(p), counts[3] = {k < 10 ? k : 10, k < 50 ? k : 50, k};
    int rows = 4, cols = 0, pick[32];
    for (int c = 0; c < classes && cols < 32; c++)
        for (int i = 0; i < n; i++)
            if (labels[i] == c) {
                pick[cols++] = i;
                break;
            }
    float *tiles = malloc((size_t)rows * cols * d * sizeof *tiles);
    const char **captions = calloc((size_t)rows * cols, sizeof *captions);
    if (!tiles || !captions) cli_die("out of memory");
    for (int j = 0; j < cols; j++) {
        memcpy(tiles + (size_t)j * d, x + (size_t)pick[j] * d, (size_t)d * sizeof *tiles);
        captions[j] = names[labels[pick[j]]];
        for (int r = 1; r < rows; r++) reconstruct(p, x + (size_t)pick[j] * d, counts[r - 1], tiles + ((size_t)r * cols + j) * d);
    }
    char rc[3][32];
    const char *row_caps[4] = {"original", rc[0], rc[1], rc[2]};
    for (int r = 0; r < 3; r++) snprintf(rc[r], sizeof rc[r], "%d PCs", counts[r]);
    mla_plot_images im = {.pixels = tiles, .type = MLA_PIXELS_F32, .n = rows * cols, .channels = d / (h * w),
                          .height = h, .width = w};
    mla_plot_grid_opts o = {.frame = {.title = "originals and their PCA reconstructions"}, .rows = rows, .cols = cols,
                            .tile_captions = captions, .row_captions = row_caps};
    char path[4096];
    cli_check(mla_plot_image_grid(path_in(path, sizeof path, dir, "pca_reconstruction", "png"), &im, &o));
    free(tiles);
    free(captions);
}

void classic_plot_pca(const char *dir, const mla_pca *pca, double share, const float *x, const int32_t *labels, int n,
                      int classes, const char *const *names, int h, int w) {
    ensure_dir(dir);
    plot_scree(dir, pca);
    plot_cumulative(dir, pca, share);
    if (mla_pca_dim(pca) == h * w) plot_components(dir, pca, h, w);
    if (mla_pca_components(pca) >= 2) plot_scatter(dir, pca, x, labels, n, classes, names);
    plot_reconstruction(dir, pca, x, labels, n, classes, names, h, w);
}

/* ---- pixel statistics ---- */

static void plot_stat_grid(const char *dir, const char *name, const char *title, const double *img, int classes,
                           const char *const *names, int h, int w, double scale) {
    int n = classes + 1;
    float *pix = malloc((size_t)n * h * w * sizeof *pix);
    const char **captions = malloc((size_t)n * sizeof *captions);
    if (!pix || !captions) cli_die("out of memory");
    for (size_t i = 0; i < (size_t)n * h * w; i++) pix[i] = (float)(img[i] / scale);
    captions[0] = "all classes";
    for (int c = 0; c < classes; c++) captions[c + 1] = names[c];
    mla_plot_images im = {.pixels = pix, .type = MLA_PIXELS_F32, .n = n, .channels = 1, .height = h, .width = w};
    mla_plot_grid_opts o = {.frame = {.title = title}, .cols = n <= 6 ? n : (n + 1) / 2, .tile_captions = captions};
    char path[4096];
    cli_check(mla_plot_image_grid(path_in(path, sizeof path, dir, name, "png"), &im, &o));
    free(pix);
    free(captions);
}

void classic_plot_importances(const char *dir, const double *importance, int d, const int32_t *pixels, int h, int w,
                              const char *title) {
    double *map = calloc((size_t)h * w, sizeof *map);
    if (!map) cli_die("out of memory");
    for (int j = 0; j < d; j++) map[pixels ? pixels[j] : j] = importance[j];
    mla_plot_heatmap_opts o = {.frame = {760, 700, title}, .x_title = "pixel column", .y_title = "pixel row",
                               .cmap = MLA_CMAP_VIRIDIS};
    char path[4096];
    ensure_dir(dir);
    cli_check(mla_plot_heatmap(path_in(path, sizeof path, dir, "importances", "png"), map, h, w, &o));
    cli_check(mla_plot_heatmap(path_in(path, sizeof path, dir, "importances", "svg"), map, h, w, &o));
    free(map);
}

void classic_plot_pixel_stats(const char *dir, const double *mean, const double *sd, int classes,
                              const char *const *names, int h, int w) {
    ensure_dir(dir);
    double max_sd = 0;
    for (size_t i = 0; i < (size_t)(classes + 1) * h * w; i++)
        if (isfinite(sd[i]) && sd[i] > max_sd) max_sd = sd[i];
    char title[128];
    plot_stat_grid(dir, "mean_images", "mean pixel value per class (black 0, white 255)", mean, classes, names, h, w, 255.0);
    snprintf(title, sizeof title, "pixel standard deviation per class (black 0, white %.0f)", max_sd);
    plot_stat_grid(dir, "sd_images", title, sd, classes, names, h, w, max_sd > 0 ? max_sd : 1.0);
}
