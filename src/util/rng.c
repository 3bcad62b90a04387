/* xoshiro256** (Blackman & Vigna 2018) with splitmix64 seeding. */
#include "gradscope/rng.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

#include "util/normal_avx.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void gs_rng_seed(GsRng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

/* One xoshiro256** step, inlined into the bulk fill below. */
static inline uint64_t next_u64(GsRng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static inline double next_uniform(GsRng *rng)
{
    return (double)(next_u64(rng) >> 11) * 0x1.0p-53;
}

uint64_t gs_rng_u64(GsRng *rng)
{
    return next_u64(rng);
}

double gs_rng_uniform(GsRng *rng)
{
    return next_uniform(rng);
}

uint64_t gs_rng_below(GsRng *rng, uint64_t n)
{
    assert(n > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = gs_rng_u64(rng);
    } while (x >= limit);
    return x % n;
}

/* The Box-Muller transform of u1 in (0, 1] and u2 (the AVX path, util/normal_avx.c, makes
 * the same IEEE operations four at a time). */
static inline double box_muller(double u1, double u2)
{
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double gs_rng_normal(GsRng *rng)
{
    /* 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - next_uniform(rng);
    double u2 = next_uniform(rng);
    return box_muller(u1, u2);
}

void gs_rng_normal_fill(GsRng *rng, double *out, size_t n)
{
    enum { CHUNK = 256 };
    double u1[CHUNK], u2[CHUNK];
#if GS_HAVE_NORMAL_AVX
    const int vec = __builtin_cpu_supports("avx");
#else
    const int vec = 0;
#endif
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK, done = 0;
        /* the uniforms in gs_rng_normal's order: u1 then u2, deviate by deviate */
        GsRng r = *rng; /* a local copy keeps the state in registers */
        for (size_t i = 0; i < m; i++) {
            u1[i] = 1.0 - next_uniform(&r);
            u2[i] = next_uniform(&r);
        }
        *rng = r;
#if GS_HAVE_NORMAL_AVX
        if (vec) {
            done = m - m % 4;
            gs_box_muller_avx(out + at, u1, u2, done);
        }
#else
        (void)vec;
#endif
        for (size_t i = done; i < m; i++)
            out[at + i] = box_muller(u1[i], u2[i]);
    }
}

uint64_t gs_rng_derive(uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    return splitmix64(&x);
}
