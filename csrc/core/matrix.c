#include "pdbn_matrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "matrix_impl.h"
#include "pdbn_tmpl.h"

int pdbn_source_check(const pdbn_source *src, pdbn_error *err)
{
    PDBN_RETURN_IF(src == NULL || (src->data == NULL && src->rows > 0), err, PDBN_ERR_VALUE,
                   "data source is missing");
    if (!src->sparse) return PDBN_OK; /* any strides, zero (broadcast rows) included */
    PDBN_RETURN_IF(src->indices == NULL || src->indptr == NULL, err, PDBN_ERR_VALUE,
                   "CSR source lacks indices or indptr");
    int64_t prev = 0;
    for (size_t r = 0; r <= src->rows; r++) {
        int64_t p = src->index64 ? ((const int64_t *)src->indptr)[r]
                                 : ((const int32_t *)src->indptr)[r];
        PDBN_RETURN_IF(p < prev || (r == 0 && p != 0), err, PDBN_ERR_VALUE,
                       "CSR indptr is not non-decreasing from 0 (row %zu)", r);
        prev = p;
    }
    for (int64_t p = 0; p < prev; p++) {
        int64_t j = src->index64 ? ((const int64_t *)src->indices)[p]
                                 : ((const int32_t *)src->indices)[p];
        PDBN_RETURN_IF(j < 0 || (uint64_t)j >= src->cols, err, PDBN_ERR_VALUE,
                       "CSR column index %lld out of range [0, %zu)", (long long)j, src->cols);
    }
    return PDBN_OK;
}

size_t pdbn_ws_piece(size_t n, size_t elem)
{
    if (elem != 0 && n > (SIZE_MAX - 64) / elem) return SIZE_MAX;
    return (n * elem + 63) & ~(size_t)63;
}

void pdbn_ws_add(size_t *total, size_t piece)
{
    *total = (*total > SIZE_MAX - piece) ? SIZE_MAX : *total + piece;
}

int pdbn_ws_alloc(pdbn_ws *ws, size_t bytes, pdbn_error *err)
{
    ws->base = NULL;
    ws->used = 0;
    ws->size = 0;
    PDBN_RETURN_IF(bytes == SIZE_MAX || bytes > ((size_t)1 << 46), err, PDBN_ERR_NOMEM,
                   "workspace of %zu bytes is too large", bytes);
    /* C11 aligned_alloc wants a size that is a multiple of the alignment (AddressSanitizer's
     * allocator refuses others) */
    size_t sz = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    ws->base = aligned_alloc(64, sz);
    PDBN_RETURN_IF(ws->base == NULL, err, PDBN_ERR_NOMEM,
                   "could not allocate a workspace of %zu bytes", bytes);
    memset(ws->base, 0, sz);
    ws->size = sz;
    return PDBN_OK;
}

void *pdbn_ws_take(pdbn_ws *ws, size_t n, size_t elem)
{
    size_t piece = pdbn_ws_piece(n, elem);
    if (ws->base == NULL || piece > ws->size - ws->used) return NULL; /* sizing bug */
    void *p = ws->base + ws->used;
    ws->used += piece;
    return p;
}

void pdbn_ws_free(pdbn_ws *ws)
{
    if (ws == NULL) return;
    free(ws->base);
    ws->base = NULL;
    ws->used = 0;
    ws->size = 0;
}
