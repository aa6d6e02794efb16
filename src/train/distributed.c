/* distributed.c — data parallelism across processes: the only file that speaks MPI. Built with
 * MPI when CMake found it (SLM_HAVE_MPI), as a single-process stub otherwise. MPI is started
 * only when the process was launched by mpirun (OpenMPI / PMI environment variables). */
#include <stdint.h>
#include <stdlib.h>

#include "base/error.h"
#include "slm.h"

#ifdef SLM_HAVE_MPI
#include <mpi.h>

static int g_started, g_rank, g_size = 1;

/* Whether a launcher (mpirun, srun) started this process. */
static int launched_by_mpirun(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

slm_status slm_dist_init(int *argc, char ***argv) {
    if (g_started || !launched_by_mpirun()) return SLM_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS) return slm_error(SLM_ERR_IO, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_started = 1;
    return SLM_OK;
}

int slm_dist_rank(void) { return g_rank; }
int slm_dist_size(void) { return g_size; }

slm_status slm_dist_allreduce_sum(float *x, size_t n) {
    if (g_size <= 1) return SLM_OK;
    /* in place, in pieces that fit MPI's int counts */
    for (size_t off = 0; off < n;) {
        const size_t piece = n - off < (size_t)1 << 30 ? n - off : (size_t)1 << 30;
        if (MPI_Allreduce(MPI_IN_PLACE, x + off, (int)piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return slm_error(SLM_ERR_IO, "MPI_Allreduce of %zu floats failed", piece);
        off += piece;
    }
    return SLM_OK;
}

void slm_dist_barrier(void) {
    if (g_started) MPI_Barrier(MPI_COMM_WORLD);
}

void slm_dist_abort(int code) {
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

void slm_dist_finalize(void) {
    if (!g_started) return;
    MPI_Finalize();
    g_started = 0;
    g_rank = 0;
    g_size = 1;
}

#else /* one process */

slm_status slm_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return SLM_OK;
}
int slm_dist_rank(void) { return 0; }
int slm_dist_size(void) { return 1; }
slm_status slm_dist_allreduce_sum(float *x, size_t n) {
    (void)x, (void)n;
    return SLM_OK;
}
void slm_dist_barrier(void) {}
void slm_dist_abort(int code) { (void)code; }
void slm_dist_finalize(void) {}

#endif
