/* qdot_q41_body.h — the q4_1 / q5_1 row kernels of qdot_q41.c, written once and included there
 * once per instruction set: Q41_TARGET (the target attribute), Q41_VNNI (1: the block products
 * with VPDPBUSD and the 5th bits with a mask register, AVX-512 VL/BW/VNNI on 256-bit registers;
 * 0: AVX2), Q41_MAX (inputs per weight load) and Q41(name) (the instruction set's names). No
 * include guard: it is meant to be included twice. */

#define Q41_INLINE __attribute__((target(Q41_TARGET), always_inline)) static inline

/* The 32 unsigned weights of the block at w. */
Q41_INLINE __m256i Q41(weights)(const bool q5, const uint8_t *w) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(w + QS_AT(q5))));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0xF));
    if (!q5) return q;
    uint32_t qh;
    memcpy(&qh, w + offsetof(block_q5_1, qh), 4);
#if Q41_VNNI
    return _mm256_mask_add_epi8(q, (__mmask32)qh, q, _mm256_set1_epi8(0x10));
#else
    return _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(w + offsetof(block_q5_1, qh)), _mm256_set1_epi8(0x10)));
#endif
}

/* The {d, m} halves of the 8 blocks of a group at w in the order 0, 1, 4, 5, 2, 3, 6, 7: a block's
 * pair lands in lane (its offset - the load's) / 4 of a 32-byte load, so a few loads blended put
 * all 8 in distinct lanes (two per load where the blocks' stride allows), and a permutation orders
 * them. Every load lies within the group. */
Q41_INLINE __m256i Q41(group_dm)(const bool q5, const uint8_t *w) {
#define LOAD(at) _mm256_loadu_si256((const __m256i *)(w + (at)))
    __m256i v = LOAD(0); /* blocks 0 (lane 0) and 1 (lane 5, or 6 for q5_1) */
    if (!q5) {           /* 20-byte blocks: lanes 0..7 hold blocks 0, 2, 4, 6, 7, 1, 3, 5 */
        v = _mm256_blend_epi32(v, LOAD(36), 0x42);
        v = _mm256_blend_epi32(v, LOAD(72), 0x84);
        v = _mm256_blend_epi32(v, LOAD(108), 0x08);
        v = _mm256_blend_epi32(v, LOAD(124), 0x10);
        return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 5, 2, 7, 1, 6, 3, 4));
    }
    /* 24-byte blocks: lanes 0..7 hold blocks 0, 2, 4, 5, 6, 7, 1, 3 */
    v = _mm256_blend_epi32(v, LOAD(44), 0x82);
    v = _mm256_blend_epi32(v, LOAD(88), 0x04);
    v = _mm256_blend_epi32(v, LOAD(108), 0x08);
    v = _mm256_blend_epi32(v, LOAD(128), 0x10);
    v = _mm256_blend_epi32(v, LOAD(148), 0x20);
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 6, 2, 3, 1, 7, 4, 5));
#undef LOAD
}

/* The group of the cnt (1..8) blocks at w, unpacked (missing blocks are zeros). */
Q41_INLINE void Q41(unpack)(const bool q5, const uint8_t *w, const int cnt, q41_unpacked *u) {
    for (int i = 0; i < GROUP; i++) u->q[i] = i < cnt ? Q41(weights)(q5, w + (size_t)i * BLOCK_BYTES(q5)) : _mm256_setzero_si256();
    __m256i dm;
    if (cnt == GROUP) dm = Q41(group_dm)(q5, w);
    else {
        uint32_t t[GROUP];
        tail_dm(q5, w, cnt, t);
        dm = _mm256_loadu_si256((const __m256i *)t);
    }
    u->fa = _mm256_cvtph_ps(_mm256_castsi256_si128(dm));
    u->fb = _mm256_cvtph_ps(_mm256_extracti128_si256(dm, 1));
}

/* The group of the first cnt blocks of a row's group, unpacked (cnt a variable: for the tail
 * of a row unpacked once for a batch). */
Q41_INLINE void Q41(unpack_any)(const bool q5, const uint8_t *w, int cnt, q41_unpacked *u) {
    switch (cnt) {
    case 1: Q41(unpack)(q5, w, 1, u); break;
    case 2: Q41(unpack)(q5, w, 2, u); break;
    case 3: Q41(unpack)(q5, w, 3, u); break;
    case 4: Q41(unpack)(q5, w, 4, u); break;
    case 5: Q41(unpack)(q5, w, 5, u); break;
    case 6: Q41(unpack)(q5, w, 6, u); break;
    case 7: Q41(unpack)(q5, w, 7, u); break;
    default: Q41(unpack)(q5, w, GROUP, u); break;
    }
}

/* The 8 block values v_b of a group (cnt blocks, u) against one input: its q8_0 blocks a, their
 * expanded scales sc and their sums su (all at the group's first block), as
 * [v0, v1, v2, v3 | v4, v5, v6, v7]. */
Q41_INLINE __m256 Q41(group_values)(const q41_unpacked *u, const block_q8_0 *a, const float *sc, const int16_t *su,
                                     const int cnt) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p[GROUP]; /* lane j: the products of elements 4j .. 4j+3 */
    for (int i = 0; i < GROUP; i++) {
        if (i >= cnt) { /* past the row's end: nothing to read */
            p[i] = _mm256_setzero_si256();
            continue;
        }
        const __m256i ai = _mm256_loadu_si256((const __m256i *)a[i].qs);
#if Q41_VNNI
        p[i] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u->q[i], ai);
#else
        p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(u->q[i], ai), ones);
#endif
    }
    /* pairs of lanes, then fours (every partial sum fits 16 bits): per 128-bit half, the sums of
       blocks 0..3 in l0 and of blocks 4..7 in l1; then the halves added */
    __m256i h[4];
    for (int i = 0; i < 4; i++) h[i] = _mm256_madd_epi16(_mm256_packs_epi32(p[2 * i], p[2 * i + 1]), ones);
    const __m256i l0 = _mm256_madd_epi16(_mm256_packs_epi32(h[0], h[1]), ones);
    const __m256i l1 = _mm256_madd_epi16(_mm256_packs_epi32(h[2], h[3]), ones);
    const __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(l0, l1, 0x20), _mm256_permute2x128_si256(l0, l1, 0x31));
    /* sa, and [da, da] of blocks 0, 1, 4, 5 (da_a) and 2, 3, 6, 7 (da_b) */
    __m256i sa;
    __m256 da_a, da_b;
    if (cnt == GROUP) {
        sa = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)su));
        /* 8 floats from sc + o hold block (o + lane) / 8's scale in each lane */
        da_a = _mm256_blend_ps(_mm256_loadu_ps(sc + 6), _mm256_loadu_ps(sc + 34), 0xF0);
        da_b = _mm256_blend_ps(_mm256_loadu_ps(sc + 22), _mm256_loadu_ps(sc + 50), 0xF0);
    } else {
        int32_t ts[GROUP];
        float td[GROUP];
        for (int i = 0; i < GROUP; i++) ts[i] = i < cnt ? su[i] : 0, td[i] = i < cnt ? sc[8 * i] : 0.0f;
        sa = _mm256_loadu_si256((const __m256i *)ts);
        const __m256 da = _mm256_loadu_ps(td);
        da_a = _mm256_unpacklo_ps(da, da), da_b = _mm256_unpackhi_ps(da, da);
    }
    /* [S, sa] and [d·da, m·da] of blocks 0, 1, 4, 5 (a) and 2, 3, 6, 7 (b); their products' pairs
       added: v_b = (d·da)·S + (m·da)·sa */
    const __m256 ia = _mm256_cvtepi32_ps(_mm256_unpacklo_epi32(s, sa)), ib = _mm256_cvtepi32_ps(_mm256_unpackhi_epi32(s, sa));
    const __m256 xa = _mm256_mul_ps(u->fa, da_a), xb = _mm256_mul_ps(u->fb, da_b);
    return _mm256_hadd_ps(_mm256_mul_ps(xa, ia), _mm256_mul_ps(xb, ib));
}

/* acc[k] += the group of cnt blocks starting at block g0 against input k, for k < N (the group
 * from unpacked, or unpacked here from the row, prefetched ahead, when that is NULL). */
Q41_INLINE void Q41(group)(const bool q5, const uint8_t *row, const q41_unpacked *unpacked, int64_t g0, const int cnt,
                           const uint8_t *act, size_t act_stride, const float *scales, size_t scale_stride,
                           const int16_t *sums, size_t sums_stride, const int N, __m256 *acc) {
    q41_unpacked local;
    const q41_unpacked *u = unpacked ? unpacked + g0 / GROUP : &local;
    if (!unpacked) {
        const uint8_t *w = row + (size_t)g0 * BLOCK_BYTES(q5);
        prefetch_group(w);
        Q41(unpack)(q5, w, cnt, &local);
    }
    for (int k = 0; k < N; k++) {
        const block_q8_0 *a = (const block_q8_0 *)(act + (size_t)k * act_stride) + g0;
        const __m256 v = Q41(group_values)(u, a, scales + (size_t)k * scale_stride + 8 * (size_t)g0,
                                           sums + (size_t)k * sums_stride + g0, cnt);
        acc[k] = _mm256_add_ps(acc[k], v);
    }
}

/* One row of nb blocks against N (1..Q41_MAX) inputs (inlined with constant q5 and N so that
 * the accumulators stay in registers): act_stride bytes apart, their expanded scales
 * scale_stride floats and their block sums sums_stride int16 apart. */
Q41_INLINE void Q41(body)(const bool q5, const uint8_t *row, const q41_unpacked *unpacked, const uint8_t *act,
                          size_t act_stride, const float *scales, size_t scale_stride, const int16_t *sums,
                          size_t sums_stride, const int N, int64_t nb, float *out) {
    __m256 acc[Q41_MAX];
    for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_ps();
    int64_t g0 = 0;
    for (; g0 + GROUP <= nb; g0 += GROUP)
        Q41(group)(q5, row, unpacked, g0, GROUP, act, act_stride, scales, scale_stride, sums, sums_stride, N, acc);
#define Q41_TAIL(c) \
    case c: Q41(group)(q5, row, unpacked, g0, c, act, act_stride, scales, scale_stride, sums, sums_stride, N, acc); break
    switch (nb - g0) {
    Q41_TAIL(1); Q41_TAIL(2); Q41_TAIL(3); Q41_TAIL(4); Q41_TAIL(5); Q41_TAIL(6); Q41_TAIL(7);
    default: break;
    }
#undef Q41_TAIL
    for (int k = 0; k < N; k++) out[k] = hsum_ps(acc[k]);
}

/* One row against n_act inputs, Q41_MAX at a time (unpacked: the row's groups, or NULL). */
Q41_INLINE void Q41(groups)(const bool q5, const uint8_t *row, const q41_unpacked *unpacked, const uint8_t *act,
                            size_t act_stride, const float *scales, size_t scale_stride, const int16_t *sums,
                            size_t sums_stride, int n_act, int64_t nb, float *out) {
    for (int b = 0; b < n_act; b += Q41_MAX) {
        const uint8_t *a = act + (size_t)b * act_stride;
        const float *sc = scales + (size_t)b * scale_stride;
        const int16_t *su = sums + (size_t)b * sums_stride;
#define Q41_CASE(N) \
    case N: Q41(body)(q5, row, unpacked, a, act_stride, sc, scale_stride, su, sums_stride, N, nb, out + b); break
        switch (n_act - b) {
        Q41_CASE(1); Q41_CASE(2); Q41_CASE(3);
#if Q41_MAX > 4
        Q41_CASE(4); Q41_CASE(5); Q41_CASE(6); Q41_CASE(7);
#endif
        default: Q41(body)(q5, row, unpacked, a, act_stride, sc, scale_stride, su, sums_stride, Q41_MAX, nb, out + b); break;
        }
#undef Q41_CASE
    }
}

/* One row against n_act inputs: streamed for a few inputs, unpacked once for more. */
Q41_INLINE void Q41(type)(const bool q5, const uint8_t *row, const uint8_t *act, size_t act_stride, const float *scales,
                          size_t scale_stride, const int16_t *sums, size_t sums_stride, int n_act, int64_t nb,
                          float *out) {
    const int64_t ng = (nb + GROUP - 1) / GROUP;
    if (n_act <= Q41_MAX || ng > Q41_UNPACKED_GROUPS) {
        Q41(groups)(q5, row, NULL, act, act_stride, scales, scale_stride, sums, sums_stride, n_act, nb, out);
        return;
    }
    q41_unpacked unpacked[Q41_UNPACKED_GROUPS];
    for (int64_t g = 0; g < ng; g++)
        Q41(unpack_any)(q5, row + (size_t)(g * GROUP) * BLOCK_BYTES(q5), nb - g * GROUP >= GROUP ? GROUP : (int)(nb - g * GROUP),
                        unpacked + g);
    Q41(groups)(q5, row, unpacked, act, act_stride, scales, scale_stride, sums, sums_stride, n_act, nb, out);
}

/* q4_1 rows. */
__attribute__((target(Q41_TARGET))) static void Q41(q4_1)(const uint8_t *row, const uint8_t *act, size_t act_stride,
                                                          const float *scales, size_t scale_stride, const int16_t *sums,
                                                          size_t sums_stride, int n_act, int64_t nb, float *out) {
    Q41(type)(false, row, act, act_stride, scales, scale_stride, sums, sums_stride, n_act, nb, out);
}

/* q5_1 rows. */
__attribute__((target(Q41_TARGET))) static void Q41(q5_1)(const uint8_t *row, const uint8_t *act, size_t act_stride,
                                                          const float *scales, size_t scale_stride, const int16_t *sums,
                                                          size_t sums_stride, int n_act, int64_t nb, float *out) {
    Q41(type)(true, row, act, act_stride, scales, scale_stride, sums, sums_stride, n_act, nb, out);
}

/* The qdot_rows_fn of the instruction set: q4_1 / q5_1 rows against the inputs' q8_0 blocks,
 * expanded scales and block sums. */
static void Q41(rows)(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out) {
    const uint8_t *act = in->q8_0 + (size_t)first * in->q8_0_stride;
    const float *scales = (const float *)(in->scales + (size_t)first * in->scales_stride);
    const int16_t *sums = (const int16_t *)(in->sums + (size_t)first * in->sums_stride);
    const size_t scale_stride = in->scales_stride / sizeof(float), sums_stride = in->sums_stride / sizeof(int16_t);
    if (t == SLM_TYPE_Q5_1) Q41(q5_1)(row, act, in->q8_0_stride, scales, scale_stride, sums, sums_stride, n_act, in->cols / QK, out);
    else Q41(q4_1)(row, act, in->q8_0_stride, scales, scale_stride, sums, sums_stride, n_act, in->cols / QK, out);
}

#undef Q41_INLINE
