/* The instruction-set level of the own kernels (mlaudit/core.h): the CPU's, from its
 * CPUID bits (__builtin_cpu_supports), capped by MLA_ISA. */
#include "mlaudit/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const isa_names[] = {"portable", "avx2", "avx512"};

const char *mla_isa_name(mla_isa isa) { return isa >= MLA_ISA_PORTABLE && isa <= MLA_ISA_AVX512 ? isa_names[isa] : "?"; }

/* What the CPU runs. AVX-512 counts only with BW, DQ and VL, which the kernels use. */
static mla_isa cpu_level(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return MLA_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MLA_ISA_AVX2;
#endif
    return MLA_ISA_PORTABLE;
}

/* MLA_ISA's level, or -1 when unset or unknown. */
static int env_level(void) {
    const char *v = getenv("MLA_ISA");
    if (!v || !*v) return -1;
    for (int i = 0; i <= MLA_ISA_AVX512; i++)
        if (!strcmp(v, isa_names[i])) return i;
    return -1;
}

static atomic_int cached = -1; /* the environment's answer, once read */
static int forced = -1;

mla_isa mla_isa_level(void) {
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        level = cpu_level();
        int cap = env_level();
        if (cap >= 0 && cap < level) level = cap;
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    if (forced >= 0 && forced < level) level = forced;
    return (mla_isa)level;
}

mla_status mla_isa_check_env(void) {
    const char *v = getenv("MLA_ISA");
    if (v && *v && env_level() < 0)
        return mla_error(MLA_ERR_INVALID, "MLA_ISA='%s': expected avx512, avx2 or portable", v);
    return MLA_OK;
}

void mla_isa_force(int level) { forced = level < 0 ? -1 : level; }
