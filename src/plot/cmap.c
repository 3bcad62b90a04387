/* Colour maps: the sequential map interpolates published viridis anchor colours in sRGB; the
 * diverging map is built in CIELAB so that its two arms have exactly mirrored lightness. */
#include "plot/cmap.h"

#include <math.h>
#include <stddef.h>

/* viridis sampled at 9 evenly spaced points (published anchor colours). */
static const unsigned char seq_anchor[][3] = {
    {0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b},
    {0x2c, 0x72, 0x8e}, {0x21, 0x91, 0x8c}, {0x28, 0xae, 0x80},
    {0x5e, 0xc9, 0x62}, {0xad, 0xdc, 0x30}, {0xfd, 0xe7, 0x25},
};
#define N_SEQ (sizeof seq_anchor / sizeof seq_anchor[0])

/* Diverging arms in CIELAB, from t = 0 (neutral) outward to |t| = 1. Both arms share L* at
 * each knot; blue/orange is distinguishable under the common colour-vision deficiencies. */
static const double div_knot_t[] = {0.0, 0.5, 1.0};
static const double div_L[] = {97.0, 66.0, 34.0};
static const double div_blue_ab[][2] = {{0.0, -1.0}, {-6.0, -34.0}, {4.0, -42.0}};
static const double div_orange_ab[][2] = {{0.0, 2.0}, {24.0, 56.0}, {28.0, 40.0}};

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

GsRgb gs_cmap_special(GsSpecial which)
{
    switch (which) {
    case GS_SPECIAL_NAN: return (GsRgb){1.0, 0.0, 1.0};
    case GS_SPECIAL_POSINF: return (GsRgb){1.0, 0.0, 0.0};
    case GS_SPECIAL_NEGINF: return (GsRgb){0.0, 1.0, 1.0};
    case GS_SPECIAL_ZERO: return (GsRgb){0.0, 0.0, 0.0};
    case GS_SPECIAL_MISSING: return (GsRgb){0.58, 0.58, 0.58};
    case GS_SPECIAL_COUNT: break;
    }
    return (GsRgb){0.5, 0.5, 0.5};
}

const char *gs_cmap_special_label(GsSpecial which)
{
    switch (which) {
    case GS_SPECIAL_NAN: return "NaN";
    case GS_SPECIAL_POSINF: return "+Inf";
    case GS_SPECIAL_NEGINF: return "\xe2\x88\x92Inf";
    case GS_SPECIAL_ZERO: return "0 (underflow)";
    case GS_SPECIAL_MISSING: return "no gradient (frozen)";
    case GS_SPECIAL_COUNT: break;
    }
    return "?";
}

GsRgb gs_cmap_seq(double t)
{
    if (isnan(t))
        return gs_cmap_special(GS_SPECIAL_NAN);
    double x = clamp01(t) * (double)(N_SEQ - 1);
    size_t i = (size_t)x;
    if (i >= N_SEQ - 1)
        i = N_SEQ - 2;
    double f = x - (double)i;
    GsRgb c;
    c.r = ((1.0 - f) * seq_anchor[i][0] + f * seq_anchor[i + 1][0]) / 255.0;
    c.g = ((1.0 - f) * seq_anchor[i][1] + f * seq_anchor[i + 1][1]) / 255.0;
    c.b = ((1.0 - f) * seq_anchor[i][2] + f * seq_anchor[i + 1][2]) / 255.0;
    return c;
}

static double lab_finv(double t)
{
    const double d = 6.0 / 29.0;
    return t > d ? t * t * t : 3.0 * d * d * (t - 4.0 / 29.0);
}

static double srgb_gamma(double c)
{
    c = clamp01(c);
    return c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

static double srgb_linear(double c)
{
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static GsRgb lab_to_rgb(double L, double a, double b)
{
    double fy = (L + 16.0) / 116.0;
    double X = 0.95047 * lab_finv(fy + a / 500.0);
    double Y = lab_finv(fy);
    double Z = 1.08883 * lab_finv(fy - b / 200.0);
    GsRgb c;
    c.r = srgb_gamma(3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z);
    c.g = srgb_gamma(-0.9692660 * X + 1.8760108 * Y + 0.0415560 * Z);
    c.b = srgb_gamma(0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z);
    return c;
}

double gs_cmap_lightness(GsRgb c)
{
    double Y =
        0.2126729 * srgb_linear(c.r) + 0.7151522 * srgb_linear(c.g) + 0.0721750 * srgb_linear(c.b);
    const double e = 216.0 / 24389.0, k = 24389.0 / 27.0;
    return Y > e ? 116.0 * cbrt(Y) - 16.0 : k * Y;
}

GsRgb gs_cmap_div(double t)
{
    if (isnan(t))
        return gs_cmap_special(GS_SPECIAL_NAN);
    if (t < -1.0)
        t = -1.0;
    if (t > 1.0)
        t = 1.0;
    double u = fabs(t);
    const double(*ab)[2] = t < 0.0 ? div_blue_ab : div_orange_ab;
    size_t i = u < div_knot_t[1] ? 0 : 1;
    double f = (u - div_knot_t[i]) / (div_knot_t[i + 1] - div_knot_t[i]);
    double L = (1.0 - f) * div_L[i] + f * div_L[i + 1];
    double a = (1.0 - f) * ab[i][0] + f * ab[i + 1][0];
    double b = (1.0 - f) * ab[i][1] + f * ab[i + 1][1];
    return lab_to_rgb(L, a, b);
}

unsigned int gs_cmap_pack(GsRgb c)
{
    unsigned int r = (unsigned int)lround(clamp01(c.r) * 255.0);
    unsigned int g = (unsigned int)lround(clamp01(c.g) * 255.0);
    unsigned int b = (unsigned int)lround(clamp01(c.b) * 255.0);
    return 0xFF000000u | (r << 16) | (g << 8) | b;
}
