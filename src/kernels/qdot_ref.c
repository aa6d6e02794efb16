/* qdot_ref.c — the scalar definitions of the quantised dot products: each unpacks a block
 * exactly as the format says (see tensor/quants.h) and sums integer products per sub-block
 * before scaling, as the SIMD kernels do, so that they agree to float rounding. */
#include <string.h>

#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

static float dot_q4_0(const block_q4_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++)
            s += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + QK / 2];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

/* x = d q + m: sum x a = d da sum(q a) + m da sum(a). */
static float dot_q4_1(const block_q4_1 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, sa = 0;
        for (int j = 0; j < QK / 2; j++) {
            s += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + QK / 2];
            sa += a[b].qs[j] + a[b].qs[j + QK / 2];
        }
        float da = slm_f16_to_f32(a[b].d);
        sum += slm_f16_to_f32(w[b].d) * da * (float)s + slm_f16_to_f32(w[b].m) * da * (float)sa;
    }
    return sum;
}

static inline int q5_value(const uint8_t *qs, const uint8_t *qh_bytes, int j) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    int lo = j < QK / 2 ? qs[j] & 0xF : qs[j - QK / 2] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

static float dot_q5_0(const block_q5_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += (q5_value(w[b].qs, w[b].qh, j) - 16) * a[b].qs[j];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

static float dot_q5_1(const block_q5_1 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, sa = 0;
        for (int j = 0; j < QK; j++) {
            s += q5_value(w[b].qs, w[b].qh, j) * a[b].qs[j];
            sa += a[b].qs[j];
        }
        float da = slm_f16_to_f32(a[b].d);
        sum += slm_f16_to_f32(w[b].d) * da * (float)s + slm_f16_to_f32(w[b].m) * da * (float)sa;
    }
    return sum;
}

static float dot_q8_0(const block_q8_0 *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += w[b].qs[j] * a[b].qs[j];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

/* Element e (0..255) of the 2-bit planes used by q2_K and q3_K: 32 bytes per 128 elements,
 * four 2-bit planes of 32 elements each. */
static inline int two_bit(const uint8_t *qs, int e) {
    int h = e / 128, r = e % 128;
    return (qs[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
}

static float dot_q2_K(const block_q2_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0, smin = 0;
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) sj += two_bit(w[b].qs, j * 16 + i) * a[b].qs[j * 16 + i];
            s += (w[b].scales[j] & 0xF) * sj;
            smin += (w[b].scales[j] >> 4) * a[b].bsums[j];
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

/* The 16 6-bit scales of q3_K, minus 32. */
static void q3_K_scales(const uint8_t *p, int *sc) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? p[i] & 0xF : p[i - 8] >> 4;
        int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
        sc[i] = (lo | hi << 4) - 32;
    }
}

static float dot_q3_K(const block_q3_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int sc[16], s = 0;
        q3_K_scales(w[b].scales, sc);
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) {
                int e = j * 16 + i;
                int q = two_bit(w[b].qs, e) - (((w[b].hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
                sj += q * a[b].qs[e];
            }
            s += sc[j] * sj;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)s;
    }
    return sum;
}

void qdot_k4_scales(const uint8_t *p, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
        sc[j + 4] = (p[j + 8] & 0xF) | ((p[j] >> 6) << 4);
        mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4);
    }
}

/* Element e of the 4-bit planes of q4_K / q5_K: 32 bytes per 64 elements, low nibbles first. */
static inline int four_bit(const uint8_t *qs, int e) {
    int c = e / 64, r = e % 64;
    return r < 32 ? qs[c * 32 + r] & 0xF : qs[c * 32 + r - 32] >> 4;
}

static float dot_q4_K(const block_q4_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        qdot_k4_scales(w[b].scales, sc, mn);
        int s = 0, smin = 0;
        for (int j = 0; j < 8; j++) {
            int sj = 0;
            for (int i = 0; i < 32; i++) sj += four_bit(w[b].qs, j * 32 + i) * a[b].qs[j * 32 + i];
            s += sc[j] * sj;
            smin += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

static float dot_q5_K(const block_q5_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        qdot_k4_scales(w[b].scales, sc, mn);
        int s = 0, smin = 0;
        for (int j = 0; j < 8; j++) {
            int sj = 0;
            for (int i = 0; i < 32; i++) {
                int q = four_bit(w[b].qs, j * 32 + i) | ((w[b].qh[i] >> j) & 1) << 4;
                sj += q * a[b].qs[j * 32 + i];
            }
            s += sc[j] * sj;
            smin += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)s - slm_f16_to_f32(w[b].dmin) * (float)smin);
    }
    return sum;
}

/* Element e of q6_K: 4 low bits from ql (64 bytes per 128 elements, low nibbles then high),
 * 2 high bits from qh (32 bytes per 128 elements, four 2-bit planes); minus 32. */
static inline int six_bit(const block_q6_K *w, int e) {
    int h = e / 128, r = e % 128;
    int lo = r < 64 ? w->ql[h * 64 + r] & 0xF : w->ql[h * 64 + r - 64] >> 4;
    int hi = (w->qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
    return (lo | hi << 4) - 32;
}

static float dot_q6_K(const block_q6_K *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++) sj += six_bit(&w[b], j * 16 + i) * a[b].qs[j * 16 + i];
            s += w[b].scales[j] * sj;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)s;
    }
    return sum;
}

/* iq4_nl: q4_0's layout, each nibble standing for a table value. */
static float dot_iq4_nl(const block_iq4_nl *w, const block_q8_0 *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++)
            s += IQ4_KVALUES[w[b].qs[j] & 0xF] * a[b].qs[j] + IQ4_KVALUES[w[b].qs[j] >> 4] * a[b].qs[j + QK / 2];
        sum += slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d) * (float)s;
    }
    return sum;
}

/* iq4_xs: per sub-block of 32 an integer sum as iq4_nl's, times its scale ls - 32. */
static float dot_iq4_xs(const block_iq4_xs *w, const block_q8_K *a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int s = 0;
        for (int j = 0; j < QK_K / QK; j++) {
            const int ls = (((w[b].scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((w[b].scales_h >> (2 * j)) & 3) << 4)) - 32;
            const uint8_t *q = w[b].qs + 16 * j;
            const int8_t *x = a[b].qs + QK * j;
            int sj = 0;
            for (int i = 0; i < QK / 2; i++) sj += IQ4_KVALUES[q[i] & 0xF] * x[i] + IQ4_KVALUES[q[i] >> 4] * x[i + QK / 2];
            s += ls * sj;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)s;
    }
    return sum;
}

float qdot_scalar(slm_type t, const void *row, const void *act, int64_t n) {
    switch (t) {
    case SLM_TYPE_Q4_0: return dot_q4_0(row, act, n / QK);
    case SLM_TYPE_Q4_1: return dot_q4_1(row, act, n / QK);
    case SLM_TYPE_Q5_0: return dot_q5_0(row, act, n / QK);
    case SLM_TYPE_Q5_1: return dot_q5_1(row, act, n / QK);
    case SLM_TYPE_Q8_0: return dot_q8_0(row, act, n / QK);
    case SLM_TYPE_Q2_K: return dot_q2_K(row, act, n / QK_K);
    case SLM_TYPE_Q3_K: return dot_q3_K(row, act, n / QK_K);
    case SLM_TYPE_Q4_K: return dot_q4_K(row, act, n / QK_K);
    case SLM_TYPE_Q5_K: return dot_q5_K(row, act, n / QK_K);
    case SLM_TYPE_Q6_K: return dot_q6_K(row, act, n / QK_K);
    case SLM_TYPE_IQ4_NL: return dot_iq4_nl(row, act, n / QK);
    case SLM_TYPE_IQ4_XS: return dot_iq4_xs(row, act, n / QK_K);
    default: return 0.0f;
    }
}

void qdot_ref_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    for (int k = 0; k < n_act; k++) out[k] = qdot_scalar(t, row, qdot_input(in, qdot_activation_type(t), first + k), in->cols);
}
