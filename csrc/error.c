#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int32_t cpipe_error_set(cpipe_error *e, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->len = n < 0 ? 0 : (size_t)n >= sizeof e->text ? sizeof e->text - 1 : (size_t)n;
    return code;
}

int32_t cpipe_error_copy(const cpipe_error *e, uint8_t *buf, int32_t cap) {
    if (buf != NULL && cap > 0) memcpy(buf, e->text, e->len < (size_t)cap ? e->len : (size_t)cap);
    return (int32_t)e->len;
}
