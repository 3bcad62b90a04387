/* One pass's statistics of a float tensor (util/reduce.c computes them; the optimizer's
 * update pass returns them as part of its record). */
#ifndef GRADSCOPE_VECSTATS_H
#define GRADSCOPE_VECSTATS_H

#include <stddef.h>

/* Sum of squares in double, the largest |x| (NaN when any entry is NaN) and the count of
 * NaN/Inf entries. */
typedef struct {
    double sumsq, maxabs;
    size_t nonfinite;
} GsVecStats;

#endif
