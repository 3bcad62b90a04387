/* Lesson and sweep scenario files: an INI text with a [run] section of setup keys and a
 * [lesson] section (title, captions, cure, vary, cases, expectations). Parsed from memory so
 * the scenarios embedded in the binary and files on disk go through the same code. */
#include "gradscope/diagnose.h"
#include "gradscope/sweep.h"
#include "gradscope/hist.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *strip(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static GsStatus copy_field(char *dst, size_t size, const char *v, const char *name, int line,
                           const char *key, GsError *err)
{
    if (strlen(v) >= size)
        return gs_error(err, GS_ERR_INVALID, "%s:%d: value of '%s' is too long (max %zu)", name,
                        line, key, size - 1);
    memcpy(dst, v, strlen(v) + 1);
    return GS_OK;
}

static GsStatus lesson_key(GsLesson *L, const char *key, const char *v, const char *name, int line,
                           GsError *err)
{
    GsError e2 = {{0}};
    if (!strcmp(key, "title"))
        return copy_field(L->title, sizeof L->title, v, name, line, key, err);
    if (!strcmp(key, "caption")) {
        if (L->n_caption >= GS_LESSON_MAX_CAPTION)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: at most %d caption lines", name, line,
                            GS_LESSON_MAX_CAPTION);
        return copy_field(L->caption[L->n_caption++], sizeof L->caption[0], v, name, line, key,
                          err);
    }
    if (!strcmp(key, "cure")) {
        GsSpec s2 = L->spec;
        if (gs_spec_apply_args(&s2, v, &e2) != GS_OK)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: cure: %s", name, line, e2.msg);
        return copy_field(L->cure, sizeof L->cure, v, name, line, key, err);
    }
    if (!strcmp(key, "cure_label"))
        return copy_field(L->cure_label, sizeof L->cure_label, v, name, line, key, err);
    if (!strcmp(key, "vary")) {
        if (gs_sweep_add_vary(&L->sweep, v, &e2) != GS_OK)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: %s", name, line, e2.msg);
        return GS_OK;
    }
    if (!strcmp(key, "case")) {
        const char *colon = strchr(v, ':');
        if (!colon)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: case '%s': expected LABEL: OPTIONS", name,
                            line, v);
        if (L->n_cases >= GS_LESSON_MAX_CASES)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: at most %d cases", name, line,
                            GS_LESSON_MAX_CASES);
        char label[256];
        snprintf(label, sizeof label, "%.*s", (int)(colon - v), v);
        char *lab = strip(label);
        const char *opts = colon + 1;
        GsSpec s2 = L->spec;
        if (gs_spec_apply_args(&s2, opts, &e2) != GS_OK)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: case '%s': %s", name, line, lab, e2.msg);
        size_t c = L->n_cases;
        if (copy_field(L->case_label[c], sizeof L->case_label[c], lab, name, line, key, err) ||
            copy_field(L->case_opts[c], sizeof L->case_opts[c], opts, name, line, key, err))
            return GS_ERR_INVALID;
        L->n_cases++;
        return GS_OK;
    }
    if (!strcmp(key, "expect"))
        return copy_field(L->expect, sizeof L->expect, v, name, line, key, err);
    if (!strcmp(key, "expect_case")) {
        if (L->n_case_expect >= GS_LESSON_MAX_CASES)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: at most %d expect_case lines", name,
                            line, GS_LESSON_MAX_CASES);
        size_t c = L->n_case_expect;
        if (copy_field(L->case_expect[c], sizeof L->case_expect[c], v, name, line, key, err))
            return GS_ERR_INVALID;
        L->n_case_expect++;
        return GS_OK;
    }
    if (!strcmp(key, "figure")) {
        if (!strcmp(v, "distributions"))
            L->dist_figure = 1;
        else if (!strcmp(v, "heatmaps"))
            L->dist_figure = 0;
        else
            return gs_error(err, GS_ERR_INVALID,
                            "%s:%d: figure: '%s' is not one of heatmaps, distributions", name,
                            line, v);
        return GS_OK;
    }
    if (!strcmp(key, "expect_cured_full"))
        return copy_field(L->expect_cured_full, sizeof L->expect_cured_full, v, name, line, key,
                          err);
    if (!strcmp(key, "expect_cured"))
        return copy_field(L->expect_cured, sizeof L->expect_cured, v, name, line, key, err);
    if (!strcmp(key, "metric")) {
        int col = gs_trace_col_from_name(v);
        if (col < 0 || col == GS_COL_STEP || col == GS_COL_LAYER)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: metric: '%s' is not a trace column", name,
                            line, v);
        L->metric = col;
        return GS_OK;
    }
    if (!strcmp(key, "primary")) {
        if (gs_finding_kind_from_name(v) < 0)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: primary: unknown finding kind '%s'", name,
                            line, v);
        return copy_field(L->primary, sizeof L->primary, v, name, line, key, err);
    }
    if (!strcmp(key, "quick")) {
        GsSpec s2 = L->spec;
        if (gs_spec_apply_args(&s2, v, &e2) != GS_OK)
            return gs_error(err, GS_ERR_INVALID, "%s:%d: quick: %s", name, line, e2.msg);
        return copy_field(L->quick, sizeof L->quick, v, name, line, key, err);
    }
    return gs_error(err, GS_ERR_INVALID, "%s:%d: unknown [lesson] key '%s'", name, line, key);
}

GsStatus gs_lesson_parse(const char *text, const char *name, GsLesson *out, GsError *err)
{
    GsLesson *L = calloc(1, sizeof *L);
    char *buf = strdup(text);
    if (!L || !buf) {
        free(L);
        free(buf);
        return gs_error(err, GS_ERR_NOMEM, "out of memory reading %s", name);
    }
    snprintf(L->name, sizeof L->name, "%s", name);
    gs_spec_default(&L->spec);
    L->metric = GS_COL_GRAD_NORM;
    GsStatus st = GS_OK;
    enum { SEC_RUN, SEC_LESSON } sec = SEC_RUN;
    int line = 0;
    for (char *p = buf; p && st == GS_OK;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *s = strip(p);
        p = nl ? nl + 1 : NULL;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end) {
                st =
                    gs_error(err, GS_ERR_INVALID, "%s:%d: unterminated section header", name, line);
                break;
            }
            *end = '\0';
            char *sn = strip(s + 1);
            if (!strcmp(sn, "run") || !strcmp(sn, "setup"))
                sec = SEC_RUN;
            else if (!strcmp(sn, "lesson") || !strcmp(sn, "sweep"))
                sec = SEC_LESSON;
            else
                st = gs_error(err, GS_ERR_INVALID, "%s:%d: unknown section [%s]", name, line, sn);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            st = gs_error(err, GS_ERR_INVALID, "%s:%d: expected 'key = value', got '%s'", name,
                          line, s);
            break;
        }
        *eq = '\0';
        char *key = strip(s), *val = strip(eq + 1);
        if (sec == SEC_RUN) {
            GsError e2 = {{0}};
            if (gs_spec_set(&L->spec, key, val, &e2) != GS_OK)
                st = gs_error(err, GS_ERR_INVALID, "%s:%d: %s", name, line, e2.msg);
        } else {
            st = lesson_key(L, key, val, name, line, err);
        }
    }
    if (st == GS_OK && L->n_case_expect && L->n_case_expect != L->n_cases)
        st = gs_error(err, GS_ERR_INVALID, "%s: %zu expect_case lines for %zu cases (one each)",
                      name, L->n_case_expect, L->n_cases);
    if (st == GS_OK && L->dist_figure && (L->n_cases < 1 || L->n_cases > 4 || L->sweep.n_axes))
        st = gs_error(err, GS_ERR_INVALID,
                      "%s: figure = distributions needs 1 to 4 case lines (and no vary)", name);
    if (st == GS_OK && L->dist_figure && !(L->spec.hist & (1u << GS_HIST_ACT) &&
                                           L->spec.hist & (1u << GS_HIST_GRAD)))
        st = gs_error(err, GS_ERR_INVALID,
                      "%s: figure = distributions needs hist = grad,act (or all) in [run]", name);
    if (st == GS_OK && !L->title[0])
        snprintf(L->title, sizeof L->title, "%s", name);
    if (st == GS_OK)
        *out = *L;
    free(L);
    free(buf);
    return st;
}
