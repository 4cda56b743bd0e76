/* Type-generic BLAS wrappers; instantiated by blas.c through pdbn_tmpl.h. */

void PDBN_FN(pdbn_gemm)(int trans_a, int trans_b, size_t m, size_t n, size_t k, real alpha,
                        const real *a, size_t lda, const real *b, size_t ldb, real beta, real *c,
                        size_t ldc)
{
    if (m == 0 || n == 0) return;
    PDBN_CBLAS(gemm)(CblasRowMajor, pdbn_trans(trans_a), pdbn_trans(trans_b), (blasint)m,
                     (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
                     (blasint)ldc);
}

void PDBN_FN(pdbn_gemv)(int trans_a, size_t rows, size_t cols, real alpha, const real *a,
                        size_t lda, const real *x, real beta, real *y)
{
    if (rows == 0 || cols == 0) return;
    PDBN_CBLAS(gemv)(CblasRowMajor, pdbn_trans(trans_a), (blasint)rows, (blasint)cols, alpha, a,
                     (blasint)lda, x, 1, beta, y, 1);
}
