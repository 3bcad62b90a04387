/* Seeded pseudo-random numbers (xoshiro256**): the only source of randomness, so that a
 * setup and a seed give the same data, weights and batches on every machine. */
#ifndef GRADSCOPE_RNG_H
#define GRADSCOPE_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Generator state; plain value, copy it to fork a stream. */
typedef struct {
    uint64_t s[4];
} GsRng;

/* Seeds the state from one 64-bit value (splitmix64 expansion). Cannot fail. */
void gs_rng_seed(GsRng *rng, uint64_t seed);
/* Next raw 64-bit output. */
uint64_t gs_rng_u64(GsRng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double gs_rng_uniform(GsRng *rng);
/* Uniform integer in [0, n); n must be > 0 (unbiased, rejection sampling). */
uint64_t gs_rng_below(GsRng *rng, uint64_t n);
/* Standard normal deviate (Box-Muller on two uniforms; no cached state). */
double gs_rng_normal(GsRng *rng);
/* n standard normal deviates from the same uniforms, in the same order, as n calls of
 * gs_rng_normal (so the generator ends in the same state), transformed four at a time with
 * SLEEF's vector log and cos (1 ulp) where the CPU has AVX: each deviate is within a few ulp
 * of gs_rng_normal's (bit-identical in float, but for the rare double that lies that close
 * to a float rounding boundary), and the same on every run of one machine. For the weight
 * initializations, where millions of deviates would otherwise dominate a run's start-up.
 * Cannot fail. */
void gs_rng_normal_fill(GsRng *rng, double *out, size_t n);
/* Derives an independent seed for a named sub-stream (data, init, batches, ...). */
uint64_t gs_rng_derive(uint64_t seed, uint64_t stream);

#endif
