/* Overflow-checked size arithmetic for the arena layouts of the MLP and the recurrent net. */
#ifndef GS_NN_SIZE_MATH_H
#define GS_NN_SIZE_MATH_H

#include <stddef.h>
#include <stdint.h>

/* a * b, or 0 with *ok cleared when it overflows. */
static inline size_t size_mul(size_t a, size_t b, int *ok)
{
    if (a && b > SIZE_MAX / a) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

/* a + b, or 0 with *ok cleared when it overflows. */
static inline size_t size_add(size_t a, size_t b, int *ok)
{
    if (b > SIZE_MAX - a) {
        *ok = 0;
        return 0;
    }
    return a + b;
}

#endif
