/* pdbn_matrix.h - data sources, row gathering and the per-call workspace.
 *
 * A pdbn_source describes the caller's data without owning or copying it: a dense array with
 * any row and column strides (C order, Fortran order, slices), or a CSR matrix. Algorithms
 * read it one block of rows at a time, gathered into their workspace, so a shuffled
 * minibatch never requires copying or permuting the whole array.
 */
#ifndef PDBN_MATRIX_H
#define PDBN_MATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_status.h"

typedef struct pdbn_source {
    size_t rows, cols;
    int sparse;             /* 0: dense, 1: CSR */
    const void *data;       /* dense elements, or CSR values; element type = the model's */
    ptrdiff_t row_stride;   /* dense: elements between rows */
    ptrdiff_t col_stride;   /* dense: elements between columns */
    const void *indices;    /* CSR column indices (int32 or int64) */
    const void *indptr;     /* CSR row pointers, rows + 1 entries */
    int index64;            /* CSR index arrays are int64 (else int32) */
} pdbn_source;

/* Checks a source's description for consistency (strides, CSR pointers, column range of
 * every index). Reads the CSR arrays; O(nnz). */
int pdbn_source_check(const pdbn_source *src, pdbn_error *err);

#define PDBN_MATRIX_DECL(T, S)                                                                \
    /* Writes n rows into out (leading dimension ldo): row i is source row rows[first + i]     \
     * (or first + i when rows is NULL). */                                                    \
    void pdbn_source_gather_##S(const pdbn_source *src, const int64_t *rows, size_t first,      \
                                size_t n, T *out, size_t ldo);                                 \
    /* Rows first..first+n-1 as a row-major block: a pointer into the caller's array when it   \
     * is dense with unit column stride (no copy), else gathered into scratch (ld = cols).     \
     * *ld receives the block's leading dimension. */                                          \
    const T *pdbn_source_block_##S(const pdbn_source *src, size_t first, size_t n, T *scratch,  \
                                   size_t *ld);                                                             \
    /* Training epochs keep a snapshot of every array they write (flat copies, back to back    \
     * in snap, sizes[a] elements each) to restore on interrupt or divergence. */              \
    void pdbn_arrays_save_##S(size_t n, T *const *arrays, const size_t *sizes, T *snap);       \
    void pdbn_arrays_restore_##S(size_t n, T *const *arrays, const size_t *sizes,             \
                                 const T *snap);                                              \
    /* 1 when every element of the first n arrays is finite. */                                \
    int pdbn_arrays_finite_##S(size_t n, T *const *arrays, const size_t *sizes);

PDBN_MATRIX_DECL(float, f)
PDBN_MATRIX_DECL(double, d)

/* One allocation per call, carved into 64-byte aligned pieces. */
typedef struct pdbn_ws {
    char *base;
    size_t used, size;
} pdbn_ws;

/* Size of a piece of n elements of elem bytes, rounded to 64; SIZE_MAX on overflow. */
size_t pdbn_ws_piece(size_t n, size_t elem);
/* total += piece, saturating at SIZE_MAX. */
void pdbn_ws_add(size_t *total, size_t piece);
/* Allocates the block (zeroed). PDBN_ERR_NOMEM with a message when it cannot. */
int pdbn_ws_alloc(pdbn_ws *ws, size_t bytes, pdbn_error *err);
/* Next piece of n elements (64-byte aligned). The caller sized the block for it. */
void *pdbn_ws_take(pdbn_ws *ws, size_t n, size_t elem);
/* Frees the block; safe on a zeroed or already freed workspace. */
void pdbn_ws_free(pdbn_ws *ws);

#endif
