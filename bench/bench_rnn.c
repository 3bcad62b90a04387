/* Throughput of one recurrent training step's forward + loss + backward (full BPTT) on the
 * adding-problem shapes: prints steps per second. bench/bench_rnn_torch.py runs it beside
 * PyTorch. A benchmark, not a test.
 *
 *   bench_rnn CELL HIDDEN [T B SECONDS]      (defaults: T 50, B 64, 1 s)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gradscope/rng.h"
#include "gradscope/rnn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 6) {
        fprintf(stderr, "usage: bench_rnn CELL HIDDEN [T B SECONDS]\n");
        return 2;
    }
    GsError err;
    GsRnnConfig c = gs_rnn_config_default();
    if (gs_cell_parse(argv[1], &c.cell, &err) != GS_OK) {
        fprintf(stderr, "bench_rnn: %s\n", err.msg);
        return 2;
    }
    c.hidden = (size_t)strtoul(argv[2], NULL, 10);
    c.seq_len = argc == 6 ? (size_t)strtoul(argv[3], NULL, 10) : 50;
    c.batch_max = argc == 6 ? (size_t)strtoul(argv[4], NULL, 10) : 64;
    double seconds = argc == 6 ? strtod(argv[5], NULL) : 1.0;
    c.d_in = 2;
    c.d_out = 1;
    GsRnn *net;
    if (gs_rnn_create(&c, &net, &err) != GS_OK) {
        fprintf(stderr, "bench_rnn: %s\n", err.msg);
        return 2;
    }
    const size_t B = c.batch_max, T = c.seq_len;
    float *x = malloc(B * T * 2 * sizeof *x), *y = malloc(B * sizeof *y);
    if (!x || !y)
        return 1;
    GsRng r;
    gs_rng_seed(&r, 1);
    for (size_t i = 0; i < B * T * 2; i++)
        x[i] = (float)gs_rng_uniform(&r);
    for (size_t i = 0; i < B; i++)
        y[i] = (float)gs_rng_uniform(&r);
    long n = 0;
    double sink = 0.0;
    for (int w = 0; w < 3; w++) { /* warm up */
        gs_rnn_zero_grad(net);
        gs_rnn_forward(net, x, B, T);
        sink += gs_rnn_loss(net, y, NULL);
        gs_rnn_backward(net);
    }
    double t0 = now(), t;
    do {
        gs_rnn_zero_grad(net);
        gs_rnn_forward(net, x, B, T);
        sink += gs_rnn_loss(net, y, NULL);
        gs_rnn_backward(net);
        n++;
        t = now() - t0;
    } while (t < seconds);
    printf("%s hidden %zu T %zu batch %zu: %.2f steps/s (loss sum %.3g)\n", argv[1], c.hidden, T, B,
           (double)n / t, sink);
    free(x);
    free(y);
    gs_rnn_destroy(net);
    return 0;
}
