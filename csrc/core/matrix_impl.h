/* Type-generic row gathering; instantiated by matrix.c through pdbn_tmpl.h. */

void PDBN_FN(pdbn_source_gather)(const pdbn_source *src, const int64_t *rows, size_t first,
                                 size_t n, real *out, size_t ldo)
{
    const size_t cols = src->cols;
    const real *values = (const real *)src->data;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows != NULL ? (size_t)rows[first + i] : first + i;
        real *o = out + i * ldo;
        if (!src->sparse) {
            const real *x = values + (ptrdiff_t)r * src->row_stride;
            if (src->col_stride == 1) {
                memcpy(o, x, cols * sizeof(real));
            } else {
                for (size_t j = 0; j < cols; j++) o[j] = x[(ptrdiff_t)j * src->col_stride];
            }
        } else {
            int64_t lo, hi;
            if (src->index64) {
                lo = ((const int64_t *)src->indptr)[r];
                hi = ((const int64_t *)src->indptr)[r + 1];
            } else {
                lo = ((const int32_t *)src->indptr)[r];
                hi = ((const int32_t *)src->indptr)[r + 1];
            }
            memset(o, 0, cols * sizeof(real));
            for (int64_t p = lo; p < hi; p++) {
                int64_t j = src->index64 ? ((const int64_t *)src->indices)[p]
                                         : ((const int32_t *)src->indices)[p];
                o[j] += values[p]; /* duplicates add up, as scipy's toarray() does */
            }
        }
    }
}

const real *PDBN_FN(pdbn_source_block)(const pdbn_source *src, size_t first, size_t n,
                                       real *scratch, size_t *ld)
{
    if (!src->sparse && src->col_stride == 1 && src->row_stride >= (ptrdiff_t)src->cols) {  /* direct */
        *ld = (size_t)src->row_stride;
        return (const real *)src->data + (ptrdiff_t)first * src->row_stride;
    }
    PDBN_FN(pdbn_source_gather)(src, NULL, first, n, scratch, src->cols);
    *ld = src->cols;
    return scratch;
}

void PDBN_FN(pdbn_arrays_save)(size_t n, real *const *arrays, const size_t *sizes, real *snap)
{
    for (size_t a = 0, at = 0; a < n; at += sizes[a], a++)
        memcpy(snap + at, arrays[a], sizes[a] * sizeof(real));
}

void PDBN_FN(pdbn_arrays_restore)(size_t n, real *const *arrays, const size_t *sizes,
                                  const real *snap)
{
    for (size_t a = 0, at = 0; a < n; at += sizes[a], a++)
        memcpy(arrays[a], snap + at, sizes[a] * sizeof(real));
}

int PDBN_FN(pdbn_arrays_finite)(size_t n, real *const *arrays, const size_t *sizes)
{
    int ok = 1;
    for (size_t a = 0; a < n; a++)
        for (size_t i = 0; i < sizes[a]; i++) ok &= isfinite(arrays[a][i]) ? 1 : 0;
    return ok;
}
