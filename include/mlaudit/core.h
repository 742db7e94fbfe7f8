/* mlaudit core: status codes, error messages, random numbers, threads, atomic files.
 *
 * Every fallible library call returns an mla_status. On failure it also leaves a
 * one-line, human-readable message (naming the file, layer or flag at fault) that
 * mla_last_error() returns; the library itself never prints and never exits.
 * The message is per thread and stays valid until the next failing call on it.
 *
 * Randomness is explicit: every function that draws numbers takes an mla_rng*.
 * There is no global generator, so the same seed gives the same bits.
 */
#ifndef MLAUDIT_CORE_H
#define MLAUDIT_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MLA_OK = 0,
    MLA_ERR_INVALID,     /* a bad argument, flag or spec */
    MLA_ERR_IO,          /* a file could not be opened, read or written */
    MLA_ERR_FORMAT,      /* a file's content is truncated, corrupt or of the wrong kind */
    MLA_ERR_SHAPE,       /* tensor or dataset shapes do not fit together */
    MLA_ERR_NOMEM,       /* an allocation failed */
    MLA_ERR_UNSUPPORTED, /* valid, but not something this build does */
    MLA_ERR_INTERRUPTED  /* stopped on request (a signal) before finishing */
} mla_status;

/* A short constant name for a status ("invalid argument", "i/o error", ...). */
const char *mla_status_string(mla_status s);

/* The message of the last failing call on this thread ("" if none). Borrowed:
 * valid until the next failing call on this thread; do not free. */
const char *mla_last_error(void);

/* Records a printf-style message for mla_last_error() and returns s, so a
 * failing path reads `return mla_error(MLA_ERR_FORMAT, "%s: truncated", path);`. */
mla_status mla_error(mla_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with "prefix: " (for context added on the way up). */
mla_status mla_error_prefix(mla_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Allocation that records MLA_ERR_NOMEM on failure. Sizes are checked for
 * overflow (count * size). Free with free(). */
void *mla_alloc(size_t count, size_t size);   /* zeroed */
void *mla_alloc_aligned(size_t count, size_t size); /* 64-byte aligned, not zeroed */

/* ---- random numbers: xoshiro256** seeded through splitmix64 ---- */
typedef struct {
    uint64_t s[4];
    int has_spare;     /* Box-Muller keeps its second value */
    double spare;
} mla_rng;

void mla_rng_seed(mla_rng *r, uint64_t seed);
/* A generator derived from r's stream and `stream` without advancing r:
 * independent sub-streams (per worker, per client, per epoch). */
mla_rng mla_rng_fork(const mla_rng *r, uint64_t stream);
uint64_t mla_rng_u64(mla_rng *r);
double mla_rng_uniform(mla_rng *r);            /* in [0, 1) */
double mla_rng_normal(mla_rng *r);             /* standard normal */
/* out[0..n) = standard normals by the Ziggurat (exact, unbounded tails; several times
 * faster than n calls of mla_rng_normal, and other values). Thread-safe for distinct r. */
void mla_rng_normals(mla_rng *r, double *out, size_t n);
uint64_t mla_rng_below(mla_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
void mla_rng_permutation(mla_rng *r, int32_t *out, int32_t n); /* a shuffle of 0..n-1 */
void mla_rng_shuffle(mla_rng *r, int32_t *a, int32_t n);
double mla_rng_gamma(mla_rng *r, double shape);  /* Marsaglia-Tsang; shape > 0 */
double mla_rng_beta(mla_rng *r, double a, double b);
/* A generator's whole state as 6 int64 words (checkpoints), and back: the four state
 * words, the Box-Muller flag, the spare value's bits. */
void mla_rng_pack(const mla_rng *r, int64_t out[6]);
void mla_rng_unpack(const int64_t in[6], mla_rng *r);

/* ---- threads ---- */
/* One setting for both our OpenMP loops and OpenBLAS (which is built on the same
 * OpenMP runtime). n <= 0 means the machine's core count. */
void mla_set_threads(int n);
int mla_get_threads(void);
int mla_core_count(void);
/* The kernel set the loaded OpenBLAS runs ("Haswell", "Zen", "SkylakeX", ...; it follows
 * OPENBLAS_CORETYPE). Borrowed constant string. */
const char *mla_blas_core(void);

/* ---- instruction sets of the own kernels ---- */
/* The engine's matrix kernels (conv2d and dense products) and the exact integer kNN come
 * in families chosen once per process at run time, so one portable binary
 * (MLA_NATIVE=OFF) still runs the widest this CPU has:
 *   MLA_ISA_AVX512: AVX-512 F/BW/DQ/VL (the kNN engine also needs VNNI, else it runs AVX2);
 *   MLA_ISA_AVX2:   AVX2 and FMA;
 *   MLA_ISA_PORTABLE: neither; products go to OpenBLAS, kNN to its float engine.
 * The environment variable MLA_ISA (avx512, avx2 or portable) lowers the level, never
 * raises it past the CPU's; it is read once, at the first call. */
typedef enum { MLA_ISA_PORTABLE = 0, MLA_ISA_AVX2 = 1, MLA_ISA_AVX512 = 2 } mla_isa;

/* The level this process may use: min(CPU's, MLA_ISA). An unknown MLA_ISA counts as unset
 * (mla_isa_check_env reports it). Thread-safe. */
mla_isa mla_isa_level(void);
/* "avx512", "avx2" or "portable". Constant string. */
const char *mla_isa_name(mla_isa isa);
/* MLA_INVALID with a message when MLA_ISA is set to something other than the three names. */
mla_status mla_isa_check_env(void);
/* Tests only: caps the level at `level` as MLA_ISA would (still at most the CPU's); -1
 * restores the environment's answer. Not thread-safe: call between passes. */
void mla_isa_force(int level);

/* ---- atomic files: write to a temporary beside the target, then rename ---- */
typedef struct mla_atomic_file mla_atomic_file;
/* Opens a temporary file in path's folder. On success *out owns it; finish with
 * exactly one of mla_atomic_commit (fsync + rename onto path) or mla_atomic_abort
 * (delete the temporary). Both free *out. */
mla_status mla_atomic_open(const char *path, mla_atomic_file **out);
FILE *mla_atomic_stream(mla_atomic_file *f);   /* borrowed */
mla_status mla_atomic_commit(mla_atomic_file *f);
void mla_atomic_abort(mla_atomic_file *f);
/* Writes a whole buffer atomically. */
mla_status mla_write_file_atomic(const char *path, const void *data, size_t size);
/* Reads a whole file into a NUL-terminated buffer the caller frees; refuses files
 * larger than max_size. */
mla_status mla_read_file(const char *path, size_t max_size, char **out, size_t *size);

/* Monotonic wall-clock seconds. */
double mla_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
