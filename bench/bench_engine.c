/* Engine benchmark: for the network's own shapes, the GEMM-only time of a training step
 * (what the step would cost if it were only its matrix products), the full step without
 * recording, and the full step recording every step; all measured in the same run, so
 * the printed ratios do not depend on the machine's speed. Beside them the ceilings: the
 * one-core FMA peak (header) and the best sgemm rate of each shape's largest GEMM (sgemm_pk),
 * with the full step's share of that peak (%peak). Not a test.
 *
 *   bench_engine [--threads N] [--budget S] [--cpu-time] [--rounds N] [--shapes d,w,b;...] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gradscope/hist.h"
#include "gradscope/record.h"
#include "gradscope/rng.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "peak.h"

/* Default measurement rounds per configuration (interleaved; the fastest of each kind
 * counts); --rounds changes it. */
#define ROUNDS 5
/* Most shapes --shapes takes. */
#define MAX_SHAPES 64

/* One (depth, width, batch) configuration. */
typedef struct {
    size_t depth, width, batch;
} Shape;

/* Parses "d,w,b[;d,w,b...]" into shapes; returns how many, or 0 if the text is malformed
 * (a field missing or not a positive integer, or more than max shapes). */
static size_t parse_shapes(const char *text, Shape *shapes, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        unsigned long v[3];
        for (int f = 0; f < 3; f++) {
            char *end;
            if (*p < '0' || *p > '9')
                return 0;
            v[f] = strtoul(p, &end, 10);
            /* the first two fields end in ',', the last in ';' or the end of the text */
            int sep_ok = f < 2 ? *end == ',' : (*end == ';' || *end == '\0');
            if (v[f] == 0 || !sep_ok)
                return 0;
            p = *end ? end + 1 : end;
        }
        if (n == max)
            return 0;
        shapes[n++] = (Shape){v[0], v[1], v[2]};
    }
    return n;
}

/* The clock: wall time, or with --cpu-time the process's CPU time, which a machine shared
 * with other jobs disturbs far less (one BLAS thread: CPU time is the step's own). */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seconds per step of just the step's matrix products (forward, dW and dX per layer), on
 * buffers laid out as the step's are: every layer its own weights, weight gradient and
 * activations, so the products stream the same memory the step does (one shared buffer
 * would keep a deep net's weights in cache and flatter the ceiling). */
static double gemm_only(size_t depth, size_t width, size_t B, size_t d_in, size_t d_out,
                        double budget)
{
    size_t nl = depth + 1, maxn = width > d_in ? width : d_in;
    float **w = calloc(nl, sizeof *w), **dw = calloc(nl, sizeof *dw);
    float **z = calloc(nl + 1, sizeof *z);
    if (!w || !dw || !z) {
        fprintf(stderr, "bench: out of memory\n");
        exit(3);
    }
    for (size_t l = 0; l <= nl; l++) {
        z[l] = calloc(B * maxn, sizeof(float));
        if (!z[l]) {
            fprintf(stderr, "bench: out of memory\n");
            exit(3);
        }
        for (size_t i = 0; i < B * maxn; i++)
            z[l][i] = 0.01f * (float)((i + l) % 97);
    }
    for (size_t l = 0; l < nl; l++) {
        w[l] = calloc(maxn * maxn, sizeof(float));
        dw[l] = calloc(maxn * maxn, sizeof(float));
        if (!w[l] || !dw[l]) {
            fprintf(stderr, "bench: out of memory\n");
            exit(3);
        }
        for (size_t i = 0; i < maxn * maxn; i++)
            w[l][i] = 0.001f * (float)((i + l) % 89);
    }
    long reps = 0;
    double t0 = now(), t;
    do {
        /* the step's own products through its one call site (nn/gemm.c: libxsmm or OpenBLAS
         * per shape), beta = 0 as the step: forward z[l+1] = z[l] w[l]^T (on a layer's
         * transposed mirror where the net keeps one: the plain product), then backward from
         * the output, dW = dz^T x and dx = dz w */
        for (size_t l = 0; l < nl; l++) {
            size_t ni = l == 0 ? d_in : width, no = l == depth ? d_out : width;
            if (gs_dense_mirrored(ni, no, B))
                gs_gemm(0, 0, B, no, ni, z[l], ni, w[l], no, 0.0f, z[l + 1], no);
            else
                gs_gemm(0, 1, B, no, ni, z[l], ni, w[l], ni, 0.0f, z[l + 1], no);
        }
        for (size_t l = nl; l-- > 0;) {
            size_t ni = l == 0 ? d_in : width, no = l == depth ? d_out : width;
            gs_gemm(1, 0, no, ni, B, z[l + 1], no, z[l], ni, 0.0f, dw[l], ni);
            if (l > 0)
                gs_gemm(0, 0, B, ni, no, z[l + 1], no, w[l], ni, 0.0f, z[l], ni);
        }
        reps++;
        t = now() - t0;
    } while (t < budget || reps < 2);
    for (size_t l = 0; l <= nl; l++)
        free(z[l]);
    for (size_t l = 0; l < nl; l++) {
        free(w[l]);
        free(dw[l]);
    }
    free(w);
    free(dw);
    free(z);
    return t / (double)reps;
}

/* Seconds per training step through the recorder, recording every step or never. */
static double train_step(const GsSpec *base, const GsDataset *data, int record, unsigned hist,
                         double budget)
{
    GsSpec s = *base;
    s.hist = hist;
    long steps = 2;
    for (;;) {
        s.steps = steps;
        GsNet *net = NULL;
        GsTrace *trace = NULL;
        if (gs_net_create(&s, data->d_in, data->d_out, (size_t)s.batch, &net, NULL) != GS_OK ||
            gs_record_create_trace(net, data, &trace) != GS_OK) {
            fprintf(stderr, "bench: out of memory\n");
            exit(3);
        }
        double t0 = now();
        gs_record_train(net, data, trace, record, NULL, NULL, NULL);
        double t = now() - t0;
        gs_trace_destroy(trace);
        gs_net_destroy(net);
        if (t >= budget || steps >= 1 << 20)
            return t / (double)steps;
        steps = (long)((double)steps * (budget * 1.2 / (t > 1e-4 ? t : 1e-4))) + 1;
    }
}

int main(int argc, char **argv)
{
    int threads = 1, rounds = ROUNDS, hist = 0;
    long hist_every = 1;
    double budget = 1.5;
    Shape shapes[MAX_SHAPES];
    size_t n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = atof(argv[++i]);
        else if (!strcmp(argv[i], "--hist"))
            hist = 1;
        else if (!strcmp(argv[i], "--hist-every") && i + 1 < argc && atol(argv[i + 1]) > 0)
            hist_every = atol(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc && atoi(argv[i + 1]) > 0)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc &&
                 (n_shapes = parse_shapes(argv[i + 1], shapes, MAX_SHAPES)) > 0)
            i++;
        else {
            fprintf(stderr,
                    "usage: bench_engine [--threads N] [--budget SECONDS per setup] "
                    "[--cpu-time] [--rounds N (default %d)] [--hist [--hist-every N]] "
                    "[--shapes d,w,b[;d,w,b...]]\n",
                    ROUNDS);
            return 2;
        }
    }
    if (n_shapes == 0) { /* the default grid: depth {10, 50} x width {64, 256, 1024} x batch
                            {64, 256} */
        size_t depths[] = {10, 50}, widths[] = {64, 256, 1024}, batches[] = {64, 256};
        for (size_t di = 0; di < 2; di++)
            for (size_t wi = 0; wi < 3; wi++)
                for (size_t bi = 0; bi < 2; bi++)
                    shapes[n_shapes++] = (Shape){depths[di], widths[wi], batches[bi]};
    }
    openblas_set_num_threads(threads);
    /* The ceiling: one core's FMA peak, measured before the shapes (0.3 s). */
    double fma_peak = peak_fma_gflops(0.3);
    printf("# OpenBLAS core %s, %d thread(s); SIMD %s, one-core FMA peak %.1f GFLOP/s; tanh MLP, "
           "SGD, mse, d_in 32, d_out 8; %s time\n",
           openblas_get_corename(), openblas_get_num_threads(), peak_simd_level(), fma_peak,
           clock_id == CLOCK_MONOTONIC ? "wall" : "CPU");
    printf("%5s %5s %5s %10s %8s %9s %9s %9s %9s %6s%s\n", "depth", "width", "batch", "steps/s",
           "GFLOP/s", "gemm_GF/s", "vs_gemm", "probe_ovh", "sgemm_pk", "%peak",
           hist ? "  hist_ovh" : "");
    for (size_t si = 0; si < n_shapes; si++) {
        size_t depth = shapes[si].depth, width = shapes[si].width, B = shapes[si].batch;
        size_t d_in = 32, d_out = 8, n = B;
        GsDataset data = {n,
                          d_in,
                          d_out,
                          0,
                          malloc(n * d_in * sizeof(float)),
                          malloc(n * d_out * sizeof(float)),
                          NULL};
        GsRng r;
        gs_rng_seed(&r, 1);
        for (size_t i = 0; i < n * d_in; i++)
            data.x[i] = (float)gs_rng_normal(&r);
        for (size_t i = 0; i < n * d_out; i++)
            data.y[i] = (float)gs_rng_normal(&r);
        GsSpec s;
        gs_spec_default(&s);
        gs_spec_set(&s, "data", "teacher", NULL);
        gs_spec_set(&s, "loss", "mse", NULL);
        s.depth = (int)depth;
        s.width = (int)width;
        s.batch = (long)B;
        s.lr = 1e-4;
        s.threads = threads;
        s.hist_every = hist_every;
        double flops = 0;
        for (size_t l = 0; l <= depth; l++)
            flops += 6.0 * (double)B * (double)(l == 0 ? d_in : width) *
                     (double)(l == depth ? d_out : width);
        /* Interleaved rounds, best of each: on a shared machine the slow moments
         * hit every variant alike instead of skewing one ratio. */
        double tg = INFINITY, tn = INFINITY, tr = INFINITY, th = INFINITY;
        for (int round = 0; round < rounds; round++) {
            tg = fmin(tg, gemm_only(depth, width, B, d_in, d_out, budget / rounds));
            tn = fmin(tn, train_step(&s, &data, 0, 0, budget / rounds));
            tr = fmin(tr, train_step(&s, &data, 1, 0, budget / rounds));
            if (hist)
                th = fmin(th, train_step(&s, &data, 1, GS_HIST_ALL, budget / rounds));
        }
        /* The shape's largest GEMM alone (the forward B x width x width, NT), best of
         * repetitions: the sgemm rate the step's biggest product gets at best. */
        double sgemm_pk = peak_sgemm_gflops(0, 1, (int)B, (int)width, (int)width, budget / rounds);
        double gf = flops / tr * 1e-9;
        printf("%5zu %5zu %5zu %10.1f %8.2f %9.2f %8.1f%% %8.1f%% %9.1f %5.1f%%", depth, width, B,
               1.0 / tr, gf, flops / tg * 1e-9, 100.0 * tg / tr, 100.0 * (tr - tn) / tn, sgemm_pk,
               100.0 * gf / fma_peak);
        if (hist)
            printf(" %8.1f%%", 100.0 * (th - tr) / tr);
        printf("\n");
        fflush(stdout);
        free(data.x);
        free(data.y);
    }
    if (hist)
        printf("# hist_ovh: recording every step with histograms of grad, act and update at every "
               "%ld-th recorded step vs recording without histograms\n",
               hist_every);
    printf("# steps/s and GFLOP/s: full step recording every step; vs_gemm: GEMM-only time / "
           "full step time; probe_ovh: recording every step vs never; each the fastest of %d "
           "interleaved rounds; sgemm_pk: best cblas_sgemm GFLOP/s of the batch x width x width "
           "forward product (NT) alone (the step's NN and TN products may run faster, so gemm_GF/s "
           "can exceed it); %%peak: GFLOP/s / the one-core FMA peak\n",
           rounds);
    return 0;
}
