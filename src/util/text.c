/* Typo suggestions (optimal string alignment distance) and escaping of unprintable bytes. */
#include "util/text.h"

#include <stdio.h>
#include <string.h>

/* Edit distance with adjacent transpositions; words longer than 63 bytes are never close. */
static size_t osa_distance(const char *a, const char *b)
{
    enum { MAXW = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n >= MAXW || m >= MAXW)
        return (size_t)-1;
    size_t d[MAXW][MAXW];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *gs_text_suggest(const char *word, const char *const *names, size_t n)
{
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        size_t d = osa_distance(word, names[i]);
        if (d == 0)
            return NULL;
        /* a distance as long as the name itself means nothing in common */
        if (d < best_d && d < strlen(names[i])) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* Length of the valid UTF-8 sequence starting at s (2..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf5)
        n = 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3/4-byte forms, surrogates and code points past U+10FFFF */
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0;
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return n;
}

char *gs_text_escape(const char *s, char *buf, size_t size, int keep_newline)
{
    if (size == 0)
        return buf;
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t u = *p >= 0x80 ? utf8_len(p) : 0;
        if (u) {
            if (w + u >= size)
                break;
            memcpy(buf + w, p, u);
            w += u;
            p += u;
        } else if (*p < 0x20 || *p == 0x7f || *p >= 0x80) {
            if (keep_newline && *p == '\n') {
                if (w + 1 >= size)
                    break;
                buf[w++] = '\n';
            } else {
                if (w + 4 >= size)
                    break;
                snprintf(buf + w, size - w, "\\x%02x", *p);
                w += 4;
            }
            p++;
        } else {
            if (w + 1 >= size)
                break;
            buf[w++] = (char)*p++;
        }
    }
    buf[w] = '\0';
    return buf;
}
