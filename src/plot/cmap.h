/* Colour maps for gradscope plots (pure, no cairo): a viridis-like sequential map, a
 * blue/orange diverging map centred on ratio 1, and special colours for NaN/Inf/zero. */
#ifndef GS_PLOT_CMAP_H
#define GS_PLOT_CMAP_H

/* An sRGB colour, each channel in [0,1]. */
typedef struct {
    double r, g, b;
} GsRgb;

/* Values that have no place on a map get their own colour. */
typedef enum {
    GS_SPECIAL_NAN = 0, /* magenta */
    GS_SPECIAL_POSINF,  /* pure red */
    GS_SPECIAL_NEGINF,  /* cyan */
    GS_SPECIAL_ZERO,    /* black: exact zero / underflow / values <= 0 on a log scale */
    GS_SPECIAL_MISSING, /* mid grey, drawn hatched: no value (a frozen layer's gradient) */
    GS_SPECIAL_COUNT
} GsSpecial;

/* Sequential map (dark purple -> blue -> green -> yellow, lightness increasing), t clamped to
 * [0,1]; NaN t gives the NaN colour. Cannot fail. */
GsRgb gs_cmap_seq(double t);
/* Diverging map, t clamped to [-1,1]: -1 dark blue (weaker), 0 near-white neutral, +1 dark
 * orange-brown (stronger); lightness is symmetric: L*(t) == L*(-t). NaN t gives the NaN
 * colour. Cannot fail. */
GsRgb gs_cmap_div(double t);
/* The colour of a special value. */
GsRgb gs_cmap_special(GsSpecial which);
/* Human label of a special value for legends ("NaN", "+Inf", "-Inf", "0 (underflow)",
 * "no gradient (frozen)"). */
const char *gs_cmap_special_label(GsSpecial which);
/* CIE L* (0..100, D65) of an sRGB colour; used by tests and to pick readable text colour. */
double gs_cmap_lightness(GsRgb c);
/* Packs a colour into cairo's ARGB32 pixel layout (opaque): 0xFFRRGGBB. */
unsigned int gs_cmap_pack(GsRgb c);

#endif
