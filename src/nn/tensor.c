/* The layer-kind descriptor table that tensor tables (tensor.h) refer to. */
#include "gradscope/tensor.h"

static const GsLayerKindInfo kinds[GS_LAYER_KIND_COUNT] = {
    [GS_LAYER_DENSE] = {"dense", "dense", 2, {GS_TENSOR_WEIGHT, GS_TENSOR_BIAS}},
    [GS_LAYER_NORM] = {"norm", "norm", 2, {GS_TENSOR_NORM_WEIGHT, GS_TENSOR_NORM_BIAS}},
    [GS_LAYER_RECURRENT] = {"recurrent",
                            "rnn",
                            4,
                            {GS_TENSOR_WEIGHT_IH, GS_TENSOR_WEIGHT_HH, GS_TENSOR_BIAS_IH,
                             GS_TENSOR_BIAS_HH}},
};

const GsLayerKindInfo *gs_layer_kind_info(GsLayerKind kind)
{
    return (int)kind >= 0 && kind < GS_LAYER_KIND_COUNT ? &kinds[kind] : NULL;
}

int gs_tensor_role_is_matrix(GsTensorRole role)
{
    return role == GS_TENSOR_WEIGHT || role == GS_TENSOR_WEIGHT_IH || role == GS_TENSOR_WEIGHT_HH ||
           role == GS_TENSOR_OUT_WEIGHT;
}
