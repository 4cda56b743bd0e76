/* pdbn_bench.h - the BLAS-only cost of an RBM epoch, as a performance bound. */
#ifndef PDBN_BENCH_H
#define PDBN_BENCH_H

#include <stddef.h>

#include "pdbn_status.h"

/* Times the five GEMMs of a CD-1/PCD-1 epoch as scikit-learn's BernoulliRBM issues them
 * (per minibatch: V W', H W, V' W', V'H, H'V') for n_rows rows in minibatches of batch_size,
 * on arrays of the given precision (double_precision = 0 or 1). Allocates its arrays once;
 * *seconds receives the wall time of the GEMMs alone. */
int pdbn_bench_gemm_epoch(size_t n_rows, size_t n_visible, size_t n_hidden, size_t batch_size,
                          int double_precision, double *seconds, pdbn_error *err);

#endif
