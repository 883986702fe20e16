/* The byte formats of cpipe.h as the C tests write and read them: a
 * settings buffer, packed commands with their calls, and a walk over the
 * records a client or a pool hands back (each kind's payload checked as
 * far as its kind says). Written from the format's description in cpipe.h,
 * not from the core's own helpers, so that a test catches the two drifting
 * apart. Included once by each test program, after check.h. */
#ifndef CPIPE_TEST_WIRE_H
#define CPIPE_TEST_WIRE_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "cpipe.h"

static inline void wire_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void wire_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint32_t wire_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t wire_get16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- settings ------------------------------------------------------------------- */

typedef struct settings {
    uint8_t bytes[8192];
    size_t len;
} settings;

/* Starts a buffer with `version` (CPIPE_SETTINGS_VERSION for a valid one). */
static inline settings *settings_begin(settings *s, uint32_t version) {
    wire_put32(s->bytes, version);
    s->len = 4;
    return s;
}

static inline void settings_bytes(settings *s, uint32_t key, const void *value, uint32_t len) {
    wire_put32(s->bytes + s->len, key);
    wire_put32(s->bytes + s->len + 4, len);
    if (len) memcpy(s->bytes + s->len + 8, value, len);
    s->len += 8 + (size_t)len;
}

static inline void settings_int(settings *s, uint32_t key, int32_t value) {
    uint8_t v[4];
    wire_put32(v, (uint32_t)value);
    settings_bytes(s, key, v, 4);
}

static inline void settings_str(settings *s, uint32_t key, const char *value) {
    settings_bytes(s, key, value, (uint32_t)strlen(value));
}

/* ---- packed commands and calls ------------------------------------------------------- */

typedef struct batch {
    uint8_t cmds[1 << 20];
    size_t len;
    uint8_t calls[1 << 17];
    size_t count;
} batch;

static inline void batch_reset(batch *b) {
    b->len = b->count = 0;
}

/* Packs one command from n (pointer, length) arguments (lens NULL: strlen),
 * under a call `id` owing `replies` replies with `flags`. */
static inline void batch_pack(batch *b, uint32_t id, uint16_t replies, uint16_t flags, int n, const char **args,
                       const size_t *lens) {
    wire_put32(b->cmds + b->len, (uint32_t)n);
    b->len += 4;
    for (int i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(args[i]);
        wire_put32(b->cmds + b->len, (uint32_t)len);
        memcpy(b->cmds + b->len + 4, args[i], len);
        b->len += 4 + len;
    }
    uint8_t *c = b->calls + CPIPE_CALL_SIZE * b->count;
    wire_put32(c, id);
    wire_put16(c + 4, replies);
    wire_put16(c + 6, flags);
    b->count++;
}

/* As batch_pack, the arguments given as NULL-terminated C strings. `flags` is
 * an unsigned int: va_start after a parameter that undergoes promotion (a
 * uint16_t) is undefined behaviour, which clang refuses. */
static inline void batch_add_call(batch *b, uint32_t id, uint16_t replies, unsigned flags, ...) {
    const char *args[16];
    int n = 0;
    va_list ap;
    va_start(ap, flags);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 16;) args[n++] = a;
    va_end(ap);
    batch_pack(b, id, replies, (uint16_t)flags, n, args, NULL);
}

/* One command owing one reply, no flags. */
#define batch_add(b, id, ...) batch_add_call((b), (id), 1, 0, __VA_ARGS__, (const char *)NULL)

static inline int32_t batch_calls_len(const batch *b) {
    return (int32_t)(CPIPE_CALL_SIZE * b->count);
}

/* ---- records ---------------------------------------------------------------------- */

/* One record as cpipe.h describes it, its payload taken apart by kind. */
typedef struct record {
    uint8_t kind, flags;
    uint16_t connection;
    uint32_t id, len;
    const uint8_t *payload;
    /* CPIPE_RECORD_FAILURE and CPIPE_RECORD_EVENT */
    int32_t status;
    const char *message;
    uint32_t message_len;
    /* CPIPE_RECORD_FAILURE: the packed command of a call to send again (CPIPE_CALL_RESEND), or NULL */
    const uint8_t *command;
    uint32_t command_len;
    /* CPIPE_RECORD_EVENT */
    uint8_t event;
    uint32_t attempt, delay_ms;
    const uint8_t *server_reply; /* the server's encoded error reply, or NULL */
    uint32_t server_reply_len;
} record;

/* A walk over a records buffer, header first. */
typedef struct records {
    const uint8_t *buf;
    size_t cap;
    uint32_t count, used, flags, need;
    uint32_t seen;
    size_t pos; /* bytes after the header walked so far */
    int malformed;
} records;

static inline void records_open(records *w, const uint8_t *buf, size_t cap) {
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    w->count = wire_get32(buf);
    w->used = wire_get32(buf + 4);
    w->flags = wire_get32(buf + 8);
    w->need = wire_get32(buf + 12);
    if (cap < CPIPE_HEADER_SIZE || w->used > cap - CPIPE_HEADER_SIZE) w->malformed = 1;
    if ((w->flags & ~(uint32_t)(CPIPE_FLAG_UNSENT | CPIPE_FLAG_MORE)) != 0) w->malformed = 1;
}

/* The next record, or 0 at the end (or where the buffer breaks the format:
 * then w->malformed is set). A buffer read to its end holds exactly
 * `count` records filling exactly `used` bytes. */
static inline int records_next(records *w, record *r) {
    if (w->malformed) return 0;
    if (w->seen == w->count) {
        if (w->pos != w->used) w->malformed = 1;
        return 0;
    }
    const uint8_t *p = w->buf + CPIPE_HEADER_SIZE + w->pos;
    if (w->used - w->pos < CPIPE_RECORD_HEAD) {
        w->malformed = 1;
        return 0;
    }
    memset(r, 0, sizeof *r);
    r->kind = p[0];
    r->flags = p[1];
    r->connection = wire_get16(p + 2);
    r->id = wire_get32(p + 4);
    r->len = wire_get32(p + 8);
    r->payload = p + CPIPE_RECORD_HEAD;
    int ok = r->len <= w->used - w->pos - CPIPE_RECORD_HEAD;
    switch (r->kind) {
    case CPIPE_RECORD_REPLY: ok = ok && r->len >= 1 && (r->flags & ~CPIPE_RECORD_PARTIAL) == 0; break;
    case CPIPE_RECORD_PUSH: ok = ok && r->len >= 1 && r->flags == 0 && r->id == 0; break;
    case CPIPE_RECORD_FAILURE:
        ok = ok && r->len >= 8 && (r->flags & ~CPIPE_RECORD_UNSENT) == 0;
        if (ok) {
            r->status = (int32_t)wire_get32(r->payload);
            r->message_len = wire_get32(r->payload + 4);
            r->message = (const char *)r->payload + 8;
            ok = r->status < 0 && r->message_len <= r->len - 8;
            /* Only a call that never left carries its command. */
            if (ok && r->message_len < r->len - 8) {
                r->command = r->payload + 8 + r->message_len;
                r->command_len = r->len - 8 - r->message_len;
                ok = (r->flags & CPIPE_RECORD_UNSENT) != 0;
            }
        }
        break;
    case CPIPE_RECORD_EVENT:
        ok = ok && r->len >= 20 && r->flags == 0 && r->id == 0;
        if (ok) {
            const uint8_t *e = r->payload;
            r->event = e[0];
            r->status = (int32_t)wire_get32(e + 4);
            r->attempt = wire_get32(e + 8);
            r->delay_ms = wire_get32(e + 12);
            r->message_len = wire_get32(e + 16);
            r->message = (const char *)e + 20;
            ok = e[1] == 0 && wire_get16(e + 2) == 0 && r->message_len <= r->len - 20 &&
                 r->event >= CPIPE_EVENT_UP && r->event <= CPIPE_EVENT_RELEASED;
            if (ok && r->message_len < r->len - 20) {
                r->server_reply = e + 20 + r->message_len;
                r->server_reply_len = r->len - 20 - r->message_len;
            }
        }
        break;
    default: ok = 0;
    }
    if (!ok) {
        w->malformed = 1;
        return 0;
    }
    w->pos += CPIPE_RECORD_HEAD + (size_t)r->len;
    w->seen++;
    return 1;
}

/* Whether a record ends its call: a final reply, or a failure. */
static inline int record_finishes(const record *r) {
    return (r->kind == CPIPE_RECORD_REPLY && !(r->flags & CPIPE_RECORD_PARTIAL)) || r->kind == CPIPE_RECORD_FAILURE;
}

/* Whether a record's message (failure or event) holds `needle`. */
static inline int message_has(const record *r, const char *needle) {
    size_t n = strlen(needle);
    if (r->message == NULL || n > r->message_len) return 0;
    for (size_t i = 0; i + n <= r->message_len; i++)
        if (memcmp(r->message + i, needle, n) == 0) return 1;
    return 0;
}

/* Whether `hay` holds `needle` anywhere. */
static inline int bytes_have(const uint8_t *hay, size_t len, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0) return 1;
    return 0;
}

/* An encoded reply of a bulk-like type ('+', '-', '$'…) whose bytes are `text`. */
static inline int reply_is(const uint8_t *reply, size_t len, char type, const char *text) {
    size_t n = strlen(text);
    return len == 5 + n && reply[0] == (uint8_t)type && wire_get32(reply + 1) == n && memcmp(reply + 5, text, n) == 0;
}

#endif
