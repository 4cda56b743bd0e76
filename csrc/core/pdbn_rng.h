/* pdbn_rng.h - a counter-based random number generator (Philox4x32-10).
 *
 * Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3".
 * A stream is addressed by (seed, purpose, epoch, batch, row): the 64-bit key is
 * (seed, purpose) and the 128-bit counter is (block, row, batch, epoch). Every draw is a pure
 * function of its address, so results do not depend on how work is split across threads,
 * and any stream can be regenerated without replaying the ones before it.
 */
#ifndef PDBN_RNG_H
#define PDBN_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Purposes: which part of an algorithm consumes a stream. Bits 8.. of the purpose word hold
 * a step index (a Gibbs step within a minibatch, an AIS temperature, ...). */
enum pdbn_purpose {
    PDBN_RNG_SHUFFLE = 1,
    PDBN_RNG_VISIBLE = 2,
    PDBN_RNG_HIDDEN = 3,
    PDBN_RNG_INIT = 4,
    PDBN_RNG_LABEL = 5,
    PDBN_RNG_AIS_VISIBLE = 6,
    PDBN_RNG_AIS_HIDDEN = 7,
    PDBN_RNG_DATA = 8,
    PDBN_RNG_RECOGNITION = 9,
    PDBN_RNG_GENERATIVE = 10,
    PDBN_RNG_LATERAL = 11,
    PDBN_RNG_TEST = 255
};

typedef struct pdbn_stream {
    uint32_t key[2];  /* seed, purpose | step << 8 */
    uint32_t batch;   /* counter word 2 */
    uint32_t epoch;   /* counter word 3 */
} pdbn_stream;

static inline pdbn_stream pdbn_stream_at(uint32_t seed, uint32_t purpose, uint32_t step,
                                         uint32_t epoch, uint32_t batch)
{
    pdbn_stream s;
    s.key[0] = seed;
    s.key[1] = (purpose & 0xffu) | (step << 8);
    s.batch = batch;
    s.epoch = epoch;
    return s;
}

/* One Philox4x32-10 block: writes 4 words for counter (c0, c1, c2, c3) and key (k0, k1). */
void pdbn_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Writes n random 32-bit words of stream s, row `row` (counter blocks 0, 1, ... of that row)
 * into out. Reads nothing else, allocates nothing. */
void pdbn_random_words(const pdbn_stream *s, uint32_t row, size_t n, uint32_t *out);

/* Uniform variates in (0, 1) from words: float uses the top 23 bits (so that the largest value,
 * 1 - 2^-24, is still below 1 in float), double all 32. */
static inline float pdbn_uniform_f(uint32_t w) { return ((float)(w >> 9) + 0.5f) * 1.1920928955078125e-7f; }
static inline double pdbn_uniform_d(uint32_t w) { return ((double)w + 0.5) * 2.3283064365386963e-10; }

/* A uniformly random permutation of 0..n-1 (Fisher-Yates, Lemire's multiply-shift for the
 * index), from stream (seed, purpose, epoch, batch); words is scratch of 4096 words. */
void pdbn_permutation(const pdbn_stream *s, size_t n, int64_t *perm, uint32_t *words);

#endif
