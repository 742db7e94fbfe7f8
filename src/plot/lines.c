/* Line charts: several (x, y) series, optional markers, log axes and the y = x
 * reference line of ROC plots. */
#include "plot/plot_impl.h"

#include <math.h>
#include <stdlib.h>

/* Liang-Barsky: clips the segment to r in place; 0 when nothing is left. */
static int clip_segment(plot_rect r, double *x0, double *y0, double *x1, double *y1) {
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    double p[4] = {-dx, dx, -dy, dy}, q[4] = {*x0 - r.x0, r.x1 - *x0, *y0 - r.y0, r.y1 - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) t0 = fmax(t0, t);
        else t1 = fmin(t1, t);
    }
    if (t0 > t1) return 0;
    double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy;
    *x1 = *x0 + t1 * dx;
    *y1 = *y0 + t1 * dy;
    *x0 = ax;
    *y0 = ay;
    return 1;
}

/* Pixel position of point i, or 0 if it cannot be drawn on these scales. */
static int point_px(const plot_scale *sx, const plot_scale *sy, double x, double y, double *px,
                    double *py) {
    if (!scale_ok(sx, x) || !scale_ok(sy, y)) return 0;
    *px = scale_map(sx, x);
    *py = scale_map(sy, y);
    return isfinite(*px) && isfinite(*py);
}

/* Adds the visible part of a polyline to the current path (when cr is not NULL)
 * and records it in occ; a non-drawable point breaks the line. */
typedef struct {
    cairo_t *cr;
    plot_rect r;
    occupancy *occ;
    int have_prev, pen_at_prev;
    double px, py;
} polyline;

static void polyline_add(polyline *pl, int ok, double x, double y) {
    if (!ok) {
        pl->have_prev = 0;
        return;
    }
    int pen = 0;
    double x0 = pl->px, y0 = pl->py, x1 = x, y1 = y;
    if (pl->have_prev && clip_segment(pl->r, &x0, &y0, &x1, &y1)) {
        if (pl->cr && (!pl->pen_at_prev || x0 != pl->px || y0 != pl->py))
            cairo_move_to(pl->cr, x0, y0);
        if (pl->cr) cairo_line_to(pl->cr, x1, y1);
        if (pl->occ) occ_segment(pl->occ, x0, y0, x1, y1);
        pen = x1 == x && y1 == y;
    }
    pl->pen_at_prev = pen;
    pl->have_prev = 1;
    pl->px = x;
    pl->py = y;
}

static int inside(plot_rect r, double x, double y, double slack) {
    return x >= r.x0 - slack && x <= r.x1 + slack && y >= r.y0 - slack && y <= r.y1 + slack;
}

/* Draws series s (cr not NULL) and/or marks it in occ (occ not NULL). */
static void trace_series(cairo_t *cr, occupancy *occ, const mla_plot_series *s, int index,
                         plot_rect r, const plot_scale *sx, const plot_scale *sy) {
    polyline pl = {.cr = cr, .r = r, .occ = occ};
    double dash[] = {7, 4};
    if (cr) {
        set_rgb(cr, plot_color(s->color > 0 ? s->color - 1 : index));
        cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
        cairo_set_line_width(cr, 2);
    }
    for (int i = 0; i < s->n; i++) {
        double px = 0, py = 0;
        int ok = point_px(sx, sy, s->x[i], s->y[i], &px, &py);
        polyline_add(&pl, ok, px, py);
        if (ok && occ && (s->markers || s->n == 1)) occ_point(occ, px, py);
    }
    if (!cr) return;
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    for (int i = 0; s->markers && i < s->n; i++) {
        double px, py;
        if (!point_px(sx, sy, s->x[i], s->y[i], &px, &py) || !inside(r, px, py, 4)) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, 3.5, 0, 2 * PLOT_PI);
    }
    cairo_fill(cr);
}

/* y = x, sampled so that it is right on log axes too. */
static void trace_diagonal(cairo_t *cr, occupancy *occ, plot_rect r, const plot_scale *sx,
                           const plot_scale *sy) {
    polyline pl = {.cr = cr, .r = r, .occ = occ};
    double dash[] = {5, 4};
    if (cr) {
        cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
        cairo_set_line_width(cr, 1.2);
        cairo_set_dash(cr, dash, 2, 0);
    }
    for (int i = 0; i <= 256; i++) {
        double t = i / 256.0;
        double v = sx->log ? sx->lo * pow(sx->hi / sx->lo, t) : sx->lo + t * (sx->hi - sx->lo);
        double px = 0, py = 0;
        int ok = point_px(sx, sy, v, v, &px, &py);
        polyline_add(&pl, ok, px, py);
    }
    if (!cr) return;
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static mla_status check_series(const char *path, const mla_plot_series *series, int n_series) {
    if (n_series < 1 || !series)
        return mla_error(MLA_ERR_INVALID, "%s: a line chart needs at least one series", path);
    for (int i = 0; i < n_series; i++)
        if (series[i].n < 0 || (series[i].n > 0 && (!series[i].x || !series[i].y)))
            return mla_error(MLA_ERR_INVALID, "%s: series %d has no points array or n < 0",
                             path, i);
    return MLA_OK;
}

static void series_extents(const mla_plot_series *series, int n_series,
                           const mla_plot_line_opts *o, plot_extent *ex, plot_extent *ey) {
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < series[i].n; k++) {
            double x = series[i].x[k], y = series[i].y[k];
            if (!isfinite(x) || !isfinite(y) || (o->x.log_scale && x <= 0) ||
                (o->y.log_scale && y <= 0))
                continue;
            extent_add(ex, x, o->x.log_scale);
            extent_add(ey, y, o->y.log_scale);
        }
}

static int legend_entries(const mla_plot_series *series, int n_series, legend_entry *e) {
    int n = 0;
    for (int i = 0; i < n_series; i++) {
        if (!series[i].name) continue;
        e[n++] = (legend_entry){series[i].name,
                                plot_color(series[i].color > 0 ? series[i].color - 1 : i),
                                LEGEND_LINE, series[i].dashed, series[i].markers};
    }
    return n;
}

/* What the layout and marking callbacks of legend_place need. */
typedef struct {
    const mla_plot_series *series;
    int n_series;
    const mla_plot_line_opts *o;
    plot_scale *sx, *sy;
    plot_rect r;
} line_chart;

static plot_rect line_layout(plot_canvas *c, void *ctx, double right) {
    line_chart *lc = ctx;
    lc->r = chart_layout(c, lc->o->frame.title, lc->sx, lc->o->x.title, lc->sy, lc->o->y.title,
                         right);
    return lc->r;
}

static void line_mark(void *ctx, occupancy *occ) {
    line_chart *lc = ctx;
    if (lc->o->diagonal) trace_diagonal(NULL, occ, lc->r, lc->sx, lc->sy);
    for (int i = 0; i < lc->n_series; i++)
        trace_series(NULL, occ, &lc->series[i], i, lc->r, lc->sx, lc->sy);
}

static void render(plot_canvas *c, line_chart *lc, const legend_entry *entries, int n_entries) {
    cairo_t *cr = c->cr;
    const mla_plot_line_opts *o = lc->o;
    plot_rect r;
    mla_plot_legend pos = legend_place(c, entries, n_entries, o->legend, line_layout, line_mark,
                                       lc, &r);
    chart_draw_axes(c, r, o->frame.title, lc->sx, o->x.title, lc->sy, o->y.title, 1);
    cairo_save(cr);
    cairo_rectangle(cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    if (o->diagonal) trace_diagonal(cr, NULL, r, lc->sx, lc->sy);
    for (int i = 0; i < lc->n_series; i++)
        trace_series(cr, NULL, &lc->series[i], i, r, lc->sx, lc->sy);
    cairo_restore(cr);
    legend_draw(c, r, entries, n_entries, pos);
}

mla_status mla_plot_lines(const char *path, const mla_plot_series *series, int n_series,
                          const mla_plot_line_opts *opts) {
    static const mla_plot_line_opts defaults;
    const mla_plot_line_opts *o = opts ? opts : &defaults;
    double w, h;
    mla_status s = plot_check_path(path);
    if (!s) s = check_series(path, series, n_series);
    if (!s) s = plot_frame_size(path, &o->frame, &w, &h);
    if (s) return s;
    plot_extent ex = {0}, ey = {0};
    series_extents(series, n_series, o, &ex, &ey);
    if (!ex.any)
        return mla_error(MLA_ERR_INVALID, "%s: no drawable (finite%s) points in any series", path,
                         o->x.log_scale || o->y.log_scale ? ", positive on log axes" : "");
    plot_scale sx, sy;
    if ((s = scale_setup(&sx, &o->x, ex, 0, w - 150, 1, path))) return s;
    if ((s = scale_setup(&sy, &o->y, ey, 1, h - 120, 1, path))) return s;
    legend_entry *entries = mla_alloc((size_t)n_series, sizeof *entries);
    if (!entries) return MLA_ERR_NOMEM;
    int n_entries = legend_entries(series, n_series, entries);
    plot_canvas c;
    if ((s = canvas_open(&c, path, w, h))) {
        free(entries);
        return s;
    }
    line_chart lc = {series, n_series, o, &sx, &sy, {0, 0, 0, 0}};
    render(&c, &lc, entries, n_entries);
    free(entries);
    return canvas_close(&c);
}
