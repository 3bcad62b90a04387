/* The network: a dense MLP (input -> depth hidden layers -> linear output) with optional
 * normalization and residual blocks, float32 parameters in one arena, gradients in
 * another, and a tensor table (tensor.h) of where each tensor sits in both (DESIGN.md's
 * numerical contract). */
#ifndef GRADSCOPE_NET_H
#define GRADSCOPE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/hist.h"
#include "gradscope/spec.h"
#include "gradscope/status.h"
#include "gradscope/tensor.h"
#include "gradscope/vecstats.h"

/* Opaque network with its parameters, gradients, optimizer state and activations. */
typedef struct GsNet GsNet;

/* Arena sizes of a net, in floats (bytes: everything). Plain value. */
typedef struct {
    size_t n_params;  /* parameters (== gradients == update entries) */
    size_t n_wt;      /* the transposed weight mirror (the forward products' operands) */
    size_t n_acts;    /* activation buffers and the backward pass's scratch */
    size_t n_tensors; /* entries of the tensor table: 2 per dense layer, 2 more per norm */
    size_t bytes;     /* everything gs_net_create allocates, for memory estimates */
} GsNetSizes;

/* Sizes of the net gs_net_create would build for these arguments: a pure function, and the
 * only computation of them (gs_net_create lays the net out with the same pass, and the
 * memory estimate reads its bytes). GS_ERR_INVALID for an empty dimension, GS_ERR_RANGE when
 * a size overflows size_t; *out untouched on failure. */
GsStatus gs_net_sizes(const GsSpec *spec, size_t d_in, size_t d_out, size_t batch_max,
                      GsNetSizes *out, GsError *err);

/* Creates a net for spec with d_in inputs, d_out outputs and batches of up to batch_max
 * rows, and initializes its parameters from the spec's init and seed. All memory is
 * allocated here, once. GS_ERR_NOMEM or GS_ERR_INVALID (spec not validated) on failure. */
GsStatus gs_net_create(const GsSpec *spec, size_t d_in, size_t d_out, size_t batch_max, GsNet **out,
                       GsError *err);
/* Frees the net; NULL is a no-op. */
void gs_net_destroy(GsNet *net);

/* Dense layers including the output layer (depth + 1). */
size_t gs_net_n_layers(const GsNet *net);
/* Total number of trainable parameters. */
size_t gs_net_n_params(const GsNet *net);
/* The parameter tensor table (tensor.h), in arena and export order: per layer l = 1..depth
 * dense{l}.weight (width, n_in), dense{l}.bias, then with a norm norm{l}.weight (gamma) and
 * norm{l}.bias (beta); last out.weight (d_out, width) and out.bias. Entry .layer is l - 1
 * (the head: depth). *n receives the count. Valid while the net lives. */
const GsTensorInfo *gs_net_tensors(const GsNet *net, size_t *n);
/* The entry of layer (0-based, as GsTensorInfo.layer) with role; NULL when there is none. */
const GsTensorInfo *gs_net_tensor(const GsNet *net, size_t layer, GsTensorRole role);
/* The arenas the table's offsets index: parameters, gradients, and the last optimizer
 * step's update (gs_net_n_params floats each; the update as of the last step that kept it,
 * gs_net_set_keep_update). Valid while the net lives. */
float *gs_net_params(GsNet *net);
float *gs_net_grads(GsNet *net);
const float *gs_net_update(const GsNet *net);
/* The setup the net was built from. */
const GsSpec *gs_net_spec(const GsNet *net);

/* Sets every gradient to zero (backward overwrites them; for callers that read the arena
 * before any backward). */
void gs_net_zero_grad(GsNet *net);
/* Forward pass of B <= batch_max rows of x (B, d_in); x must stay valid until backward. */
void gs_net_forward(GsNet *net, const float *x, size_t B);
/* Loss of the last forward pass against targets (mse: target (B, d_out)) or class ids
 * (xent: label (B)), and its gradient w.r.t. the output, ready for backward. */
double gs_net_loss(GsNet *net, const float *target, const int32_t *label, size_t B);
/* Backward pass of the last forward/loss: writes every parameter gradient. */
void gs_net_backward(GsNet *net, size_t B);
/* Output of the last forward pass (B, d_out). */
const float *gs_net_output(const GsNet *net);

/* Global L2 norm of all parameter gradients (double accumulation; NaN/Inf propagate). */
double gs_net_grad_norm(const GsNet *net);

/* What the last gs_net_step measured of one tensor of the table. */
typedef struct {
    GsVecStats grad;      /* the gradient as backward left it (before clipping) */
    double param_sumsq;   /* ||theta||^2 of the parameters before the step */
    double update_sumsq;  /* ||delta||^2 of the step's change */
    double applied_sumsq; /* ||g||^2 of the gradient the update used (after clipping) */
} GsTensorRecord;

/* What the last gs_net_step did to the whole gradient. */
typedef struct {
    double norm_before, norm_after; /* global L2 norms before and after clipping */
    int clipped;                    /* 1 when clipping changed anything */
} GsStepInfo;

/* The step after backward: clipping as the spec says (global norm, then value), then the
 * optimizer (the spec's, at learning rate lr; t is the 1-based step count), its update
 * written into the update arena and applied in the same pass. Each tensor's gradient is
 * read once for its statistics: by the update pass itself when the spec clips nothing, else
 * by one statistics pass before clipping (which gives the norm clipping needs). The global
 * norms are the square root of the tensors' sums of squares added in table order. Fills
 * *info and the per-tensor records (gs_net_records). Cannot fail. */
void gs_net_step(GsNet *net, double lr, long t, GsStepInfo *info);
/* 1 when the spec clips nothing, so that gs_net_backward_step may stand for gs_net_backward
 * followed by gs_net_step. */
int gs_net_can_fuse_step(const GsNet *net);
/* gs_net_backward then gs_net_step, with the same results bit for bit, for a spec that clips
 * nothing (gs_net_can_fuse_step): each layer's tensors are updated as soon as backward has
 * made their gradients and is done with the layer's weights, while both are still in cache,
 * instead of in a pass over the whole arena afterwards. The gradient arena keeps the
 * gradients (the histograms read them). */
void gs_net_backward_step(GsNet *net, size_t B, double lr, long t, GsStepInfo *info);
/* The records of the last gs_net_step (or gs_net_backward_step), one per tensor in table order
 * (gs_net_tensors); all zero before the first step. Valid while the net lives. */
const GsTensorRecord *gs_net_records(const GsNet *net);

/* Layer l's (1-based: 1..depth hidden, depth+1 output) activation buffers from the last
 * forward/backward pass (B rows): z the dense output, y the activation's input (== z without norm),
 * h = phi(y) (the output layer's h is its z), dz = dLoss/dz. */
const float *gs_net_layer_z(const GsNet *net, size_t l);
const float *gs_net_layer_y(const GsNet *net, size_t l);
const float *gs_net_layer_h(const GsNet *net, size_t l);
const float *gs_net_layer_dz(const GsNet *net, size_t l);
/* What the last forward and backward passes measured of one layer for the probe, in the
 * passes themselves (gs_net_set_measure): hidden layers without a norm fuse bias and
 * activation, and those fused passes measure their outputs. */
typedef struct {
    int forward;            /* h_sum, h_sumsq are valid (gs_sum_sumsq of h, bit for bit) */
    double h_sum, h_sumsq;  /* of the layer's outputs h */
    int backward;           /* dz_sumsq, saturated, dead are valid */
    double dz_sumsq;        /* ||dz||^2 (gs_sumsq of dz, bit for bit) */
    size_t saturated, dead; /* entries with phi' below the saturation level; dead units */
} GsLayerMeasure;
/* Asks the following forward and backward passes to measure (on = 0 stops). */
void gs_net_set_measure(GsNet *net, int on);
/* on = 1: the following update passes (gs_net_step, gs_net_backward_step) keep no sums, only
 * whether each gradient is finite (GsOptStep.finite_only), for steps whose records and norms
 * nobody reads beyond that (the recorder's unrecorded steps): each record's grad.sumsq is 0
 * or +Inf, its other sums 0, and GsStepInfo's norms are 0 or +Inf accordingly (with clipping,
 * norm_before stays the true global norm clipping used). Passes that count histograms
 * ignore it. The parameters and the optimizer state come out the same bit for bit. Off
 * (0) when the net is created. */
void gs_net_set_lean_update(GsNet *net, int on);
/* on = 0: the following update passes apply each change without storing it in the update
 * arena (gs_net_update), except for tensors whose update histogram they count; a stream of
 * writes as large as the parameters saved. On (1) when the net is created. */
void gs_net_set_keep_update(GsNet *net, int on);
/* Asks the following update passes (gs_net_step, gs_net_backward_step) to count histograms
 * (hist.h) of each weight tensor as they stream it: kinds is a mask of GS_HIST_GRAD (the
 * gradient as backward left it: counted only where nothing clipped it, i.e. by the fused
 * step) and GS_HIST_UPDATE (the change); 0 stops; GS_HIST_ACT is ignored (the probe counts
 * activations). Clears what the last pass counted. GS_ERR_NOMEM when the first call cannot
 * allocate the histograms. */
GsStatus gs_net_set_measure_hist(GsNet *net, unsigned kinds);
/* The histogram of tensor k (table order) that the last update pass counted, or NULL when it
 * counted none of that kind for k (not asked, not a weight, or a clipped gradient). */
const float *gs_net_tensor_hist(const GsNet *net, size_t k, GsHistKind kind);
/* Layer l's (1-based) measurements of the last passes. Valid while the net lives. */
const GsLayerMeasure *gs_net_layer_measure(const GsNet *net, size_t l);
/* Scratch buffer of batch_max x max(width, d_out) floats for read-only probes. */
float *gs_net_scratch(GsNet *net);

/* Writes the current parameters as .npy files into dir (which must exist), one per tensor
 * of the table, named DIR/<name>.npy: dense{l}.weight.npy (n_out, n_in), dense{l}.bias.npy,
 * norm{l}.weight.npy, norm{l}.bias.npy, out.weight.npy, out.bias.npy (PyTorch's nn.Linear /
 * BatchNorm1d / LayerNorm layouts). GS_ERR_IO naming the file on failure. */
GsStatus gs_net_export_npy(const GsNet *net, const char *dir, GsError *err);

#endif
