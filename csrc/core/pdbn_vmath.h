/* pdbn_vmath.h - branch-free exp and log1p that compilers vectorise.
 *
 * libm's expf/log1p are scalar calls, which would make the elementwise part of a CD epoch
 * (sigmoids of every hidden and visible pre-activation) cost as much as its GEMMs. These
 * versions use only +,*,/, compares and integer bit operations, so a loop over them becomes
 * SIMD code. Accuracy: about 2 ulp in float, a few ulp in double, over the clamped range.
 */
#ifndef PDBN_VMATH_H
#define PDBN_VMATH_H

#include <stdint.h>
#include <string.h>

/* Hot elementwise kernels are compiled for several x86-64 levels and picked at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(PDBN_NO_CLONES)
#define PDBN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PDBN_HOT
#endif

static inline float pdbn_bits_to_f(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint32_t pdbn_f_to_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline double pdbn_bits_to_d(uint64_t u) { double d; memcpy(&d, &u, sizeof d); return d; }
static inline uint64_t pdbn_d_to_bits(double d) { uint64_t u; memcpy(&u, &d, sizeof u); return u; }

/* exp(x) for float: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial (Cephes
 * coefficients), 2^n built in the exponent bits. n is rounded with the 1.5*2^23 trick. */
static inline float pdbn_vexp_f(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    x = x > 88.3f ? 88.3f : x;
    x = x < -87.3f ? -87.3f : x;
    float t = x * 1.44269504088896341f + magic;
    uint32_t nb = pdbn_f_to_bits(t) - pdbn_f_to_bits(magic); /* round(x / ln2), two's complement */
    float n = t - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * pdbn_bits_to_f((nb + 127u) << 23);
}

/* exp(x) for double: the same reduction, exp(r) by its Taylor series to r^13/13!
 * (truncation below 2e-17 relative for |r| <= ln2/2). */
static inline double pdbn_vexp_d(double x)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x > 709.0 ? 709.0 : x;
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634074 + magic;
    uint64_t nb = pdbn_d_to_bits(t) - pdbn_d_to_bits(magic);
    double n = t - magic;
    double r = x - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * pdbn_bits_to_d((nb + 1023u) << 52);
}

/* log(1 + e) for e in [0, 1]: z = 1 + e is brought into [sqrt(1/2), sqrt(2)] by halving, then
 * log z = 2 atanh(t), t = (z - 1) / (z + 1), |t| <= 0.1716, by its odd series. t is formed
 * from e directly (e / (e + 2), or (e - 1) / (e + 3) after halving), so that tiny e keeps its
 * relative accuracy. */
static inline float pdbn_vlog1p_unit_f(float e)
{
    int big = e > 0.41421356f;
    /* select the operands, not the quotients: a conditional division is not if-converted */
    float t = (big ? e - 1.0f : e) / (big ? e + 3.0f : e + 2.0f);
    float t2 = t * t;
    float s = 1.0f / 9.0f;
    s = s * t2 + 1.0f / 7.0f;
    s = s * t2 + 1.0f / 5.0f;
    s = s * t2 + 1.0f / 3.0f;
    s = s * t2 + 1.0f;
    return 2.0f * t * s + (big ? 0.69314718056f : 0.0f);
}

static inline double pdbn_vlog1p_unit_d(double e)
{
    int big = e > 0.41421356237309515;
    double t = (big ? e - 1.0 : e) / (big ? e + 3.0 : e + 2.0);
    double t2 = t * t;
    double s = 1.0 / 23.0;
    s = s * t2 + 1.0 / 21.0;
    s = s * t2 + 1.0 / 19.0;
    s = s * t2 + 1.0 / 17.0;
    s = s * t2 + 1.0 / 15.0;
    s = s * t2 + 1.0 / 13.0;
    s = s * t2 + 1.0 / 11.0;
    s = s * t2 + 1.0 / 9.0;
    s = s * t2 + 1.0 / 7.0;
    s = s * t2 + 1.0 / 5.0;
    s = s * t2 + 1.0 / 3.0;
    s = s * t2 + 1.0;
    return 2.0 * t * s + (big ? 0.69314718055994530942 : 0.0);
}

#endif
