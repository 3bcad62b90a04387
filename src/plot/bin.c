/* Binning steps into pixel columns: alarms (NaN, Inf) survive any reduction so that one bad
 * step is never averaged away on a wide trace. */
#include "plot/bin.h"

#include <assert.h>
#include <math.h>

#include "gradscope/trace.h"

size_t gs_bin_count(size_t n, size_t max_cols)
{
    return n < max_cols ? n : max_cols;
}

void gs_bin_span(size_t n, size_t n_cols, size_t col, size_t *first, size_t *end)
{
    assert(n_cols >= 1 && n_cols <= n && col < n_cols);
    /* floor(col * n / n_cols) without overflow for the sizes we see (n < 2^32) */
    *first = (size_t)(((unsigned long long)col * n) / n_cols);
    *end = (size_t)(((unsigned long long)(col + 1) * n) / n_cols);
}

double gs_bin_reduce(const double *v, size_t n, GsBinMode mode)
{
    assert(n >= 1);
    int any_pinf = 0, any_ninf = 0, any_nonpos = 0;
    size_t used = 0;
    double mx = -INFINITY, mn = INFINITY, logsum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (gs_trace_is_missing(x))
            continue; /* "no value" is not data: the bin is what the other steps say */
        used++;
        if (isnan(x))
            return NAN;
        if (isinf(x)) {
            if (x > 0)
                any_pinf = 1;
            else
                any_ninf = 1;
            continue;
        }
        if (x > mx)
            mx = x;
        if (x < mn)
            mn = x;
        if (x <= 0.0)
            any_nonpos = 1;
        else
            logsum += log(x);
    }
    if (!used)
        return gs_trace_missing();
    if (any_pinf)
        return INFINITY;
    if (any_ninf)
        return -INFINITY;
    switch (mode) {
    case GS_BIN_MAX: return mx;
    case GS_BIN_MIN: return mn;
    case GS_BIN_GMEAN: break;
    }
    if (any_nonpos)
        return mn < 0.0 ? mn : 0.0;
    return exp(logsum / (double)used);
}

size_t gs_bin_row(const double *v, size_t n, size_t max_cols, GsBinMode mode, double *out)
{
    size_t nc = gs_bin_count(n, max_cols);
    if (nc == n) {
        for (size_t i = 0; i < n; i++)
            out[i] = v[i];
        return n;
    }
    for (size_t c = 0; c < nc; c++) {
        size_t a, b;
        gs_bin_span(n, nc, c, &a, &b);
        out[c] = gs_bin_reduce(v + a, b - a, mode);
    }
    return nc;
}
