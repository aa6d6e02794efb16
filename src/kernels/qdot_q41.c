/* qdot_q41.c — q4_1 / q5_1 weight rows (x = d q + m, q unsigned 4 or 5 bits) against q8_0
 * inputs, with AVX2 and with AVX-512 VNNI. Block b's dot is v_b = d·da·S_b + m·da·sa_b, with
 * S_b = Σ q·a (integer) and sa_b = Σ a prepared per block (QDOT_SUMS).
 *
 * Blocks go in groups of 8. The integer products of a group's blocks are summed down to one
 * integer per block (packs + madd levels: every partial sum fits 16 bits), so the float work is
 * done once per 8 blocks, in lanes: [S_b, sa_b] pairs times [d_b·da_b, m_b·da_b] pairs, the two
 * products of a block added (v_b, as the scalar reference forms it), then the group's 8 v_b added
 * to one accumulator per input. The {d, m} halves of the 8 blocks and their 8 input scales come
 * from a few overlapping loads each (a gather costs more than the rest of a block).
 *
 * The AVX-512 kernel is the AVX2 one with VPDPBUSD for a block's products and a mask register
 * for the 5th bits, on 256-bit registers: on the Zen 4 this was measured on, the same kernel on
 * 512-bit registers (two blocks each) ran 1.4x slower. Both sum the same integers and take the
 * same float steps, so they give the same floats. One input and a batch run the same arithmetic
 * (one body inlined with the number of inputs), so a row's result does not depend on the batch
 * it is in; a batch's row is unpacked once when it has more inputs than share one weight load. */
#include <immintrin.h>
#include <string.h>

#include "kernels/q32_avx2.h"
#include "kernels/qdot.h"
#include "kernels/qdot_impl.h"

/* Decoding streams the weights from memory: ask for them this far ahead of use. */
#define PREFETCH_BYTES 4096
/* Blocks per group (the float work's unit). */
#define GROUP 8
/* Rows of at most this many groups are unpacked once for a batch of more inputs than share a
 * weight load (20 KiB on the stack); longer rows unpack per group of inputs. */
#define Q41_UNPACKED_GROUPS 64

/* Bytes of one block of the row type. */
#define BLOCK_BYTES(q5) ((q5) ? sizeof(block_q5_1) : sizeof(block_q4_1))
/* Offset of the quants in a block. */
#define QS_AT(q5) ((q5) ? offsetof(block_q5_1, qs) : offsetof(block_q4_1, qs))

/* A group of 8 blocks ready for the products: their 32 unsigned weights (0..15 or 0..31) each,
 * and their halves as floats: [d, m] of blocks 0, 1, 4, 5 (fa) and of blocks 2, 3, 6, 7 (fb),
 * the lane order that the unpacking of the integer sums gives. */
typedef struct {
    __m256i q[GROUP];
    __m256 fa, fb;
} q41_unpacked;

/* Asks for a group's weights (at most 192 bytes, the next group's start just after) PREFETCH_BYTES
 * ahead of use. Always inlined: a separate function of prefetches alone would be found free of
 * side effects and its calls dropped. */
__attribute__((always_inline)) static inline void prefetch_group(const uint8_t *w) {
    _mm_prefetch((const char *)w + PREFETCH_BYTES, _MM_HINT_T0);
    _mm_prefetch((const char *)w + PREFETCH_BYTES + 64, _MM_HINT_T0);
    _mm_prefetch((const char *)w + PREFETCH_BYTES + 128, _MM_HINT_T0);
}

/* The {d, m} halves of the first cnt blocks of a group at w (0 for the others), in the order
 * 0, 1, 4, 5, 2, 3, 6, 7 of q41_unpacked. Tail groups only. */
static inline void tail_dm(const bool q5, const uint8_t *w, const int cnt, uint32_t *dm) {
    static const int order[GROUP] = {0, 1, 4, 5, 2, 3, 6, 7};
    for (int j = 0; j < GROUP; j++) {
        dm[j] = 0;
        if (order[j] < cnt) memcpy(&dm[j], w + (size_t)order[j] * BLOCK_BYTES(q5), 4);
    }
}

/* ---------------------------------------------------------------- AVX2 */

#define Q41_TARGET "avx2,fma,f16c"
#define Q41_VNNI 0
#define Q41_MAX 4
#define Q41(name) q41_avx2_##name
#include "kernels/qdot_q41_body.h"
#undef Q41_TARGET
#undef Q41_VNNI
#undef Q41_MAX
#undef Q41

/* ---------------------------------------------------------------- AVX-512 VNNI */

#define Q41_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define Q41_VNNI 1
#define Q41_MAX QDOT_VNNI_MAX
#define Q41(name) q41_vnni_##name
#include "kernels/qdot_q41_body.h"
#undef Q41_TARGET
#undef Q41_VNNI
#undef Q41_MAX
#undef Q41

void qdot_q41_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    q41_avx2_rows(t, row, in, first, n_act, out);
}

void qdot_q41_vnni_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    q41_vnni_rows(t, row, in, first, n_act, out);
}
