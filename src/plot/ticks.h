/* Axis tick choice (pure, no cairo): nice linear ticks on 1/2/5 x 10^k, decade ticks for log
 * axes, integer ticks for layers and steps, and their labels. */
#ifndef GS_PLOT_TICKS_H
#define GS_PLOT_TICKS_H

#include <stddef.h>

/* Fills out[0..n) with ticks t = k*step (step in {1,2,5} x 10^j) inside [lo, hi] (either
 * order), at most max_ticks (>= 2) of them and at most cap; returns n and the step through
 * *step (may be NULL). A degenerate range (lo == hi) is widened around the value first; a
 * value of exactly 0 snaps to 0. Non-finite bounds give 0 ticks. */
size_t gs_ticks_linear(double lo, double hi, int max_ticks, double *out, size_t cap, double *step);
/* As gs_ticks_linear but the step is a whole number >= 1 (layers, training steps). */
size_t gs_ticks_int(double lo, double hi, int max_ticks, double *out, size_t cap, double *step);
/* Decade ticks for a log10 axis spanning [log_lo, log_hi]: the integers in that range whose
 * exponent is a multiple of a stride in {1,2,5} x 10^j chosen so at most max_ticks remain.
 * Returns the count (0 when the range holds no integer). */
size_t gs_ticks_decades(double log_lo, double log_hi, int max_ticks, int *out, size_t cap);
/* "10⁻³" (UTF-8 superscripts) for exponent e into buf (always NUL-terminated). */
void gs_ticks_format_pow10(int e, char *buf, size_t n);
/* Label of linear tick value v on an axis with tick step `step`: fixed decimals that show
 * the step, or "2×10⁻⁶" for very small / large magnitudes. Writes into buf. */
void gs_ticks_format(double v, double step, char *buf, size_t n);

#endif
