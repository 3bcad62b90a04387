/* The report's line-plot and text panels: title block, loss curve, depth profile, update
 * ratio, activation health and findings. Each borrows a cairo_t, draws into the rectangle it
 * is given and restores the context. Scratch memory comes from the caller (no allocation). */
#ifndef GS_PLOT_PANELS_H
#define GS_PLOT_PANELS_H

#include <cairo.h>
#include <stddef.h>

#include "gradscope/diagnose.h"
#include "gradscope/plot.h"
#include "gradscope/theory.h"
#include "gradscope/trace.h"
#include "plot/heatmap.h"
#include "plot/layout.h"

/* Doubles of scratch the panels need for a trace of n_steps x n_layers. */
size_t gs_panels_work_size(size_t n_steps, size_t n_layers);

/* Title line (title, or a summary of the setup metadata -- with after, also what the after
 * run changes: "... → after: relu · init he_normal" -- or "trace: NAME") and a line of all
 * metadata pairs, then the subtitle. */
void gs_panel_title_block(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *title,
                          const char *subtitle, const char *source_name, const GsTrace *after);
/* The paper page's title: the setup headline (and what the after run changes), at most two
 * wrapped lines, no metadata line. */
void gs_panel_title_compact(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *title,
                            const char *source_name, const GsTrace *after);
/* Loss against training step for a (and b when not NULL, labelled la / lb); log y when all
 * finite values are positive; non-finite stretches shaded and labelled "NaN/Inf". */
void gs_panel_loss(cairo_t *cr, GsRect r, double font, const GsTrace *a, const char *la,
                   const GsTrace *b, const char *lb, double *work);
/* The same for n >= 1 traces (one colour each, Okabe-Ito; legend of labels when n > 1).
 * work must hold gs_panels_work_size doubles for the longest trace. */
void gs_panel_losses(cairo_t *cr, GsRect r, double font, const GsTrace *const *t,
                     const char *const *labels, size_t n, double *work);
/* log10(metric) against layer at the first, middle and last recorded step; act_grad_norm too
 * when the trace has it (with a note when the two disagree, gs_profile_metrics_disagree); the
 * predicted step-0 act_grad_norm profile dashed when pred given, its regime in plain words.
 * With b (not NULL) a comparison: the first (solid) and last (dotted) step of t and b in two
 * colours labelled la / lb. */
void gs_panel_profile(cairo_t *cr, GsRect r, double font, const GsTrace *t, GsCol metric,
                      const GsPrediction *pred, const GsTrace *b, const char *la, const char *lb);
/* Through-time profile of series k of t: ||dL/dh_t|| (h_grad_norm) against t = 1..T on a
 * log y axis at the first, middle and last recorded step, with the theory's line dashed
 * ("theory (init)": h_T of the first step times gain^(T - t), gain from the metadata key
 * theory_step_gain_l{N} of the series' layer N) when the trace has it. deep: the net has
 * several recurrent layers and this is the bottom one (the title says so). With b (not NULL)
 * a comparison: the first (solid) and last (dotted) step of t and of b's series kb, labelled
 * la / lb. */
void gs_panel_through_time(cairo_t *cr, GsRect r, double font, const GsTrace *t, size_t k, int deep,
                           const GsTrace *b, size_t kb, const char *la, const char *lb);
/* 1 when the step-0 ratio layer 1 / output layer of grad_norm and of act_grad_norm differ by
 * more than 10x (both present and positive). */
int gs_profile_metrics_disagree(const GsTrace *t);
/* The global gradient norm before and after clipping over steps (log y), the clip-norm
 * threshold from the metadata dashed, titled "Gradient clipping: WHO" (who may be NULL). */
void gs_panel_clip(cairo_t *cr, GsRect r, double font, const GsTrace *t, const char *who,
                   double *work);
/* update_ratio per layer over steps (lines coloured by depth) with the 1e-3 reference, its
 * key above the plot. With b (not NULL, with update_ratio) a comparison: per run the median
 * layer's line over a band spanning all layers, labelled la / lb. */
void gs_panel_update(cairo_t *cr, GsRect r, double font, const GsTrace *t, const GsTrace *b,
                     const char *la, const char *lb, double *work);
/* Saturation and dead-unit fractions as small 0..1 heatmaps, one row per run (n_runs 1 or
 * 2; sat[k] / dead[k] may be NULL), rows titled by labels[k] when there are two. */
void gs_panel_health(cairo_t *cr, GsRect r, double font, const GsHeatmap *const *sat,
                     const GsHeatmap *const *dead, size_t n_runs, const char *const *labels);
/* Findings in their order (the primary one first, marked "Cause:", with its fix), plain-word
 * titles, ones another explains as a grey "(follows from ...)" line; wrapped into r, "+N
 * more" when out of room. With fb (not NULL) the before (f, labelled la) and after (fb, lb)
 * lists one under the other. */
void gs_panel_findings(cairo_t *cr, GsRect r, double font, const GsFindings *f,
                       const GsFindings *fb, const char *la, const char *lb);

/* The page layout gs_plot_report uses for o (panels present per the traces' columns). */
void gs_report_layout(const GsReportOptions *o, GsLayout *out);
/* Where a through-time report (a trace with through-time h_grad_norm) splits the heatmap panel
 * of layout L (after: the comparison's): the through-time heatmap, its colour bar and the
 * per-tensor heatmap, side by side. */
void gs_report_through_time_rects(const GsLayout *L, int after, GsRect *tt, GsRect *bar,
                                  GsRect *tensors);

#endif
