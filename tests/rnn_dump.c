/* Test driver for the PyTorch cross-check (tests/py/rnn_torch.py): builds a recurrent net,
 * runs one forward/loss/backward on a seeded random batch and writes into DIR the initial
 * weights (state_dict names), the batch, the loss, every gradient and the through-time
 * norms as .npy files.
 *
 *   rnn_dump CELL DEPTH last|each mse|xent BPTT DIR [H T B D O SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradscope/npy.h"
#include "gradscope/rng.h"
#include "gradscope/rnn.h"

static int num(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        return 0;
    *out = (size_t)v;
    return 1;
}

static int write(const char *dir, const char *name, const float *data, const size_t *shape,
                 size_t nd)
{
    char path[4096];
    GsError err;
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (gs_npy_write_f32(path, data, shape, nd, &err) != GS_OK) {
        fprintf(stderr, "rnn_dump: %s\n", err.msg);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 13) {
        fprintf(stderr,
                "usage: rnn_dump CELL DEPTH last|each mse|xent BPTT DIR [H T B D O SEED]\n");
        return 2;
    }
    GsError err;
    GsRnnConfig c = gs_rnn_config_default();
    size_t v[6] = {8, 6, 4, 3, 3, 1};
    if (gs_cell_parse(argv[1], &c.cell, &err) != GS_OK) {
        fprintf(stderr, "rnn_dump: %s\n", err.msg);
        return 2;
    }
    for (int i = 0; argc == 13 && i < 6; i++)
        if (!num(argv[7 + i], &v[i])) {
            fprintf(stderr, "rnn_dump: bad number '%s'\n", argv[7 + i]);
            return 2;
        }
    if (!num(argv[2], &c.depth) || !num(argv[5], &c.bptt)) {
        fprintf(stderr, "rnn_dump: bad depth '%s' or bptt '%s'\n", argv[2], argv[5]);
        return 2;
    }
    c.head = strcmp(argv[3], "each") == 0 ? GS_RNN_HEAD_EACH : GS_RNN_HEAD_LAST;
    c.loss = strcmp(argv[4], "xent") == 0 ? GS_RNN_LOSS_XENT : GS_RNN_LOSS_MSE;
    c.hidden = v[0];
    c.seq_len = v[1];
    c.batch_max = v[2];
    c.d_in = v[3];
    c.d_out = v[4];
    c.seed = v[5];
    const char *dir = argv[6];
    GsRnn *net;
    if (gs_rnn_create(&c, &net, &err) != GS_OK) {
        fprintf(stderr, "rnn_dump: %s\n", err.msg);
        return 2;
    }
    if (gs_rnn_export_npy(net, dir, &err) != GS_OK) {
        fprintf(stderr, "rnn_dump: %s\n", err.msg);
        return 1;
    }
    const size_t B = c.batch_max, T = c.seq_len, D = c.d_in, O = c.d_out;
    const int each = c.head == GS_RNN_HEAD_EACH;
    const size_t nt = each ? B * T : B;
    float *x = malloc(B * T * D * sizeof *x), *y = malloc(nt * O * sizeof *y);
    int32_t *lab = malloc(nt * sizeof *lab);
    float *labf = malloc(nt * sizeof *labf);
    if (!x || !y || !lab || !labf)
        return 1;
    GsRng r;
    gs_rng_seed(&r, c.seed + 1000);
    for (size_t i = 0; i < B * T * D; i++)
        x[i] = (float)gs_rng_normal(&r);
    for (size_t i = 0; i < nt * O; i++)
        y[i] = (float)gs_rng_normal(&r);
    for (size_t i = 0; i < nt; i++) {
        lab[i] = (int32_t)gs_rng_below(&r, O);
        labf[i] = (float)lab[i];
    }
    gs_rnn_zero_grad(net);
    gs_rnn_forward(net, x, B, T);
    float loss = (float)gs_rnn_loss(net, y, lab);
    gs_rnn_backward(net);

    int ok = 1;
    size_t shx[3] = {B, T, D}, shy[3] = {B, each ? T : O, O};
    ok &= write(dir, "data.x", x, shx, 3);
    if (c.loss == GS_RNN_LOSS_MSE)
        ok &= write(dir, "data.y", y, shy, each ? 3 : 2);
    else
        ok &= write(dir, "data.y", labf, shy, each ? 2 : 1);
    ok &= write(dir, "loss", &loss, NULL, 0);
    size_t n;
    const GsRnnTensor *t = gs_rnn_tensors(net, &n);
    char name[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "grad.%s", t[i].name);
        ok &= write(dir, name, gs_rnn_grads(net) + t[i].offset, t[i].shape, t[i].ndim);
    }
    float *nb = malloc(T * sizeof *nb);
    for (size_t k = 0; k < c.depth && nb; k++) {
        const double *h = gs_rnn_h_grad_norm(net, k), *cn = gs_rnn_c_grad_norm(net, k);
        for (size_t i = 0; i < T; i++)
            nb[i] = (float)h[i];
        snprintf(name, sizeof name, "hnorm_l%zu", k);
        ok &= write(dir, name, nb, &T, 1);
        if (cn) {
            for (size_t i = 0; i < T; i++)
                nb[i] = (float)cn[i];
            snprintf(name, sizeof name, "cnorm_l%zu", k);
            ok &= write(dir, name, nb, &T, 1);
        }
    }
    free(nb);
    free(x);
    free(y);
    free(lab);
    free(labf);
    gs_rnn_destroy(net);
    return ok ? 0 : 1;
}
