/* Weight and bias initialization schemes. */
#ifndef GRADSCOPE_INIT_H
#define GRADSCOPE_INIT_H

#include <stddef.h>

#include "gradscope/rng.h"
#include "gradscope/status.h"

/* Weight initialization kinds. */
typedef enum {
    GS_INIT_NORMAL = 0,     /* normal:STD       N(0, STD^2) */
    GS_INIT_UNIFORM,        /* uniform:A        U[-A, A] */
    GS_INIT_STANDARD,       /* U[-1/sqrt(n_in), 1/sqrt(n_in)] (Glorot & Bengio 2010 eq. 1) */
    GS_INIT_XAVIER_UNIFORM, /* U[-a, a], a = sqrt(6/(n_in+n_out)) */
    GS_INIT_XAVIER_NORMAL,  /* N(0, 2/(n_in+n_out)) */
    GS_INIT_HE_UNIFORM,     /* U[-a, a], a = sqrt(6/n_in) */
    GS_INIT_HE_NORMAL,      /* N(0, 2/n_in) */
    GS_INIT_LECUN_UNIFORM,  /* U[-a, a], a = sqrt(3/n_in) */
    GS_INIT_LECUN_NORMAL,   /* N(0, 1/n_in) */
    GS_INIT_ORTHOGONAL,     /* (semi-)orthogonal rows/columns times gain */
    GS_INIT_COUNT
} GsInitKind;

/* A weight initialization: kind, its parameter (STD or A), and a gain factor that
 * multiplies the named schemes ("he_normal*0.5", "orthogonal:1.2"; default 1). */
typedef struct {
    GsInitKind kind;
    double param;
    double gain;
} GsInit;

/* Parses "normal:0.05", "uniform:0.1", "xavier_normal", "he_uniform*0.5",
 * "orthogonal", "orthogonal:GAIN". Unknown names and malformed numbers fail with
 * GS_ERR_INVALID naming the text; *out untouched on failure. */
GsStatus gs_init_parse(const char *text, GsInit *out, GsError *err);
/* Canonical text form into buf; returns buf. */
char *gs_init_format(const GsInit *init, char *buf, size_t size);
/* Standard deviation of one weight entry under this scheme for a layer of the given
 * shape (orthogonal: gain/sqrt(max(n_in, n_out)) ... i.e. the entry RMS). Cannot fail. */
double gs_init_std(const GsInit *init, size_t n_in, size_t n_out);
/* Fills w (n_out x n_in, row-major, PyTorch nn.Linear layout) from rng. Orthogonal
 * allocates a temporary; returns GS_ERR_NOMEM if that fails, else GS_OK. */
GsStatus gs_init_fill(const GsInit *init, float *w, size_t n_out, size_t n_in, GsRng *rng);

/* Bias initialization kinds. */
typedef enum { GS_BIAS_ZERO = 0, GS_BIAS_CONST, GS_BIAS_NORMAL } GsBiasKind;

/* A bias initialization: zero, const:C or normal:STD. */
typedef struct {
    GsBiasKind kind;
    double param;
} GsBiasInit;

/* Parses "zero", "const:C", "normal:STD"; GS_ERR_INVALID naming the text otherwise. */
GsStatus gs_bias_init_parse(const char *text, GsBiasInit *out, GsError *err);
/* Canonical text form into buf; returns buf. */
char *gs_bias_init_format(const GsBiasInit *init, char *buf, size_t size);
/* Fills b[0..n) from rng. Cannot fail. */
void gs_bias_init_fill(const GsBiasInit *init, float *b, size_t n, GsRng *rng);

#endif
