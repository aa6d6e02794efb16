/* matmul_float.h — the f32 / f16 / bf16 weight products of matmul.c (private to src/kernels):
 * rows of one job times every input, in tiles with the selected instruction set. */
#ifndef SLM_KERNELS_MATMUL_FLOAT_H
#define SLM_KERNELS_MATMUL_FLOAT_H
#include "kernels/kernels.h"
#include "kernels/qdot.h"

/* Rows [lo, hi) of job->w (f32, f16 or bf16) times the n_tok inputs x (ld_x floats apart), into
 * the job's outputs; bf16 weights read the inputs rounded to bf16 instead (in's QDOT_BF16 form;
 * in is unused for other weights). Every output sums in one order whatever n_tok and [lo, hi),
 * so an input gets the same floats alone or in a batch. */
void matmul_float_rows(const matmul_job *job, const float *x, const qdot_inputs *in, int n_tok, int ld_x, int64_t lo,
                       int64_t hi);

#endif
