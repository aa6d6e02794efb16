/* rng.h — a small deterministic random number generator (xorshift64*, seeded by splitmix64). */
#ifndef SLM_BASE_RNG_H
#define SLM_BASE_RNG_H
#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
} slm_rng;

/* Seeds the generator; every seed (0 included) gives a distinct, valid stream. */
static inline void slm_rng_seed(slm_rng *rng, uint64_t seed) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    rng->state = z ? z : 0x2545f4914f6cdd1dull;
}
/* The next 64 random bits. */
static inline uint64_t slm_rng_u64(slm_rng *rng) {
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 0x2545f4914f6cdd1dull;
}
/* A uniform float in [0, 1). */
static inline float slm_rng_f32(slm_rng *rng) { return (float)(slm_rng_u64(rng) >> 40) / 16777216.0f; }
/* A standard normal draw (Box-Muller, one value per two uniforms). */
static inline float slm_rng_normal(slm_rng *rng) {
    float u1 = slm_rng_f32(rng), u2 = slm_rng_f32(rng);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

#endif
