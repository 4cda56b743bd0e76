/* pdbn_tmpl.h - compile one implementation file for float32 and float64.
 *
 * A kernel is written once in a *_impl.h file in terms of
 *   real          the element type (float or double)
 *   PDBN_FN(x)    the symbol for this precision (x##_f or x##_d)
 *   PDBN_EXP(x)   the vectorisable exponential of pdbn_vmath.h for this precision
 *   PDBN_IS_F32   1 for float, 0 for double
 *   PDBN_SQRT(x)  sqrtf or sqrt (no promotion of float to double)
 *   PDBN_CBLAS(x) the CBLAS routine cblas_s##x or cblas_d##x (needs pdbn_blas.h)
 * and instantiated by a .c file:
 *   #define PDBN_TMPL_FILE "units_impl.h"
 *   #include "pdbn_tmpl.h"
 * Headers declare both precisions with one macro taking (type, suffix).
 */
#ifndef PDBN_TMPL_FILE
#error "define PDBN_TMPL_FILE before including pdbn_tmpl.h"
#endif

#define real float
#define PDBN_FN(x) x##_f
#define PDBN_EXP(x) pdbn_vexp_f(x)
#define PDBN_LOG1P_UNIT(x) pdbn_vlog1p_unit_f(x)
#define PDBN_SQRT(x) sqrtf(x)
#define PDBN_IS_F32 1
#define PDBN_CBLAS(x) PDBN_BLAS(cblas_s##x)
#include PDBN_TMPL_FILE
#undef real
#undef PDBN_FN
#undef PDBN_EXP
#undef PDBN_LOG1P_UNIT
#undef PDBN_SQRT
#undef PDBN_IS_F32
#undef PDBN_CBLAS

#define real double
#define PDBN_FN(x) x##_d
#define PDBN_EXP(x) pdbn_vexp_d(x)
#define PDBN_LOG1P_UNIT(x) pdbn_vlog1p_unit_d(x)
#define PDBN_SQRT(x) sqrt(x)
#define PDBN_IS_F32 0
#define PDBN_CBLAS(x) PDBN_BLAS(cblas_d##x)
#include PDBN_TMPL_FILE
#undef real
#undef PDBN_FN
#undef PDBN_EXP
#undef PDBN_LOG1P_UNIT
#undef PDBN_SQRT
#undef PDBN_IS_F32
#undef PDBN_CBLAS

#undef PDBN_TMPL_FILE
