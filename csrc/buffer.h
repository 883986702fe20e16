/* A growable byte buffer with a read cursor: bytes in [pos, len) are live. */
#ifndef CPIPE_BUFFER_H
#define CPIPE_BUFFER_H

#include <stddef.h>
#include <stdint.h>

typedef struct cpipe_buffer {
    uint8_t *data;
    size_t pos; /* first byte not yet consumed */
    size_t len; /* end of the live bytes */
    size_t cap; /* allocated size of data */
} cpipe_buffer;

/* Makes room for `extra` more bytes after len; 0 on success, -1 when out of memory. */
int cpipe_buffer_reserve(cpipe_buffer *b, size_t extra);
int cpipe_buffer_append(cpipe_buffer *b, const void *bytes, size_t n);

static inline size_t cpipe_buffer_live(const cpipe_buffer *b) {
    return b->len - b->pos;
}

/* Forgets the content; gives large storage back so one huge value does not
 * stay resident for the life of the connection. */
void cpipe_buffer_reset(cpipe_buffer *b);
void cpipe_buffer_release(cpipe_buffer *b);

#endif
