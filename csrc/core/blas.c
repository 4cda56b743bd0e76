#include "pdbn_blas.h"
#include "pdbn_vmath.h"

static inline enum CBLAS_TRANSPOSE pdbn_trans(int t) { return t ? CblasTrans : CblasNoTrans; }

#define PDBN_TMPL_FILE "blas_impl.h"
#include "pdbn_tmpl.h"
