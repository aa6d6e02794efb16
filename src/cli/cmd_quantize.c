/* cmd_quantize.c — `slm quantize`: re-encode a GGUF model's weights to a quantised type. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "slm.h"

static const char *USAGE =
    "usage: slm quantize [options] IN.gguf OUT.gguf TYPE\n\n"
    "Writes OUT.gguf with the weight matrices of IN.gguf as TYPE: q8_0, q6_K, q5_K, q4_K, q3_K, q2_K,\n"
    "q5_1, q5_0, q4_1, q4_0, iq4_xs, iq4_nl, f16, bf16 or f32. Norms and biases stay f32; a matrix\n"
    "whose rows do not fit TYPE's 256-element blocks takes q5_0 (q4_K), q5_1 (q5_K), q8_0 (q6_K),\n"
    "iq4_nl (iq4_xs) or q4_0 instead.";

static void show_progress(const char *tensor, int done, int total, void *user) {
    (void)user;
    fprintf(stderr, "\r[%d/%d] %-40s", done + 1, total, tensor);
}

int cmd_quantize(int argc, char **argv) {
    int quiet = 0;
    const opt_spec specs[] = {{"-q", "--quiet", OPT_FLAG, &quiet, "no progress output"}};
    const char *pos[3];
    int n_pos;
    int rc = args_parse(argc, argv, specs, 1, pos, 3, &n_pos, USAGE);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 3) {
        fprintf(stderr, "error: give IN.gguf OUT.gguf TYPE (see slm quantize --help)\n");
        return 2;
    }
    double t0 = slm_time_seconds();
    slm_status st = slm_quantize_gguf(pos[0], pos[1], pos[2], quiet ? NULL : show_progress, NULL);
    if (!quiet) fprintf(stderr, "\n");
    if (st != SLM_OK) {
        fprintf(stderr, "error: %s\n", slm_last_error());
        return st == SLM_ERR_INVALID_ARG ? 2 : 1;
    }
    fprintf(stderr, "wrote %s (%s) in %.1f s\n", pos[1], pos[2], slm_time_seconds() - t0);
    return 0;
}
