/* Quadrature shared inside the theory module: a fixed node set over a standard normal. */
#ifndef GS_THEORY_QUAD_H
#define GS_THEORY_QUAD_H

#include <stddef.h>

/* Nodes of the fixed grid: composite 20-point Gauss-Legendre over eps in [-8, 8], panels of
 * width 1/2 (so eps = 0, where relu-like functions kink, is a panel edge). */
#define GS_EPS_NODES 640

/* Fills eps[GS_EPS_NODES] and w[GS_EPS_NODES] so that sum w[k] f(eps[k]) ~ E[f(eps)],
 * eps ~ N(0, 1); the weights sum to 1 - 1e-15. For integrands that are not a closed form of
 * eps (a recursion run per node). Cannot fail. */
void gs_theory_eps_grid(double *eps, double *w);

#endif
