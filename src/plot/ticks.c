/* Tick choice: the classic "nice number" rule (1, 2, 5 times a power of ten) and decade ticks
 * for log axes, plus labels using Unicode superscripts (DejaVu Sans has them). */
#include "plot/ticks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Smallest 1/2/5 x 10^k that is >= x (x > 0 and finite). */
static double nice_ceil(double x)
{
    double e = floor(log10(x));
    double p = pow(10.0, e);
    /* guard against log10 rounding putting x just below p */
    if (x / p < 1.0) {
        e -= 1.0;
        p = pow(10.0, e);
    }
    double m = x / p;
    double f = m <= 1.0 ? 1.0 : (m <= 2.0 ? 2.0 : (m <= 5.0 ? 5.0 : 10.0));
    return f * p;
}

/* Next larger nice number after a nice number s. */
static double nice_next(double s)
{
    double e = floor(log10(s) + 1e-9);
    double m = s / pow(10.0, e);
    if (m < 1.5)
        return 2.0 * pow(10.0, e);
    if (m < 3.5)
        return 5.0 * pow(10.0, e);
    return pow(10.0, e + 1.0);
}

/* The next smaller 1-2-5 step. */
static double nice_prev(double s)
{
    double e = floor(log10(s) + 1e-9), p = pow(10.0, e), m = s / p;
    if (m >= 4.9)
        return 2.0 * p;
    if (m >= 1.9)
        return p;
    return 0.5 * p;
}

static size_t fill(double lo, double hi, double s, double *out, size_t cap)
{
    double k0 = ceil(lo / s - 1e-9);
    double k1 = floor(hi / s + 1e-9);
    size_t n = 0;
    for (double k = k0; k <= k1 && n < cap; k += 1.0) {
        double v = k * s;
        out[n++] = k == 0.0 ? 0.0 : v;
    }
    return n;
}

static size_t ticks(double lo, double hi, int max_ticks, double min_step, double *out, size_t cap,
                    double *step)
{
    if (!isfinite(lo) || !isfinite(hi) || max_ticks < 2 || cap == 0)
        return 0;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == hi) {
        double d = lo == 0.0 ? 1.0 : fabs(lo) * 0.1;
        if (d < min_step)
            d = min_step;
        lo -= d;
        hi += d;
    }
    /* span/(n-1) computed without forming hi-lo, which can overflow for huge ranges */
    double raw = hi / (max_ticks - 1) - lo / (max_ticks - 1);
    if (!(raw > 0.0))
        raw = fabs(hi) > 0.0 ? fabs(hi) * 1e-15 : 1e-300;
    double s = nice_ceil(raw);
    if (s < min_step)
        s = min_step;
    if (!isfinite(s))
        return 0;
    /* alignment to multiples of s can add one tick over the limit: step up until it fits */
    size_t n;
    for (;;) {
        double k0 = ceil(lo / s - 1e-9), k1 = floor(hi / s + 1e-9);
        if (k1 - k0 + 1.0 <= (double)max_ticks)
            break;
        s = nice_next(s);
    }
    n = fill(lo, hi, s, out, cap);
    /* an axis keeps at least two ticks: a step that leaves one (0..499 in steps of 500) is
     * refined, even if that gives one tick over the limit */
    while (n < 2 && nice_prev(s) >= (min_step > 0 ? min_step : 0.0) && nice_prev(s) > 0 &&
           hi > lo) {
        double s2 = nice_prev(s);
        if (s2 < min_step)
            break;
        s = s2;
        n = fill(lo, hi, s, out, cap);
    }
    if (step)
        *step = s;
    return n;
}

size_t gs_ticks_linear(double lo, double hi, int max_ticks, double *out, size_t cap, double *step)
{
    return ticks(lo, hi, max_ticks, 0.0, out, cap, step);
}

size_t gs_ticks_int(double lo, double hi, int max_ticks, double *out, size_t cap, double *step)
{
    return ticks(lo, hi, max_ticks, 1.0, out, cap, step);
}

size_t gs_ticks_decades(double log_lo, double log_hi, int max_ticks, int *out, size_t cap)
{
    if (!isfinite(log_lo) || !isfinite(log_hi) || max_ticks < 1 || cap == 0)
        return 0;
    if (log_lo > log_hi) {
        double t = log_lo;
        log_lo = log_hi;
        log_hi = t;
    }
    double a = ceil(log_lo - 1e-9), b = floor(log_hi + 1e-9);
    if (b < a || a < -100000.0 || b > 100000.0)
        return 0;
    long stride = 1;
    for (;;) {
        long k0 = (long)ceil(a / (double)stride), k1 = (long)floor(b / (double)stride);
        if (k1 - k0 + 1 <= max_ticks)
            break;
        stride = (long)nice_next((double)stride);
    }
    size_t n = 0;
    for (long k = (long)ceil(a / (double)stride); k * stride <= (long)b && n < cap; k++)
        out[n++] = (int)(k * stride);
    return n;
}

static const char *const sup_digit[10] = {
    "\xe2\x81\xb0", "\xc2\xb9",     "\xc2\xb2",     "\xc2\xb3",     "\xe2\x81\xb4",
    "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7", "\xe2\x81\xb8", "\xe2\x81\xb9",
};

/* Appends the superscript form of e to buf (which holds a NUL-terminated string). */
static void append_sup(int e, char *buf, size_t n)
{
    char digits[16];
    snprintf(digits, sizeof digits, "%d", e < 0 ? -e : e);
    size_t len = strlen(buf);
    if (e < 0 && len + 3 < n) {
        memcpy(buf + len, "\xe2\x81\xbb", 3); /* superscript minus */
        len += 3;
        buf[len] = '\0';
    }
    for (const char *d = digits; *d; d++) {
        const char *s = sup_digit[*d - '0'];
        size_t sl = strlen(s);
        if (len + sl >= n)
            break;
        memcpy(buf + len, s, sl);
        len += sl;
        buf[len] = '\0';
    }
}

void gs_ticks_format_pow10(int e, char *buf, size_t n)
{
    if (n == 0)
        return;
    snprintf(buf, n, "10");
    append_sup(e, buf, n);
}

void gs_ticks_format(double v, double step, char *buf, size_t n)
{
    if (n == 0)
        return;
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
        return;
    }
    if (v == 0.0) {
        snprintf(buf, n, "0");
        return;
    }
    double mag = fmax(fabs(v), step > 0 ? step : fabs(v));
    if (step > 0 && step >= 1e-4 && mag < 1e6) {
        int dec = (int)ceil(-log10(step) - 1e-9);
        if (dec < 0)
            dec = 0;
        snprintf(buf, n, "%.*f", dec, v);
        return;
    }
    /* scientific: mantissa x 10^e with as many mantissa digits as the step needs */
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10.0, e);
    int dec = 0;
    if (step > 0) {
        int es = (int)floor(log10(step) + 1e-9);
        dec = e - es;
        if (dec < 0)
            dec = 0;
        if (dec > 6)
            dec = 6;
    }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*f", dec, m);
    if (strcmp(tmp, "1") == 0 || strcmp(tmp, "-1") == 0)
        snprintf(buf, n, "%s10", tmp[0] == '-' ? "\xe2\x88\x92" : "");
    else
        snprintf(buf, n,
                 "%s\xc3\x97"
                 "10",
                 tmp);
    append_sup(e, buf, n);
}
