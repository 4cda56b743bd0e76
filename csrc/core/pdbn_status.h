/* pdbn_status.h - status codes and error reporting for the pydbn C core.
 *
 * Every core function that can fail returns an int status: PDBN_OK (0) or one of the negative
 * codes below, and writes a human-readable message into a caller-provided pdbn_error.
 * The core never prints, never aborts, and never keeps global mutable state.
 */
#ifndef PDBN_STATUS_H
#define PDBN_STATUS_H

#include <stddef.h>

enum pdbn_status {
    PDBN_OK = 0,
    PDBN_ERR_VALUE = -1,       /* an argument is out of range or inconsistent */
    PDBN_ERR_NOMEM = -2,       /* an allocation failed */
    PDBN_ERR_INTERRUPTED = -3, /* the caller's interrupt check asked us to stop */
    PDBN_ERR_NUMERIC = -4,     /* a non-finite value appeared where it must not */
    PDBN_ERR_INTERNAL = -5     /* a broken invariant (a bug) */
};

#define PDBN_MSG_LEN 256

typedef struct pdbn_error {
    int code;
    char msg[PDBN_MSG_LEN];
} pdbn_error;

/* Records code and a printf-style message in err (err may be NULL); returns code. */
int pdbn_fail(pdbn_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A short static description of a status code. */
const char *pdbn_strerror(int code);

/* Return early with an error when cond holds. */
#define PDBN_RETURN_IF(cond, err, code, ...)                                  \
    do {                                                                      \
        if (cond) return pdbn_fail((err), (code), __VA_ARGS__);               \
    } while (0)

/* Forward a non-OK status from a call (the callee has filled err already). */
#define PDBN_FORWARD(expr)                                                    \
    do {                                                                      \
        int pdbn_st_ = (expr);                                                \
        if (pdbn_st_ != PDBN_OK) return pdbn_st_;                             \
    } while (0)

/* Set st and jump to the cleanup label on a non-OK status. */
#define PDBN_CHECK_GOTO(expr, st, label)                                      \
    do {                                                                      \
        (st) = (expr);                                                        \
        if ((st) != PDBN_OK) goto label;                                      \
    } while (0)

/* Interrupt hook: the caller may pass a function the core polls between minibatches or
 * chunks. A non-zero return asks the core to stop and return PDBN_ERR_INTERRUPTED. */
typedef int (*pdbn_interrupt_fn)(void *arg);

/* Progress hook: long single calls (AIS) report the fraction of their work done, in [0, 1].
 * It must be cheap and must not call back into the core; the caller decides what to show
 * and when (the binding records the value and displays it at its next poll). */
typedef void (*pdbn_progress_fn)(void *arg, double fraction);

typedef struct pdbn_control {
    pdbn_interrupt_fn interrupted; /* may be NULL */
    void *arg;
    pdbn_progress_fn progress; /* may be NULL; receives the same arg */
} pdbn_control;

/* Polls the hook; returns PDBN_ERR_INTERRUPTED (with a message) or PDBN_OK. */
int pdbn_poll(const pdbn_control *ctl, pdbn_error *err);

/* Reports progress through the hook, if any. */
void pdbn_report(const pdbn_control *ctl, double fraction);

#endif
