/* Page layout: inside the page, no overlaps, re-flow when panels are missing. */
#include "plot/layout.h"
#include "runner.h"

static const double sizes[][2] = {
    {800, 500}, {1024, 768}, {1200, 1200}, {1600, 1000}, {1920, 1080}, {2400, 1500}, {3200, 2000},
};
static const GsPanel optional[] = {GS_PANEL_HEATMAP_AFTER, GS_PANEL_LOSS,   GS_PANEL_PROFILE,
                                   GS_PANEL_UPDATE,        GS_PANEL_HEALTH, GS_PANEL_FINDINGS,
                                   GS_PANEL_CLIP,          GS_PANEL_DIST};
#define N_OPT (sizeof optional / sizeof optional[0])

static void check(const GsLayoutSpec *spec, const GsLayout *L)
{
    GsRect page = {0, 0, spec->width, spec->height};
    for (int p = 0; p < GS_PANEL_COUNT; p++) {
        if (!L->on[p])
            continue;
        ck_assert_msg(gs_rect_inside(L->r[p], page), "panel %d outside %gx%g", p, spec->width,
                      spec->height);
        ck_assert_msg(L->r[p].w >= 4 * L->font && L->r[p].h >= 2.5 * L->font,
                      "panel %d too small (%gx%g) at %gx%g", p, L->r[p].w, L->r[p].h, spec->width,
                      spec->height);
        for (int q = p + 1; q < GS_PANEL_COUNT; q++)
            if (L->on[q])
                ck_assert_msg(!gs_rect_overlap(L->r[p], L->r[q]), "panels %d and %d overlap", p, q);
    }
}

START_TEST(all_sizes_all_subsets)
{
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (unsigned mask = 0; mask < (1u << N_OPT); mask++)
            for (int sub = 0; sub <= 2; sub++) {
                GsLayoutSpec spec = {.width = sizes[s][0], .height = sizes[s][1]};
                spec.subtitle_lines = sub;
                for (size_t i = 0; i < N_OPT; i++)
                    spec.want[optional[i]] = (mask >> i) & 1u;
                GsLayout L;
                gs_layout_compute(&spec, &L);
                for (size_t i = 0; i < N_OPT; i++)
                    ck_assert_int_eq(L.on[optional[i]], (int)((mask >> i) & 1u));
                ck_assert(L.on[GS_PANEL_TITLE] && L.on[GS_PANEL_HEATMAP] && L.on[GS_PANEL_CBAR]);
                check(&spec, &L);
            }
}
END_TEST

START_TEST(single_column_paper)
{
    for (int after = 0; after < 2; after++)
        for (int loss = 0; loss < 2; loss++) {
            GsLayoutSpec spec = {.width = 252, .height = after ? 480 : 380};
            spec.single_column = 1;
            spec.font = 9.3;
            spec.want[GS_PANEL_HEATMAP_AFTER] = after;
            spec.want[GS_PANEL_LOSS] = loss;
            spec.want[GS_PANEL_PROFILE] = 1;
            spec.want[GS_PANEL_FINDINGS] = 1; /* not on a paper page */
            spec.want[GS_PANEL_UPDATE] = 1;
            GsLayout L;
            gs_layout_compute(&spec, &L);
            ck_assert_double_eq(L.font, 9.3);
            ck_assert_int_eq(L.on[GS_PANEL_FINDINGS], 0);
            ck_assert_int_eq(L.on[GS_PANEL_UPDATE], 0);
            ck_assert_int_eq(L.on[GS_PANEL_LOSS], loss);
            ck_assert_int_eq(L.on[GS_PANEL_HEATMAP_AFTER], after);
            GsRect page = {0, 0, spec.width, spec.height};
            for (int p = 0; p < GS_PANEL_COUNT; p++) {
                if (!L.on[p])
                    continue;
                ck_assert_msg(gs_rect_inside(L.r[p], page), "panel %d outside", p);
                for (int q = p + 1; q < GS_PANEL_COUNT; q++)
                    if (L.on[q])
                        ck_assert_msg(!gs_rect_overlap(L.r[p], L.r[q]), "%d and %d overlap", p, q);
            }
            /* stacked: the profile spans the width below the heatmaps */
            ck_assert(L.r[GS_PANEL_PROFILE].y >= L.r[GS_PANEL_HEATMAP].y + L.r[GS_PANEL_HEATMAP].h);
            ck_assert(L.r[GS_PANEL_PROFILE].w > spec.width * 0.9);
        }
}
END_TEST

START_TEST(reflow_uses_space)
{
    GsLayoutSpec full = {.width = 1600, .height = 1000};
    for (size_t i = 0; i < N_OPT; i++)
        full.want[optional[i]] = 1;
    full.want[GS_PANEL_HEATMAP_AFTER] = 0;
    GsLayoutSpec bare = {.width = 1600, .height = 1000};
    GsLayout a, b;
    gs_layout_compute(&full, &a);
    gs_layout_compute(&bare, &b);
    /* without side and bottom panels the heatmap grows in both directions */
    ck_assert(b.r[GS_PANEL_HEATMAP].w > a.r[GS_PANEL_HEATMAP].w * 1.3);
    ck_assert(b.r[GS_PANEL_HEATMAP].h > a.r[GS_PANEL_HEATMAP].h * 1.3);
    /* one bottom panel takes the whole bottom width */
    GsLayoutSpec one = {.width = 1600, .height = 1000};
    one.want[GS_PANEL_FINDINGS] = 1;
    gs_layout_compute(&one, &b);
    ck_assert(b.r[GS_PANEL_FINDINGS].w > 1500);
}
END_TEST

START_TEST(overlap_predicates)
{
    GsRect a = {0, 0, 10, 10}, b = {10, 0, 5, 5}, c = {9, 9, 5, 5};
    ck_assert(!gs_rect_overlap(a, b));
    ck_assert(gs_rect_overlap(a, c));
    ck_assert(gs_rect_inside((GsRect){1, 1, 2, 2}, a));
    ck_assert(!gs_rect_inside(c, a));
    ck_assert(gs_layout_font_size(800, 500) >= 9.0);
    ck_assert(gs_layout_font_size(3200, 2000) > gs_layout_font_size(1600, 1000));
}
END_TEST

Suite *gs_test_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, all_sizes_all_subsets);
    tcase_add_test(tc, reflow_uses_space);
    tcase_add_test(tc, single_column_paper);
    tcase_add_test(tc, overlap_predicates);
    suite_add_tcase(s, tc);
    return s;
}
