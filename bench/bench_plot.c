/* Plot benchmark: writes a 100-layer x 20,000-step trace (every schema column), then times
 * `gradscope plot` on it and reports the child's peak memory against the file size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "gradscope/rng.h"
#include "gradscope/trace.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_plot PATH/TO/gradscope [layers steps]\n");
        return 2;
    }
    size_t L = argc > 3 ? (size_t)atol(argv[2]) : 100, S = argc > 3 ? (size_t)atol(argv[3]) : 20000;
    const char *csv = "/tmp/gs_bench_trace.csv", *png = "/tmp/gs_bench_report.png";
    GsTrace *t = NULL;
    if (gs_trace_create(L, GS_COL_ALL, &t) != GS_OK)
        return 3;
    for (int c = 0; c < GS_COL_COUNT; c++)
        gs_trace_set_has(t, (GsCol)c, 1);
    GsRng r;
    gs_rng_seed(&r, 1);
    double t0 = now();
    for (size_t s = 0; s < S; s++) {
        double *row;
        if (gs_trace_add_step(t, (long)s, &row) != GS_OK)
            return 3;
        for (size_t l = 0; l < L; l++) {
            double *x = row + l * GS_COL_COUNT;
            /* vanishing toward the input, drifting over training, noisy */
            double g = pow(0.8, (double)(L - 1 - l)) * exp(0.3 * gs_rng_normal(&r)) *
                       (1.0 + (double)s / (double)S);
            x[GS_COL_LOSS] = 2.0 * exp(-3.0 * (double)s / (double)S);
            x[GS_COL_LR] = 0.01;
            x[GS_COL_GRAD_NORM] = g;
            x[GS_COL_BIAS_GRAD_NORM] = 0.1 * g;
            x[GS_COL_ACT_GRAD_NORM] = 0.5 * g;
            x[GS_COL_GRAD_MAX_ABS] = 0.05 * g;
            x[GS_COL_WEIGHT_NORM] = 8.0;
            x[GS_COL_UPDATE_RATIO] = 1e-3 * g;
            x[GS_COL_ACT_MEAN] = 0.1;
            x[GS_COL_ACT_STD] = 0.5;
            x[GS_COL_SATURATION] = 0.1;
            x[GS_COL_DEAD_FRAC] = 0.0;
            x[GS_COL_NONFINITE] = 0;
            x[GS_COL_GLOBAL_NORM] = x[GS_COL_GLOBAL_NORM_POST] = 1.0;
            x[GS_COL_CLIPPED] = 0;
        }
        gs_trace_commit_step(t);
    }
    GsError err;
    if (gs_trace_write_csv(t, csv, &err) != GS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 3;
    }
    double t1 = now();
    gs_trace_destroy(t);
    struct stat sb;
    stat(csv, &sb);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s plot %s -o %s -q", argv[1], csv, png);
    double t2 = now();
    int rc = system(cmd);
    double t3 = now();
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("trace: %zu layers x %zu steps, %.1f MB CSV, generated and written in %.2f s\n", L, S,
           (double)sb.st_size / 1e6, t1 - t0);
    printf("gradscope plot: %.2f s wall, exit %d, peak RSS %.1f MB (%.0f%% of the CSV size)\n",
           t3 - t2, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, (double)ru.ru_maxrss / 1e3,
           100.0 * (double)ru.ru_maxrss * 1e3 / (double)sb.st_size);
    if (!getenv("GS_BENCH_KEEP"))
        remove(csv);
    return 0;
}
