/* Read-only probes: per-layer gradient, activation and update statistics read from a net's
 * arenas after backward (and after the optimizer step), into a trace block. */
#ifndef GRADSCOPE_PROBE_H
#define GRADSCOPE_PROBE_H

#include <stddef.h>

#include "gradscope/net.h"
#include "gradscope/trace.h"

/* Fills, for every layer, the activation columns of DESIGN.md's trace schema (act_grad_norm,
 * act_mean, act_std, saturation, dead_frac) into row, a trace block of n_layers x
 * GS_COL_COUNT, from the last forward/backward pass of B rows. Uses the net's scratch
 * buffer; cannot fail. */
void gs_probe_acts(GsNet *net, size_t B, double *row);
/* Fills, for every layer, the tensor columns (grad_norm, grad_rms, grad_max_abs,
 * bias_grad_norm, nonfinite, weight_norm, update_ratio = ||dW_l|| / ||W_l||) from the
 * per-tensor records of the last gs_net_step (gs_net_records): no pass over the arrays.
 * Call after gs_net_step. */
void gs_probe_tensors(const GsNet *net, double *row);
/* Histograms (hist.h) of recorded step i of trace, for the kinds the trace stores: grad adds the
 * entries of every layer's weight gradient dL/dW_l, act its output h_l over the B rows of the
 * last forward pass (the output layer's logits), with the trace's linear range. Call
 * before gs_net_step (the gradient before clipping). A gradient histogram the update pass
 * counted (gs_net_set_measure_hist) is taken from the net instead of a pass over the array:
 * the same counts. NaN/Inf are counted. Cannot fail. */
void gs_probe_hist_grads(GsNet *net, size_t B, GsTrace *trace, size_t i);
/* Adds the entries of every layer's weight update Delta W_l (when the trace stores update
 * histograms) at recorded step i, from the net's histograms where its update pass counted
 * them. Call after gs_net_step. Cannot fail. */
void gs_probe_hist_update(const GsNet *net, GsTrace *trace, size_t i);

#endif
