/* Parameter tensor tables, one shape for every kind of net: each trainable tensor's name (its
 * exported .npy / PyTorch state_dict key), role, owning layer, shape and offset into the
 * net's parameter and gradient arenas; and the layer-kind descriptor those tables refer to.
 * The dense net (net.h) and the recurrent net (rnn.h) both hand out a GsTensorInfo table. */
#ifndef GRADSCOPE_TENSOR_H
#define GRADSCOPE_TENSOR_H

#include <stddef.h>

/* What a layer computes. Recurrent layers name their cell in rnn.h's GsCellKind. */
typedef enum {
    GS_LAYER_DENSE = 0, /* z = x W^T + b (nn.Linear); the output head too */
    GS_LAYER_NORM,      /* batch or layer normalization with scale and shift (GsNormKind) */
    GS_LAYER_RECURRENT, /* an RNN/LSTM/GRU layer, unrolled through time */
    GS_LAYER_KIND_COUNT
} GsLayerKind;

/* What a tensor of a table is. */
typedef enum {
    GS_TENSOR_WEIGHT = 0,  /* dense{l}.weight (n_out, n_in) */
    GS_TENSOR_BIAS,        /* dense{l}.bias (n_out) */
    GS_TENSOR_NORM_WEIGHT, /* norm{l}.weight, the scale gamma (n) */
    GS_TENSOR_NORM_BIAS,   /* norm{l}.bias, the shift beta (n) */
    GS_TENSOR_WEIGHT_IH,   /* rnn.weight_ih_l{k} (G*H, n_in) */
    GS_TENSOR_WEIGHT_HH,   /* rnn.weight_hh_l{k} (G*H, H) */
    GS_TENSOR_BIAS_IH,     /* rnn.bias_ih_l{k} (G*H) */
    GS_TENSOR_BIAS_HH,     /* rnn.bias_hh_l{k} (G*H) */
    GS_TENSOR_OUT_WEIGHT,  /* out.weight (d_out, n_in): the linear head */
    GS_TENSOR_OUT_BIAS,    /* out.bias (d_out) */
    GS_TENSOR_ROLE_COUNT
} GsTensorRole;

/* A layer kind's description: the one table that naming, export and the probes read. */
typedef struct {
    const char *name;      /* "dense", "norm", "recurrent" */
    const char *prefix;    /* of its tensors' names: "dense", "norm", "rnn" */
    size_t n_roles;        /* tensors per layer of this kind */
    GsTensorRole roles[4]; /* their roles, in table (state_dict) order */
} GsLayerKindInfo;

/* The description of kind; NULL for an out-of-range kind. */
const GsLayerKindInfo *gs_layer_kind_info(GsLayerKind kind);
/* 1 for the roles holding a weight matrix (weight, weight_ih, weight_hh, out.weight). */
int gs_tensor_role_is_matrix(GsTensorRole role);

/* One parameter tensor of a net. Plain value. */
typedef struct {
    char name[40];       /* "dense1.weight", "norm2.bias", "rnn.weight_hh_l0", "out.bias" */
    GsTensorRole role;   /* what it is */
    GsLayerKind kind;    /* the kind of layer that owns it (the head: GS_LAYER_DENSE) */
    size_t layer;        /* 0-based layer of the net, = its trace row: dense and norm l at l-1,
                            recurrent layer k at k, the head last (depth) */
    size_t ndim;         /* 2 for matrices, 1 for vectors */
    size_t shape[2];     /* rows, cols (row-major); shape[1] = 0 when ndim = 1 */
    size_t offset, size; /* in floats, into the parameter and gradient arenas */
} GsTensorInfo;

#endif
