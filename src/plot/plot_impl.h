/* Internals shared by the plot renderers: the output canvas (PNG or SVG through an
 * atomic file), text, colours, axes with ticks, and legends. Coordinates are
 * device pixels with y growing downwards. */
#ifndef MLAUDIT_PLOT_IMPL_H
#define MLAUDIT_PLOT_IMPL_H

#include <cairo.h>

#include "mlaudit/plot.h"

#define PLOT_DEFAULT_W 800
#define PLOT_DEFAULT_H 600
#define PLOT_MAX_SIDE 16384      /* refuse absurd canvas sizes */
#define PLOT_FONT "sans-serif"
#define PLOT_TITLE_SIZE 17.0
#define PLOT_AXIS_TITLE_SIZE 14.0
#define PLOT_TICK_SIZE 12.0
#define PLOT_LEGEND_SIZE 12.0
#define PLOT_MAX_TICKS 32
#define PLOT_PI 3.14159265358979323846

/* ---- canvas (canvas.c) ---- */

typedef struct {
    const char *path;          /* borrowed */
    int is_svg;
    double width, height;
    mla_atomic_file *file;
    cairo_surface_t *surface;
    cairo_t *cr;
} plot_canvas;

/* Checks the extension, opens the atomic output and a white canvas. On failure
 * nothing is left open. */
mla_status canvas_open(plot_canvas *c, const char *path, double width, double height);
/* Renders to the file and commits it; frees everything either way. */
mla_status canvas_close(plot_canvas *c);
/* Drops the output (nothing appears at path); frees everything. */
void canvas_abort(plot_canvas *c);
/* MLA_ERR_INVALID naming path when the extension is neither .png nor .svg. */
mla_status plot_check_path(const char *path);
/* The frame's size, defaults applied, or MLA_ERR_INVALID for absurd sizes. */
mla_status plot_frame_size(const char *path, const mla_plot_frame *f, double *w, double *h);

/* ---- text (canvas.c) ---- */

void text_font(cairo_t *cr, double size, int bold);
double text_width(cairo_t *cr, const char *s);   /* in the current font */
double text_height(cairo_t *cr);                 /* ascent + descent of the current font */
/* Draws s with its anchor point at (x, y): ax/ay are 0 (left/top), 0.5 (centre) or
 * 1 (right/bottom) of the text box, before rotation by angle (radians,
 * counter-clockwise positive as seen on screen). */
void text_draw(cairo_t *cr, const char *s, double x, double y, double ax, double ay,
               double angle);
/* As text_draw, with a white halo so the text reads over data. */
void text_draw_halo(cairo_t *cr, const char *s, double x, double y, double ax, double ay);
/* Formats v with fmt, which must hold exactly one floating conversion; NULL or an
 * unsafe format uses "%.3g". */
void format_value(char *out, size_t size, const char *fmt, double v);
int format_is_valid(const char *fmt);

/* ---- colours (canvas.c) ---- */

typedef struct {
    double r, g, b;
} plot_rgb;

plot_rgb plot_color(int index);                 /* mla_plot_palette as a struct */
plot_rgb cmap_color(mla_plot_cmap cmap, double t); /* t in [0, 1], clamped */
void set_rgb(cairo_t *cr, plot_rgb c);
/* Black or white, whichever contrasts better with c. */
plot_rgb contrast_text(plot_rgb c);

/* ---- axes (axes.c) ---- */

/* One axis after layout: the data range mapped onto a pixel range, and its ticks. */
typedef struct {
    double lo, hi;       /* data range shown */
    int log;             /* base-10 log scale */
    double p0, p1;       /* pixels of lo and hi (for y, p0 > p1) */
    int n_ticks;
    double ticks[PLOT_MAX_TICKS];
    char labels[PLOT_MAX_TICKS][24];
} plot_scale;

/* Data range from finite values (positive ones when log); returns 0 when none. */
typedef struct {
    double lo, hi;
    int any;
} plot_extent;
void extent_add(plot_extent *e, double v, int log);

/* Sets the shown range (fixed if axis->min < axis->max, else padded from e) and
 * ticks for about length_px pixels. Returns MLA_ERR_INVALID naming path when the
 * range is empty and not fixed, or a fixed log range is not positive. */
mla_status scale_setup(plot_scale *s, const mla_plot_axis *axis, plot_extent e, int is_y,
                       double length_px, int pad, const char *path);
double scale_map(const plot_scale *s, double v);  /* data -> pixel */
int scale_ok(const plot_scale *s, double v);      /* finite and allowed by the scale */
double scale_max_label_width(cairo_t *cr, const plot_scale *s);

/* The plot area and the space around it. */
typedef struct {
    double x0, y0, x1, y1; /* plot area; (x0, y0) top-left */
} plot_rect;

/* Lays out a standard x/y chart on canvas c: title on top, y ticks and title on
 * the left, x ticks and title below, right_extra pixels reserved on the right.
 * Sets both scales' pixel ranges. */
plot_rect chart_layout(plot_canvas *c, const char *title, plot_scale *x, const char *x_title,
                       plot_scale *y, const char *y_title, double right_extra);
/* Draws background grid, frame, ticks, tick labels, axis titles and plot title. */
void chart_draw_axes(plot_canvas *c, plot_rect r, const char *title, const plot_scale *x,
                     const char *x_title, const plot_scale *y, const char *y_title,
                     int x_grid);
void draw_title(plot_canvas *c, const char *title);
double title_space(plot_canvas *c, const char *title); /* pixels the title takes */

/* ---- legend (axes.c) ---- */

typedef enum { LEGEND_LINE, LEGEND_MARKER, LEGEND_BOX } legend_kind;

typedef struct {
    const char *name;
    plot_rgb color;
    legend_kind kind;
    int dashed, markers;
} legend_entry;

/* A coarse grid over the plot area recording where data is drawn, to place the
 * legend over the emptiest corner. */
#define OCC_W 48
#define OCC_H 36
typedef struct {
    plot_rect r;
    unsigned char cell[OCC_H][OCC_W];
} occupancy;

void occ_init(occupancy *o, plot_rect r);
void occ_point(occupancy *o, double x, double y);
void occ_segment(occupancy *o, double x0, double y0, double x1, double y1);
/* Width of the legend box with full names (0 if no entries). */
double legend_width(cairo_t *cr, const legend_entry *e, int n);
/* Pixels to reserve right of the plot area for an OUTSIDE legend (else 0); names
 * there are cut (with an ellipsis) to 30% of the canvas width. */
double legend_outside_space(cairo_t *cr, const legend_entry *e, int n, mla_plot_legend pos,
                            double canvas_w);
/* The inside corner whose legend box covers the fewest occupied cells; *hits
 * says how many it covers. */
mla_plot_legend legend_best_corner(cairo_t *cr, plot_rect r, const legend_entry *e, int n,
                                   const occupancy *occ, int *hits);
/* Lays the chart out for right_extra pixels of right margin (setting the scales'
 * pixel ranges) and returns the plot area. */
typedef plot_rect (*legend_layout_fn)(plot_canvas *c, void *ctx, double right_extra);
/* Marks where the data will be drawn, on the scales of the last layout. */
typedef void (*legend_mark_fn)(void *ctx, occupancy *occ);
/* Settles the legend position and the layout for it: a fixed position is kept;
 * AUTO becomes the emptiest inside corner, or OUTSIDE (with the layout redone)
 * when the legend is large or every corner would cover data. */
mla_plot_legend legend_place(plot_canvas *c, const legend_entry *e, int n, mla_plot_legend pos,
                             legend_layout_fn layout, legend_mark_fn mark, void *ctx,
                             plot_rect *r);
/* Draws the legend at pos (AUTO draws top right; resolve it first), nothing if
 * n == 0 or pos is NONE. */
void legend_draw(plot_canvas *c, plot_rect r, const legend_entry *e, int n, mla_plot_legend pos);

#endif
