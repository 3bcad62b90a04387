/* `gradscope predict`: the theory's per-layer gradient gain at initialization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/report_opts.h"
#include "gradscope/diagnose.h"
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
                       "ordered (vanishing), critical, or chaotic (exploding).",
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
