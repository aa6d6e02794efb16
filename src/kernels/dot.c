/* dot.c — dot products per weight type (f32, f16, bf16): scalar references and AVX2+FMA+F16C
 * versions, with the choice made once from the CPU's features (SLM_NO_SIMD=1 forces the
 * references, SLM_NO_AVX512=1 keeps the AVX2 kernels on a CPU with AVX-512). */
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/qdot.h"
#include "slm.h"
#include "tensor/quants.h"

float dot_f32_scalar(const float *a, const float *b, size_t n) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

float dot_f16_scalar(const uint16_t *a, const float *b, size_t n) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += slm_f16_to_f32(a[i]) * b[i];
    return sum;
}

float dot_bf16_scalar(const uint16_t *a, const float *b, size_t n) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) sum += slm_bf16_to_f32(a[i]) * b[i];
    return sum;
}

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch((const char *)(a + i) + 2048, _MM_HINT_T0); /* weights stream from memory */
        _mm_prefetch((const char *)(a + i) + 2048 + 64, _MM_HINT_T0);
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f16_avx2(const uint16_t *a, const float *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(a + i) + 2048, _MM_HINT_T0);
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += slm_f16_to_f32(a[i]) * b[i];
    return sum;
}

/* Eight bf16 values widened to f32 exactly: zero-extended to 32 bits, shifted into the top half. */
__attribute__((target("avx2,fma"))) static inline __m256 bf16x8_to_f32(const uint16_t *p) {
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/* dot(row of bf16, x) with AVX2: two 8-lane accumulators, weights widened exactly, f32 FMAs. */
__attribute__((target("avx2,fma"))) static float dot_bf16_avx2(const uint16_t *a, const float *b, size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_prefetch((const char *)(a + i) + 2048, _MM_HINT_T0);
        acc0 = _mm256_fmadd_ps(bf16x8_to_f32(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(bf16x8_to_f32(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(bf16x8_to_f32(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += slm_bf16_to_f32(a[i]) * b[i];
    return sum;
}

typedef float (*dot_f32_fn)(const float *, const float *, size_t);
typedef float (*dot_f16_fn)(const uint16_t *, const float *, size_t);

static dot_f32_fn g_dot_f32;
static dot_f16_fn g_dot_f16;
static dot_f16_fn g_dot_bf16;
static const char *g_simd_name;

/* AVX2 + FMA + F16C, and the OS saving the YMM registers (CPUID leaves 1 and 7, XGETBV). */
static bool cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6) != 6) return false; /* XMM and YMM state enabled */
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    return b & (1u << 5); /* AVX2 */
}

/* AVX-512 F/BW/VL/DQ (and AVX2), and the OS saving the opmask and ZMM registers (XCR0 bits 5-7). */
static bool cpu_has_avx512(void) {
    if (!cpu_has_avx2()) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    if (!(f && dq && bw && vl)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    return (xcr0_lo & 0xE6) == 0xE6;
}

/* cpu_has_avx512 and AVX512_VNNI (CPUID leaf 7, ECX bit 11). */
static bool cpu_has_avx512_vnni(void) {
    if (!cpu_has_avx512()) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    return c & (1u << 11);
}

/* cpu_has_avx512 and AVX512_BF16 (CPUID leaf 7 sub-leaf 1, EAX bit 5). */
static bool cpu_has_avx512_bf16(void) {
    if (!cpu_has_avx512()) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1) return false; /* no sub-leaf 1 */
    __cpuid_count(7, 1, a, b, c, d);
    return a & (1u << 5);
}

static int g_avx512_allowed = -1; /* -1: not decided yet (SLM_NO_AVX512 decides) */

void kernels_allow_avx512(bool allow) { g_avx512_allowed = allow; }

/* Whether AVX-512 kernels may run: kernels_allow_avx512's word, else not SLM_NO_AVX512=1. */
static bool avx512_allowed(void) {
    if (g_avx512_allowed < 0) {
        const char *env = getenv("SLM_NO_AVX512");
        g_avx512_allowed = !(env && strcmp(env, "0") != 0);
    }
    return g_avx512_allowed;
}

bool kernels_avx512(void) {
    static int has = -1;
    if (has < 0) has = cpu_has_avx512();
    return has && avx512_allowed() && kernels_simd_tiles();
}

static bool g_avx512_bf16_allowed = true;

void kernels_allow_avx512_bf16(bool allow) { g_avx512_bf16_allowed = allow; }

bool kernels_avx512_bf16(void) {
    static int has = -1;
    if (has < 0) has = cpu_has_avx512_bf16();
    return has && g_avx512_bf16_allowed && kernels_avx512();
}

bool kernels_avx512_vnni(void) {
    static int has = -1;
    if (has < 0) has = cpu_has_avx512_vnni();
    return has && avx512_allowed() && kernels_simd_tiles();
}

void kernels_force_scalar(bool scalar) {
    if (!scalar && cpu_has_avx2()) {
        g_dot_f32 = dot_f32_avx2;
        g_dot_f16 = dot_f16_avx2;
        g_dot_bf16 = dot_bf16_avx2;
        g_simd_name = "avx2";
    } else {
        g_dot_f32 = dot_f32_scalar;
        g_dot_f16 = dot_f16_scalar;
        g_dot_bf16 = dot_bf16_scalar;
        g_simd_name = "scalar";
    }
}

static void ensure_selected(void) {
    if (!g_dot_f32) {
        const char *env = getenv("SLM_NO_SIMD");
        kernels_force_scalar(env && strcmp(env, "0") != 0);
    }
}

bool kernels_simd_tiles(void) {
    ensure_selected();
    return g_dot_f32 == dot_f32_avx2;
}

const char *kernels_simd_name(void) {
    ensure_selected();
    return kernels_avx512_vnni() ? "avx2+avx512vnni" : kernels_avx512() ? "avx2+avx512" : g_simd_name;
}

float dot_f32(const float *a, const float *b, size_t n) {
    ensure_selected();
    return g_dot_f32(a, b, n);
}

float dot_f16(const uint16_t *a, const float *b, size_t n) {
    ensure_selected();
    return g_dot_f16(a, b, n);
}

float dot_bf16(const uint16_t *a, const float *b, size_t n) {
    ensure_selected();
    return g_dot_bf16(a, b, n);
}

bool kernels_type_supported(slm_type type) {
    return type == SLM_TYPE_F32 || type == SLM_TYPE_F16 || type == SLM_TYPE_BF16 ||
           qdot_activation_type(type) != SLM_TYPE_F32;
}

void tensor_row_to_f32(const slm_tensor *t, int64_t r, float *out) {
    dequantize_row(t->type, slm_tensor_row(t, r), out, t->ne[0]);
}

float dot_row(const slm_tensor *w, int64_t r, const float *x) {
    const void *row = slm_tensor_row(w, r);
    size_t n = (size_t)w->ne[0];
    ensure_selected();
    switch (w->type) {
    case SLM_TYPE_F32: return g_dot_f32(row, x, n);
    case SLM_TYPE_F16: return g_dot_f16(row, x, n);
    case SLM_TYPE_BF16: return g_dot_bf16(row, x, n);
    default: return 0.0f;
    }
}

const char *slm_kernels_name(void) { return kernels_simd_name(); }
