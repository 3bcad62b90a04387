/* libFuzzer harness: the numeric CSV data loader (a crash, leak or sanitizer report is a bug;
 * a loaded set must be consistent). The first byte picks the options: bit 0 classify, bit 1
 * standardize, bit 2 target "2" (by index) instead of the last column. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gradscope/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int flags = size > 0 ? data[0] : 0;
    const char *path = gs_fuzz_file(0, ".csv", data, size);
    GsDataSource src;
    GsError err = {{0}};
    if (gs_data_source_parse(path, &src, &err) != GS_OK || src.kind != GS_DATA_CSV)
        abort(); /* the harness's path must parse as a CSV source */
    GsDataOptions o;
    memset(&o, 0, sizeof o);
    o.input_scale = 1;
    o.classify = flags & 1;
    o.standardize = (flags >> 1) & 1;
    o.target = flags & 4 ? "2" : NULL;
    GsDataset *ds = NULL;
    GsStatus st = gs_data_create(&src, &o, &ds, &err);
    if (st != GS_OK) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (ds->n == 0 || ds->d_in == 0)
        abort();
    for (size_t i = 0; i < ds->n * ds->d_in; i++)
        if (!isfinite(ds->x[i]))
            abort(); /* the loader promises finite inputs */
    if (o.classify)
        for (size_t i = 0; i < ds->n; i++)
            if (ds->label[i] < 0 || (size_t)ds->label[i] >= ds->n_classes)
                abort();
    gs_data_destroy(ds);
    return 0;
}
