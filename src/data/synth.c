/* Built-in synthetic data sets, generated from the seed alone. Class c of row i is i mod K
 * before a deterministic shuffle, so classes are balanced to within one row. `noise` is
 * the std of Gaussian noise added to the input coordinates (classification sets) or to
 * the target (sine, teacher). Inputs come out at roughly unit scale. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_priv.h"
#include "gradscope/rng.h"

#define PI 3.14159265358979323846

/* Sub-stream ids for gs_rng_derive, spelled to stay clear of other modules' streams. */
#define STREAM_POINTS UINT64_C(0x6461746170747331)  /* positions along each shape */
#define STREAM_NOISE UINT64_C(0x646174616e6f6931)   /* additive Gaussian noise */
#define STREAM_SHUFFLE UINT64_C(0x6461746173687531) /* row order */
#define STREAM_TEACHER UINT64_C(0x6461746174636831) /* teacher network weights */

/* Teacher: 8 inputs, 3 tanh hidden layers of 32, 1 linear output. */
#define TEACHER_IN 8
#define TEACHER_WIDTH 32
#define TEACHER_HIDDEN 3
/* its weights, layers back to back */
#define TEACHER_NW                                                                                 \
    (TEACHER_WIDTH * TEACHER_IN + (TEACHER_HIDDEN - 1) * TEACHER_WIDTH * TEACHER_WIDTH +           \
     TEACHER_WIDTH)

/* One 2-D classification point of class c (of k); i counts the rows of class c. */
static void point2(GsDataKind kind, int c, int k, size_t i, GsRng *pts, double *x)
{
    switch (kind) {
    case GS_DATA_SPIRAL: {
        /* Arm c: radius grows 0 -> 1.25 while the angle turns 4 rad, arms 2*pi/k apart. */
        double t = gs_rng_uniform(pts);
        double a = 2.0 * PI * c / k + 4.0 * t;
        x[0] = 1.25 * t * cos(a);
        x[1] = 1.25 * t * sin(a);
        break;
    }
    case GS_DATA_MOONS: {
        /* Upper half circle, and the lower one shifted right and down; centred at 0. */
        double a = PI * gs_rng_uniform(pts);
        if (c == 0) {
            x[0] = cos(a) - 0.5;
            x[1] = sin(a) - 0.25;
        } else {
            x[0] = 1.0 - cos(a) - 0.5;
            x[1] = 0.5 - sin(a) - 0.25;
        }
        break;
    }
    case GS_DATA_CIRCLES: {
        /* Class 0 on the unit circle, class 1 on radius 0.5. */
        double a = 2.0 * PI * gs_rng_uniform(pts);
        double r = c == 0 ? 1.0 : 0.5;
        x[0] = r * cos(a);
        x[1] = r * sin(a);
        break;
    }
    case GS_DATA_XOR: {
        /* Clusters at (+-0.75, +-0.75), spread 0.25; class 1 where the centres' signs
         * differ. Rows alternate the two clusters of their class. */
        double sx = (i % 2) ? -1.0 : 1.0;
        double sy = c == 0 ? sx : -sx;
        x[0] = 0.75 * sx + 0.25 * gs_rng_normal(pts);
        x[1] = 0.75 * sy + 0.25 * gs_rng_normal(pts);
        break;
    }
    case GS_DATA_BLOBS: {
        /* Cluster centres evenly on the unit circle, spread 0.25. */
        double a = 2.0 * PI * c / k;
        x[0] = cos(a) + 0.25 * gs_rng_normal(pts);
        x[1] = sin(a) + 0.25 * gs_rng_normal(pts);
        break;
    }
    case GS_DATA_CHECKERBOARD:
        /* Uniform on [-1,1]^2, cells of side 0.5; redraw until the cell has class c. */
        for (;;) {
            x[0] = 2.0 * gs_rng_uniform(pts) - 1.0;
            x[1] = 2.0 * gs_rng_uniform(pts) - 1.0;
            int cx = (int)floor((x[0] + 1.0) * 2.0), cy = (int)floor((x[1] + 1.0) * 2.0);
            if ((cx + cy) % 2 == c)
                break;
        }
        break;
    default: assert(0 && "not a 2-D classification kind");
    }
}

/* Teacher output for one input row: weights w (layers back to back, row-major out x in,
 * N(0, 1/fan_in)), zero biases. */
static double teacher_eval(const double *w, const float *xin)
{
    double a[TEACHER_WIDTH], b[TEACHER_WIDTH];
    size_t n_in = TEACHER_IN;
    for (size_t j = 0; j < n_in; j++)
        a[j] = (double)xin[j];
    for (int l = 0; l < TEACHER_HIDDEN; l++) {
        for (size_t o = 0; o < TEACHER_WIDTH; o++) {
            double s = 0;
            for (size_t j = 0; j < n_in; j++)
                s += w[o * n_in + j] * a[j];
            b[o] = tanh(s);
        }
        w += TEACHER_WIDTH * n_in;
        n_in = TEACHER_WIDTH;
        memcpy(a, b, sizeof a);
    }
    double s = 0;
    for (size_t j = 0; j < n_in; j++)
        s += w[j] * a[j];
    return s;
}

/* Fisher-Yates over rows of x (d floats), y (dy floats) and labels together. */
static void shuffle(GsDataset *ds, size_t dy, GsRng *rng)
{
    size_t d = ds->d_in;
    for (size_t i = ds->n; i > 1; i--) {
        size_t j = (size_t)gs_rng_below(rng, i);
        size_t a = i - 1;
        if (j == a)
            continue;
        for (size_t q = 0; q < d; q++) {
            float t = ds->x[a * d + q];
            ds->x[a * d + q] = ds->x[j * d + q];
            ds->x[j * d + q] = t;
        }
        for (size_t q = 0; q < dy; q++) {
            float t = ds->y[a * dy + q];
            ds->y[a * dy + q] = ds->y[j * dy + q];
            ds->y[j * dy + q] = t;
        }
        if (ds->label) {
            int32_t t = ds->label[a];
            ds->label[a] = ds->label[j];
            ds->label[j] = t;
        }
    }
}

/* Classes of a classification kind: K for spiral/blobs (default 3), else 2. */
static size_t n_classes(const GsDataSource *src)
{
    if (src->kind == GS_DATA_SINE || src->kind == GS_DATA_TEACHER)
        return 0;
    return src->kind == GS_DATA_SPIRAL || src->kind == GS_DATA_BLOBS ? (size_t)(src->k ? src->k : 3)
                                                                     : 2;
}

void gs_data_synth_shape(const GsDataSource *src, const GsDataOptions *opts, GsDataShape *shape)
{
    assert(src->kind != GS_DATA_CSV);
    shape->n = opts->samples;
    shape->n_classes = n_classes(src);
    shape->d_in = src->kind == GS_DATA_SINE ? 1 : src->kind == GS_DATA_TEACHER ? TEACHER_IN : 2;
}

void gs_data_synth_fill(const GsDataSource *src, const GsDataOptions *opts, GsDataset *ds)
{
    size_t n = ds->n;
    GsRng pts, noise, shuf;
    gs_rng_seed(&pts, gs_rng_derive(opts->seed, STREAM_POINTS));
    gs_rng_seed(&noise, gs_rng_derive(opts->seed, STREAM_NOISE));
    gs_rng_seed(&shuf, gs_rng_derive(opts->seed, STREAM_SHUFFLE));
    if (src->kind == GS_DATA_SINE) {
        assert(ds->d_in == 1 && ds->y);
        /* x uniform on [-pi, pi]; y = sin(x) + noise. */
        for (size_t i = 0; i < n; i++) {
            double x = PI * (2.0 * gs_rng_uniform(&pts) - 1.0);
            ds->x[i] = (float)x;
            ds->y[i] = (float)(sin(x) + opts->noise * gs_rng_normal(&noise));
        }
        shuffle(ds, 1, &shuf);
        return;
    }
    if (src->kind == GS_DATA_TEACHER) {
        assert(ds->d_in == TEACHER_IN && ds->y);
        /* x ~ N(0, I_8); y = teacher(x) + noise, the teacher from its own stream. */
        double w[TEACHER_NW];
        GsRng tw;
        gs_rng_seed(&tw, gs_rng_derive(opts->seed, STREAM_TEACHER));
        size_t at = 0, fan_in = TEACHER_IN;
        for (int l = 0; l <= TEACHER_HIDDEN; l++) {
            size_t fan_out = l < TEACHER_HIDDEN ? TEACHER_WIDTH : 1;
            double sd = 1.0 / sqrt((double)fan_in);
            for (size_t q = 0; q < fan_out * fan_in; q++)
                w[at++] = sd * gs_rng_normal(&tw);
            fan_in = fan_out;
        }
        assert(at == TEACHER_NW);
        for (size_t i = 0; i < n; i++) {
            float *xr = ds->x + i * TEACHER_IN;
            for (size_t j = 0; j < TEACHER_IN; j++)
                xr[j] = (float)gs_rng_normal(&pts);
            ds->y[i] = (float)(teacher_eval(w, xr) + opts->noise * gs_rng_normal(&noise));
        }
        shuffle(ds, 1, &shuf);
        return;
    }

    int k = (int)n_classes(src);
    assert(ds->d_in == 2 && ds->label);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % (size_t)k);
        double x[2];
        point2(src->kind, c, k, i / (size_t)k, &pts, x);
        ds->x[2 * i] = (float)(x[0] + opts->noise * gs_rng_normal(&noise));
        ds->x[2 * i + 1] = (float)(x[1] + opts->noise * gs_rng_normal(&noise));
        ds->label[i] = c;
    }
    shuffle(ds, 0, &shuf);
}
