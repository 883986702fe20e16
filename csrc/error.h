/* The last error of a handle, as its *_errstr() hands it out: a status code
 * is returned, the message kept here. One for the client and one for the
 * pool; connections keep their own reason in their errstr. */
#ifndef CPIPE_ERROR_H
#define CPIPE_ERROR_H

#include <stddef.h>
#include <stdint.h>

#include "cpipe.h"

typedef struct cpipe_error {
    char text[CPIPE_ERRSTR_LEN];
    size_t len;
} cpipe_error;

/* Formats the message and returns `code`, for `return cpipe_error_set(...)`. */
int32_t cpipe_error_set(cpipe_error *e, int32_t code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Copies the message (not NUL-terminated) into buf; returns its full length. */
int32_t cpipe_error_copy(const cpipe_error *e, uint8_t *buf, int32_t cap);

#endif
