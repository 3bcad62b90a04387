/* .npy writer and reader for float32 arrays (NumPy format 1.0: magic, version, a Python
 * dict header padded to a 64-byte boundary, then the raw little-endian data). */
#include "gradscope/npy.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/atomic_file.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t swap32(uint32_t x)
{
    return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
}

/* Writes n floats little-endian; on a big-endian host byte-swaps through a small buffer. */
static void write_floats(FILE *fp, const float *data, size_t n)
{
    if (host_little_endian()) {
        fwrite(data, sizeof *data, n, fp);
        return;
    }
    uint32_t buf[1024];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 1024 ? n - i : 1024;
        memcpy(buf, data + i, k * sizeof *buf);
        for (size_t j = 0; j < k; j++)
            buf[j] = swap32(buf[j]);
        fwrite(buf, sizeof *buf, k, fp);
        i += k;
    }
}

GsStatus gs_npy_write_f32(const char *path, const float *data, const size_t *shape, size_t ndim,
                          GsError *err)
{
    assert(path && (data || ndim > 0) && ndim <= GS_NPY_MAX_DIM);
    char head[512];
    int len = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (size_t i = 0; i < ndim; i++) {
        len += snprintf(head + len, sizeof head - (size_t)len, "%s%zu", i ? ", " : "", shape[i]);
        count *= shape[i];
    }
    len += snprintf(head + len, sizeof head - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    /* 10 bytes of preamble + header + padding + '\n' must be a multiple of 64. */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    assert(padded - 10 <= sizeof head && padded - 10 <= 65535);
    memset(head + len, ' ', padded - total);
    head[padded - 10 - 1] = '\n';
    size_t hlen = padded - 10;

    GsAtomicFile af;
    GsStatus st = gs_atomic_open(&af, path, err);
    if (st != GS_OK)
        return st;
    unsigned char pre[10];
    memcpy(pre, magic, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    fwrite(pre, 1, sizeof pre, af.fp);
    fwrite(head, 1, hlen, af.fp);
    if (count > 0)
        write_floats(af.fp, data, count);
    return gs_atomic_commit(&af, err);
}

/* Finds "'key':" in the header dict and returns the text after it, spaces skipped. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

static GsStatus parse_header(const char *path, const char *h, size_t *shape, size_t *ndim,
                             GsError *err)
{
    const char *d = dict_value(h, "descr");
    if (!d || (strncmp(d, "'<f4'", 5) != 0 && strncmp(d, "'float32'", 9) != 0))
        return gs_error(err, GS_ERR_FORMAT, "%s: not a little-endian float32 array (%s)", path,
                        d ? d : "no descr");
    const char *f = dict_value(h, "fortran_order");
    if (!f || strncmp(f, "False", 5) != 0)
        return gs_error(err, GS_ERR_FORMAT, "%s: Fortran-order arrays are not supported", path);
    const char *s = dict_value(h, "shape");
    if (!s || *s != '(')
        return gs_error(err, GS_ERR_FORMAT, "%s: header has no shape", path);
    s++;
    size_t n = 0;
    for (;;) {
        while (*s == ' ' || *s == ',')
            s++;
        if (*s == ')')
            break;
        if (*s < '0' || *s > '9' || n == GS_NPY_MAX_DIM)
            return gs_error(err, GS_ERR_FORMAT, "%s: bad or too long shape in header", path);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v > SIZE_MAX / 4)
            return gs_error(err, GS_ERR_FORMAT, "%s: dimension out of range in shape", path);
        shape[n++] = (size_t)v;
        s = end;
    }
    *ndim = n;
    return GS_OK;
}

GsStatus gs_npy_read_f32(const char *path, float **data, size_t *shape, size_t *ndim, GsError *err)
{
    assert(path && data && shape && ndim);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return gs_error(err, GS_ERR_IO, "%s: %s", path, strerror(errno));
    GsStatus st = GS_OK;
    char *head = NULL;
    float *buf = NULL;
    unsigned char pre[12];
    size_t hlen, off;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, magic, 6) != 0) {
        st = gs_error(err, GS_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        off = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            st = gs_error(err, GS_ERR_FORMAT, "%s: truncated header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        off = 12;
    } else {
        st = gs_error(err, GS_ERR_FORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hlen > (1u << 20)) {
        st = gs_error(err, GS_ERR_FORMAT, "%s: header of %zu bytes is too long", path, hlen);
        goto done;
    }
    head = malloc(hlen + 1);
    if (!head) {
        st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(head, 1, hlen, fp) != hlen) {
        st = gs_error(err, GS_ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    head[hlen] = '\0';
    size_t shp[GS_NPY_MAX_DIM], nd = 0;
    if ((st = parse_header(path, head, shp, &nd, err)) != GS_OK)
        goto done;
    size_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        if (shp[i] && count > SIZE_MAX / 4 / shp[i]) {
            st = gs_error(err, GS_ERR_FORMAT, "%s: shape too large", path);
            goto done;
        }
        count *= shp[i];
    }
    buf = malloc(count ? count * sizeof *buf : 1);
    if (!buf) {
        st = gs_error(err, GS_ERR_NOMEM, "%s: out of memory for %zu floats", path, count);
        goto done;
    }
    if (fread(buf, sizeof *buf, count, fp) != count) {
        st = gs_error(err, ferror(fp) ? GS_ERR_IO : GS_ERR_FORMAT,
                      "%s: data shorter than shape (%zu floats expected after %zu header bytes)",
                      path, count, off + hlen);
        goto done;
    }
    if (fgetc(fp) != EOF) {
        st = gs_error(err, GS_ERR_FORMAT, "%s: data longer than shape (%zu floats)", path, count);
        goto done;
    }
    if (!host_little_endian()) {
        uint32_t *u = (uint32_t *)(void *)buf;
        for (size_t i = 0; i < count; i++)
            u[i] = swap32(u[i]);
    }
    *data = buf;
    buf = NULL;
    memcpy(shape, shp, nd * sizeof *shape);
    *ndim = nd;
done:
    free(buf);
    free(head);
    fclose(fp);
    return st;
}
