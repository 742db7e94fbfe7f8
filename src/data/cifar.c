/* CIFAR-10 / CIFAR-100 binary versions: fixed-size records of label byte(s) then
 * 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each row-major 32x32). */
#include "data/data_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_PIXELS 3072
#define CIFAR_MAX_FILES 5
#define CIFAR_CHUNK_RECORDS 1024
#define CIFAR100_COARSE 20 /* superclasses; checked as a sign of corruption */

typedef struct {
    int classes;
    int label_bytes;   /* 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine) */
    size_t record;     /* label_bytes + 3072 */
    int files;
    char paths[CIFAR_MAX_FILES][DATA_PATH_MAX];
    int64_t records[CIFAR_MAX_FILES];
} cifar_set;

static mla_status cifar_list_files(const char *dir, int classes, mla_split split, cifar_set *cs) {
    static const char *const train10[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                          "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test10[] = {"test_batch.bin"};
    static const char *const train100[] = {"train.bin"};
    static const char *const test100[] = {"test.bin"};
    const char *const *names = classes == 10 ? (split == MLA_SPLIT_TRAIN ? train10 : test10)
                                             : (split == MLA_SPLIT_TRAIN ? train100 : test100);
    cs->classes = classes;
    cs->label_bytes = classes == 10 ? 1 : 2;
    cs->record = (size_t)cs->label_bytes + CIFAR_PIXELS;
    cs->files = classes == 10 && split == MLA_SPLIT_TRAIN ? 5 : 1;
    for (int i = 0; i < cs->files; i++)
        if (snprintf(cs->paths[i], DATA_PATH_MAX, "%s/%s", dir, names[i]) >= DATA_PATH_MAX)
            return mla_error(MLA_ERR_INVALID, "%s: path too long", dir);
    return MLA_OK;
}

/* Checks every file's size before anything is allocated. */
static mla_status cifar_count(cifar_set *cs, int *n) {
    int64_t total = 0;
    for (int i = 0; i < cs->files; i++) {
        data_file f;
        mla_status s = data_file_open(&f, cs->paths[i]);
        int gz = f.gz != NULL;
        data_file_close(&f);
        if (s) return s;
        if (gz) return mla_error(MLA_ERR_FORMAT, "%s: gzip-compressed; decompress the CIFAR files first", cs->paths[i]);
        if (f.size == 0 || f.size % cs->record != 0)
            return mla_error(MLA_ERR_FORMAT, "%s: size %llu is not a positive multiple of the %zu-byte CIFAR-%d record",
                             cs->paths[i], (unsigned long long)f.size, cs->record, cs->classes);
        cs->records[i] = (int64_t)(f.size / cs->record);
        total += cs->records[i];
    }
    if (total > INT_MAX) return mla_error(MLA_ERR_FORMAT, "%s: too many CIFAR records", cs->paths[0]);
    *n = (int)total;
    return MLA_OK;
}

/* Scatters records [first, first + count) of one file into ds, checking labels. */
static mla_status cifar_unpack(const cifar_set *cs, const unsigned char *buf, int64_t count, int64_t file_first,
                               int64_t ds_first, const char *path, mla_dataset *ds) {
    for (int64_t r = 0; r < count; r++) {
        const unsigned char *rec = buf + (size_t)r * cs->record;
        int label = rec[cs->label_bytes - 1];
        if (cs->label_bytes == 2 && rec[0] >= CIFAR100_COARSE)
            return mla_error(MLA_ERR_FORMAT, "%s: coarse label %d of record %lld is outside 0..%d", path, rec[0],
                             (long long)(file_first + r), CIFAR100_COARSE - 1);
        if (label >= cs->classes)
            return mla_error(MLA_ERR_FORMAT, "%s: label %d of record %lld is outside 0..%d", path, label,
                             (long long)(file_first + r), cs->classes - 1);
        ds->labels[ds_first + r] = label;
        memcpy(ds->u8 + (size_t)(ds_first + r) * CIFAR_PIXELS, rec + cs->label_bytes, CIFAR_PIXELS);
    }
    return MLA_OK;
}

static mla_status cifar_read_file(const cifar_set *cs, int i, int64_t ds_first, unsigned char *buf,
                                  mla_dataset *ds) {
    data_file f;
    mla_status s = data_file_open(&f, cs->paths[i]);
    for (int64_t done = 0; !s && done < cs->records[i]; done += CIFAR_CHUNK_RECORDS) {
        int64_t count = cs->records[i] - done < CIFAR_CHUNK_RECORDS ? cs->records[i] - done : CIFAR_CHUNK_RECORDS;
        s = data_file_read(&f, buf, (size_t)count * cs->record, "the records");
        if (!s) s = cifar_unpack(cs, buf, count, done, ds_first + done, cs->paths[i], ds);
    }
    if (!s) s = data_file_expect_end(&f);
    data_file_close(&f);
    return s;
}

mla_status mla_dataset_load_cifar(const char *dir, int classes, mla_split split, mla_dataset **out) {
    *out = NULL;
    if (classes != 10 && classes != 100)
        return mla_error(MLA_ERR_INVALID, "CIFAR has 10 or 100 classes, not %d", classes);
    cifar_set cs;
    int n = 0;
    mla_dataset *ds = NULL;
    mla_status s = cifar_list_files(dir, classes, split, &cs);
    if (!s) s = cifar_count(&cs, &n);
    if (!s) s = data_create(n, 3, 32, 32, 0, classes, &ds);
    if (s) return s;
    unsigned char *buf = mla_alloc(CIFAR_CHUNK_RECORDS, cs.record);
    if (!buf) s = MLA_ERR_NOMEM;
    for (int i = 0, first = 0; !s && i < cs.files; first += (int)cs.records[i], i++)
        s = cifar_read_file(&cs, i, first, buf, ds);
    free(buf);
    if (s) {
        mla_dataset_free(ds);
        return s;
    }
    data_set_name(ds, classes == 10 ? "cifar10" : "cifar100");
    *out = ds;
    return MLA_OK;
}
