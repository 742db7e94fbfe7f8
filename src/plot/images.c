/* Image grids: n images (grayscale or RGB, float or 8-bit, CHW) in rows x cols
 * tiles, upscaled by an integer factor with exact nearest-neighbour pixels,
 * optional captions per tile and per row, and a signed blue-white-red mode. */
#include "plot/plot_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MARGIN 12
#define GAP 6
#define CAPTION_SIZE 11.0
#define ROW_CAPTION_SIZE 12.0
#define MAX_IMAGES 100000
#define MAX_SIDE 4096
#define AUTO_WIDTH 1000

typedef struct {
    int rows, cols, scale;
    int tile_w, tile_h, col_w;          /* tile pixels; column pitch */
    int left, top;                      /* origin of the first tile column / row */
    int caption_h;                      /* below the tiles of rows that have captions */
    int64_t *row_y;                     /* rows + 1 row tops; owned, freed by render's caller */
    int width, height;                  /* canvas */
} grid_layout;

static mla_status check_images(const char *path, const mla_plot_images *im,
                               const mla_plot_grid_opts *o) {
    if (!im || !im->pixels || im->n < 1)
        return mla_error(MLA_ERR_INVALID, "%s: image grid needs at least one image", path);
    if (im->n > MAX_IMAGES || im->height < 1 || im->width < 1 || im->height > MAX_SIDE ||
        im->width > MAX_SIDE)
        return mla_error(MLA_ERR_INVALID, "%s: %d images of %d x %d: counts out of range", path,
                         im->n, im->height, im->width);
    if (im->channels != 1 && im->channels != 3)
        return mla_error(MLA_ERR_INVALID, "%s: images have %d channels (1 or 3 supported)", path,
                         im->channels);
    if (im->type != MLA_PIXELS_F32 && im->type != MLA_PIXELS_U8)
        return mla_error(MLA_ERR_INVALID, "%s: unknown pixel type %d", path, (int)im->type);
    if (o->signed_map && (im->channels != 1 || im->type != MLA_PIXELS_F32))
        return mla_error(MLA_ERR_INVALID,
                         "%s: the signed colour map needs 1-channel float images", path);
    if (o->rows < 0 || o->cols < 0 || o->scale < 0 || o->scale > 64)
        return mla_error(MLA_ERR_INVALID, "%s: rows, cols or scale out of range", path);
    if (o->rows > 0 && o->cols > 0 && (int64_t)o->rows * o->cols < im->n)
        return mla_error(MLA_ERR_INVALID, "%s: a %d x %d grid cannot hold %d images", path,
                         o->rows, o->cols, im->n);
    return MLA_OK;
}

static void grid_shape(const mla_plot_images *im, const mla_plot_grid_opts *o, grid_layout *g) {
    g->cols = o->cols, g->rows = o->rows;
    if (!g->cols && !g->rows) g->cols = (int)ceil(sqrt((double)im->n));
    if (!g->rows) g->rows = (im->n + g->cols - 1) / g->cols;
    if (!g->cols) g->cols = (im->n + g->rows - 1) / g->rows;
    g->scale = o->scale;
    if (!g->scale) {
        g->scale = AUTO_WIDTH / (g->cols * im->width + (g->cols - 1) * GAP);
        g->scale = g->scale < 1 ? 1 : g->scale > 12 ? 12 : g->scale;
    }
}

static double max_caption(cairo_t *cr, const char *const *captions, int n, double size) {
    double w = 0;
    text_font(cr, size, 0);
    for (int i = 0; captions && i < n; i++) w = fmax(w, text_width(cr, captions[i]));
    return w;
}

/* Whether any tile of row r has a caption (only those rows make room for one). */
static int row_has_caption(const mla_plot_images *im, const mla_plot_grid_opts *o,
                           const grid_layout *g, int r) {
    for (int i = r * g->cols; o->tile_captions && i < (r + 1) * g->cols && i < im->n; i++)
        if (o->tile_captions[i] && *o->tile_captions[i]) return 1;
    return 0;
}

/* Sizes everything; measuring text needs a scratch cairo context. On success the
 * caller frees g->row_y. */
static mla_status grid_layout_compute(const char *path, const mla_plot_images *im,
                                      const mla_plot_grid_opts *o, grid_layout *g) {
    grid_shape(im, o, g);
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(scratch);
    g->tile_w = im->width * g->scale;
    g->tile_h = im->height * g->scale;
    double caption_w = max_caption(cr, o->tile_captions, im->n, CAPTION_SIZE);
    g->caption_h = o->tile_captions ? (int)ceil(text_height(cr)) + 4 : 0;
    double row_w = max_caption(cr, o->row_captions, g->rows, ROW_CAPTION_SIZE);
    text_font(cr, PLOT_TITLE_SIZE, 1);
    double title_w = o->frame.title ? text_width(cr, o->frame.title) : 0;
    cairo_destroy(cr);
    cairo_surface_destroy(scratch);
    g->col_w = (int)fmax(g->tile_w, caption_w > 0 ? ceil(caption_w) + 6 : 0);
    g->left = MARGIN + (row_w > 0 ? (int)ceil(row_w) + 10 : 0);
    g->top = MARGIN + (int)ceil(o->frame.title ? PLOT_TITLE_SIZE * 1.9 : 0);
    if (!(g->row_y = mla_alloc((size_t)g->rows + 1, sizeof *g->row_y))) return MLA_ERR_NOMEM;
    g->row_y[0] = g->top;
    for (int r = 0; r < g->rows; r++)
        g->row_y[r + 1] = g->row_y[r] + g->tile_h +
                          (row_has_caption(im, o, g, r) ? g->caption_h : 0) + GAP;
    int64_t w = g->left + (int64_t)g->cols * (g->col_w + GAP) - GAP + MARGIN;
    int64_t h = g->row_y[g->rows] - GAP + MARGIN;
    w = (int64_t)fmax((double)w, title_w + 2 * MARGIN);
    if (w > PLOT_MAX_SIDE || h > PLOT_MAX_SIDE) {
        free(g->row_y);
        g->row_y = NULL;
        return mla_error(MLA_ERR_INVALID,
                         "%s: image grid of %lld x %lld pixels is too large (max %d); use a "
                         "smaller scale or fewer images",
                         path, (long long)w, (long long)h, PLOT_MAX_SIDE);
    }
    g->width = (int)w;
    g->height = (int)h;
    return MLA_OK;
}

/* Largest |value| of image i (float data), for the signed map. */
static double max_abs(const mla_plot_images *im, int i) {
    size_t n = (size_t)im->channels * im->height * im->width;
    const float *p = (const float *)im->pixels + (size_t)i * n;
    double m = 0;
    for (size_t k = 0; k < n; k++)
        if (isfinite(p[k])) m = fmax(m, fabs(p[k]));
    return m;
}

static double pixel_value(const mla_plot_images *im, size_t index) {
    if (im->type == MLA_PIXELS_U8) return ((const uint8_t *)im->pixels)[index] / 255.0;
    return ((const float *)im->pixels)[index];
}

/* One source pixel as packed RGB24; non-finite values are magenta. */
static uint32_t pixel_rgb(const mla_plot_images *im, int i, int y, int x, int signed_map,
                          double scale) {
    size_t plane = (size_t)im->height * im->width;
    size_t base = (size_t)i * im->channels * plane + (size_t)y * im->width + x;
    double v[3];
    for (int c = 0; c < 3; c++) v[c] = pixel_value(im, base + (im->channels == 3 ? c * plane : 0));
    if (!isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2])) return 0xff00ff;
    if (signed_map) {
        plot_rgb c = cmap_color(MLA_CMAP_SIGNED, scale > 0 ? 0.5 + 0.5 * v[0] / scale : 0.5);
        v[0] = c.r, v[1] = c.g, v[2] = c.b;
    }
    uint32_t out = 0;
    for (int c = 0; c < 3; c++) {
        double t = v[c] < 0 ? 0 : v[c] > 1 ? 1 : v[c];
        out = out << 8 | (uint32_t)lround(t * 255);
    }
    return out;
}

/* Paints image i at (x, y), each source pixel a scale x scale block. */
static void draw_tile(cairo_t *cr, const mla_plot_images *im, int i, const grid_layout *g,
                      int x, int y, int signed_map, double scale) {
    cairo_surface_t *tile = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g->tile_w, g->tile_h);
    if (cairo_surface_status(tile) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(tile);
        return; /* the canvas stays valid; canvas_close reports memory trouble */
    }
    cairo_surface_flush(tile);
    unsigned char *data = cairo_image_surface_get_data(tile);
    int stride = cairo_image_surface_get_stride(tile);
    for (int py = 0; py < g->tile_h; py++) {
        uint32_t *row = (uint32_t *)(data + (size_t)py * stride);
        for (int px = 0; px < g->tile_w; px++)
            row[px] = pixel_rgb(im, i, py / g->scale, px / g->scale, signed_map, scale);
    }
    cairo_surface_mark_dirty(tile);
    /* A hairline frame just outside the tile separates light images from the page. */
    cairo_set_source_rgb(cr, 0.72, 0.72, 0.72);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x - 0.5, y - 0.5, g->tile_w + 1, g->tile_h + 1);
    cairo_stroke(cr);
    cairo_set_source_surface(cr, tile, x, y);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, x, y, g->tile_w, g->tile_h);
    cairo_fill(cr);
    cairo_surface_destroy(tile);
}

static double shared_scale(const mla_plot_images *im, const mla_plot_grid_opts *o) {
    double m = 0;
    for (int i = 0; o->signed_map && o->signed_shared_scale && i < im->n; i++)
        m = fmax(m, max_abs(im, i));
    return m;
}

static void render(plot_canvas *c, const mla_plot_images *im, const mla_plot_grid_opts *o,
                   const grid_layout *g) {
    cairo_t *cr = c->cr;
    double shared = shared_scale(im, o);
    for (int i = 0; i < im->n; i++) {
        int r = i / g->cols, col = i % g->cols;
        int x = g->left + col * (g->col_w + GAP) + (g->col_w - g->tile_w) / 2;
        int y = (int)g->row_y[r];
        double scale = !o->signed_map ? 0 : o->signed_shared_scale ? shared : max_abs(im, i);
        draw_tile(cr, im, i, g, x, y, o->signed_map, scale);
        if (o->tile_captions && o->tile_captions[i]) {
            text_font(cr, CAPTION_SIZE, 0);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text_draw(cr, o->tile_captions[i], x + g->tile_w / 2.0, y + g->tile_h + 2, 0.5, 0, 0);
        }
    }
    text_font(cr, ROW_CAPTION_SIZE, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    for (int r = 0; o->row_captions && r < g->rows; r++)
        text_draw(cr, o->row_captions[r], g->left - 10, g->row_y[r] + g->tile_h / 2.0, 1, 0.5, 0);
    draw_title(c, o->frame.title);
}

mla_status mla_plot_image_grid(const char *path, const mla_plot_images *images,
                               const mla_plot_grid_opts *opts) {
    static const mla_plot_grid_opts defaults;
    const mla_plot_grid_opts *o = opts ? opts : &defaults;
    mla_status s = plot_check_path(path);
    if (!s) s = check_images(path, images, o);
    grid_layout g;
    memset(&g, 0, sizeof g);
    if (!s) s = grid_layout_compute(path, images, o, &g);
    if (s) return s;
    plot_canvas c;
    if (!(s = canvas_open(&c, path, g.width, g.height))) {
        render(&c, images, o, &g);
        s = canvas_close(&c);
    }
    free(g.row_y);
    return s;
}
