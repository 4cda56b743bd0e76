/* pdbn_blas.h - the one place that names BLAS symbols.
 *
 * scipy-openblas32 prefixes every symbol with "scipy_" (BLAS_SYMBOL_PREFIX=scipy_ comes from
 * the build); a system OpenBLAS has no prefix. PDBN_BLAS(name) spells the linked symbol.
 * pdbn_gemm_f / pdbn_gemm_d are row-major GEMMs:  C = alpha * op(A) op(B) + beta * C,
 * op(A) is m x k, op(B) is k x n, C is m x n with leading dimension ldc. Dimensions must fit
 * in a 32-bit int (the callers work in chunks well below that).
 */
#ifndef PDBN_BLAS_H
#define PDBN_BLAS_H

#include <stddef.h>

#include <cblas.h>

#ifndef BLAS_SYMBOL_PREFIX
#define BLAS_SYMBOL_PREFIX
#endif
#define PDBN_CAT_(a, b) a##b
#define PDBN_CAT(a, b) PDBN_CAT_(a, b)
#define PDBN_BLAS(name) PDBN_CAT(BLAS_SYMBOL_PREFIX, name)

#define PDBN_BLAS_DECL(T, S)                                                                  \
    void pdbn_gemm_##S(int trans_a, int trans_b, size_t m, size_t n, size_t k, T alpha,         \
                       const T *a, size_t lda, const T *b, size_t ldb, T beta, T *c,            \
                       size_t ldc);                                                            \
    /* y = alpha * op(A) x + beta * y, A row-major (rows x cols). */                            \
    void pdbn_gemv_##S(int trans_a, size_t rows, size_t cols, T alpha, const T *a, size_t lda,  \
                       const T *x, T beta, T *y);

PDBN_BLAS_DECL(float, f)
PDBN_BLAS_DECL(double, d)

#endif
