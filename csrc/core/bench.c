#include "pdbn_bench.h"

#include <time.h>

#include "pdbn_blas.h"
#include "pdbn_matrix.h"
#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "bench_impl.h"
#include "pdbn_tmpl.h"

int pdbn_bench_gemm_epoch(size_t n_rows, size_t n_visible, size_t n_hidden, size_t batch_size,
                          int double_precision, double *seconds, pdbn_error *err)
{
    PDBN_RETURN_IF(n_rows == 0 || n_visible == 0 || n_hidden == 0 || batch_size == 0, err,
                   PDBN_ERR_VALUE, "all sizes must be positive");
    if (double_precision)
        return bench_gemm_epoch_d(n_rows, n_visible, n_hidden, batch_size, seconds, err);
    return bench_gemm_epoch_f(n_rows, n_visible, n_hidden, batch_size, seconds, err);
}
