/* mia.json: the membership audit's figures as data. */
#include "mlaudit/report.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

/* A number, or null when it is not finite (JSON has neither NaN nor inf). */
static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }
static cJSON *str(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

/* Adds item under key; returns 0 when item is NULL (out of memory). */
static int put(cJSON *obj, const char *key, cJSON *item) {
    return item && cJSON_AddItemToObject(obj, key, item);
}

static cJSON *interval(double lo, double hi) {
    cJSON *a = cJSON_CreateArray();
    if (a && (!cJSON_AddItemToArray(a, num(lo)) || !cJSON_AddItemToArray(a, num(hi)))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static cJSON *attack_json(const mla_mia_attack_result *a) {
    const mla_score_summary *m = &a->summary;
    cJSON *o = cJSON_CreateObject();
    int ok = o && put(o, "auc", num(m->auc)) && put(o, "balanced_accuracy", num(m->balanced_accuracy)) &&
             put(o, "accuracy", num(m->accuracy)) && put(o, "precision", num(m->precision)) &&
             put(o, "recall", num(m->recall)) && put(o, "advantage", num(m->advantage)) &&
             put(o, "threshold", num(m->threshold));
    for (int i = 0; ok && i < MLA_SCORE_N_FPR; i++) {
        char key[64];
        snprintf(key, sizeof key, "tpr_at_fpr_%g", mla_score_fprs[i]);
        ok = put(o, key, num(m->tpr_at_fpr[i]));
        snprintf(key, sizeof key, "ci95_at_fpr_%g", mla_score_fprs[i]);
        ok = ok && put(o, key, interval(m->ci95_lo[i], m->ci95_hi[i]));
    }
    ok = ok && put(o, "n_members", cJSON_CreateNumber((double)m->n_pos)) &&
         put(o, "n_nonmembers", cJSON_CreateNumber((double)m->n_neg)) &&
         put(o, "excluded", cJSON_CreateNumber((double)m->excluded));
    if (ok && a->batch_size > 0) ok = put(o, "batch_size", cJSON_CreateNumber(a->batch_size));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *target_json(const mla_mia_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (o && put(o, "train_accuracy", num(r->train_accuracy)) && put(o, "test_accuracy", num(r->test_accuracy)) &&
        put(o, "train_loss", num(r->train_loss)) && put(o, "test_loss", num(r->test_loss)) &&
        put(o, "gap_accuracy", num(r->gap_accuracy)) && put(o, "gap_loss", num(r->gap_loss)))
        return o;
    cJSON_Delete(o);
    return NULL;
}

static cJSON *seconds_json(const mla_mia_report_info *in, const mla_mia_result *r) {
    double attacks = isnan(in->seconds_attacks) ? r->seconds_attacks : in->seconds_attacks;
    cJSON *o = cJSON_CreateObject();
    if (o && put(o, "target", num(in->seconds_target)) && put(o, "shadows", num(in->seconds_shadows)) &&
        put(o, "attacks", num(attacks)) && put(o, "total", num(in->seconds_total)))
        return o;
    cJSON_Delete(o);
    return NULL;
}

/* info->settings_json parsed, or {}; *bad set when the text is not a JSON object. */
static cJSON *settings_json(const char *text, int *bad) {
    *bad = 0;
    if (!text) return cJSON_CreateObject();
    cJSON *o = cJSON_Parse(text);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        *bad = 1;
        return NULL;
    }
    return o;
}

static cJSON *attacks_json(const mla_mia_result *r) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < r->n_attacks; i++) {
        if (!put(o, r->attacks[i].name, attack_json(&r->attacks[i]))) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* Moves every member of the JSON object `text` into root; 0 when text is not an object. */
static int add_extra(cJSON *root, const char *text) {
    cJSON *extra = cJSON_Parse(text);
    int ok = cJSON_IsObject(extra);
    while (ok && extra->child) {
        cJSON *item = cJSON_DetachItemViaPointer(extra, extra->child);
        ok = cJSON_AddItemToObject(root, item->string, item);
        if (!ok) cJSON_Delete(item);
    }
    cJSON_Delete(extra);
    return ok;
}

mla_status mla_mia_report_json(const mla_mia_result *r, const mla_mia_report_info *info, char **json) {
    *json = NULL;
    if (!r || r->n_attacks < 0 || (r->n_attacks > 0 && !r->attacks))
        return mla_error(MLA_ERR_INVALID, "mia report: no result");
    mla_mia_report_info none = {.seconds_target = NAN, .seconds_shadows = NAN, .seconds_attacks = NAN,
                                .seconds_total = NAN};
    const mla_mia_report_info *in = info ? info : &none;
    int bad = 0;
    cJSON *settings = settings_json(in->settings_json, &bad);
    if (bad) return mla_error(MLA_ERR_INVALID, "mia report: settings are not a JSON object");
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, in->seed);
    cJSON *root = cJSON_CreateObject();
    int ok = root && settings && put(root, "protocol", str(in->protocol)) &&
             put(root, "dataset", str(in->dataset)) && put(root, "target_model", str(in->target_model)) &&
             put(root, "shadow_model", str(in->shadow_model)) &&
             put(root, "shadows", cJSON_CreateNumber(in->shadows)) && put(root, "seed", cJSON_CreateRaw(seed)) &&
             put(root, "threads", cJSON_CreateNumber(in->threads)) && put(root, "target", target_json(r)) &&
             put(root, "seconds", seconds_json(in, r)) &&
             put(root, "population_used", cJSON_CreateNumber((double)r->population_used));
    if (ok) {
        ok = put(root, "settings", settings);
        settings = NULL;
    }
    ok = ok && put(root, "attacks", attacks_json(r));
    if (ok && in->extra_json && !add_extra(root, in->extra_json)) {
        cJSON_Delete(root);
        return mla_error(MLA_ERR_INVALID, "mia report: the extra members are not a JSON object");
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(settings);
    cJSON_Delete(root);
    if (!text) return mla_error(MLA_ERR_NOMEM, "mia report: out of memory building mia.json");
    *json = text;
    return MLA_OK;
}
