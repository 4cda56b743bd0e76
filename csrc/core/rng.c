#include "pdbn_rng.h"
#include "pdbn_vmath.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The ten rounds, written on four scalars so that a loop over blocks vectorises. */
#define PHILOX_ROUND(c0, c1, c2, c3, k0, k1)                                  \
    do {                                                                      \
        uint64_t p0_ = (uint64_t)PHILOX_M0 * (c0);                            \
        uint64_t p1_ = (uint64_t)PHILOX_M1 * (c2);                            \
        uint32_t n0_ = (uint32_t)(p1_ >> 32) ^ (c1) ^ (k0);                   \
        uint32_t n2_ = (uint32_t)(p0_ >> 32) ^ (c3) ^ (k1);                   \
        (c1) = (uint32_t)p1_;                                                 \
        (c3) = (uint32_t)p0_;                                                 \
        (c0) = n0_;                                                           \
        (c2) = n2_;                                                           \
    } while (0)

#define PHILOX_10(c0, c1, c2, c3, key0, key1)                                 \
    do {                                                                      \
        uint32_t k0_ = (key0), k1_ = (key1);                                  \
        for (int r_ = 0; r_ < 10; r_++) {                                     \
            PHILOX_ROUND(c0, c1, c2, c3, k0_, k1_);                           \
            k0_ += PHILOX_W0;                                                 \
            k1_ += PHILOX_W1;                                                 \
        }                                                                     \
    } while (0)

void pdbn_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    PHILOX_10(c0, c1, c2, c3, key[0], key[1]);
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Blocks are produced 16 at a time into lane arrays (structure of arrays), which the compiler
 * turns into SIMD multiplies; then interleaved into out. */
PDBN_HOT void pdbn_random_words(const pdbn_stream *s, uint32_t row, size_t n, uint32_t *out)
{
    enum { L = 16 };
    const uint32_t k0 = s->key[0], k1 = s->key[1], cb = s->batch, ce = s->epoch;
    size_t nblocks = (n + 3) / 4;
    for (size_t b0 = 0; b0 < nblocks; b0 += L) {
        uint32_t x0[L], x1[L], x2[L], x3[L];
        for (int l = 0; l < L; l++) {
            uint32_t c0 = (uint32_t)(b0 + (size_t)l), c1 = row, c2 = cb, c3 = ce;
            PHILOX_10(c0, c1, c2, c3, k0, k1);
            x0[l] = c0;
            x1[l] = c1;
            x2[l] = c2;
            x3[l] = c3;
        }
        size_t base = b0 * 4;
        if (base + 4 * L <= n) {
            for (int l = 0; l < L; l++) {
                out[base + 4 * (size_t)l + 0] = x0[l];
                out[base + 4 * (size_t)l + 1] = x1[l];
                out[base + 4 * (size_t)l + 2] = x2[l];
                out[base + 4 * (size_t)l + 3] = x3[l];
            }
        } else {
            for (int l = 0; l < L; l++) {
                const uint32_t w[4] = {x0[l], x1[l], x2[l], x3[l]};
                for (int j = 0; j < 4; j++) {
                    size_t at = base + 4 * (size_t)l + (size_t)j;
                    if (at < n) out[at] = w[j];
                }
            }
        }
    }
}

void pdbn_permutation(const pdbn_stream *s, size_t n, int64_t *perm, uint32_t *words)
{
    enum { CHUNK = 4096 };
    for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
    if (n < 2) return;
    size_t used = CHUNK;
    uint32_t chunk = 0;
    for (size_t i = n - 1; i > 0; i--) {
        if (used == CHUNK) {
            pdbn_random_words(s, chunk++, CHUNK, words);
            used = 0;
        }
        /* j uniform in [0, i]: (w * (i + 1)) >> 32, bias below 2^-32 * n */
        size_t j = (size_t)(((uint64_t)words[used++] * (uint64_t)(i + 1)) >> 32);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
