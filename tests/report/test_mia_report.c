/* Tests of the report module: a hand-made membership result written to a folder;
 * every file exists and holds what it must (mia.json's keys and values, scores.csv's
 * rows, roc.csv's curves, a self-contained report.html); failures name the path and
 * leave no half-written file. Plus the HTML builder's escaping and base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "mlaudit/report.h"


static int setup(void **state) {
    (void)state;
    return test_tmpdir_create("report");
}

static int teardown(void **state) {
    (void)state;
    return test_tmpdir_remove();
}

/* ---- the hand-made result ----
 * 10 samples: 0-3 members, 4-7 non-members, 8-9 not evaluated (truth -1).
 *   loss:          members 0.9 0.8 0.4 0.7, non-members 0.1 0.5 0.3 0.2
 *                  AUC by hand: 4 + 4 + 3 + 4 = 15 of 16 pairs = 0.9375
 *   lira_online:   members 2 1 1 NaN (excluded), non-members 1 0 -1 0.5
 *                  AUC: 2 beats 4; each 1 ties one and beats 3 (3.5): 11 of 12
 *   shadow_sample: members 3 2 1 0, non-members 3 2 1 0: AUC 0.5
 *   shadow_batch_4 (batch): batches pos 0.9 0.6, neg 0.4 0.6: 0.9 beats 2, 0.6 beats
 *                  one and ties one: 3.5 of 4 = 0.875 */
#define M 10
static const double LOSS_S[M] = {0.9, 0.8, 0.4, 0.7, 0.1, 0.5, 0.3, 0.2, NAN, NAN};
static const double LIRA_S[M] = {2, 1, 1, NAN, 1, 0, -1, 0.5, NAN, NAN};
static const double SHADOW_S[M] = {3, 2, 1, 0, 3, 2, 1, 0, NAN, NAN};
static const double BATCH_POS[2] = {0.9, 0.6}, BATCH_NEG[2] = {0.4, 0.6};
static const int8_t TRUTH[M] = {1, 1, 1, 1, 0, 0, 0, 0, -1, -1};
static const int32_t INDEX[M] = {100, 101, 102, 103, 200, 201, 202, 203, 300, 301};

typedef struct {
    mla_mia_result r;
    mla_mia_attack_result at[4];
    double pos[3][4], neg[3][4];
    double scores[3][M];
    int8_t truth[M];
    int32_t index[M];
} fixture;

static void per_sample(fixture *f, int a, const char *name, const double *s, double auc) {
    mla_mia_attack_result *at = &f->at[a];
    snprintf(at->name, sizeof at->name, "%s", name);
    memcpy(f->scores[a], s, sizeof f->scores[a]);
    at->scores = f->scores[a];
    at->pos = f->pos[a];
    at->neg = f->neg[a];
    for (int i = 0; i < M; i++) {
        if (isnan(s[i])) {
            at->summary.excluded += TRUTH[i] >= 0;
            continue;
        }
        if (TRUTH[i] == 1) at->pos[at->n_pos++] = s[i];
        if (TRUTH[i] == 0) at->neg[at->n_neg++] = s[i];
    }
    mla_score_summary *m = &at->summary;
    m->auc = auc;
    m->balanced_accuracy = 0.75;
    m->advantage = 0.5;
    m->threshold = 0.45;
    m->accuracy = 0.625;
    m->precision = NAN;  /* written as null */
    m->recall = 0.25;
    m->tpr_at_fpr[0] = 0.5;
    m->tpr_at_fpr[1] = 0.75;
    m->ci95_lo[0] = 0.0676;
    m->ci95_hi[0] = 0.9324;
    m->ci95_lo[1] = 0.1941;
    m->ci95_hi[1] = 0.9937;
    m->n_pos = at->n_pos;
    m->n_neg = at->n_neg;
}

static void make_result(fixture *f) {
    memset(f, 0, sizeof *f);
    per_sample(f, 0, "loss", LOSS_S, 15.0 / 16);
    per_sample(f, 1, "lira_online", LIRA_S, 11.0 / 12);
    per_sample(f, 2, "shadow_sample", SHADOW_S, 0.5);
    f->at[1].summary.threshold = INFINITY; /* written as null */
    mla_mia_attack_result *b = &f->at[3];
    snprintf(b->name, sizeof b->name, "shadow_batch_4");
    b->batch_size = 4;
    b->pos = (double *)BATCH_POS;
    b->neg = (double *)BATCH_NEG;
    b->n_pos = b->n_neg = 2;
    b->summary = (mla_score_summary){.auc = 0.875, .accuracy = 0.75, .n_pos = 2, .n_neg = 2, .threshold = 0.5};
    memcpy(f->truth, TRUTH, sizeof f->truth);
    memcpy(f->index, INDEX, sizeof f->index);
    f->r = (mla_mia_result){.m = M, .n_attacks = 4, .attacks = f->at, .truth = f->truth, .sample_index = f->index,
                            .train_accuracy = 0.99, .test_accuracy = 0.8, .train_loss = 0.05, .test_loss = 0.9,
                            .gap_accuracy = 0.19, .gap_loss = 0.85, .population_used = 0, .seconds_attacks = 1.5};
}

static const double MEMBER_LOSS[6] = {0.01, 0.02, 0.05, 0.1, 0.03, 0.2};
static const double NONMEMBER_LOSS[6] = {0.5, 1.2, 0.3, 2.5, 0.8, NAN};

static mla_mia_report_info make_info(void) {
    return (mla_mia_report_info){.protocol = "shadow", .dataset = "fashion-mnist", .target_model = "cnn-small",
                                 .shadow_model = NULL, .shadows = 8, .seed = 18446744073709551615ull,
                                 .threads = 2, .seconds_target = 12.5, .seconds_shadows = NAN,
                                 .seconds_attacks = NAN, .seconds_total = 20,
                                 .member_loss = MEMBER_LOSS, .nonmember_loss = NONMEMBER_LOSS,
                                 .n_member_loss = 6, .n_nonmember_loss = 6,
                                 .settings_json = "{\"epochs\": 3, \"attacks\": \"all\"}"};
}

static char *slurp(const char *path) {
    char *text[1] = {NULL};
    size_t n = 0;
    mla_status s = mla_read_file(path, 64 << 20, text, &n);
    assert_int_equal(s, MLA_OK);
    return text[0];
}

static int file_exists(const char *name) {
    struct stat st;
    return stat(test_tmp_path(name), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static double get_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void check_null(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    assert_true(cJSON_IsNull(v));
}

static void check_keys(const cJSON *o, const char *const *keys, int n) {
    assert_int_equal(cJSON_GetArraySize(o), n);
    int i = 0;
    for (const cJSON *c = o->child; c; c = c->next, i++) assert_string_equal(c->string, keys[i]);
}

static void check_json(const char *path) {
    char *text = slurp(path);
    cJSON *root = cJSON_Parse(text);
    /* the seed is exact (a double would round it) */
    assert_non_null(strstr(text, "\"seed\":\t18446744073709551615,"));
    free(text);
    assert_non_null(root);
    static const char *const top[] = {"protocol", "dataset", "target_model", "shadow_model", "shadows", "seed",
                                      "threads", "target", "seconds", "population_used", "settings", "attacks"};
    check_keys(root, top, 12);
    assert_string_equal(cJSON_GetObjectItem(root, "protocol")->valuestring, "shadow");
    check_null(root, "shadow_model");
    assert_int_equal((int)get_num(root, "shadows"), 8);
    const cJSON *target = cJSON_GetObjectItem(root, "target");
    static const char *const tk[] = {"train_accuracy", "test_accuracy", "train_loss", "test_loss", "gap_accuracy",
                                     "gap_loss"};
    check_keys(target, tk, 6);
    assert_true(get_num(target, "gap_accuracy") == 0.19);
    const cJSON *sec = cJSON_GetObjectItem(root, "seconds");
    static const char *const sk[] = {"target", "shadows", "attacks", "total"};
    check_keys(sec, sk, 4);
    check_null(sec, "shadows");
    assert_true(get_num(sec, "attacks") == 1.5); /* from the result */
    assert_true(get_num(cJSON_GetObjectItem(root, "settings"), "epochs") == 3);
    const cJSON *attacks = cJSON_GetObjectItem(root, "attacks");
    static const char *const names[] = {"loss", "lira_online", "shadow_sample", "shadow_batch_4"};
    check_keys(attacks, names, 4);
    static const char *const ak[] = {"auc", "balanced_accuracy", "accuracy", "precision", "recall", "advantage",
                                     "threshold", "tpr_at_fpr_0.001", "ci95_at_fpr_0.001", "tpr_at_fpr_0.01",
                                     "ci95_at_fpr_0.01", "n_members", "n_nonmembers", "excluded", "batch_size"};
    const cJSON *loss = cJSON_GetObjectItem(attacks, "loss");
    check_keys(loss, ak, 14);
    assert_true(get_num(loss, "auc") == 15.0 / 16);
    check_null(loss, "precision");
    const cJSON *ci = cJSON_GetObjectItem(loss, "ci95_at_fpr_0.001");
    assert_int_equal(cJSON_GetArraySize(ci), 2);
    assert_true(cJSON_GetArrayItem(ci, 0)->valuedouble == 0.0676);
    assert_true(cJSON_GetArrayItem(ci, 1)->valuedouble == 0.9324);
    const cJSON *lira = cJSON_GetObjectItem(attacks, "lira_online");
    assert_true(get_num(lira, "auc") == 11.0 / 12);
    check_null(lira, "threshold");
    assert_int_equal((int)get_num(lira, "n_members"), 3);
    assert_int_equal((int)get_num(lira, "excluded"), 1);
    const cJSON *batch = cJSON_GetObjectItem(attacks, "shadow_batch_4");
    check_keys(batch, ak, 15);
    assert_int_equal((int)get_num(batch, "batch_size"), 4);
    assert_true(get_num(batch, "auc") == 0.875);
    cJSON_Delete(root);
}

/* scores.csv: the header, then one row per evaluated sample with its dataset index. */
static void check_scores(const char *path) {
    char *text = slurp(path);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    assert_string_equal(line, "index,member,loss,lira_online,shadow_sample");
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        assert_true(rows < 8);
        char expect[256];
        snprintf(expect, sizeof expect, "%d,%d,%.17g,", INDEX[rows], TRUTH[rows], LOSS_S[rows]);
        assert_memory_equal(line, expect, strlen(expect));
        rows++;
    }
    assert_int_equal(rows, 8);
    free(text);
    /* sample 3's lira score is NaN: an empty cell */
    text = slurp(path);
    assert_non_null(strstr(text, "\n103,1,0.69999999999999996,,0\n"));
    free(text);
}

/* roc.csv: every attack's curve from (0, 0) to (1, 1); the trapezoids over its points
 * give the hand-computed AUC. */
static void check_roc(const char *path) {
    static const char *const names[] = {"loss", "lira_online", "shadow_sample", "shadow_batch_4"};
    static const double auc[] = {15.0 / 16, 11.0 / 12, 0.5, 0.875};
    char *text = slurp(path);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    assert_string_equal(line, "attack,threshold,fpr,tpr");
    int cur = -1;
    double area[4] = {0}, px = 0, py = 0, lx[4] = {0}, ly[4] = {0};
    while ((line = strtok_r(NULL, "\n", &save))) {
        char name[64];
        double t, x, y;
        assert_int_equal(sscanf(line, "%63[^,],%lf,%lf,%lf", name, &t, &x, &y), 4);
        int a = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(name, names[k]) == 0) a = k;
        assert_true(a >= 0);
        if (a != cur) {
            assert_int_equal(a, cur + 1);
            assert_true(isinf(t) && x == 0 && y == 0);
            cur = a;
        } else {
            area[a] += (x - px) * (y + py) / 2;
        }
        px = lx[a] = x;
        py = ly[a] = y;
    }
    assert_int_equal(cur, 3);
    for (int a = 0; a < 4; a++) {
        assert_true(lx[a] == 1 && ly[a] == 1);
        assert_true(fabs(area[a] - auc[a]) < 1e-12);
    }
    free(text);
}

static void check_html(const char *path) {
    char *text = slurp(path);
    static const char *const names[] = {"loss", "lira_online", "shadow_sample", "shadow_batch_4"};
    for (int a = 0; a < 4; a++) assert_non_null(strstr(text, names[a]));
    assert_null(strstr(text, "http://"));
    assert_null(strstr(text, "https://"));
    assert_null(strstr(text, "<script"));
    /* every figure inline */
    int figs = 0;
    for (const char *p = text; (p = strstr(p, "src=\"data:image/png;base64,iVBOR")); p++) figs++;
    assert_int_equal(figs, 4); /* roc_log, roc, loss_hist, batch */
    assert_non_null(strstr(text, "What leaked"));
    assert_non_null(strstr(text, "How to read this"));
    free(text);
}

static void test_write_all(void **state) {
    (void)state;
    fixture f;
    make_result(&f);
    mla_mia_report_info info = make_info();
    char dir[256];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("out"));
    assert_int_equal(mla_mia_report_write(dir, &f.r, &info), MLA_OK);
    static const char *const files[] = {"out/mia.json", "out/scores.csv", "out/roc.csv", "out/roc.png",
                                        "out/roc_log.png", "out/loss_hist.png", "out/batch.png", "out/report.html"};
    for (int i = 0; i < 8; i++) assert_true(file_exists(files[i]));
    check_json(test_tmp_path("out/mia.json"));
    check_scores(test_tmp_path("out/scores.csv"));
    check_roc(test_tmp_path("out/roc.csv"));
    check_html(test_tmp_path("out/report.html"));
    /* again into the existing folder: fine */
    assert_int_equal(mla_mia_report_write(dir, &f.r, NULL), MLA_OK);
}

/* No histogram without losses, no batch figure without batch attacks. */
static void test_optional_figures(void **state) {
    (void)state;
    fixture f;
    make_result(&f);
    f.r.n_attacks = 3;
    assert_int_equal(mla_mia_report_write(test_tmp_path("few"), &f.r, NULL), MLA_OK);
    assert_true(file_exists("few/report.html"));
    assert_false(file_exists("few/batch.png"));
    assert_false(file_exists("few/loss_hist.png"));
}

/* No entry of dir is a temporary left behind. */
static void assert_no_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
}

static void test_unwritable(void **state) {
    (void)state;
    fixture f;
    make_result(&f);
    /* a folder under a regular file cannot be made (root ignores permissions) */
    FILE *fp = fopen(test_tmp_path("plain"), "w");
    assert_non_null(fp);
    fclose(fp);
    char bad[256];
    snprintf(bad, sizeof bad, "%s", test_tmp_path("plain/out"));
    assert_int_equal(mla_mia_report_write(bad, &f.r, NULL), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), bad));
    /* report.html cannot replace a folder: the write fails naming it, and neither a
     * temporary nor a partial page is left */
    assert_int_equal(mkdir(test_tmp_path("blocked"), 0755), 0);
    assert_int_equal(mkdir(test_tmp_path("blocked/report.html"), 0755), 0);
    assert_int_equal(mla_mia_report_write(test_tmp_path("blocked"), &f.r, NULL), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "blocked/report.html"));
    assert_no_temporaries(test_tmp_path("blocked"));
    struct stat st;
    assert_int_equal(stat(test_tmp_path("blocked/report.html"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_bad_arguments(void **state) {
    (void)state;
    fixture f;
    make_result(&f);
    mla_mia_report_info info = make_info();
    info.settings_json = "[1, 2]";
    char *json = NULL;
    assert_int_equal(mla_mia_report_json(&f.r, &info, &json), MLA_ERR_INVALID);
    assert_null(json);
    assert_non_null(strstr(mla_last_error(), "settings"));
    /* extra_json: its members join the top level; anything but an object is refused. */
    info = make_info();
    info.extra_json = "{\"per_client\": [{\"client\": 0}], \"leakiest_client\": {\"client\": 0}}";
    assert_int_equal(mla_mia_report_json(&f.r, &info, &json), MLA_OK);
    cJSON *root = cJSON_Parse(json);
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "per_client")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "leakiest_client")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "attacks")));
    cJSON_Delete(root);
    free(json);
    json = NULL;
    info.extra_json = "[1]";
    assert_int_equal(mla_mia_report_json(&f.r, &info, &json), MLA_ERR_INVALID);
    assert_null(json);
    f.at[0].name[0] = '\0';
    assert_int_equal(mla_mia_report_write(test_tmp_path("bad"), &f.r, NULL), MLA_ERR_INVALID);
    assert_int_equal(mla_mia_report_write("", &f.r, NULL), MLA_ERR_INVALID);
}

static void test_html_builder(void **state) {
    (void)state;
    char *e = mla_html_escape("<a href=\"x\">Tom & Jerry's</a>");
    assert_string_equal(e, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    free(e);
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = mla_base64(in[i], strlen(in[i]));
        assert_string_equal(b, out[i]);
        free(b);
    }
    mla_html *h = NULL;
    assert_int_equal(mla_html_create("A <title>", &h), MLA_OK);
    const char *head[2] = {"k", "v"}, *cells[4] = {"a<b", "1", NULL, "2"};
    mla_html_table_opts o = {.caption = "cap", .numeric_from = 1, .highlight_row = 2};
    assert_int_equal(mla_html_table(h, head, 2, cells, 2, &o), MLA_OK);
    mla_html_paragraph(h, "%d%% & more", 5);
    assert_int_equal(mla_html_figure_png(h, test_tmp_path("missing.png"), "x", NULL), MLA_ERR_IO);
    assert_non_null(strstr(mla_last_error(), "missing.png"));
    char *page = NULL;
    assert_int_equal(mla_html_finish(h, &page, NULL), MLA_ERR_IO); /* the failure is kept */
    assert_null(page);
    mla_html_free(h);
    assert_int_equal(mla_html_create("A <title>", &h), MLA_OK);
    assert_int_equal(mla_html_table(h, head, 2, cells, 2, &o), MLA_OK);
    mla_html_paragraph(h, "%d%% & more", 5);
    assert_int_equal(mla_html_finish(h, &page, NULL), MLA_OK);
    mla_html_free(h);
    assert_non_null(strstr(page, "<title>A &lt;title&gt;</title>"));
    assert_non_null(strstr(page, "<td>a&lt;b</td><td class=\"num\">1</td>"));
    assert_non_null(strstr(page, "<tr class=\"hl\"><td></td><td class=\"num\">2</td></tr>"));
    assert_non_null(strstr(page, "<p>5% &amp; more</p>"));
    free(page);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_all),
        cmocka_unit_test(test_optional_figures),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_html_builder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
