/* types.c — the table of tensor types and f32 -> f16 rounding. */
#include "tensor/types.h"

static const slm_type_traits g_types[SLM_TYPE_COUNT] = {
    [SLM_TYPE_F32] = {"f32", 1, 4},
    [SLM_TYPE_F16] = {"f16", 1, 2},
    [SLM_TYPE_Q4_0] = {"q4_0", 32, 18},
    [SLM_TYPE_Q4_1] = {"q4_1", 32, 20},
    [SLM_TYPE_Q5_0] = {"q5_0", 32, 22},
    [SLM_TYPE_Q5_1] = {"q5_1", 32, 24},
    [SLM_TYPE_Q8_0] = {"q8_0", 32, 34},
    [SLM_TYPE_Q8_1] = {"q8_1", 32, 36},
    [SLM_TYPE_Q2_K] = {"q2_K", 256, 84},
    [SLM_TYPE_Q3_K] = {"q3_K", 256, 110},
    [SLM_TYPE_Q4_K] = {"q4_K", 256, 144},
    [SLM_TYPE_Q5_K] = {"q5_K", 256, 176},
    [SLM_TYPE_Q6_K] = {"q6_K", 256, 210},
    [SLM_TYPE_Q8_K] = {"q8_K", 256, 292},
    [SLM_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [SLM_TYPE_IQ2_XS] = {"iq2_xs", 256, 74},
    [SLM_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [SLM_TYPE_IQ1_S] = {"iq1_s", 256, 50},
    [SLM_TYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [SLM_TYPE_IQ3_S] = {"iq3_s", 256, 110},
    [SLM_TYPE_IQ2_S] = {"iq2_s", 256, 82},
    [SLM_TYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [SLM_TYPE_I8] = {"i8", 1, 1},
    [SLM_TYPE_I16] = {"i16", 1, 2},
    [SLM_TYPE_I32] = {"i32", 1, 4},
    [SLM_TYPE_I64] = {"i64", 1, 8},
    [SLM_TYPE_F64] = {"f64", 1, 8},
    [SLM_TYPE_IQ1_M] = {"iq1_m", 256, 56},
    [SLM_TYPE_BF16] = {"bf16", 1, 2},
    [SLM_TYPE_TQ1_0] = {"tq1_0", 256, 54},
    [SLM_TYPE_TQ2_0] = {"tq2_0", 256, 66},
};

static const slm_type_traits g_unknown = {NULL, 0, 0};

const slm_type_traits *slm_type_info(uint32_t id) {
    if (id >= SLM_TYPE_COUNT || !g_types[id].name) return &g_unknown;
    return &g_types[id];
}

bool slm_type_row_bytes(slm_type t, uint64_t n, uint64_t *bytes) {
    const slm_type_traits *tr = slm_type_info(t);
    if (!tr->name || n % (uint64_t)tr->block_elems != 0) return false;
    uint64_t blocks = n / (uint64_t)tr->block_elems;
    return !__builtin_mul_overflow(blocks, (uint64_t)tr->block_bytes, bytes);
}

uint16_t slm_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 | ((absx >> 13) & 0x3FF) : 0));
    if (absx >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000) { /* result is subnormal or zero */
        if (absx < 0x33000000) return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t man = (absx & 0x7FFFFF) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t exp = (absx >> 23) - 112, man = absx & 0x7FFFFF;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into the exponent: fine */
    return (uint16_t)(sign | h);
}
