/* Axes for x/y charts: data ranges, "nice" linear ticks and decade log ticks,
 * the layout of plot area and margins, and legends placed where data is not. */
#include "plot/plot_impl.h"

#include <math.h>
#include <string.h>

#define TICK_LEN 5.0
#define GAP 6.0

/* ------------------------------------------------------------------ ranges -- */

void extent_add(plot_extent *e, double v, int log) {
    if (!isfinite(v) || (log && v <= 0)) return;
    if (!e->any || v < e->lo) e->lo = v;
    if (!e->any || v > e->hi) e->hi = v;
    e->any = 1;
}

int scale_ok(const plot_scale *s, double v) { return isfinite(v) && (!s->log || v > 0); }

double scale_map(const plot_scale *s, double v) {
    double t = s->log ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo))
                      : (v - s->lo) / (s->hi - s->lo);
    return s->p0 + t * (s->p1 - s->p0);
}

/* 1, 2 or 5 times a power of ten, at least raw. */
static double nice_step(double raw) {
    double p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* Labels for ticks `step` apart: plain decimals with just enough digits; large
 * values with a k/M/G/T suffix ("250k", "1.5M"); extreme ones in %g. */
static void linear_labels(plot_scale *s, double step) {
    static const char *const SUFFIX[] = {"", "k", "M", "G", "T"};
    double mag = fmax(fabs(s->lo), fabs(s->hi));
    int k = 0;
    if (step >= 1 && mag >= 1e4)
        while (k < 4 && mag >= 1e3 * pow(1e3, k)) k++;
    double unit = pow(1e3, k), rel = step / unit;
    int decimals = rel >= 1 ? 0 : (int)ceil(-log10(rel) - 1e-9);
    int digits = (int)fmin(15, fmax(1, ceil(log10(fmax(mag, step) / step) - 1e-9) + 1));
    for (int i = 0; i < s->n_ticks; i++) {
        char *out = s->labels[i];
        size_t size = sizeof s->labels[i];
        if (mag >= 1e15 || decimals > 10) snprintf(out, size, "%.*g", digits, s->ticks[i]);
        else if (s->ticks[i] == 0 && k > 0) snprintf(out, size, "0");
        else snprintf(out, size, "%.*f%s", decimals, s->ticks[i] / unit, SUFFIX[k]);
    }
}

static void linear_ticks(plot_scale *s, double length_px, int is_y) {
    double target = fmax(2, fmin(10, length_px / (is_y ? 55.0 : 95.0)));
    double step = nice_step((s->hi - s->lo) / target);
    double first = ceil(s->lo / step - 1e-9) * step;
    s->n_ticks = 0;
    for (int i = 0; s->n_ticks < PLOT_MAX_TICKS; i++) {
        double v = first + i * step;
        if (v > s->hi + step * 1e-9) break;
        if (fabs(v) < step * 1e-9) v = 0; /* no "-0.0" */
        s->ticks[s->n_ticks++] = v;
    }
    linear_labels(s, step);
}

/* "10" followed by the exponent in Unicode superscripts. */
static void decade_label(char *out, size_t size, int e) {
    static const char *const SUP[10] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                        "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
    char digits[12];
    snprintf(digits, sizeof digits, "%d", e < 0 ? -e : e);
    snprintf(out, size, "10%s", e < 0 ? "\u207b" : "");
    for (const char *d = digits; *d; d++) strncat(out, SUP[*d - '0'], size - strlen(out) - 1);
}

static void log_ticks(plot_scale *s, double length_px, int is_y) {
    int e0 = (int)floor(log10(s->lo) + 1e-9), e1 = (int)ceil(log10(s->hi) - 1e-9);
    int target = (int)fmax(2, fmin(10, length_px / (is_y ? 45.0 : 70.0)));
    int stride = (e1 - e0 + target - 1) / target;
    int sub = e1 - e0 <= 1; /* less than a decade shown: add 2x and 5x ticks */
    if (stride < 1) stride = 1;
    s->n_ticks = 0;
    for (int e = e0; e <= e1 && s->n_ticks < PLOT_MAX_TICKS; e++) {
        for (int m = 1; m <= 5 && s->n_ticks < PLOT_MAX_TICKS; m += (m == 1 ? 1 : 3)) {
            if (m > 1 && !sub) break;
            if (m == 1 && (e - e0) % stride) continue;
            double v = m * pow(10, e);
            if (v < s->lo * (1 - 1e-9) || v > s->hi * (1 + 1e-9)) continue;
            char *label = s->labels[s->n_ticks];
            if (m == 1 && !sub) decade_label(label, sizeof s->labels[0], e);
            else snprintf(label, sizeof s->labels[0], "%g", v);
            s->ticks[s->n_ticks++] = v;
        }
    }
}

/* The shown range: fixed, or the data's padded (linear) or widened to whole
 * decades (log). */
static void auto_range(plot_scale *s, plot_extent e, int pad) {
    if (s->log) {
        s->lo = pow(10, floor(log10(e.lo) + 1e-9));
        s->hi = pow(10, ceil(log10(e.hi) - 1e-9));
        if (s->hi <= s->lo) s->hi = s->lo * 10;
        return;
    }
    double lo = e.lo, hi = e.hi;
    if (hi == lo) {
        double d = lo != 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }
    double margin = pad ? (hi - lo) * 0.05 : 0;
    s->lo = lo - margin;
    s->hi = hi + margin;
}

mla_status scale_setup(plot_scale *s, const mla_plot_axis *axis, plot_extent e, int is_y,
                       double length_px, int pad, const char *path) {
    memset(s, 0, sizeof *s);
    s->log = axis && axis->log_scale;
    if (axis && isfinite(axis->min) && isfinite(axis->max) && axis->min < axis->max) {
        if (s->log && axis->min <= 0)
            return mla_error(MLA_ERR_INVALID, "%s: log axis range [%g, %g] is not positive",
                             path, axis->min, axis->max);
        s->lo = axis->min;
        s->hi = axis->max;
    } else {
        if (!e.any)
            return mla_error(MLA_ERR_INVALID, "%s: no finite%s values to plot", path,
                             s->log ? " positive" : "");
        auto_range(s, e, pad);
    }
    if (s->log) log_ticks(s, length_px, is_y);
    else linear_ticks(s, length_px, is_y);
    return MLA_OK;
}

double scale_max_label_width(cairo_t *cr, const plot_scale *s) {
    double w = 0;
    for (int i = 0; i < s->n_ticks; i++) w = fmax(w, text_width(cr, s->labels[i]));
    return w;
}

/* ------------------------------------------------------------------ layout -- */

double title_space(plot_canvas *c, const char *title) {
    (void)c;
    return title && *title ? PLOT_TITLE_SIZE * 1.9 : 0;
}

void draw_title(plot_canvas *c, const char *title) {
    if (!title || !*title) return;
    text_font(c->cr, PLOT_TITLE_SIZE, 1);
    cairo_set_source_rgb(c->cr, 0.1, 0.1, 0.1);
    text_draw(c->cr, title, c->width / 2, 12, 0.5, 0, 0);
}

plot_rect chart_layout(plot_canvas *c, const char *title, plot_scale *x, const char *x_title,
                       plot_scale *y, const char *y_title, double right_extra) {
    cairo_t *cr = c->cr;
    text_font(cr, PLOT_AXIS_TITLE_SIZE, 0);
    double axis_h = text_height(cr);
    text_font(cr, PLOT_TICK_SIZE, 0);
    double tick_h = text_height(cr);
    double last_x = x->n_ticks ? text_width(cr, x->labels[x->n_ticks - 1]) / 2 : 0;
    plot_rect r;
    r.x0 = 12 + (y_title && *y_title ? axis_h + GAP : 0) + scale_max_label_width(cr, y) +
           TICK_LEN + 4;
    r.y0 = 14 + title_space(c, title) + tick_h / 2;
    r.x1 = c->width - fmax(right_extra, 18 + last_x);
    r.y1 = c->height - (12 + (x_title && *x_title ? axis_h + GAP : 0) + tick_h + TICK_LEN + 4);
    x->p0 = r.x0;
    x->p1 = r.x1;
    y->p0 = r.y1;
    y->p1 = r.y0;
    return r;
}

static double crisp(double v) { return floor(v) + 0.5; }

static void draw_grid(cairo_t *cr, plot_rect r, const plot_scale *x, const plot_scale *y,
                      int x_grid) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < y->n_ticks; i++) {
        double p = crisp(scale_map(y, y->ticks[i]));
        cairo_move_to(cr, r.x0, p);
        cairo_line_to(cr, r.x1, p);
    }
    for (int i = 0; x_grid && i < x->n_ticks; i++) {
        double p = crisp(scale_map(x, x->ticks[i]));
        cairo_move_to(cr, p, r.y0);
        cairo_line_to(cr, p, r.y1);
    }
    cairo_stroke(cr);
}

static void draw_ticks(cairo_t *cr, plot_rect r, const plot_scale *x, const plot_scale *y) {
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < y->n_ticks; i++) {
        double p = crisp(scale_map(y, y->ticks[i]));
        cairo_move_to(cr, r.x0, p);
        cairo_line_to(cr, r.x0 - TICK_LEN, p);
    }
    for (int i = 0; i < x->n_ticks; i++) {
        double p = crisp(scale_map(x, x->ticks[i]));
        cairo_move_to(cr, p, r.y1);
        cairo_line_to(cr, p, r.y1 + TICK_LEN);
    }
    cairo_stroke(cr);
    text_font(cr, PLOT_TICK_SIZE, 0);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (int i = 0; i < y->n_ticks; i++)
        text_draw(cr, y->labels[i], r.x0 - TICK_LEN - 4, scale_map(y, y->ticks[i]), 1, 0.5, 0);
    for (int i = 0; i < x->n_ticks; i++)
        text_draw(cr, x->labels[i], scale_map(x, x->ticks[i]), r.y1 + TICK_LEN + 3, 0.5, 0, 0);
}

void chart_draw_axes(plot_canvas *c, plot_rect r, const char *title, const plot_scale *x,
                     const char *x_title, const plot_scale *y, const char *y_title,
                     int x_grid) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    draw_grid(cr, r, x, y, x_grid);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(r.x0), crisp(r.y0), floor(r.x1) - floor(r.x0),
                    floor(r.y1) - floor(r.y0));
    cairo_stroke(cr);
    draw_ticks(cr, r, x, y);
    text_font(cr, PLOT_AXIS_TITLE_SIZE, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (x_title) text_draw(cr, x_title, (r.x0 + r.x1) / 2, c->height - 10, 0.5, 1, 0);
    if (y_title) text_draw(cr, y_title, 10, (r.y0 + r.y1) / 2, 0.5, 0, PLOT_PI / 2);
    draw_title(c, title);
    cairo_restore(cr);
}

/* ------------------------------------------------------------------ legend -- */

#define LEGEND_PAD 8.0
#define LEGEND_SWATCH 26.0

void occ_init(occupancy *o, plot_rect r) {
    memset(o, 0, sizeof *o);
    o->r = r;
}

void occ_point(occupancy *o, double x, double y) {
    double fx = (x - o->r.x0) / (o->r.x1 - o->r.x0), fy = (y - o->r.y0) / (o->r.y1 - o->r.y0);
    if (!(fx >= 0 && fx < 1 && fy >= 0 && fy < 1)) return;
    o->cell[(int)(fy * OCC_H)][(int)(fx * OCC_W)] = 1;
}

void occ_segment(occupancy *o, double x0, double y0, double x1, double y1) {
    double cell = fmin((o->r.x1 - o->r.x0) / OCC_W, (o->r.y1 - o->r.y0) / OCC_H);
    double len = fmax(fabs(x1 - x0), fabs(y1 - y0));
    int steps = (int)fmin(400, len / fmax(cell / 2, 1)) + 1;
    for (int i = 0; i <= steps; i++) {
        double t = (double)i / steps;
        occ_point(o, x0 + t * (x1 - x0), y0 + t * (y1 - y0));
    }
}

static int occ_count(const occupancy *o, double x0, double y0, double x1, double y1) {
    int n = 0;
    double w = o->r.x1 - o->r.x0, h = o->r.y1 - o->r.y0;
    for (int j = 0; j < OCC_H; j++)
        for (int i = 0; i < OCC_W; i++) {
            double cx = o->r.x0 + (i + 0.5) * w / OCC_W, cy = o->r.y0 + (j + 0.5) * h / OCC_H;
            n += o->cell[j][i] && cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1;
        }
    return n;
}

/* Copies s into out, cut at a character boundary and ended with an ellipsis so
 * that it is at most max_w wide in the current font (max_w <= 0: no limit). */
static void fit_text(cairo_t *cr, const char *s, double max_w, char *out, size_t size) {
    snprintf(out, size, "%s", s ? s : "");
    if (max_w <= 0 || text_width(cr, out) <= max_w) return;
    size_t len = strlen(out);
    while (len > 0) {
        do len--; while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80);
        if (len + 4 > size) continue;
        memcpy(out + len, "\u2026", 4); /* "..." as one character, with its NUL */
        if (text_width(cr, out) <= max_w) return;
    }
}

/* The widest name may have: unlimited inside the plot, 30% of the canvas outside. */
static double legend_text_limit(double canvas_w, mla_plot_legend pos) {
    return pos == MLA_LEGEND_OUTSIDE ? 0.3 * canvas_w : 0;
}

static double legend_box_width(cairo_t *cr, const legend_entry *e, int n, double max_text) {
    if (n == 0) return 0;
    text_font(cr, PLOT_LEGEND_SIZE, 0);
    double w = 0;
    char buf[256];
    for (int i = 0; i < n; i++) {
        fit_text(cr, e[i].name, max_text, buf, sizeof buf);
        w = fmax(w, text_width(cr, buf));
    }
    return 2 * LEGEND_PAD + LEGEND_SWATCH + 6 + w;
}

double legend_width(cairo_t *cr, const legend_entry *e, int n) {
    return legend_box_width(cr, e, n, 0);
}

static double legend_row(void) { return PLOT_LEGEND_SIZE * 1.55; }

static void draw_swatch(cairo_t *cr, const legend_entry *e, double x, double y) {
    set_rgb(cr, e->color);
    if (e->kind == LEGEND_BOX) {
        cairo_rectangle(cr, x + 5, y - 5, LEGEND_SWATCH - 10, 10);
        cairo_fill(cr);
        return;
    }
    if (e->kind == LEGEND_LINE) {
        double dash[] = {6, 4};
        cairo_set_dash(cr, dash, e->dashed ? 2 : 0, 0);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + LEGEND_SWATCH, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    if (e->kind == LEGEND_MARKER || e->markers) {
        cairo_arc(cr, x + LEGEND_SWATCH / 2, y, 4, 0, 2 * PLOT_PI);
        cairo_fill(cr);
    }
}

/* Top-left corner of an inside legend of size w x h at position pos. */
static void legend_origin(plot_rect r, mla_plot_legend pos, double w, double h, double *x,
                          double *y) {
    int left = pos == MLA_LEGEND_TOP_LEFT || pos == MLA_LEGEND_BOTTOM_LEFT;
    int top = pos == MLA_LEGEND_TOP_LEFT || pos == MLA_LEGEND_TOP_RIGHT;
    *x = left ? r.x0 + 10 : r.x1 - 10 - w;
    *y = top ? r.y0 + 10 : r.y1 - 10 - h;
}

mla_plot_legend legend_best_corner(cairo_t *cr, plot_rect r, const legend_entry *e, int n,
                                   const occupancy *occ, int *hits) {
    static const mla_plot_legend order[] = {MLA_LEGEND_TOP_RIGHT, MLA_LEGEND_TOP_LEFT,
                                            MLA_LEGEND_BOTTOM_LEFT, MLA_LEGEND_BOTTOM_RIGHT};
    double w = legend_width(cr, e, n), h = 2 * LEGEND_PAD + n * legend_row() - 4;
    mla_plot_legend best = order[0];
    int best_n = -1;
    for (int i = 0; i < 4; i++) {
        double x, y;
        legend_origin(r, order[i], w, h, &x, &y);
        int k = occ_count(occ, x, y, x + w, y + h);
        if (best_n < 0 || k < best_n) best = order[i], best_n = k;
    }
    *hits = best_n;
    return best;
}

void legend_draw(plot_canvas *c, plot_rect r, const legend_entry *e, int n, mla_plot_legend pos) {
    if (n == 0 || pos == MLA_LEGEND_NONE) return;
    cairo_t *cr = c->cr;
    cairo_save(cr);
    double max_text = legend_text_limit(c->width, pos);
    double w = legend_box_width(cr, e, n, max_text), h = 2 * LEGEND_PAD + n * legend_row() - 4;
    double x, y;
    if (pos == MLA_LEGEND_OUTSIDE) {
        x = r.x1 + 14;
        y = r.y0;
    } else {
        if (pos == MLA_LEGEND_AUTO) pos = MLA_LEGEND_TOP_RIGHT;
        legend_origin(r, pos, w, h, &x, &y);
    }
    cairo_rectangle(cr, crisp(x), crisp(y), floor(w), floor(h));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    text_font(cr, PLOT_LEGEND_SIZE, 0);
    for (int i = 0; i < n; i++) {
        double cy = y + LEGEND_PAD + (i + 0.5) * legend_row() - 2;
        draw_swatch(cr, &e[i], x + LEGEND_PAD, cy);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        char name[256];
        fit_text(cr, e[i].name, max_text, name, sizeof name);
        text_draw(cr, name, x + LEGEND_PAD + LEGEND_SWATCH + 6, cy, 0, 0.5, 0);
    }
    cairo_restore(cr);
}

/* AUTO becomes OUTSIDE when the legend is too tall to sit inside the plot. */
static mla_plot_legend legend_resolve(int n, mla_plot_legend pos, double height) {
    if (pos != MLA_LEGEND_AUTO || n == 0) return pos;
    return 2 * LEGEND_PAD + n * legend_row() > 0.55 * height ? MLA_LEGEND_OUTSIDE : pos;
}

double legend_outside_space(cairo_t *cr, const legend_entry *e, int n, mla_plot_legend pos,
                            double canvas_w) {
    if (pos != MLA_LEGEND_OUTSIDE || n == 0) return 0;
    return legend_box_width(cr, e, n, legend_text_limit(canvas_w, pos)) + 28;
}

mla_plot_legend legend_place(plot_canvas *c, const legend_entry *e, int n, mla_plot_legend pos,
                             legend_layout_fn layout, legend_mark_fn mark, void *ctx,
                             plot_rect *r) {
    cairo_t *cr = c->cr;
    pos = legend_resolve(n, pos, c->height);
    *r = layout(c, ctx, legend_outside_space(cr, e, n, pos, c->width));
    if (pos != MLA_LEGEND_AUTO || n == 0) return pos;
    occupancy occ;
    occ_init(&occ, *r);
    mark(ctx, &occ);
    int hits;
    mla_plot_legend best = legend_best_corner(cr, *r, e, n, &occ, &hits);
    int fits = legend_width(cr, e, n) < 0.8 * (r->x1 - r->x0);
    if (hits <= 2 && fits) return best;
    *r = layout(c, ctx, legend_outside_space(cr, e, n, MLA_LEGEND_OUTSIDE, c->width));
    return MLA_LEGEND_OUTSIDE;
}
