/* qdot_impl.h — the quantised kernels of each instruction set, as qdot.c's dispatch table
 * names them (private to src/kernels). Each is a qdot_rows_fn; the comment says which weight
 * types it takes and which input forms it reads. */
#ifndef SLM_KERNELS_QDOT_IMPL_H
#define SLM_KERNELS_QDOT_IMPL_H
#include "kernels/qdot.h"

/* Every type, scalar (qdot_ref.c): q8_0 or q8_K inputs. */
void qdot_ref_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);

/* AVX2 (qdot_avx2.c): q4_0 / q5_0 / q8_0 / iq4_nl rows (QDOT_Q8_0 | QDOT_SCALES); q4_K / q6_K rows
 * (QDOT_Q8_K). */
void qdot_q32_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_k_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
/* One q4_K / q6_K row of n elements against one q8_K input (the AVX2 kernel with one input,
 * which the AVX-512 kernels use for one input: it decodes faster here, and gives their floats). */
float qdot_k_avx2_one(slm_type t, const void *row, const void *act, int64_t n);

/* AVX-512 VNNI (qdot_vnni.c): q4_0 / q5_0 / q8_0 / iq4_nl rows (QDOT_PAIRS). Up to
 * QDOT_VNNI_MAX inputs share each weight load. */
#define QDOT_VNNI_MAX 8
void qdot_q32_vnni_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_q32_vnni_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs);

/* q4_1 / q5_1 rows (qdot_q41.c, QDOT_Q8_0 | QDOT_SCALES | QDOT_SUMS): AVX2, up to 4 inputs per
 * weight load; AVX-512 VNNI (on 256-bit registers), up to QDOT_VNNI_MAX; the same floats. */
void qdot_q41_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_q41_vnni_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);

/* AVX-512 BW (qdot_k_avx512.c): q4_K / q6_K rows (QDOT_Q8_K), bit-identical to the AVX2 ones. */
void qdot_k_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_k_avx512_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs);

/* AVX-512 VNNI over 16 rows at once, a row per lane (qdot_rows16.c): q4_0 / q4_1 / q5_0 / q5_1 /
 * q8_0 / iq4_nl rows (QDOT_Q8_0 | QDOT_INFO). */
void qdot_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                      int n_act, float *const *outs);

/* AVX-512 VNNI over 16 rows at once, a row per lane (qdot_k_rows16.c): q3_K / q4_K / q5_K / q6_K rows
 * (QDOT_Q8_K). */
void qdot_k_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_k_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                        int n_act, float *const *outs);

/* AVX-512 VNNI over 16 rows at once, a row per lane (qdot_iq4_rows16.c): iq4_xs rows (QDOT_Q8_K). */
void qdot_iq4_rows16_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_iq4_rows16_many(slm_type t, const void *row0, size_t row_bytes, int n_rows, const qdot_inputs *in, int first,
                          int n_act, float *const *outs);

/* iq4_xs rows (qdot_iq4.c, QDOT_Q8_K): AVX2, and AVX-512 BW + VNNI, bit-identical to each other. */
void qdot_iq4_xs_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_iq4_xs_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);

/* AVX2 and AVX-512 VNNI (qdot_k_more.c): q2_K / q3_K / q5_K rows (QDOT_Q8_K), giving the scalar
 * reference's floats (its float steps on exact block totals). Up to 4 (AVX2) / 8 (AVX-512) inputs
 * share each weight load. */
void qdot_k_more_avx2_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);
void qdot_k_more_avx512_rows(slm_type t, const void *row, const qdot_inputs *in, int first, int n_act, float *out);

#endif
