/* Reductions of float arrays accumulated in double (DESIGN.md: norms and sums in double),
 * vectorized in fixed lanes so the result does not depend on the CPU's vector width. */
#ifndef GS_UTIL_REDUCE_H
#define GS_UTIL_REDUCE_H

#include <stddef.h>

/* Sum of x[i]^2 over n entries, each square and sum in double; NaN/Inf propagate. */
double gs_sumsq(const float *x, size_t n);
/* Sum of x[i] over n entries in double. */
double gs_sum(const float *x, size_t n);

#endif
