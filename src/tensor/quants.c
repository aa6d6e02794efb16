/* quants.c — reference (scalar) conversions between f32 and the block formats of quants.h:
 * dequantisers bit-exact with ggml and the gguf package; quantisers that round as the package
 * does (32-element formats) or search scales by weighted least squares (K-quants, iq4_nl,
 * iq4_xs). */
#include <math.h>
#include <string.h>

#include "tensor/quants.h"

/* Bit-exactness with the reference needs every product rounded to float before it is added,
 * so fused multiply-adds are forbidden in this file (GNU C allows them by default). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define F16(h) slm_f16_to_f32(h)

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

/* v rounded to the nearest integer (halves away from zero, as roundf) and clamped to [lo, hi];
 * NaN gives 0 clamped to [lo, hi]. Clamping first keeps the conversion to int defined. */
static inline int round_clamp(float v, int lo, int hi) {
    if (v != v) v = 0;
    if (v <= (float)lo) return lo;
    if (v >= (float)hi) return hi;
    return (int)roundf(v);
}

/* v truncated towards zero and clamped to [lo, hi] (numpy's trunc().astype().clip() for the
 * values the 32-element quantisers produce); NaN gives lo. */
static inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* The element of largest magnitude, with its sign (the first such one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = fabsf(x[0]), max = x[0];
    for (int i = 1; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

/* ---------------------------------------------------------------------------------------------
 * Plain floating-point types */

static void dequant_f16(const uint16_t *src, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = F16(src[i]);
}

static void quant_f16(const float *x, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = slm_f32_to_f16(x[i]);
}

static void dequant_bf16(const uint16_t *src, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = slm_bf16_to_f32(src[i]);
}

/* Round to nearest even on the upper 16 bits; NaNs become quiet NaNs with the same sign. */
static void quant_bf16(const float *x, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7FFFFFFF) > 0x7F800000) u = (u & 0xFFFF0000) | 0x00400000;
        dst[i] = (uint16_t)(((uint64_t)u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    }
}

/* ---------------------------------------------------------------------------------------------
 * 32-element formats. In q4_0/q4_1 (and the low bits of q5_0/q5_1) byte j holds element j in
 * its low nibble and element j + 16 in its high nibble; q5's fifth bit of element j is bit j of
 * qh read as a little-endian 32-bit word. The quantisers follow the gguf package exactly:
 * q4_0/q5_0 map the element of largest magnitude to -8/-16; q4_1/q5_1 span [min, max]. */

static void dequant_q4_0(const block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (float)((b->qs[j] & 0x0F) - 8);
            y[j + QK / 2] = d * (float)((b->qs[j] >> 4) - 8);
        }
    }
}

static void quant_q4_0(const float *x, block_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        const float d = signed_absmax(x, QK) / -8.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = slm_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            const int q0 = trunc_clamp(x[j] * id + 8.5f, 0, 15);
            const int q1 = trunc_clamp(x[j + QK / 2] * id + 8.5f, 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void dequant_q4_1(const block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d), m = F16(b->m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (float)(b->qs[j] & 0x0F) + m;
            y[j + QK / 2] = d * (float)(b->qs[j] >> 4) + m;
        }
    }
}

/* Smallest and largest element (the first of equal ones). */
static void min_max(const float *x, int n, float *mn, float *mx) {
    *mn = *mx = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

static void quant_q4_1(const float *x, block_q4_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = slm_f32_to_f16(d);
        b->m = slm_f32_to_f16(mn);
        for (int j = 0; j < QK / 2; j++) {
            const int q0 = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 15);
            const int q1 = trunc_clamp((x[j + QK / 2] - mn) * id + 0.5f, 0, 15);
            b->qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Element j's 5-bit value from the low nibbles in qs and the high bits in qh. */
static inline int q5_value(const uint8_t *qs, const uint8_t *qh, int j) {
    const int lo = j < QK / 2 ? qs[j] & 0x0F : qs[j - QK / 2] >> 4;
    return lo | (((qh[j / 8] >> (j % 8)) & 1) << 4);
}

/* Packs 32 five-bit values into qs and qh. */
static void q5_pack(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    memset(qh, 0, 4);
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + QK / 2] & 0x0F) << 4));
    for (int j = 0; j < QK; j++) qh[j / 8] |= (uint8_t)((q[j] >> 4) << (j % 8));
}

static void dequant_q5_0(const block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d);
        for (int j = 0; j < QK; j++) y[j] = d * (float)(q5_value(b->qs, b->qh, j) - 16);
    }
}

static void quant_q5_0(const float *x, block_q5_0 *b, int64_t nb) {
    uint8_t q[QK];
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        const float d = signed_absmax(x, QK) / -16.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = slm_f32_to_f16(d);
        for (int j = 0; j < QK; j++) q[j] = (uint8_t)trunc_clamp(x[j] * id + 16.5f, 0, 31);
        q5_pack(q, b->qs, b->qh);
    }
}

static void dequant_q5_1(const block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d), m = F16(b->m);
        for (int j = 0; j < QK; j++) y[j] = d * (float)q5_value(b->qs, b->qh, j) + m;
    }
}

static void quant_q5_1(const float *x, block_q5_1 *b, int64_t nb) {
    uint8_t q[QK];
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b->d = slm_f32_to_f16(d);
        b->m = slm_f32_to_f16(mn);
        for (int j = 0; j < QK; j++) q[j] = (uint8_t)trunc_clamp((x[j] - mn) * id + 0.5f, 0, 31);
        q5_pack(q, b->qs, b->qh);
    }
}

static void dequant_q8_0(const block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d);
        for (int j = 0; j < QK; j++) y[j] = d * (float)b->qs[j];
    }
}

/* Symmetric 8-bit: d = amax / 127, q = round(x / d) with halves away from zero. Returns d and
 * writes the QK values; shared by q8_0 and q8_1. */
static float quant_int8_block(const float *x, int8_t *qs) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) qs[j] = (int8_t)round_clamp(x[j] * id, -127, 127);
    return d;
}

static void quant_q8_0(const float *x, block_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, x += QK) b->d = slm_f32_to_f16(quant_int8_block(x, b->qs));
}

static void dequant_q8_1(const block_q8_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d);
        for (int j = 0; j < QK; j++) y[j] = d * (float)b->qs[j];
    }
}

/* As q8_0, with s = d * (sum of the quants) for the dot products with q4_1/q5_1. */
static void quant_q8_1(const float *x, block_q8_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        const float d = quant_int8_block(x, b->qs);
        int sum = 0;
        for (int j = 0; j < QK; j++) sum += b->qs[j];
        b->d = slm_f32_to_f16(d);
        b->s = slm_f32_to_f16((float)sum * d);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Scale searches for the K-quants.
 *
 * A sub-block of n elements is approximated as x[i] ≈ scale * L[i] (symmetric formats) or
 * x[i] ≈ scale * L[i] - mn (formats with a minimum), with integer L[i] in a small range. For a
 * fixed choice of L the best scale (and mn) under weights w is a weighted least-squares solution
 * in closed form, so the search tries a handful of candidate inverse scales, rounds x with each,
 * solves for the scale that fits that rounding best, and keeps the candidate with the smallest
 * weighted error. */

/* Weighted error of x ≈ scale * L + off: squared, or absolute when abs_err is set. */
static float fit_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float off,
                       bool abs_err) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        const float e = scale * (float)L[i] + off - x[i];
        err += w[i] * (abs_err ? fabsf(e) : e * e);
    }
    return err;
}

/* Fits x[i] ≈ scale * L[i] - mn with L[i] in [0, nmax] and mn >= 0 (n <= 32). Candidates are
 * inverse scales (nmax + rmin + k * rdelta) / (max - min) for k = 0..nstep over the range
 * [min(min(x), 0), max(x)]; each rounding gets the least-squares (scale, offset), with the
 * offset held at 0 (and the scale refitted) when the fit would want a positive one. Writes L
 * and mn, returns the scale (0 when the sub-block is constant and non-positive). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *mn,
                           float rmin, float rdelta, int nstep, bool abs_err) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (lo > 0) lo = 0;
    if (!(hi > lo)) { /* every element equals lo <= 0: the minimum alone represents them */
        memset(L, 0, (size_t)n);
        *mn = -lo;
        return 0;
    }
    float sw = 0, swx = 0;
    for (int i = 0; i < n; i++) {
        sw += w[i];
        swx += w[i] * x[i];
    }
    /* the starting point: plain rounding over the range */
    float scale = (hi - lo) / (float)nmax, off = lo;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)round_clamp((x[i] - lo) / scale, 0, nmax);
    float best = fit_error(n, x, w, L, scale, off, abs_err);

    uint8_t T[32];
    for (int k = 0; k <= nstep; k++) {
        const float iscale = ((float)nmax + rmin + rdelta * (float)k) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            T[i] = (uint8_t)round_clamp(iscale * (x[i] - lo), 0, nmax);
            const float wl = w[i] * (float)T[i];
            sl += wl;
            sl2 += wl * (float)T[i];
            sxl += wl * x[i];
        }
        const float det = sw * sl2 - sl * sl;
        if (!(det > 0)) continue;
        float s = (sw * sxl - swx * sl) / det, o = (sl2 * swx - sl * sxl) / det;
        if (o > 0) { /* the format cannot add: fit the scale alone */
            o = 0;
            s = sxl / sl2;
        }
        const float err = fit_error(n, x, w, T, s, o, abs_err);
        if (err < best) {
            best = err;
            scale = s;
            off = o;
            memcpy(L, T, (size_t)n);
        }
    }
    *mn = -off;
    return scale;
}

/* Fits x[i] ≈ scale * L[i] with L[i] in [-nmax, nmax - 1] (n <= 32), minimising the weighted
 * squared error. Candidates map the element of largest magnitude to -(nmax + k / 10) for
 * k = -nstep..nstep (towards -nmax, the level without a positive twin); each rounding gets its
 * least-squares scale; the best is then polished by re-rounding against its own scale until
 * that stops helping. Writes L (signed) and returns the scale (0 for an all-zero sub-block). */
static float fit_scale_symmetric(int n, int nmax, const float *x, const float *w, int8_t *L, int nstep) {
    const float max = signed_absmax(x, n);
    if (max == 0) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    /* maximising sxl^2 / sl2 minimises sum w (x - scale L)^2 with scale = sxl / sl2 */
    float best_scale = 0, best_gain = -1;
    int8_t T[32];
    for (int k = -nstep; k <= nstep; k++) {
        const float iscale = -((float)nmax + 0.1f * (float)k) / max;
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            T[i] = (int8_t)round_clamp(iscale * x[i], -nmax, nmax - 1);
            sxl += w[i] * x[i] * (float)T[i];
            sl2 += w[i] * (float)T[i] * (float)T[i];
        }
        if (sl2 > 0 && sxl * sxl / sl2 > best_gain) {
            best_gain = sxl * sxl / sl2;
            best_scale = sxl / sl2;
            memcpy(L, T, (size_t)n);
        }
    }
    for (int iter = 0; iter < 4 && best_scale != 0; iter++) {
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            T[i] = (int8_t)round_clamp(x[i] / best_scale, -nmax, nmax - 1);
            sxl += w[i] * x[i] * (float)T[i];
            sl2 += w[i] * (float)T[i] * (float)T[i];
        }
        if (!(sl2 > 0 && sxl * sxl / sl2 > best_gain)) break;
        best_gain = sxl * sxl / sl2;
        best_scale = sxl / sl2;
        memcpy(L, T, (size_t)n);
    }
    return best_scale;
}

/* A super-block scale as a half: the nearest one, or the next one away from zero when that
 * would shrink its magnitude (so the largest sub-block scale still fits its bits, and a scale
 * too small for a normal half does not vanish). The sub-block scales are then rounded against
 * the value stored. */
static uint16_t f16_scale(float d) {
    uint16_t h = slm_f32_to_f16(d);
    if (fabsf(F16(h)) < fabsf(d) && (h & 0x7FFF) < 0x7BFF) h++;
    return h;
}

/* Largest of n non-negative values. */
static float max_of(const float *v, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, v[i]);
    return m;
}

/* Once the super-block's d (and dmin) are stored, each sub-block's integer scale (and min)
 * has been rounded from its fitted value; a neighbour may fit the sub-block better once the
 * elements are rounded again against it. These try the neighbours and keep the best under the
 * weighted squared error. */

/* Weighted squared error of x ≈ dl * q - ml with q = round((x + ml) / dl) in [0, nmax]. */
static float rounded_error_min(int n, int nmax, const float *x, const float *w, float dl, float ml) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        const int q = dl != 0 ? round_clamp((x[i] + ml) / dl, 0, nmax) : 0;
        const float e = dl * (float)q - ml - x[i];
        err += w[i] * e * e;
    }
    return err;
}

/* Tries scale ls + {-1, 0, 1} and min lm + {-1, 0, 1} (within [0, lmax]) as multiples of d and
 * dmin, and keeps the best pair (the given one on ties). */
static void refine_scale_min(int n, int nmax, const float *x, const float *w, float d, float dmin, int lmax,
                             uint8_t *ls, uint8_t *lm) {
    const int ls0 = *ls, lm0 = *lm;
    float best = rounded_error_min(n, nmax, x, w, d * (float)ls0, dmin * (float)lm0);
    for (int ts = ls0 - 1; ts <= ls0 + 1; ts++)
        for (int tm = lm0 - 1; tm <= lm0 + 1; tm++) {
            if (ts < 0 || ts > lmax || tm < 0 || tm > lmax || (ts == ls0 && tm == lm0)) continue;
            const float err = rounded_error_min(n, nmax, x, w, d * (float)ts, dmin * (float)tm);
            if (err < best) {
                best = err;
                *ls = (uint8_t)ts;
                *lm = (uint8_t)tm;
            }
        }
}

/* Weighted squared error of x ≈ dl * q with q = round(x / dl) in [-nmax, nmax - 1]. */
static float rounded_error(int n, int nmax, const float *x, const float *w, float dl) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        const int q = dl != 0 ? round_clamp(x[i] / dl, -nmax, nmax - 1) : 0;
        const float e = dl * (float)q - x[i];
        err += w[i] * e * e;
    }
    return err;
}

/* Tries the signed scale ls + {-1, 0, 1} (within [lo, hi]) as a multiple of d, and returns the
 * best (the given one on ties). */
static int refine_scale(int n, int nmax, const float *x, const float *w, float d, int lo, int hi, int ls) {
    int best_ls = ls;
    float best = rounded_error(n, nmax, x, w, d * (float)ls);
    for (int ts = ls - 1; ts <= ls + 1; ts += 2) {
        if (ts < lo || ts > hi) continue;
        const float err = rounded_error(n, nmax, x, w, d * (float)ts);
        if (err < best) {
            best = err;
            best_ls = ts;
        }
    }
    return best_ls;
}

/* ---------------------------------------------------------------------------------------------
 * q2_K: 16 sub-blocks of 16; scales[s] = scale | min << 4 (4 bits each).
 * qs: element 128h + 32j + l (h < 2, j < 4, l < 32) is bits 2j..2j+1 of qs[32h + l]. */

static void dequant_q2_K(const block_q2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const int e = 128 * h + 32 * j + l, s = e / 16;
                    const float dl = d * (float)(b->scales[s] & 0x0F);
                    const float ml = dmin * (float)(b->scales[s] >> 4);
                    y[e] = dl * (float)((b->qs[32 * h + l] >> (2 * j)) & 3) - ml;
                }
    }
}

static void quant_q2_K(const float *x, block_q2_K *b, int64_t nb) {
    uint8_t L[QK_K];
    float w[16], scales[16], mins[16];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * s + l]);
            scales[s] = fit_scale_min(16, 3, x + 16 * s, w, L + 16 * s, &mins[s], -0.5f, 0.1f, 15, true);
        }
        const float max_scale = max_of(scales, 16), max_min = max_of(mins, 16);
        /* the sub-block scales and mins as 4-bit multiples of d and dmin */
        b->d = f16_scale(max_scale / 15);
        b->dmin = f16_scale(max_min / 15);
        const float d = F16(b->d), dmin = F16(b->dmin);
        for (int s = 0; s < 16; s++) {
            uint8_t ls = (uint8_t)(d > 0 ? round_clamp(scales[s] / d, 0, 15) : 0);
            uint8_t lm = (uint8_t)(dmin > 0 ? round_clamp(mins[s] / dmin, 0, 15) : 0);
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * s + l]);
            refine_scale_min(16, 3, x + 16 * s, w, d, dmin, 15, &ls, &lm);
            b->scales[s] = (uint8_t)(ls | (lm << 4));
        }
        /* round every element again against the scales as stored */
        for (int s = 0; s < 16; s++) {
            const float dl = d * (float)(b->scales[s] & 0x0F), ml = dmin * (float)(b->scales[s] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = dl != 0 ? (uint8_t)round_clamp((x[16 * s + l] + ml) / dl, 0, 3) : 0;
        }
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < QK_K; e++) b->qs[32 * (e / 128) + e % 32] |= (uint8_t)(L[e] << (2 * ((e / 32) % 4)));
    }
}

/* ---------------------------------------------------------------------------------------------
 * q3_K: 16 sub-blocks of 16 with 6-bit scales stored as scale + 32. Scale s keeps its low 4 bits
 * in scales[s % 8] (low nibble for s < 8, high nibble otherwise) and its high 2 bits in bits
 * 2(s/4)..2(s/4)+1 of scales[8 + s % 4]. Element e = 128h + 32j + l has its low 2 bits as q2_K
 * does, and its high bit as bit e/32 of hmask[e % 32]; the value is (low | high << 2) - 4. */

static int q3_K_scale(const uint8_t *sc, int s) {
    const int lo = s < 8 ? sc[s] & 0x0F : sc[s - 8] >> 4;
    const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

static void dequant_q3_K(const block_q3_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K) {
        const float d = F16(b->d);
        for (int e = 0; e < QK_K; e++) {
            const float dl = d * (float)q3_K_scale(b->scales, e / 16);
            const int low = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
            const int high = (b->hmask[e % 32] >> (e / 32)) & 1;
            y[e] = dl * (float)(low - (high ? 0 : 4));
        }
    }
}

static void quant_q3_K(const float *x, block_q3_K *b, int64_t nb) {
    int8_t L[QK_K];
    float w[16], scales[16];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++) w[l] = x[16 * s + l] * x[16 * s + l];
            scales[s] = fit_scale_symmetric(16, 4, x + 16 * s, w, L + 16 * s, 5);
        }
        /* 6-bit signed sub-block scales: the largest in magnitude maps to -32 */
        const float max_scale = signed_absmax(scales, 16);
        b->d = f16_scale(max_scale / -32);
        const float d = F16(b->d);
        memset(b->scales, 0, sizeof b->scales);
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++) w[l] = x[16 * s + l] * x[16 * s + l];
            const int ls0 = d != 0 ? round_clamp(scales[s] / d, -32, 31) : 0;
            const int ls = refine_scale(16, 4, x + 16 * s, w, d, -32, 31, ls0) + 32;
            b->scales[s % 8] |= (uint8_t)((ls & 0x0F) << (s < 8 ? 0 : 4));
            b->scales[8 + s % 4] |= (uint8_t)((ls >> 4) << (2 * (s / 4)));
        }
        for (int s = 0; s < 16; s++) {
            const float dl = d * (float)q3_K_scale(b->scales, s);
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = (int8_t)(dl != 0 ? round_clamp(x[16 * s + l] / dl, -4, 3) : 0);
        }
        memset(b->qs, 0, sizeof b->qs);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < QK_K; e++) {
            const int q = L[e] + 4; /* 0..7 */
            b->qs[32 * (e / 128) + e % 32] |= (uint8_t)((q & 3) << (2 * ((e / 32) % 4)));
            b->hmask[e % 32] |= (uint8_t)((q >> 2) << (e / 32));
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * q4_K and q5_K: 8 sub-blocks of 32 with 6-bit scales sc and mins m in 12 bytes: for s < 4,
 * bytes s and s + 4 hold sc[s] and m[s] in their low 6 bits; for s >= 4, byte s + 4 holds the
 * low 4 bits of sc[s] (low nibble) and m[s] (high nibble), and the top 2 bits of bytes s - 4
 * and s hold their high 2 bits. The quants: sub-blocks 2c and 2c + 1 share bytes
 * qs[32c .. 32c + 31], low nibble and high nibble; q5_K's fifth bit of element 32s + l is bit s
 * of qh[l]. x = d * sc * q - dmin * m. */

static void k_scale_min(const uint8_t *p, int s, int *sc, int *m) {
    if (s < 4) {
        *sc = p[s] & 63;
        *m = p[s + 4] & 63;
    } else {
        *sc = (p[s + 4] & 0x0F) | ((p[s - 4] >> 6) << 4);
        *m = (p[s + 4] >> 4) | ((p[s] >> 6) << 4);
    }
}

static void k_pack_scale_min(uint8_t *p, const uint8_t *sc, const uint8_t *m) {
    for (int s = 0; s < 4; s++) {
        p[s] = (uint8_t)(sc[s] | ((sc[s + 4] >> 4) << 6));
        p[s + 4] = (uint8_t)(m[s] | ((m[s + 4] >> 4) << 6));
        p[s + 8] = (uint8_t)((sc[s + 4] & 0x0F) | ((m[s + 4] & 0x0F) << 4));
    }
}

static void dequant_q4_K(const block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            k_scale_min(b->scales, s, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = b->qs + 32 * (s / 2);
            for (int l = 0; l < 32; l++) y[32 * s + l] = dl * (float)((q[l] >> (4 * (s % 2))) & 0x0F) - ml;
        }
    }
}

static void dequant_q5_K(const block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            k_scale_min(b->scales, s, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = b->qs + 32 * (s / 2);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> (4 * (s % 2))) & 0x0F) | (((b->qh[l] >> s) & 1) << 4);
                y[32 * s + l] = dl * (float)v - ml;
            }
        }
    }
}

/* The part q4_K and q5_K share: fits each sub-block of 32 with values in [0, nmax], stores d,
 * dmin and the 6-bit scales and mins, and writes the final quants L (rounded against the
 * scales as stored). Elements are weighted by rms(x) + |x|. */
static void quant_k_scale_min(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
                              uint16_t *dmin_out, uint8_t *packed, uint8_t *L) {
    float w[32], scales[8], mins[8];
    float sum_x2 = 0;
    for (int e = 0; e < QK_K; e++) sum_x2 += x[e] * x[e];
    const float rms = sqrtf(sum_x2 / QK_K);
    for (int s = 0; s < 8; s++) {
        for (int l = 0; l < 32; l++) w[l] = rms + fabsf(x[32 * s + l]);
        scales[s] = fit_scale_min(32, nmax, x + 32 * s, w, L + 32 * s, &mins[s], rmin, 0.1f, nstep, false);
    }
    const float max_scale = max_of(scales, 8), max_min = max_of(mins, 8);
    *d_out = f16_scale(max_scale / 63);
    *dmin_out = f16_scale(max_min / 63);
    const float ds = F16(*d_out), dm = F16(*dmin_out);
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; s++) {
        ls[s] = (uint8_t)(ds > 0 ? round_clamp(scales[s] / ds, 0, 63) : 0);
        lm[s] = (uint8_t)(dm > 0 ? round_clamp(mins[s] / dm, 0, 63) : 0);
        for (int l = 0; l < 32; l++) w[l] = rms + fabsf(x[32 * s + l]);
        refine_scale_min(32, nmax, x + 32 * s, w, ds, dm, 63, &ls[s], &lm[s]);
    }
    k_pack_scale_min(packed, ls, lm);
    for (int s = 0; s < 8; s++) {
        const float dl = ds * (float)ls[s], ml = dm * (float)lm[s];
        for (int l = 0; l < 32; l++)
            L[32 * s + l] = dl != 0 ? (uint8_t)round_clamp((x[32 * s + l] + ml) / dl, 0, nmax) : 0;
    }
}

static void quant_q4_K(const float *x, block_q4_K *b, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        quant_k_scale_min(x, 15, -1.0f, 20, &b->d, &b->dmin, b->scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void quant_q5_K(const float *x, block_q5_K *b, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        quant_k_scale_min(x, 31, -0.5f, 15, &b->d, &b->dmin, b->scales, L);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 0x0F) | ((L[64 * c + 32 + l] & 0x0F) << 4));
        for (int e = 0; e < QK_K; e++) b->qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
    }
}

/* ---------------------------------------------------------------------------------------------
 * q6_K: 16 sub-blocks of 16 with int8 scales; value q - 32 with q 6-bit. Element
 * e = 128h + 64t + l (h, t < 2, l < 64) has its low 4 bits in ql[64h + l] (low nibble for t = 0,
 * high for t = 1); element 128h + 32j + l (j < 4, l < 32) has its high 2 bits in bits
 * 2j..2j+1 of qh[32h + l]. */

static void dequant_q6_K(const block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K) {
        const float d = F16(b->d);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, r = e % 128;
            const int low = (b->ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
            const int high = (b->qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
            const float dl = d * (float)b->scales[e / 16];
            y[e] = dl * (float)((low | (high << 4)) - 32);
        }
    }
}

static void quant_q6_K(const float *x, block_q6_K *b, int64_t nb) {
    int8_t L[QK_K];
    float w[16], scales[16];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++) w[l] = x[16 * s + l] * x[16 * s + l];
            scales[s] = fit_scale_symmetric(16, 32, x + 16 * s, w, L + 16 * s, 9);
        }
        /* 8-bit signed sub-block scales: the largest in magnitude maps to -128 */
        const float max_scale = signed_absmax(scales, 16);
        b->d = f16_scale(max_scale / -128);
        const float d = F16(b->d);
        for (int s = 0; s < 16; s++) {
            for (int l = 0; l < 16; l++) w[l] = x[16 * s + l] * x[16 * s + l];
            const int ls = d != 0 ? round_clamp(scales[s] / d, -128, 127) : 0;
            b->scales[s] = (int8_t)refine_scale(16, 32, x + 16 * s, w, d, -128, 127, ls);
        }
        for (int s = 0; s < 16; s++) {
            const float dl = d * (float)b->scales[s];
            for (int l = 0; l < 16; l++)
                L[16 * s + l] = (int8_t)(dl != 0 ? round_clamp(x[16 * s + l] / dl, -32, 31) : 0);
        }
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < QK_K; e++) {
            const int q = L[e] + 32, h = e / 128, r = e % 128; /* q 0..63 */
            b->ql[64 * h + r % 64] |= (uint8_t)((q & 0x0F) << (4 * (r / 64)));
            b->qh[32 * h + r % 32] |= (uint8_t)((q >> 4) << (2 * (r / 32)));
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * iq4_nl and iq4_xs: 4-bit indices into a fixed non-linear table of 16 values, scaled by a half
 * d (iq4_nl, per 32 elements) or by d times a 6-bit sub-block scale ls - 32 (iq4_xs, 8 sub-blocks
 * of 32 in a super-block of 256). The quants of 32 elements are laid out as q4_0's. The
 * quantisers search each 32 elements' scale by weighted least squares over the nearest table
 * values (weights sigma^2 + x^2, sigma^2 the mean square of the block); iq4_xs then stores the
 * sub-block scales as multiples of d and tries each one's neighbours. */

const int8_t IQ4_KVALUES[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* The index of the table value nearest v (the lower one on a tie; NaN gives 0), by binary search
 * over the midpoints between neighbours. */
static inline int iq4_nearest(float v) {
    static const float mid[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};
    int i = v > mid[7] ? 8 : 0;
    i += v > mid[i + 3] ? 4 : 0;
    i += v > mid[i + 1] ? 2 : 0;
    i += v > mid[i] ? 1 : 0;
    return i;
}

/* Candidate inverse scales per end of the table: the element of largest magnitude at
 * (1 + IQ4_STEP k) times the end value, k = -IQ4_STEPS..IQ4_STEPS. */
#define IQ4_STEPS 3
#define IQ4_STEP 0.04f

/* Fits x[i] ≈ scale * kvalues[L[i]] (n <= 32) under weights w, minimising the weighted squared
 * error: candidate inverse scales put the element of largest magnitude near either end of the
 * table (-127 or 113), each rounding to the nearest values gets its least-squares scale, and the
 * best is polished by rounding against its own scale until that stops helping. Writes L and
 * returns the scale (0 for an all-zero input, with every L the index of the value 1). */
static float iq4_fit(int n, const float *x, const float *w, uint8_t *L) {
    const float max = signed_absmax(x, n);
    if (!(fabsf(max) > 0)) {
        memset(L, 8, (size_t)n);
        return 0;
    }
    /* maximising sxl^2 / sl2 minimises sum w (x - scale q)^2 with scale = sxl / sl2 */
    float best_gain = -1, best_scale = 0;
    uint8_t T[32];
    for (int side = 0; side < 2; side++) {
        const float end = side ? (float)IQ4_KVALUES[15] : (float)IQ4_KVALUES[0];
        for (int k = -IQ4_STEPS; k <= IQ4_STEPS; k++) {
            const float iscale = end * (1.0f + IQ4_STEP * (float)k) / max;
            float sxl = 0, sl2 = 0;
            for (int i = 0; i < n; i++) {
                T[i] = (uint8_t)iq4_nearest(iscale * x[i]);
                const float q = (float)IQ4_KVALUES[T[i]];
                sxl += w[i] * x[i] * q;
                sl2 += w[i] * q * q;
            }
            if (sl2 > 0 && sxl * sxl / sl2 > best_gain) {
                best_gain = sxl * sxl / sl2;
                best_scale = sxl / sl2;
                memcpy(L, T, (size_t)n);
            }
        }
    }
    for (int iter = 0; iter < 4 && best_scale != 0; iter++) {
        float sxl = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            T[i] = (uint8_t)iq4_nearest(x[i] / best_scale);
            const float q = (float)IQ4_KVALUES[T[i]];
            sxl += w[i] * x[i] * q;
            sl2 += w[i] * q * q;
        }
        if (!(sl2 > 0 && sxl * sxl / sl2 > best_gain)) break;
        best_gain = sxl * sxl / sl2;
        best_scale = sxl / sl2;
        memcpy(L, T, (size_t)n);
    }
    return best_scale;
}

/* The weights of a block of n elements: sigma^2 + x^2, sigma^2 the block's mean square. */
static void iq4_weights(int n, const float *x, float *w) {
    float sum_x2 = 0;
    for (int i = 0; i < n; i++) sum_x2 += x[i] * x[i];
    const float sigma2 = sum_x2 / (float)n;
    for (int i = 0; i < n; i++) w[i] = sigma2 + x[i] * x[i];
}

/* The indices of x (n elements) against the stored scale dl: the nearest table values (the
 * value 1 everywhere when dl is 0). */
static void iq4_round(int n, const float *x, float dl, uint8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(dl != 0 ? iq4_nearest(x[i] / dl) : 8);
}

/* 32 indices into q4_0's layout: element j in the low nibble of qs[j], j + 16 in the high. */
static void iq4_pack(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)(L[j] | (L[j + QK / 2] << 4));
}

static void dequant_iq4_nl(const block_iq4_nl *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK) {
        const float d = F16(b->d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (float)IQ4_KVALUES[b->qs[j] & 0x0F];
            y[j + QK / 2] = d * (float)IQ4_KVALUES[b->qs[j] >> 4];
        }
    }
}

static void quant_iq4_nl(const float *x, block_iq4_nl *b, int64_t nb) {
    float w[QK];
    uint8_t L[QK];
    for (int64_t i = 0; i < nb; i++, b++, x += QK) {
        iq4_weights(QK, x, w);
        b->d = slm_f32_to_f16(iq4_fit(QK, x, w, L));
        iq4_round(QK, x, F16(b->d), L); /* against the scale as stored */
        iq4_pack(L, b->qs);
    }
}

/* The 6-bit scale of sub-block s of an iq4_xs block, minus 32. */
static int iq4_xs_scale(const block_iq4_xs *b, int s) {
    const int lo = (b->scales_l[s / 2] >> (4 * (s % 2))) & 0x0F, hi = (b->scales_h >> (2 * s)) & 3;
    return (lo | (hi << 4)) - 32;
}

static void dequant_iq4_xs(const block_iq4_xs *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d);
        for (int s = 0; s < QK_K / QK; s++, y += QK) {
            const float dl = d * (float)iq4_xs_scale(b, s);
            const uint8_t *qs = b->qs + 16 * s;
            for (int j = 0; j < QK / 2; j++) {
                y[j] = dl * (float)IQ4_KVALUES[qs[j] & 0x0F];
                y[j + QK / 2] = dl * (float)IQ4_KVALUES[qs[j] >> 4];
            }
        }
    }
}

/* Weighted squared error of x (n elements) ≈ dl * kvalues[nearest(x / dl)]. */
static float iq4_error(int n, const float *x, const float *w, float dl) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        const float e = dl != 0 ? dl * (float)IQ4_KVALUES[iq4_nearest(x[i] / dl)] - x[i] : x[i];
        err += w[i] * e * e;
    }
    return err;
}

/* The super-block scale of iq4_xs as a half, from the 8 fitted sub-block scales: the largest
 * in magnitude over -32 (rounded away from zero, f16_scale), or one of the next 3 halves away from
 * zero when its multiples fit the scales better (sum of squared differences; this matters where d
 * is a coarse subnormal half). */
static uint16_t iq4_xs_super_scale(const float *scales) {
    const uint16_t h0 = f16_scale(signed_absmax(scales, QK_K / QK) / -32);
    uint16_t best_h = h0;
    float best = INFINITY;
    for (int k = 0; k < 4 && (h0 & 0x7FFF) + k <= 0x7BFF; k++) {
        const float d = F16((uint16_t)(h0 + k));
        if (d == 0) break;
        float err = 0;
        for (int s = 0; s < QK_K / QK; s++) {
            const float e = scales[s] - d * (float)round_clamp(scales[s] / d, -32, 31);
            err += e * e;
        }
        if (err < best) best = err, best_h = (uint16_t)(h0 + k);
    }
    return best_h;
}

static void quant_iq4_xs(const float *x, block_iq4_xs *b, int64_t nb) {
    float w[QK_K], scales[QK_K / QK];
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, b++, x += QK_K) {
        iq4_weights(QK_K, x, w);
        for (int s = 0; s < QK_K / QK; s++) scales[s] = iq4_fit(QK, x + QK * s, w + QK * s, L + QK * s);
        /* 6-bit signed sub-block scales: the largest in magnitude maps to -32 */
        b->d = iq4_xs_super_scale(scales);
        const float d = F16(b->d);
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int s = 0; s < QK_K / QK; s++) {
            const float *xs = x + QK * s, *ws = w + QK * s;
            const int ls0 = d != 0 ? round_clamp(scales[s] / d, -32, 31) : 0;
            int ls = ls0;
            float best = iq4_error(QK, xs, ws, d * (float)ls0);
            for (int t = ls0 - 1; t <= ls0 + 1; t += 2) { /* a neighbour may fit better once rounded */
                if (t < -32 || t > 31) continue;
                const float err = iq4_error(QK, xs, ws, d * (float)t);
                if (err < best) best = err, ls = t;
            }
            b->scales_l[s / 2] |= (uint8_t)(((ls + 32) & 0x0F) << (4 * (s % 2)));
            b->scales_h |= (uint16_t)(((ls + 32) >> 4) << (2 * s));
            iq4_round(QK, xs, d * (float)ls, L + QK * s);
            iq4_pack(L + QK * s, b->qs + 16 * s);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * q8_K: the activation format of the K-quant dot products; d is a float, q in [-127, 127]
 * (so that a product of two quants never needs -128), bsums[i] = sum of q[16i .. 16i + 15]. */

static void dequant_q8_K(const block_q8_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = b->d * (float)b->qs[j];
}

void quantize_row_q8_K(const float *x, block_q8_K *b, int64_t n) {
    assert(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, b++, x += QK_K) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(x[j]));
        b->d = amax / 127;
        for (int j = 0; j < QK_K; j++) b->qs[j] = (int8_t)(b->d != 0 ? round_clamp(x[j] / b->d, -127, 127) : 0);
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b->qs[16 * g + j];
            b->bsums[g] = (int16_t)sum;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch */

bool quant_type_supported(slm_type type) {
    switch (type) {
    case SLM_TYPE_F32: case SLM_TYPE_F16: case SLM_TYPE_BF16:
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_0: case SLM_TYPE_Q5_1:
    case SLM_TYPE_Q8_0: case SLM_TYPE_Q8_1:
    case SLM_TYPE_Q2_K: case SLM_TYPE_Q3_K: case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K:
    case SLM_TYPE_Q6_K: case SLM_TYPE_Q8_K: case SLM_TYPE_IQ4_NL: case SLM_TYPE_IQ4_XS:
        return true;
    default:
        return false;
    }
}

void dequantize_row(slm_type type, const void *src, float *dst, int64_t n) {
    assert(quant_type_supported(type));
    const int64_t nb = n / slm_type_info(type)->block_elems;
    assert(nb * slm_type_info(type)->block_elems == n);
    switch (type) {
    case SLM_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case SLM_TYPE_F16: dequant_f16(src, dst, n); break;
    case SLM_TYPE_BF16: dequant_bf16(src, dst, n); break;
    case SLM_TYPE_Q4_0: dequant_q4_0(src, dst, nb); break;
    case SLM_TYPE_Q4_1: dequant_q4_1(src, dst, nb); break;
    case SLM_TYPE_Q5_0: dequant_q5_0(src, dst, nb); break;
    case SLM_TYPE_Q5_1: dequant_q5_1(src, dst, nb); break;
    case SLM_TYPE_Q8_0: dequant_q8_0(src, dst, nb); break;
    case SLM_TYPE_Q8_1: dequant_q8_1(src, dst, nb); break;
    case SLM_TYPE_Q2_K: dequant_q2_K(src, dst, nb); break;
    case SLM_TYPE_Q3_K: dequant_q3_K(src, dst, nb); break;
    case SLM_TYPE_Q4_K: dequant_q4_K(src, dst, nb); break;
    case SLM_TYPE_Q5_K: dequant_q5_K(src, dst, nb); break;
    case SLM_TYPE_Q6_K: dequant_q6_K(src, dst, nb); break;
    case SLM_TYPE_Q8_K: dequant_q8_K(src, dst, nb); break;
    case SLM_TYPE_IQ4_NL: dequant_iq4_nl(src, dst, nb); break;
    case SLM_TYPE_IQ4_XS: dequant_iq4_xs(src, dst, nb); break;
    default: break;
    }
}

void quantize_row(slm_type type, const float *src, void *dst, int64_t n) {
    assert(quant_type_supported(type));
    const int64_t nb = n / slm_type_info(type)->block_elems;
    assert(nb * slm_type_info(type)->block_elems == n);
    switch (type) {
    case SLM_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case SLM_TYPE_F16: quant_f16(src, dst, n); break;
    case SLM_TYPE_BF16: quant_bf16(src, dst, n); break;
    case SLM_TYPE_Q4_0: quant_q4_0(src, dst, nb); break;
    case SLM_TYPE_Q4_1: quant_q4_1(src, dst, nb); break;
    case SLM_TYPE_Q5_0: quant_q5_0(src, dst, nb); break;
    case SLM_TYPE_Q5_1: quant_q5_1(src, dst, nb); break;
    case SLM_TYPE_Q8_0: quant_q8_0(src, dst, nb); break;
    case SLM_TYPE_Q8_1: quant_q8_1(src, dst, nb); break;
    case SLM_TYPE_Q2_K: quant_q2_K(src, dst, nb); break;
    case SLM_TYPE_Q3_K: quant_q3_K(src, dst, nb); break;
    case SLM_TYPE_Q4_K: quant_q4_K(src, dst, nb); break;
    case SLM_TYPE_Q5_K: quant_q5_K(src, dst, nb); break;
    case SLM_TYPE_Q6_K: quant_q6_K(src, dst, nb); break;
    case SLM_TYPE_Q8_K: quantize_row_q8_K(src, dst, n); break;
    case SLM_TYPE_IQ4_NL: quant_iq4_nl(src, dst, nb); break;
    case SLM_TYPE_IQ4_XS: quant_iq4_xs(src, dst, nb); break;
    default: break;
    }
}
