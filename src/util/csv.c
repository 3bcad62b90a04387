/* CSV line reader, cell tokenizer and number parser shared by the trace and data readers.
 * Numbers take an exact fast path (Clinger: a mantissa below 2^53 times a power of ten
 * within 10^±22 is one correctly rounded IEEE operation) and fall back to strtod. */
#include "util/csv.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

GsStatus gs_csv_open(GsCsvFile *f, const char *path, GsError *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->fp = fopen(path, "r");
    if (!f->fp)
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(errno));
    return GS_OK;
}

void gs_csv_close(GsCsvFile *f)
{
    if (f->fp)
        fclose(f->fp);
    free(f->buf);
    f->fp = NULL;
    f->buf = NULL;
    f->line = NULL;
    f->cap = 0;
}

/* Bytes asked of fread at a time. */
#define CHUNK ((size_t)1 << 16)

/* Reads more of the file behind buf[end]: first moves the unread part to the front, grows
 * the buffer when that leaves less than a chunk free. Sets eof at end of file. */
static GsStatus fill(GsCsvFile *f, GsError *err)
{
    if (f->start > 0) {
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->end -= f->start;
        f->base += f->start;
        f->start = 0;
    }
    /* One byte always stays free for the NUL after a last line without newline. */
    if (f->cap - f->end < CHUNK + 1) {
        size_t cap = f->cap ? 2 * f->cap : CHUNK + 1;
        while (cap - f->end < CHUNK + 1)
            cap *= 2;
        char *b = realloc(f->buf, cap);
        if (!b)
            return gs_error(err, GS_ERR_NOMEM, "%s:%zu: out of memory reading a line", f->path,
                            f->lineno + 1);
        f->buf = b;
        f->cap = cap;
    }
    size_t n = fread(f->buf + f->end, 1, f->cap - 1 - f->end, f->fp);
    f->end += n;
    if (n == 0) {
        if (ferror(f->fp)) {
            int e = errno;
            return gs_error(err, GS_ERR_IO, "%s:%zu: %s", f->path, f->lineno + 1,
                            strerror(e ? e : EIO));
        }
        f->eof = 1;
    }
    return GS_OK;
}

int gs_csv_next_line(GsCsvFile *f, GsStatus *st, GsError *err)
{
    size_t scan = f->start; /* buf[start..scan) is known to hold no newline */
    char *nl;
    for (;;) {
        nl = f->buf ? memchr(f->buf + scan, '\n', f->end - scan) : NULL;
        if (nl ? (size_t)(nl - (f->buf + f->start)) > GS_CSV_MAX_LINE
               : f->end - f->start > GS_CSV_MAX_LINE) {
            *st = gs_error(err, GS_ERR_FORMAT,
                           "%s:%zu: line longer than %zu bytes (not a CSV file, or no newlines)",
                           f->path, f->lineno + 1, GS_CSV_MAX_LINE);
            return -1;
        }
        if (nl || f->eof)
            break;
        size_t pending = f->end - f->start;
        errno = 0;
        if ((*st = fill(f, err)) != GS_OK)
            return -1;
        scan = f->start + pending; /* fill moved the unread bytes to the front */
    }
    size_t len;
    if (nl) {
        len = (size_t)(nl - (f->buf + f->start));
        f->eol = 1;
    } else {
        if (f->end == f->start)
            return 0;
        len = f->end - f->start;
        f->eol = 0;
    }
    char *line = f->buf + f->start;
    f->start += len + f->eol;
    f->offset = f->base + f->start;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0'; /* over the newline, or the byte fill keeps free */
    if (f->lineno == 0 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; /* a UTF-8 byte order mark, as spreadsheet programs write */
        len -= 3;
    }
    f->lineno++;
    f->line = line;
    f->len = len;
    return 1;
}

int gs_csv_line_blank(const GsCsvFile *f)
{
    for (size_t i = 0; i < f->len; i++)
        if (f->line[i] != ' ' && f->line[i] != '\t')
            return 0;
    return 1;
}

void gs_csv_cells_init(GsCsvCells *c, const char *line, size_t len)
{
    c->p = line;
    c->end = line + len;
    c->more = 1;
    c->col = 0;
}

/* Advances past the cell starting at p: to just after the next comma outside a leading
 * quoted part, or to the end of the line (then no cell remains). */
static const char *cell_end(GsCsvCells *c, const char *p)
{
    const char *q = p;
    while (q < c->end && (*q == ' ' || *q == '\t'))
        q++;
    if (q < c->end && *q == '"') {
        const char *close = memchr(q + 1, '"', (size_t)(c->end - q - 1));
        if (close)
            p = close + 1;
    }
    const char *comma = memchr(p, ',', (size_t)(c->end - p));
    return comma ? comma : c->end;
}

int gs_csv_cells_next(GsCsvCells *c, const char **cell, size_t *len)
{
    if (!c->more)
        return 0;
    const char *b = c->p;
    const char *e = cell_end(c, b);
    c->more = e < c->end;
    c->p = c->more ? e + 1 : e;
    c->col++;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e - b >= 2 && *b == '"' && e[-1] == '"') {
        b++;
        e--;
    }
    *cell = b;
    *len = (size_t)(e - b);
    return 1;
}

int gs_csv_cells_skip(GsCsvCells *c)
{
    if (!c->more)
        return 0;
    const char *p = c->p;
    const char *e;
    /* Only a cell that may be quoted needs the careful scan. */
    if (p < c->end && (*p == '"' || *p == ' ' || *p == '\t')) {
        e = cell_end(c, p);
    } else {
        e = memchr(p, ',', (size_t)(c->end - p));
        if (!e)
            e = c->end;
    }
    c->more = e < c->end;
    c->p = c->more ? e + 1 : e;
    c->col++;
    return 1;
}

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int word_eq(const char *s, size_t len, const char *w)
{
    size_t n = strlen(w);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

static const double pow10_tab[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* strtod on a NUL-terminated copy (cells are not terminated inside the line). */
static int slow_parse(const char *s, size_t len, double *out)
{
    char buf[128];
    char *tmp = len < sizeof buf ? buf : malloc(len + 1);
    if (!tmp)
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    double v = strtod(tmp, &end);
    int ok = end == tmp + len;
    if (tmp != buf)
        free(tmp);
    if (ok)
        *out = v;
    return ok;
}

int gs_csv_parse_number(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (len == 0)
        return 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i < len && ((s[i] | 0x20) == 'n' || (s[i] | 0x20) == 'i')) {
        const char *w = s + i;
        size_t wl = len - i;
        if (word_eq(w, wl, "nan")) {
            *out = neg ? -(double)NAN : (double)NAN;
            return 1;
        }
        if (word_eq(w, wl, "inf") || word_eq(w, wl, "infinity")) {
            *out = neg ? -(double)INFINITY : (double)INFINITY;
            return 1;
        }
        return 0;
    }
    uint64_t mant = 0;
    int sig = 0;     /* significant digits accumulated into mant */
    int dropped = 0; /* nonzero digits beyond 19 (then the fast path is off) */
    long exp10 = 0;  /* decimal exponent to apply to mant */
    int digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            if (mant)
                sig++;
        } else {
            exp10++;
            dropped = 1;
        }
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                if (mant)
                    sig++;
                exp10--;
            } else {
                dropped = 1;
            }
        }
    }
    if (digits == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= len || s[i] < '0' || s[i] > '9')
            return 0;
        long e = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != len)
        return 0;
    if (mant == 0 && !dropped) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    if (!dropped && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
        *out = neg ? -v : v;
        return 1;
    }
    return slow_parse(s, len, out);
}

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at s[0..n), else 0 (overlong
 * forms, surrogates and code points above U+10FFFF are not well-formed). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t k;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        k = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        k = 3;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        hi = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        k = 4;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

const char *gs_csv_show(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = len > GS_CSV_SHOW_MAX ? GS_CSV_SHOW_MAX : len;
    char *p = out;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] >= 0x80 ? utf8_seq(u + i, n - i) : 0;
        /* U+FEFF (a byte order mark out of place) is invisible: show its bytes. */
        if (k == 3 && u[i] == 0xEF && u[i + 1] == 0xBB && u[i + 2] == 0xBF)
            k = 0;
        if (k) {
            memcpy(p, s + i, k);
            p += k;
            i += k;
            continue;
        }
        if (u[i] == '\\') {
            *p++ = '\\';
            *p++ = '\\';
        } else if (u[i] >= 0x20 && u[i] < 0x7F) {
            *p++ = s[i];
        } else {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[u[i] >> 4];
            *p++ = hex[u[i] & 15];
        }
        i++;
    }
    if (len > n) {
        memcpy(p, "...", 3);
        p += 3;
    }
    *p = '\0';
    return out;
}

GsStatus gs_csv_err_nonnumeric(GsError *err, const char *path, size_t line, size_t col,
                               const char *cell, size_t len, const char *name)
{
    char shown[GS_CSV_SHOW_CAP], col_name[GS_CSV_SHOW_CAP];
    return gs_error(err, GS_ERR_FORMAT, "%s:%zu:%zu: non-numeric value '%s' in column '%s'", path,
                    line, col, gs_csv_show(shown, cell, len),
                    gs_csv_show(col_name, name, strlen(name)));
}

/* Powers of ten exact in an x87 long double (5^27 < 2^64). */
static const long double lpow10[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};

/* a * 10^n with a few long-double roundings (relative error below 1e-18). */
static long double scale10(double a, int n)
{
    long double r = a;
    if (n >= 0) {
        for (; n >= 27; n -= 27)
            r *= lpow10[27];
        return r * lpow10[n];
    }
    for (n = -n; n >= 27; n -= 27)
        r /= lpow10[27];
    return r / lpow10[n];
}

/* "00" to "99". */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930"
    "31323334353637383940414243444546474849505152535455565758596061"
    "62636465666768697071727374757677787980818283848586878889909192"
    "93949596979899";

/* Writes the decimal digits of u right-aligned into tmp[10 - n .. 10), two per division;
 * returns n. */
static size_t u32_digits(char tmp[10], uint32_t u)
{
    size_t n = 0;
    for (; u >= 100; u /= 100) {
        n += 2;
        memcpy(&tmp[10 - n], &digit_pairs[2 * (u % 100)], 2);
    }
    if (u >= 10) {
        n += 2;
        memcpy(&tmp[10 - n], &digit_pairs[2 * u], 2);
    } else {
        tmp[10 - ++n] = (char)('0' + u);
    }
    return n;
}

/* Powers of ten exact in a double (5^22 < 2^53). */
static const double dpow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* a * 10^n for -44 <= n <= 44 in at most two double roundings (relative error below
 * 4.5e-16). */
static double scale10_double(double a, int n)
{
    if (n >= 0)
        return n <= 22 ? a * dpow10[n] : a * dpow10[22] * dpow10[n - 22];
    return -n <= 22 ? a / dpow10[-n] : a / dpow10[22] / dpow10[-n - 22];
}

/* floor(x) for |x| < 2^31 without a libm call. */
static int floor_int(double x)
{
    int i = (int)x;
    return (double)i > x ? i - 1 : i;
}

/* The nine significant digits of a (1e-280 <= a <= 1e280): *d in [1e8, 1e9] rounded to
 * nearest from a * 10^(8 - *e10), *e10 the decimal exponent of a. 0 when the scaled value
 * lies too close to a tie (or its exponent was misjudged) for the digits to be trusted:
 * printf must then round the exact binary value. Decimal exponents -36..44 (the trace's
 * usual range) scale in double: at most two roundings, an error below 4.5e-7 in the scaled
 * value against the 1e-6 tie margin; the rest in long double, where it has 64 bits. */
static int digits9(double a, uint64_t *d, int *e10)
{
    int e2;
    (void)frexp(a, &e2);
    /* a = m 2^e2 with m in [0.5, 1): floor(log10 a) is this or one more */
    int e = floor_int((e2 - 1) * 0.30102999566398120);
    double q, frac;
    if (e >= -36 && e <= 44) {
        double s = scale10_double(a, 8 - e);
        if (s >= 1e9) {
            e++;
            s = scale10_double(a, 8 - e);
        }
        if (!(s >= 1e8 && s < 1e9))
            return 0;
        q = (double)(uint64_t)s;
        frac = s - q; /* exact (Sterbenz: q <= s < 2q) */
    } else {
        if (LDBL_MANT_DIG < 64)
            return 0;
        long double s = scale10(a, 8 - e);
        if (s >= 1e9L) {
            e++;
            s = scale10(a, 8 - e);
        }
        if (!(s >= 1e8L && s < 1e9L))
            return 0;
        long double ql = floorl(s);
        q = (double)ql;
        frac = (double)(s - ql);
    }
    if (fabs(frac - 0.5) < 1e-6)
        return 0;
    *d = (uint64_t)q + (frac > 0.5);
    *e10 = e;
    return 1;
}

int gs_csv_format_g9(char *buf, double v)
{
    double a = fabs(v);
    /* Zeros and small integers (counts, flags, exact zeros of the trace) print as %.9g does:
     * every digit, no exponent below 1e9; -0 keeps its sign. */
    if (a < 1e9 && (double)(uint32_t)a == a) {
        char tmp[10];
        size_t n = u32_digits(tmp, (uint32_t)a);
        char *p = buf;
        if (signbit(v))
            *p++ = '-';
        memcpy(p, tmp + 10 - n, n);
        p += n;
        *p = '\0';
        return (int)(p - buf);
    }
    uint64_t d;
    int e10;
    if (!(a >= 1e-280 && a <= 1e280) || !digits9(a, &d, &e10))
        return snprintf(buf, 32, "%.9g", v);
    if (d >= 1000000000u) {
        d /= 10;
        e10++;
    }
    char tmp[10], *dig = tmp + 1; /* d in [1e8, 1e9): nine digits */
    (void)u32_digits(tmp, (uint32_t)d);
    int nd = 9;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    char *p = buf;
    if (v < 0)
        *p++ = '-';
    if (e10 < -4 || e10 >= 9) {
        *p++ = dig[0];
        if (nd > 1) {
            *p++ = '.';
            for (int i = 1; i < nd; i++)
                *p++ = dig[i];
        }
        *p++ = 'e';
        int x = e10;
        *p++ = x < 0 ? '-' : '+';
        if (x < 0)
            x = -x;
        if (x >= 100)
            *p++ = (char)('0' + x / 100);
        *p++ = (char)('0' + x / 10 % 10);
        *p++ = (char)('0' + x % 10);
    } else if (e10 >= 0) {
        for (int i = 0; i <= e10; i++)
            *p++ = dig[i];
        if (nd > e10 + 1) {
            *p++ = '.';
            for (int i = e10 + 1; i < nd; i++)
                *p++ = dig[i];
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -e10 - 1; i++)
            *p++ = '0';
        for (int i = 0; i < nd; i++)
            *p++ = dig[i];
    }
    *p = '\0';
    return (int)(p - buf);
}
