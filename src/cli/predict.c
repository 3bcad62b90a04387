/* `gradscope predict`: the theory's per-layer gradient gain at initialization. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_opts.h"
#include "gradscope/diagnose.h"
#include "gradscope/rnn.h"
#include "gradscope/seq.h"
#include "gradscope/theory.h"

typedef struct {
    const char *json;
} PredOpts;

static const CliOpt pred_opts[] = {
    {"json", 0, required_argument, "FILE", "write the prediction as JSON ('-' = stdout)"},
};

static int pred_opt(void *ctx, int i, const char *arg)
{
    (void)i;
    ((PredOpts *)ctx)->json = arg;
    return 0;
}

/* A number as JSON: finite values as numbers, others as null (JSON has no NaN/Inf). */
static void json_num(FILE *f, const char *key, double v, int last)
{
    if (isfinite(v))
        fprintf(f, "  \"%s\": %.17g%s\n", key, v, last ? "" : ",");
    else
        fprintf(f, "  \"%s\": null%s\n", key, last ? "" : ",");
}

/* Recurrent setups: the net at init (for the recurrent weights' sigma_max and spectral
 * radius), the Pascanu bound for plain cells, and the mean-field prediction through time. */
static int predict_rnn(const GsSpec *spec, const char *json_path)
{
    GsError err = {{0}};
    GsSeqOptions so = {(GsSeqKind)gs_data_seq_kind(spec->data.kind),
                       (size_t)spec->samples,
                       (size_t)spec->seq_len,
                       0,
                       0,
                       spec->seed};
    GsSeqDataset *d = NULL;
    GsStatus st = gs_seq_create(&so, &d, &err);
    if (st != GS_OK)
        return cli_fail_status("predict", st, err.msg);
    double m2 = gs_seq_input_second_moment(d);
    size_t B = spec->batch <= 0 || (size_t)spec->batch >= d->n ? d->n : (size_t)spec->batch;
    GsRnnConfig cfg;
    GsRnn *net = NULL;
    st = gs_spec_rnn_config(spec, d->d_in, d->d_out, d->per_step, B, &cfg, &err);
    if (st == GS_OK)
        st = gs_rnn_create(&cfg, &net, &err);
    gs_seq_destroy(d);
    if (st != GS_OK)
        return cli_fail_status("predict", st, err.msg);
    double smax = NAN, rho = NAN;
    if (gs_rnn_recurrent_spectra(net, 0, &smax, &rho) != GS_OK) {
        gs_rnn_destroy(net);
        fprintf(stderr, "gradscope predict: out of memory\n");
        return GS_EXIT_FAIL;
    }
    gs_rnn_destroy(net);
    GsRnnBound bound;
    int have_bound = gs_theory_rnn_bound(cfg.cell, smax, cfg.seq_len, &bound, NULL) == GS_OK;
    GsRnnPrediction pr;
    GsError perr = {{0}};
    int have_pred = gs_theory_rnn_predict(&cfg, m2, rho, &pr, &perr) == GS_OK;
    int to_stdout = json_path && !strcmp(json_path, "-");
    if (json_path) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) {
            fprintf(stderr, "gradscope predict: out of memory writing JSON\n");
            return GS_EXIT_FAIL;
        }
        fprintf(f, "{\n  \"arch\": \"%s\",\n  \"cell\": \"%s\",\n  \"seq_len\": %zu,\n",
                gs_arch_name(spec->arch), gs_cell_name(cfg.cell), cfg.seq_len);
        json_num(f, "input_second_moment", m2, 0);
        json_num(f, "sigma_max_hh_l0", smax, 0);
        json_num(f, "spectral_radius_hh_l0", rho, 0);
        json_num(f, "bound_per_step", have_bound ? bound.per_step : (double)NAN, 0);
        json_num(f, "bound_over_steps", have_bound ? bound.over_steps : (double)NAN, 0);
        json_num(f, "ratio_first_last", have_pred ? pr.ratio : (double)NAN, 0);
        json_num(f, "step_gain", have_pred ? pr.step_gain : (double)NAN, 0);
        json_num(f, "horizon", have_pred ? pr.horizon : (double)NAN, 1);
        fprintf(f, "}\n");
        fclose(f);
        int rc = 0;
        GsError werr = {{0}};
        if (to_stdout)
            fputs(buf, stdout);
        else if (cli_write_file_atomic(json_path, buf, &werr) != 0)
            rc = cli_fail("predict", "--json: cannot write %s", werr.msg);
        free(buf);
        if (rc || to_stdout)
            return rc;
    }
    printf("%s (%s cell), %d layer%s x %d hidden, T = %zu, inputs' mean square %.4g\n",
           gs_arch_name(spec->arch), gs_cell_name(cfg.cell), spec->depth,
           spec->depth == 1 ? "" : "s", spec->width, cfg.seq_len, m2);
    printf("recurrent weight weight_hh_l0 at init: sigma_max %.4g, spectral radius %.4g\n", smax,
           rho);
    if (have_bound)
        printf("Pascanu et al. 2013 bound: ||dh_t/dh_t-1|| <= sigma_max x %.3g = %.4g per step, "
               "%.3g over %zu steps: %s\n",
               bound.gamma, bound.per_step, bound.over_steps, cfg.seq_len - 1,
               bound.vanish_sufficient ? "vanishing is certain" : "vanishing not guaranteed");
    else
        printf("Pascanu et al. 2013 bound: applies to plain rnn cells (gated cells have the "
               "gates' own terms)\n");
    if (have_pred) {
        printf("predicted per-step factor of ||dL/dh_t|| going back: %.4g; ||dL/dh_1|| / "
               "||dL/dh_T||: %.3g\n",
               pr.step_gain, pr.ratio);
        if (isfinite(pr.horizon))
            printf("memory horizon (steps back until the gradient is below 1e-3 of its value at "
                   "T): %.1f steps\n",
                   pr.horizon);
        else
            printf("memory horizon: unbounded (the gradient does not shrink going back)\n");
        printf("model: %s\n", pr.model);
    } else {
        printf("no mean-field prediction: %s\n", perr.msg);
    }
    return 0;
}

int cli_predict(int argc, char **argv)
{
    PredOpts o = {NULL};
    GsSpec spec;
    gs_spec_default(&spec);
    int pos = 0;
    int rc = cli_parse("predict", "[setup options] [--json FILE|-]",
                       "Predict, without training, how the backpropagated gradient's size "
                       "changes from layer to layer\nat initialization (mean-field signal "
                       "propagation; see docs/THEORY.md), and which regime\nthe setup is in: "
                       "ordered (vanishing), critical, or chaotic (exploding).\nFor --arch "
                       "rnn, lstm or gru: how ||dL/dh_t|| changes per time step going back, the "
                       "memory horizon,\nand for plain rnn cells the Jacobian bound of Pascanu et "
                       "al. 2013.",
                       argc, argv, &spec, pred_opts, 1, pred_opt, &o, &pos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (pos < argc)
        return cli_fail("predict", "unexpected argument '%s'", argv[pos]);
    if (cli_check_output("predict", "--json", o.json, NULL))
        return GS_EXIT_USAGE;
    const CliPath files[] = {{"--data", spec.data.kind == GS_DATA_CSV ? spec.data.path : NULL, 0},
                             {"--config", cli_config_path(), 0},
                             {"--json", o.json, 1}};
    if ((rc = cli_check_same_files("predict", files, 3)))
        return rc;
    GsError err = {{0}};
    GsStatus st = gs_spec_validate(&spec, 0, 0, &err);
    if (st != GS_OK)
        return cli_fail("predict", "%s", err.msg);
    if (gs_arch_is_recurrent(spec.arch))
        return predict_rnn(&spec, o.json);
    cli_resolve_loss("predict", &spec, 0);
    /* The recursion starts from the actual inputs' second moment. */
    GsDataOptions dopt = {(size_t)spec.samples,
                          spec.noise,
                          spec.input_scale,
                          spec.standardize,
                          spec.target[0] ? spec.target : NULL,
                          gs_spec_loss(&spec) == GS_LOSS_XENT,
                          spec.seed};
    GsDataset *data = NULL;
    if ((st = gs_data_create(&spec.data, &dopt, &data, &err)) != GS_OK) {
        return cli_fail_status("predict", st, err.msg);
    }
    GsPrediction pred = {0};
    st = gs_theory_predict(&spec, data->d_in, gs_data_input_second_moment(data), &pred, &err);
    gs_data_destroy(data);
    if (st != GS_OK) {
        return cli_fail_status("predict", st, err.msg);
    }
    if (o.json) {
        char *json = NULL;
        if (gs_prediction_to_json(&pred, &json) != GS_OK) {
            gs_prediction_fini(&pred);
            fprintf(stderr, "gradscope predict: out of memory writing JSON\n");
            return GS_EXIT_FAIL;
        }
        GsError werr = {{0}};
        if (!strcmp(o.json, "-"))
            printf("%s\n", json);
        else if (cli_write_file_atomic(o.json, json, &werr) != 0)
            rc = cli_fail("predict", "--json: cannot write %s", werr.msg);
        free(json);
    }
    if (!o.json || strcmp(o.json, "-")) {
        printf("%6s %12s %12s %18s\n", "layer", "q", "chi", "rel_act_grad_norm");
        for (size_t i = 0; i < pred.n_layers; i++)
            printf("%6d %12.5g %12.5g %18.5g\n", pred.layers[i].layer, pred.layers[i].q,
                   pred.layers[i].chi, pred.layers[i].rel_act_grad_norm);
        printf("\nact_grad_norm ratio layer 1 / layer %d: %.4g   regime: %s\n", spec.depth,
               pred.ratio_first_last, gs_regime_name(pred.regime));
        if (pred.caveat[0])
            printf("note: %s\n", pred.caveat);
    }
    gs_prediction_fini(&pred);
    return rc;
}
