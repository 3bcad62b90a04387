/* The report's line-plot and text panels: title block, loss curve, depth profile, update
 * ratio, activation health and findings. Each borrows a cairo_t, draws into the rectangle it
 * is given and restores the context. Scratch memory comes from the caller (no allocation). */
#ifndef GS_PLOT_PANELS_H
#define GS_PLOT_PANELS_H

#include <cairo.h>
#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/theory.h"
#include "gradscope/trace.h"
#include "plot/heatmap.h"
#include "plot/layout.h"

/* Doubles of scratch the panels need for a trace of n_steps x n_layers. */
size_t gs_panels_work_size(size_t n_steps, size_t n_layers);

/* Title line (title, or a summary of the setup metadata, or "trace: NAME") and a line of all
 * metadata pairs, then the subtitle. */
void gs_panel_title_block(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *title,
                          const char *subtitle, const char *source_name);
/* Loss against training step for a (and b when not NULL, labelled la / lb); log y when all
 * finite values are positive; non-finite stretches shaded and labelled "NaN/Inf". */
void gs_panel_loss(cairo_t *cr, GsRect r, double font, const GsTrace *a, const char *la,
                   const GsTrace *b, const char *lb, double *work);
/* The same for n >= 1 traces (one colour each, Okabe-Ito; legend of labels when n > 1).
 * work must hold gs_panels_work_size doubles for the longest trace. */
void gs_panel_losses(cairo_t *cr, GsRect r, double font, const GsTrace *const *t,
                     const char *const *labels, size_t n, double *work);
/* log10(metric) against layer at the first, middle and last recorded step; act_grad_norm too
 * when the trace has it; the predicted step-0 act_grad_norm profile dashed when pred given. */
void gs_panel_profile(cairo_t *cr, GsRect r, double font, const GsTrace *t, GsCol metric,
                      const GsPrediction *pred);
/* 1 when the trace records a step at which clipping changed the gradient. */
int gs_trace_clipping_acted(const GsTrace *t);
/* The global gradient norm before and after clipping over steps (log y), the clip-norm
 * threshold from the metadata dashed, titled "Gradient clipping: WHO" (who may be NULL). */
void gs_panel_clip(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *who,
                   double *work);
/* update_ratio per layer over steps (lines coloured by depth) with the 1e-3 reference. */
void gs_panel_update(cairo_t *cr, GsRect r, double font, const GsTrace *t, double *work);
/* Saturation and dead-unit fractions as small 0..1 heatmaps (either may be NULL). */
void gs_panel_health(cairo_t *cr, GsRect r, double font, const GsHeatmap *sat,
                     const GsHeatmap *dead);
/* Findings most severe first (stable), wrapped into r, "+N more" when out of room. */
void gs_panel_findings(cairo_t *cr, GsRect r, double font, const GsFindings *f);

#endif
