/* test_sampler.c — the sampler chain: greedy, cut-offs that leave one token, seeded draws,
 * the repetition penalty, and refused settings. */
#include <string.h>

#include "check.h"
#include "slm.h"

int main(void) {
    float logits[6] = {0.1f, 2.0f, 1.9f, -1.0f, 2.0f, 0.5f};
    slm_sampling_params p = slm_sampling_defaults();
    slm_sampler *s;
    p.temperature = 0;
    CHECK(slm_sampler_new(&p, 6, &s) == SLM_OK, "new");
    CHECK(slm_sampler_sample(s, logits, NULL, 0) == 1, "greedy picks the first maximum");
    int32_t hist[1] = {1};
    slm_sampler_free(s);
    p.repeat_penalty = 2.0f;
    slm_sampler_new(&p, 6, &s);
    CHECK(slm_sampler_sample(s, logits, hist, 1) == 4, "penalised token loses to its equal");
    slm_sampler_free(s);

    p = slm_sampling_defaults();
    p.temperature = 1.0f;
    p.top_k = 1;
    slm_sampler_new(&p, 6, &s);
    int ok = 1;
    for (int i = 0; i < 200; i++) ok &= slm_sampler_sample(s, logits, NULL, 0) == 1;
    CHECK(ok, "top-k 1 is greedy");
    slm_sampler_free(s);

    p = slm_sampling_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    slm_sampler *a, *b;
    slm_sampler_new(&p, 6, &a);
    slm_sampler_new(&p, 6, &b);
    int same = 1, counts[6] = {0};
    for (int i = 0; i < 3000; i++) {
        int x = slm_sampler_sample(a, logits, NULL, 0), y = slm_sampler_sample(b, logits, NULL, 0);
        same &= x == y;
        counts[x]++;
    }
    CHECK(same, "same seed, same draws");
    CHECK(counts[1] > counts[0] && counts[2] > counts[5] && counts[3] > 0, "draws follow the distribution");
    slm_sampler_free(a);
    slm_sampler_free(b);

    p.min_p = 0.9f; /* only tokens within 10% of the best survive: 1, 2 and 4 */
    slm_sampler_new(&p, 6, &s);
    ok = 1;
    for (int i = 0; i < 300; i++) {
        int x = slm_sampler_sample(s, logits, NULL, 0);
        ok &= x == 1 || x == 2 || x == 4;
    }
    CHECK(ok, "min-p cut");
    slm_sampler_free(s);

    p = slm_sampling_defaults();
    p.top_p = 0.0f;
    CHECK(slm_sampler_new(&p, 6, &s) != SLM_OK && strstr(slm_last_error(), "top-p"), "top-p 0 refused");
    p = slm_sampling_defaults();
    p.temperature = -1;
    CHECK(slm_sampler_new(&p, 6, &s) != SLM_OK, "negative temperature refused");
    return check_summary("test_sampler");
}
