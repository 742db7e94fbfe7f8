/* The label-only augmentation attack's counts (mia.h, mla_mia_augment_counts).
 *
 * Copy a of a sample (0 <= a < n_aug), with side = 2 radius + 1: flipped when
 * a >= side^2, and with r = a mod side^2 shifted by dy = r / side - radius rows and
 * dx = r mod side - radius columns (flip first, then shift; as the training loop's
 * augmentation does). Copies run sample by sample, a increasing, cut into batches of
 * `batch` images regardless of sample boundaries.
 */
#include <stdlib.h>

#include "mlaudit/mia.h"
#include "mlaudit/train.h"
#include "nn/train_impl.h"
#include "privacy/mia_impl.h"

static mla_status check_args(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int radius, int batch,
                             const int32_t *counts, const int *n_aug) {
    if (!net || !ds || !counts || !n_aug || (n > 0 && !idx))
        return mla_error(MLA_ERR_INVALID, "augmentation attack: NULL argument");
    if (n < 0) return mla_error(MLA_ERR_INVALID, "augmentation attack: n = %d < 0", n);
    if (batch < 1) return mla_error(MLA_ERR_INVALID, "augmentation attack: batch must be >= 1, got %d", batch);
    int h, w;
    mla_dataset_shape(ds, NULL, &h, &w);
    if (radius < 0 || radius >= h || radius >= w)
        return mla_error(MLA_ERR_INVALID, "augmentation attack: radius %d outside [0, %d) for %dx%d images", radius,
                         h < w ? h : w, h, w);
    mla_status st = mla_check_compatible(net, ds);
    if (st != MLA_OK) return mla_error_prefix(st, "augmentation attack");
    int count = mla_dataset_count(ds);
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= count)
            return mla_error(MLA_ERR_INVALID, "augmentation attack: index %d outside the dataset's %d samples", idx[i], count);
    return MLA_OK;
}

/* Writes copy a of img (above) to dst. */
static void make_copy(const float *img, float *dst, mla_shape s, int a, int radius) {
    int side = 2 * radius + 1, r = a % (side * side);
    mla_shift_image(img, dst, s, r / side - radius, r % side - radius, a >= side * side);
}

/* The scratch for one run: the current sample's image, and per batch slot its sample
 * and label. */
typedef struct {
    float *img;
    int32_t *owner, *label;
} aug_scratch;

static mla_status run_copies(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int radius, int per,
                             int batch, aug_scratch *sc, int32_t *counts) {
    int c, h, w, k = mla_net_classes(net);
    mla_dataset_shape(ds, &c, &h, &w);
    mla_shape s = {c, h, w};
    size_t dim = (size_t)mla_shape_size(s);
    int64_t total = (int64_t)n * per;
    int cur = -1;
    int32_t cur_label = 0;
    for (int64_t first = 0; first < total; first += batch) {
        int b = total - first < batch ? (int)(total - first) : batch;
        float *in;
        mla_status st = mla_net_input_buffer(net, b, &in);
        if (st != MLA_OK) return st;
        for (int i = 0; i < b; i++) {
            int smp = (int)((first + i) / per), a = (int)((first + i) % per);
            if (smp != cur) mla_dataset_batch(ds, idx + smp, 0, 1, sc->img, &cur_label);
            cur = smp;
            sc->owner[i] = smp;
            sc->label[i] = cur_label;
            make_copy(sc->img, in + (size_t)i * dim, s, a, radius);
        }
        const float *z;
        st = mla_net_forward(net, in, b, false, &z);
        if (st != MLA_OK) return st;
        for (int i = 0; i < b; i++) counts[sc->owner[i]] += mia_argmax(z + (size_t)i * k, k) == sc->label[i];
    }
    return MLA_OK;
}

/* Refuses a radius outside [0, min(h, w)), batch < 1, indices outside the dataset, and a
 * net the dataset cannot feed. A correct copy is one whose largest logit (the first on
 * ties) is the sample's label. */
mla_status mla_mia_augment_counts(mla_net *net, const mla_dataset *ds, const int32_t *idx, int n, int radius,
                                  bool flips, int batch, int32_t *counts, int *n_aug) {
    mla_status st = check_args(net, ds, idx, n, radius, batch, counts, n_aug);
    if (st != MLA_OK) return st;
    int per = (2 * radius + 1) * (2 * radius + 1) * (flips ? 2 : 1);
    for (int i = 0; i < n; i++) counts[i] = 0;
    aug_scratch sc = {mla_alloc((size_t)mla_dataset_dim(ds), sizeof(float)), mla_alloc((size_t)batch, sizeof(int32_t)),
                      mla_alloc((size_t)batch, sizeof(int32_t))};
    st = sc.img && sc.owner && sc.label ? MLA_OK : MLA_ERR_NOMEM;
    bool keep = mla_net_keep_activations(net); /* only the logits are read */
    mla_net_set_keep_activations(net, false);
    if (st == MLA_OK) st = run_copies(net, ds, idx, n, radius, per, batch, &sc, counts);
    mla_net_set_keep_activations(net, keep);
    free(sc.img);
    free(sc.owner);
    free(sc.label);
    if (st == MLA_OK) *n_aug = per;
    return st;
}
