/* Little-endian integers in the byte formats of cpipe.h, read and written
 * the same way everywhere (byte by byte: no alignment or host order assumed). */
#ifndef CPIPE_BYTES_H
#define CPIPE_BYTES_H

#include <stdint.h>

static inline uint32_t cpipe_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t cpipe_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline void cpipe_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void cpipe_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void cpipe_put_u64(uint8_t *p, uint64_t v) {
    cpipe_put_u32(p, (uint32_t)v);
    cpipe_put_u32(p + 4, (uint32_t)(v >> 32));
}

#endif
