#include "buffer.h"

#include <string.h>

#include "heap.h"

/* Storage kept across resets; larger buffers are freed when emptied. */
#define KEEP_CAPACITY (1u << 20)

int cpipe_buffer_reserve(cpipe_buffer *b, size_t extra) {
    if (b->pos > 0 && b->pos == b->len) b->pos = b->len = 0;
    if (extra <= b->cap - b->len) return 0;
    /* Reclaim consumed space before growing. */
    if (b->pos > 0) {
        memmove(b->data, b->data + b->pos, b->len - b->pos);
        b->len -= b->pos;
        b->pos = 0;
        if (extra <= b->cap - b->len) return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < want) cap *= 2;
    uint8_t *data = cpipe_realloc(b->data, cap);
    if (data == NULL) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int cpipe_buffer_append(cpipe_buffer *b, const void *bytes, size_t n) {
    if (cpipe_buffer_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

void cpipe_buffer_reset(cpipe_buffer *b) {
    b->pos = b->len = 0;
    if (b->cap > KEEP_CAPACITY) cpipe_buffer_release(b);
}

void cpipe_buffer_release(cpipe_buffer *b) {
    cpipe_free(b->data);
    b->data = NULL;
    b->pos = b->len = b->cap = 0;
}
