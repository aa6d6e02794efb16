/* qdot.c — which quantised kernel serves each weight type: the activation type each weight type
 * pairs with, and the dispatch table from (type, selected instruction set) to a kernel and the
 * input forms it reads. The kernels live in qdot_ref.c (scalar), qdot_avx2.c, qdot_vnni.c,
 * qdot_q41.c (q4_1 / q5_1), qdot_rows16.c, qdot_k_avx512.c, qdot_k_rows16.c (q3_K / q4_K / q5_K / q6_K,
 * 16 rows a pass), qdot_k_more.c, qdot_iq4.c and qdot_iq4_rows16.c (iq4_xs, 16 rows a pass). */
#include "kernels/qdot.h"

#include "kernels/kernels.h"
#include "kernels/qdot_impl.h"

#include <stdlib.h>
#include <string.h>

/* The 16-rows-a-lane kernels need AVX-512 BITALG too (q5_*: VPSHUFBITQMB); SLM_NO_ROWS16=1
 * keeps the per-row VNNI kernels (for comparisons). */
static bool kernels_rows16(void) {
    static int ok = -1;
    if (ok < 0) {
        const char *env = getenv("SLM_NO_ROWS16");
        ok = __builtin_cpu_supports("avx512bitalg") && !(env && strcmp(env, "0") != 0);
    }
    return ok;
}

/* The K-quant types the 16-row kernel serves: q3_K, q4_K, q5_K and q6_K (measured faster here,
 * decoding and in batches; q6_K decodes with its own one-input path there); SLM_K16 = a list of
 * type names ("q3_K,q4_K,q6_K") overrides that, for comparisons. */
static bool k_rows16_for(slm_type t) {
    static int mask = -1; /* bit 0: q4_K, 1: q5_K, 2: q6_K, 3: q3_K */
    if (mask < 0) {
        const char *env = getenv("SLM_K16");
        mask = env ? (strstr(env, "q4_K") != NULL) | (strstr(env, "q5_K") != NULL) << 1 |
                         (strstr(env, "q6_K") != NULL) << 2 | (strstr(env, "q3_K") != NULL) << 3
                   : 15;
    }
    return mask >> (t == SLM_TYPE_Q4_K ? 0 : t == SLM_TYPE_Q5_K ? 1 : t == SLM_TYPE_Q6_K ? 2 : 3) & 1;
}

slm_type qdot_activation_type(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_0: case SLM_TYPE_Q5_1: case SLM_TYPE_Q8_0:
    case SLM_TYPE_IQ4_NL:
        return SLM_TYPE_Q8_0;
    case SLM_TYPE_Q2_K: case SLM_TYPE_Q3_K: case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K: case SLM_TYPE_Q6_K:
    case SLM_TYPE_IQ4_XS:
        return SLM_TYPE_Q8_K;
    default:
        return SLM_TYPE_F32;
    }
}

qdot_kernel qdot_kernel_scalar(slm_type t) {
    const slm_type at = qdot_activation_type(t);
    if (at == SLM_TYPE_F32) return (qdot_kernel){NULL, NULL, 0, "scalar"};
    return (qdot_kernel){qdot_ref_rows, NULL, at == SLM_TYPE_Q8_0 ? QDOT_Q8_0 : QDOT_Q8_K, "scalar"};
}

/* The AVX-512 kernels (the CPU has F/BW/VL/DQ and VNNI, and they are allowed). */
static qdot_kernel avx512_kernel(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q5_0: case SLM_TYPE_Q8_0:
    case SLM_TYPE_IQ4_NL:
        if (!kernels_rows16()) return (qdot_kernel){qdot_q32_vnni_rows, qdot_q32_vnni_many, QDOT_PAIRS, "avx512vnni"};
        return (qdot_kernel){qdot_rows16_rows, qdot_rows16_many, QDOT_Q8_0 | QDOT_INFO, "avx512vnni16"};
    case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_1:
        if (kernels_rows16()) return (qdot_kernel){qdot_rows16_rows, qdot_rows16_many, QDOT_Q8_0 | QDOT_INFO, "avx512vnni16"};
        return (qdot_kernel){qdot_q41_vnni_rows, NULL, QDOT_Q8_0 | QDOT_SCALES | QDOT_SUMS, "avx512vnni"};
    case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K: case SLM_TYPE_Q6_K:
        if (kernels_rows16() && k_rows16_for(t))
            return (qdot_kernel){qdot_k_rows16_rows, qdot_k_rows16_many, QDOT_Q8_K, "avx512vnni16"};
        if (t == SLM_TYPE_Q5_K) return (qdot_kernel){qdot_k_more_avx512_rows, NULL, QDOT_Q8_K, "avx512vnni"};
        return (qdot_kernel){qdot_k_avx512_rows, qdot_k_avx512_many, QDOT_Q8_K, "avx512"};
    case SLM_TYPE_IQ4_XS: /* its scales are unpacked with BMI2 (which every AVX-512 CPU has) */
        if (kernels_rows16() && __builtin_cpu_supports("avx512vbmi"))
            return (qdot_kernel){qdot_iq4_rows16_rows, qdot_iq4_rows16_many, QDOT_Q8_K, "avx512vnni16"};
        if (__builtin_cpu_supports("bmi2")) return (qdot_kernel){qdot_iq4_xs_avx512_rows, NULL, QDOT_Q8_K, "avx512vnni"};
        return (qdot_kernel){NULL, NULL, 0, NULL};
    case SLM_TYPE_Q3_K:
        if (kernels_rows16() && k_rows16_for(t))
            return (qdot_kernel){qdot_k_rows16_rows, qdot_k_rows16_many, QDOT_Q8_K, "avx512vnni16"};
        return (qdot_kernel){qdot_k_more_avx512_rows, NULL, QDOT_Q8_K, "avx512vnni"};
    case SLM_TYPE_Q2_K:
        return (qdot_kernel){qdot_k_more_avx512_rows, NULL, QDOT_Q8_K, "avx512vnni"};
    default:
        return (qdot_kernel){NULL, NULL, 0, NULL};
    }
}

static qdot_kernel avx2_kernel(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q5_0: case SLM_TYPE_Q8_0:
    case SLM_TYPE_IQ4_NL:
        return (qdot_kernel){qdot_q32_avx2_rows, NULL, QDOT_Q8_0 | QDOT_SCALES, "avx2"};
    case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_1:
        return (qdot_kernel){qdot_q41_avx2_rows, NULL, QDOT_Q8_0 | QDOT_SCALES | QDOT_SUMS, "avx2"};
    case SLM_TYPE_Q4_K: case SLM_TYPE_Q6_K:
        return (qdot_kernel){qdot_k_avx2_rows, NULL, QDOT_Q8_K, "avx2"};
    case SLM_TYPE_IQ4_XS:
        return (qdot_kernel){qdot_iq4_xs_avx2_rows, NULL, QDOT_Q8_K, "avx2"};
    case SLM_TYPE_Q2_K: case SLM_TYPE_Q3_K: case SLM_TYPE_Q5_K:
        return (qdot_kernel){qdot_k_more_avx2_rows, NULL, QDOT_Q8_K, "avx2"};
    default:
        return (qdot_kernel){NULL, NULL, 0, NULL};
    }
}

qdot_kernel qdot_kernel_for(slm_type t) {
    if (kernels_avx512_vnni()) {
        qdot_kernel k = avx512_kernel(t);
        if (k.fn) return k;
    }
    if (kernels_simd_tiles()) {
        qdot_kernel k = avx2_kernel(t);
        if (k.fn) return k;
    }
    return qdot_kernel_scalar(t);
}
