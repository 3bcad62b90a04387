/* The network: a dense MLP (input -> depth hidden layers -> linear output) with optional
 * normalization and residual blocks, float32 parameters in one arena, gradients in
 * another, per-layer views into both (DESIGN.md's numerical contract). */
#ifndef GRADSCOPE_NET_H
#define GRADSCOPE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "gradscope/spec.h"
#include "gradscope/status.h"

/* Opaque network with its parameters, gradients, optimizer state and activations. */
typedef struct GsNet GsNet;

/* Views of one dense layer's parameters and their gradients (gamma/beta and their
 * gradients are NULL when the layer has no norm). Valid while the net lives. */
typedef struct {
    size_t n_in, n_out;
    float *w, *b, *gamma, *beta;
    float *dw, *db, *dgamma, *dbeta;
} GsLayerParams;

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
/* Views of layer l (1-based: 1..depth hidden, depth+1 output). */
GsLayerParams gs_net_layer(GsNet *net, size_t l);
/* The setup the net was built from. */
const GsSpec *gs_net_spec(const GsNet *net);

/* Sets every gradient to zero (backward accumulates). */
void gs_net_zero_grad(GsNet *net);
/* Forward pass of B <= batch_max rows of x (B, d_in); x must stay valid until backward. */
void gs_net_forward(GsNet *net, const float *x, size_t B);
/* Loss of the last forward pass against targets (mse: target (B, d_out)) or class ids
 * (xent: label (B)), and its gradient w.r.t. the output, ready for backward. */
double gs_net_loss(GsNet *net, const float *target, const int32_t *label, size_t B);
/* Backward pass of the last forward/loss: accumulates every parameter gradient. */
void gs_net_backward(GsNet *net, size_t B);
/* Output of the last forward pass (B, d_out). */
const float *gs_net_output(const GsNet *net);

/* Global L2 norm of all parameter gradients (double accumulation; NaN/Inf propagate). */
double gs_net_grad_norm(const GsNet *net);
/* Clipping as the spec says (global norm, then value), given the global norm computed
 * by gs_net_grad_norm. Reports the norm after clipping; returns 1 when anything changed. */
int gs_net_clip(GsNet *net, double norm_before, double *norm_after);
/* One optimizer step (the spec's optimizer at learning rate lr; t is the 1-based step
 * count): the update is written into the net's update arena and applied in one pass. */
void gs_net_optim_step(GsNet *net, double lr, long t);
/* The update arena's view of layer l's weights (n_out x n_in): the last step's change. */
const float *gs_net_layer_delta_w(const GsNet *net, size_t l);

/* Layer l's activation buffers from the last forward/backward pass (B rows): z the dense
 * output, y the activation's input (== z without norm), h = phi(y) (the output layer's h
 * is its z), dz = dLoss/dz. */
const float *gs_net_layer_z(const GsNet *net, size_t l);
const float *gs_net_layer_y(const GsNet *net, size_t l);
const float *gs_net_layer_h(const GsNet *net, size_t l);
const float *gs_net_layer_dz(const GsNet *net, size_t l);
/* Scratch buffer of batch_max x max(width, d_out) floats for read-only probes. */
float *gs_net_scratch(GsNet *net);

/* Writes the current parameters as .npy files into dir (which must exist):
 * dense{l}.weight.npy (n_out, n_in), dense{l}.bias.npy, norm{l}.weight.npy,
 * norm{l}.bias.npy. GS_ERR_IO naming the file on failure. */
GsStatus gs_net_export_npy(const GsNet *net, const char *dir, GsError *err);

#endif
