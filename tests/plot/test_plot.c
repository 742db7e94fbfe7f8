/* Tests of the plot module: every primitive writes a valid PNG (read back with
 * cairo, right size, pixels where they must be) and a valid SVG; bad input gets
 * a clear error and leaves no file behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cairo.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "mlaudit/plot.h"
#include "plot/plot_impl.h"


static int setup(void **state) {
    (void)state;
    return test_tmpdir_create("plot");
}

static int teardown(void **state) {
    (void)state;
    return test_tmpdir_remove();
}

static int count_dir_entries(void) {
    DIR *d = opendir(test_tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---- reading results back ---- */

typedef struct {
    cairo_surface_t *s;
    int w, h;
} png_image;

static png_image read_png(const char *path) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char magic[8];
    assert_int_equal(fread(magic, 1, 8, fp), 8);
    fclose(fp);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
    png_image im = {cairo_image_surface_create_from_png(path), 0, 0};
    assert_int_equal(cairo_surface_status(im.s), CAIRO_STATUS_SUCCESS);
    im.w = cairo_image_surface_get_width(im.s);
    im.h = cairo_image_surface_get_height(im.s);
    return im;
}

/* 0xRRGGBB of pixel (x, y); the PNGs are opaque. */
static uint32_t pixel(const png_image *im, int x, int y) {
    assert_true(x >= 0 && x < im->w && y >= 0 && y < im->h);
    const unsigned char *d = cairo_image_surface_get_data(im->s);
    int stride = cairo_image_surface_get_stride(im->s);
    return *(const uint32_t *)(d + (size_t)y * stride + (size_t)x * 4) & 0xffffff;
}

static int count_color(const png_image *im, uint32_t rgb) {
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) n += pixel(im, x, y) == rgb;
    return n;
}

static void check_png_size(const char *path, int w, int h) {
    png_image im = read_png(path);
    assert_int_equal(im.w, w);
    assert_int_equal(im.h, h);
    cairo_surface_destroy(im.s);
}

static void check_svg(const char *path) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    assert_true(n > 100);
    assert_memory_equal(buf, "<?xml", 5);
    assert_non_null(strstr(buf, "<svg"));
    if (n < sizeof buf - 1) assert_non_null(strstr(buf, "</svg>"));
}

static const uint32_t TAB_BLUE = 0x1f77b4, TAB_ORANGE = 0xff7f0e;

/* ---- line charts ---- */

static void test_lines_png_svg_and_pixels(void **state) {
    (void)state;
    double x[3] = {0, 0.5, 1}, y1[3] = {0.5, 0.5, 0.5}, y2[3] = {0.2, 0.9, NAN};
    mla_plot_series s[2] = {{.name = "flat", .x = x, .y = y1, .n = 3, .markers = 1},
                            {.name = "broken", .x = x, .y = y2, .n = 3, .dashed = 1}};
    mla_plot_line_opts o = {.frame.title = "Lines", .x = {"x", 0, 1, 0},
                            .y = {"y", 0, 1, 0}, .diagonal = 1};
    assert_int_equal(mla_plot_lines(test_tmp_path("lines.png"), s, 2, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("lines.png"));
    assert_int_equal(im.w, 800);
    assert_int_equal(im.h, 600);
    /* The flat series crosses the middle column in tab10 blue; the second is orange. */
    int blue_in_column = 0;
    for (int yy = 0; yy < im.h; yy++) blue_in_column += pixel(&im, im.w / 2, yy) == TAB_BLUE;
    assert_true(blue_in_column >= 1);
    assert_true(count_color(&im, TAB_ORANGE) > 20);
    cairo_surface_destroy(im.s);
    assert_int_equal(mla_plot_lines(test_tmp_path("lines.svg"), s, 2, &o), MLA_OK);
    check_svg(test_tmp_path("lines.svg"));

    /* Log x (ROC at low FPR), automatic ranges, custom size, NULL options. */
    double fpr[50], tpr[50];
    for (int i = 0; i < 50; i++) {
        fpr[i] = pow(10, -5 + 5.0 * i / 49);
        tpr[i] = sqrt(fpr[i]);
    }
    fpr[0] = 0; /* not drawable on a log axis: skipped */
    mla_plot_series roc = {.name = "attack", .x = fpr, .y = tpr, .n = 50};
    mla_plot_line_opts lo = {.frame = {640, 480, "ROC"}, .x = {.title = "FPR", .log_scale = 1},
                             .diagonal = 1, .legend = MLA_LEGEND_BOTTOM_RIGHT};
    assert_int_equal(mla_plot_lines(test_tmp_path("roc.png"), &roc, 1, &lo), MLA_OK);
    check_png_size(test_tmp_path("roc.png"), 640, 480);
    assert_int_equal(mla_plot_lines(test_tmp_path("plain.PNG"), &roc, 1, NULL), MLA_OK);
    check_png_size(test_tmp_path("plain.PNG"), 800, 600);
}

static void test_lines_bad_input(void **state) {
    (void)state;
    int before = count_dir_entries();
    double x[2] = {NAN, 1}, y[2] = {1, NAN};
    mla_plot_series s = {.x = x, .y = y, .n = 2};
    const char *p = test_tmp_path("bad.png");
    assert_int_equal(mla_plot_lines(p, &s, 0, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), p));
    assert_int_equal(mla_plot_lines(p, &s, 1, NULL), MLA_ERR_INVALID); /* nothing finite */
    assert_non_null(strstr(mla_last_error(), "no drawable"));
    double xs[2] = {0, 1}, ys[2] = {0, 1};
    mla_plot_series ok = {.x = xs, .y = ys, .n = 2};
    assert_int_equal(mla_plot_lines(test_tmp_path("bad.jpg"), &ok, 1, NULL), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "bad.jpg: unknown plot format"));
    assert_int_equal(mla_plot_lines("/nonexistent-dir/x.png", &ok, 1, NULL), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "/nonexistent-dir/x.png"));
    mla_plot_line_opts lo = {.x = {.min = -1, .max = 1, .log_scale = 1}};
    assert_int_equal(mla_plot_lines(p, &ok, 1, &lo), MLA_ERR_INVALID); /* log of <= 0 */
    mla_plot_line_opts big = {.frame = {.width = 100000}};
    assert_int_equal(mla_plot_lines(p, &ok, 1, &big), MLA_ERR_INVALID);
    mla_plot_series no_arrays = {.n = 3};
    assert_int_equal(mla_plot_lines(p, &no_arrays, 1, NULL), MLA_ERR_INVALID);
    /* Values far outside a fixed range are clipped, not a crash. */
    double huge[2] = {-1e300, 1e300};
    mla_plot_series wild = {.x = xs, .y = huge, .n = 2};
    mla_plot_line_opts fixed = {.y = {.min = 0, .max = 1}};
    assert_int_equal(mla_plot_lines(p, &wild, 1, &fixed), MLA_OK);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(count_dir_entries(), before); /* no temporaries left behind */
}

/* ---- bar charts ---- */

static void test_bars(void **state) {
    (void)state;
    const char *cats[3] = {"cat", "a much longer category name", NULL};
    double v1[3] = {0.9, 0.5, NAN}, v2[3] = {-0.2, 0.7, 0.3};
    mla_plot_bar_series s[2] = {{.name = "train", .values = v1}, {.name = "test", .values = v2}};
    mla_plot_bar_opts o = {.frame.title = "Bars", .x_title = "class", .y.title = "accuracy",
                           .value_labels = 1, .value_format = "%.2f", .ref_line = 1,
                           .ref_value = 0.1, .ref_label = "chance"};
    assert_int_equal(mla_plot_bars(test_tmp_path("bars.png"), cats, 3, s, 2, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("bars.png"));
    assert_int_equal(im.w, 800);
    assert_true(count_color(&im, TAB_BLUE) > 1000); /* solid bars */
    assert_true(count_color(&im, TAB_ORANGE) > 1000);
    cairo_surface_destroy(im.s);
    assert_int_equal(mla_plot_bars(test_tmp_path("bars.svg"), cats, 3, s, 2, &o), MLA_OK);
    check_svg(test_tmp_path("bars.svg"));

    /* One unnamed series filling a fixed range: the canvas centre is inside the bar. */
    double one[1] = {1};
    mla_plot_bar_series single = {.values = one};
    mla_plot_bar_opts fixed = {.y = {.min = 0, .max = 1}};
    assert_int_equal(mla_plot_bars(test_tmp_path("bar1.png"), NULL, 1, &single, 1, &fixed), MLA_OK);
    im = read_png(test_tmp_path("bar1.png"));
    assert_int_equal(pixel(&im, im.w / 2, im.h / 2), TAB_BLUE);
    cairo_surface_destroy(im.s);

    const char *p = test_tmp_path("badbars.png");
    assert_int_equal(mla_plot_bars(p, cats, 0, s, 2, &o), MLA_ERR_INVALID);
    assert_int_equal(mla_plot_bars(p, cats, 3, s, 0, &o), MLA_ERR_INVALID);
    mla_plot_bar_opts badfmt = {.value_format = "%s"};
    assert_int_equal(mla_plot_bars(p, cats, 3, s, 2, &badfmt), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "value_format"));
    double nan3[3] = {NAN, NAN, NAN};
    mla_plot_bar_series nan_series = {.values = nan3};
    assert_int_equal(mla_plot_bars(p, cats, 3, &nan_series, 1, NULL), MLA_ERR_INVALID);
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- scatter ---- */

static void test_scatter(void **state) {
    (void)state;
    enum { N = 600, K = 12 };
    static double x[N], y[N];
    static int32_t cls[N];
    for (int i = 0; i < N; i++) {
        cls[i] = i % K;
        x[i] = cos(i * 0.7) * (1 + cls[i]);
        y[i] = sin(i * 0.7) * (1 + cls[i]);
    }
    x[5] = NAN; /* skipped */
    const char *names[K] = {"zero", "one", "two", "three", "four", "five",
                            "six", "seven", "eight", "nine", "ten", "eleven"};
    mla_plot_text texts[2] = {{"centre", 0, 0}, {"far", 1e9, 0}};
    mla_plot_scatter_opts o = {.frame.title = "Scatter", .x.title = "PC 1", .y.title = "PC 2",
                               .class_names = names, .n_classes = K, .texts = texts,
                               .n_texts = 2, .opacity = 1};
    assert_int_equal(mla_plot_scatter(test_tmp_path("scatter.png"), x, y, cls, N, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("scatter.png"));
    assert_int_equal(im.w, 800);
    assert_true(count_color(&im, TAB_BLUE) > 20);
    double rgb[3];
    mla_plot_palette(11, rgb); /* tab20's light orange for class 11 */
    uint32_t c11 = (uint32_t)lround(rgb[0] * 255) << 16 | (uint32_t)lround(rgb[1] * 255) << 8 |
                   (uint32_t)lround(rgb[2] * 255);
    assert_int_equal(c11, 0xffbb78);
    assert_true(count_color(&im, c11) > 20);
    cairo_surface_destroy(im.s);
    assert_int_equal(mla_plot_scatter(test_tmp_path("scatter.svg"), x, y, NULL, N, NULL), MLA_OK);
    check_svg(test_tmp_path("scatter.svg"));

    const char *p = test_tmp_path("badscatter.png");
    cls[3] = -1;
    assert_int_equal(mla_plot_scatter(p, x, y, cls, N, &o), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "negative class"));
    cls[3] = 99; /* beyond n_classes */
    assert_int_equal(mla_plot_scatter(p, x, y, cls, N, &o), MLA_ERR_INVALID);
    cls[3] = 3;
    assert_int_equal(mla_plot_scatter(p, x, y, cls, 0, &o), MLA_ERR_INVALID);
    double nx[1] = {NAN}, ny[1] = {1};
    assert_int_equal(mla_plot_scatter(p, nx, ny, NULL, 1, NULL), MLA_ERR_INVALID);
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- heat maps ---- */

static void test_heatmap_cells(void **state) {
    (void)state;
    /* [[1, 0], [0, 1]] in Blues over [0, 1]: dark cells top-left and bottom-right. */
    double m[4] = {1, 0, 0, 1};
    mla_plot_heatmap_opts o = {.vmin = 0, .vmax = 1, .cmap = MLA_CMAP_BLUES,
                               .no_colorbar = 1};
    assert_int_equal(mla_plot_heatmap(test_tmp_path("heat.png"), m, 2, 2, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("heat.png"));
    const uint32_t dark = 0x08306b, light = 0xf7fbff;
    int x0 = im.w, y0 = im.h, x1 = -1, y1 = -1;
    for (int y = 0; y < im.h; y++)
        for (int x = 0; x < im.w; x++)
            if (pixel(&im, x, y) == dark) {
                x0 = x < x0 ? x : x0, y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1, y1 = y > y1 ? y : y1;
            }
    assert_true(x1 - x0 > 100 && y1 - y0 > 100);
    int qx = (x1 - x0) / 4, qy = (y1 - y0) / 4;
    assert_int_equal(pixel(&im, x0 + qx, y0 + qy), dark);      /* row 0, col 0 */
    assert_int_equal(pixel(&im, x1 - qx, y1 - qy), dark);      /* row 1, col 1 */
    assert_int_equal(pixel(&im, x1 - qx, y0 + qy), light);     /* row 0, col 1 */
    assert_int_equal(pixel(&im, x0 + qx, y1 - qy), light);     /* row 1, col 0 */
    cairo_surface_destroy(im.s);

    /* A confusion matrix with counts, labels, titles and a NaN cell; SVG too. */
    double cm[9] = {50, 2, 0, 3, 45, 1, NAN, 4, 40};
    const char *names[3] = {"cat", "dog", "a bird with a long name"};
    mla_plot_heatmap_opts co = {.frame.title = "Confusion", .x_title = "predicted",
                                .y_title = "true", .row_labels = names, .col_labels = names,
                                .show_values = 1, .value_format = "%.0f"};
    assert_int_equal(mla_plot_heatmap(test_tmp_path("cm.png"), cm, 3, 3, &co), MLA_OK);
    check_png_size(test_tmp_path("cm.png"), 800, 600);
    co.cmap = MLA_CMAP_SIGNED;
    assert_int_equal(mla_plot_heatmap(test_tmp_path("cm.svg"), cm, 3, 3, &co), MLA_OK);
    check_svg(test_tmp_path("cm.svg"));
    double same[4] = {2, 2, 2, 2}; /* a flat matrix still gets a colour range */
    assert_int_equal(mla_plot_heatmap(test_tmp_path("flat.png"), same, 2, 2, NULL), MLA_OK);

    const char *p = test_tmp_path("badheat.png");
    assert_int_equal(mla_plot_heatmap(p, cm, 0, 3, &co), MLA_ERR_INVALID);
    assert_int_equal(mla_plot_heatmap(p, NULL, 3, 3, &co), MLA_ERR_INVALID);
    co.value_format = "%d";
    assert_int_equal(mla_plot_heatmap(p, cm, 3, 3, &co), MLA_ERR_INVALID);
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- image grids ---- */

/* The grid's fixed geometry without title or captions: 12 px margins, 6 px gaps. */
enum { MARGIN = 12, GAP = 6 };

static void test_image_grid_pixels(void **state) {
    (void)state;
    /* Two 2x2 grayscale images, scale 3, in one row. */
    uint8_t u8[8] = {0, 255, 128, 64, 10, 20, 30, 40};
    mla_plot_images im8 = {.pixels = u8, .type = MLA_PIXELS_U8, .n = 2, .channels = 1,
                           .height = 2, .width = 2};
    mla_plot_grid_opts o = {.scale = 3};
    assert_int_equal(mla_plot_image_grid(test_tmp_path("grid.png"), &im8, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("grid.png"));
    assert_int_equal(im.w, 2 * MARGIN + 2 * 6 + GAP);
    assert_int_equal(im.h, 2 * MARGIN + 6);
    assert_int_equal(pixel(&im, MARGIN, MARGIN), 0x000000);
    assert_int_equal(pixel(&im, MARGIN + 5, MARGIN + 2), 0xffffff);  /* image 0 (0, 1) */
    assert_int_equal(pixel(&im, MARGIN + 1, MARGIN + 4), 0x808080);  /* image 0 (1, 0) */
    int x1 = MARGIN + 6 + GAP;
    assert_int_equal(pixel(&im, x1, MARGIN), 0x0a0a0a);             /* image 1 (0, 0) */
    assert_int_equal(pixel(&im, x1 + 5, MARGIN + 5), 0x282828);     /* image 1 (1, 1) */
    cairo_surface_destroy(im.s);

    /* Float RGB (CHW): clamped to [0, 1], NaN magenta; one image of 1x2. */
    float rgb[6] = {1.5f, 0.0f, /* R */ 0.0f, -0.3f, /* G */ 0.5f, NAN /* B */};
    mla_plot_images imf = {.pixels = rgb, .type = MLA_PIXELS_F32, .n = 1, .channels = 3,
                           .height = 1, .width = 2};
    mla_plot_grid_opts of = {.scale = 2};
    assert_int_equal(mla_plot_image_grid(test_tmp_path("rgb.png"), &imf, &of), MLA_OK);
    im = read_png(test_tmp_path("rgb.png"));
    assert_int_equal(pixel(&im, MARGIN, MARGIN), 0xff0080);
    assert_int_equal(pixel(&im, MARGIN + 3, MARGIN + 1), 0xff00ff);
    cairo_surface_destroy(im.s);

    /* Signed map: 0 is white, +max dark red, -max dark blue. */
    float pc[3] = {0.0f, 2.0f, -2.0f};
    mla_plot_images ims = {.pixels = pc, .type = MLA_PIXELS_F32, .n = 1, .channels = 1,
                           .height = 1, .width = 3};
    mla_plot_grid_opts os = {.scale = 1, .signed_map = 1};
    assert_int_equal(mla_plot_image_grid(test_tmp_path("signed.png"), &ims, &os), MLA_OK);
    im = read_png(test_tmp_path("signed.png"));
    assert_int_equal(pixel(&im, MARGIN, MARGIN), 0xffffff);
    assert_int_equal(pixel(&im, MARGIN + 1, MARGIN), 0x67001f);
    assert_int_equal(pixel(&im, MARGIN + 2, MARGIN), 0x053061);
    cairo_surface_destroy(im.s);
}

static void test_image_grid_captions_svg_and_errors(void **state) {
    (void)state;
    static float img[5 * 8 * 8];
    for (int i = 0; i < 5 * 64; i++) img[i] = (float)(i % 64) / 63.0f;
    mla_plot_images ims = {.pixels = img, .type = MLA_PIXELS_F32, .n = 5, .channels = 1,
                           .height = 8, .width = 8};
    const char *caps[5] = {"zero", NULL, "a long caption", "three", "four"};
    const char *rows[2] = {"real", "fake"};
    mla_plot_grid_opts o = {.frame.title = "Samples", .cols = 3, .tile_captions = caps,
                            .row_captions = rows};
    assert_int_equal(mla_plot_image_grid(test_tmp_path("caps.png"), &ims, &o), MLA_OK);
    png_image im = read_png(test_tmp_path("caps.png"));
    assert_true(im.w > 3 * 8 && im.h > 2 * 8);
    cairo_surface_destroy(im.s);
    assert_int_equal(mla_plot_image_grid(test_tmp_path("caps.svg"), &ims, &o), MLA_OK);
    check_svg(test_tmp_path("caps.svg"));
    assert_int_equal(mla_plot_image_grid(test_tmp_path("auto.png"), &ims, NULL), MLA_OK);
    /* Only rows with a caption make room for one. */
    const char *row0_only[5] = {"a", "b", "c", NULL, NULL};
    mla_plot_grid_opts partial = {.cols = 3, .scale = 1, .tile_captions = row0_only};
    mla_plot_grid_opts full = {.cols = 3, .scale = 1, .tile_captions = caps};
    assert_int_equal(mla_plot_image_grid(test_tmp_path("partial.png"), &ims, &partial), MLA_OK);
    assert_int_equal(mla_plot_image_grid(test_tmp_path("full.png"), &ims, &full), MLA_OK);
    png_image a = read_png(test_tmp_path("partial.png")), b = read_png(test_tmp_path("full.png"));
    assert_true(a.h < b.h);
    cairo_surface_destroy(a.s);
    cairo_surface_destroy(b.s);

    const char *p = test_tmp_path("badgrid.png");
    mla_plot_grid_opts small = {.rows = 1, .cols = 2};
    assert_int_equal(mla_plot_image_grid(p, &ims, &small), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "cannot hold 5 images"));
    mla_plot_images two = ims;
    two.channels = 2;
    assert_int_equal(mla_plot_image_grid(p, &two, NULL), MLA_ERR_INVALID);
    mla_plot_images rgb = ims;
    rgb.channels = 3;
    rgb.n = 1;
    mla_plot_grid_opts sig = {.signed_map = 1};
    assert_int_equal(mla_plot_image_grid(p, &rgb, &sig), MLA_ERR_INVALID);
    mla_plot_images empty = ims;
    empty.n = 0;
    assert_int_equal(mla_plot_image_grid(p, &empty, NULL), MLA_ERR_INVALID);
    mla_plot_grid_opts huge = {.scale = 64};
    mla_plot_images big = ims;
    big.height = big.width = 4096 / 8;
    big.n = 1;
    assert_int_equal(mla_plot_image_grid(p, &big, &huge), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "too large"));
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- axis ticks (internal helpers) ---- */

static void test_tick_labels_are_distinct_and_readable(void **state) {
    (void)state;
    plot_scale s;
    mla_plot_axis fixed = {.min = 0, .max = 1};
    plot_extent none = {0};
    assert_int_equal(scale_setup(&s, &fixed, none, 0, 650, 0, "t.png"), MLA_OK);
    assert_true(s.n_ticks >= 5);
    assert_string_equal(s.labels[0], "0.0");
    assert_string_equal(s.labels[s.n_ticks - 1], "1.0");
    /* A tiny range still gets distinct labels. */
    plot_extent tiny = {0.70001, 0.70004, 1};
    assert_int_equal(scale_setup(&s, NULL, tiny, 1, 480, 1, "t.png"), MLA_OK);
    for (int i = 1; i < s.n_ticks; i++) assert_string_not_equal(s.labels[i - 1], s.labels[i]);
    /* Large values get a suffix instead of exponent notation. */
    plot_extent big = {0, 1.1e6, 1};
    assert_int_equal(scale_setup(&s, NULL, big, 1, 480, 0, "t.png"), MLA_OK);
    assert_non_null(strchr(s.labels[s.n_ticks - 1], 'M'));
    assert_null(strchr(s.labels[s.n_ticks - 1], 'e'));
    /* Log axes: decades from the data, labelled 10 with a superscript exponent. */
    plot_extent roc = {0, 0, 0};
    extent_add(&roc, 0, 1); /* not positive: ignored */
    extent_add(&roc, 2e-5, 1);
    extent_add(&roc, 0.5, 1);
    mla_plot_axis log_axis = {.log_scale = 1};
    assert_int_equal(scale_setup(&s, &log_axis, roc, 0, 650, 1, "t.png"), MLA_OK);
    assert_true(fabs(s.lo - 1e-5) < 1e-12 && fabs(s.hi - 1) < 1e-12);
    assert_int_equal(s.n_ticks, 6);
    assert_string_equal(s.labels[0], "10\u207b\u2075");
    assert_string_equal(s.labels[5], "10\u2070");
    assert_int_equal(scale_setup(&s, NULL, none, 0, 650, 1, "t.png"), MLA_ERR_INVALID);
    assert_non_null(strstr(mla_last_error(), "t.png"));
    /* Value formats: one floating conversion only. */
    assert_true(format_is_valid("%.2f"));
    assert_true(format_is_valid("%5.1f%%"));
    assert_false(format_is_valid("%s"));
    assert_false(format_is_valid("%f %f"));
    assert_false(format_is_valid("%n"));
    assert_false(format_is_valid("plain"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_png_svg_and_pixels),
        cmocka_unit_test(test_lines_bad_input),
        cmocka_unit_test(test_bars),
        cmocka_unit_test(test_scatter),
        cmocka_unit_test(test_heatmap_cells),
        cmocka_unit_test(test_image_grid_pixels),
        cmocka_unit_test(test_image_grid_captions_svg_and_errors),
        cmocka_unit_test(test_tick_labels_are_distinct_and_readable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
