/* Binning of recorded steps into pixel columns (pure, no cairo). A bin keeps alarms visible:
 * NaN beats +Inf beats -Inf beats the mode's reduction (see GsBinMode in gradscope/plot.h). */
#ifndef GS_PLOT_BIN_H
#define GS_PLOT_BIN_H

#include <stddef.h>

#include "gradscope/plot.h"

/* Number of columns n items occupy when at most max_cols are available: min(n, max_cols). */
size_t gs_bin_count(size_t n, size_t max_cols);
/* Items [*first, *end) that fall into column col of n_cols over n items (n_cols <= n):
 * contiguous, every item in exactly one column, sizes differing by at most one. */
void gs_bin_span(size_t n, size_t n_cols, size_t col, size_t *first, size_t *end);
/* Reduces v[0..n) (n >= 1) by mode with the NaN > +Inf > -Inf precedence, leaving out the
 * trace's missing marker (all missing: missing). GMEAN is computed
 * in log space and is 0 when any value is <= 0 (the geometric mean of a product with a zero
 * factor; negative values have no geometric mean and fall in the same "<= 0" class). */
double gs_bin_reduce(const double *v, size_t n, GsBinMode mode);
/* Bins v[0..n) into out[0..gs_bin_count(n, max_cols)); returns that count. With n <=
 * max_cols out is a copy of v. Cannot fail. */
size_t gs_bin_row(const double *v, size_t n, size_t max_cols, GsBinMode mode, double *out);

#endif
