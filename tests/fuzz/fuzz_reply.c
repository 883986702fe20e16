/* libFuzzer harness over the reply path: hiredis' reader, cpipe's encoder
 * and the bounds of csrc/reply.c (`make fuzz`, `make fuzz-short`).
 *
 * Input: two bytes of settings, then the bytes a server would send.
 *   byte 0: bits 0-2 pick maxReplyBytes, bits 3-4 the longest line, bits 5-6
 *           the deepest nesting;
 *   byte 1: seeds the sizes of the reads the bytes arrive in.
 *
 * The bytes are read three ways: all at once by the bare reader (no check,
 * the reference), in reads of pseudo-random sizes through cpipe_reply_parse,
 * and one byte at a time. Invariants:
 *   - nothing crashes, leaks or overflows (ASan, UBSan);
 *   - every reply's encoding is well-formed (validate() below, the format of
 *     csrc/cpipe.h) and within the bound;
 *   - every split gives the same replies, byte for byte;
 *   - a failure is a protocol error, and comes at the same reply whatever the
 *     split, except that a split may refuse early what the reference has not
 *     finished reading when the input ends;
 *   - between feeds, the reader holds no more than the bounds allow. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpipe.h"
#include "reply.h"

#define MAX_REPLIES 64

static void fail(const char *what) {
    fprintf(stderr, "fuzz_reply: invariant broken: %s\n", what);
    abort();
}

typedef struct settings {
    uint64_t max_reply_bytes;
    size_t max_line;
    int max_depth;
} settings;

static settings settings_of(uint8_t b) {
    static const uint64_t maxes[8] = {16, 64, 100, 300, 1000, 4096, 65536, 0};
    static const size_t lines[4] = {CPIPE_REPLY_MIN_LINE, 600, 2048, CPIPE_REPLY_MAX_LINE};
    static const int depths[4] = {1, 3, 16, CPIPE_REPLY_MAX_DEPTH};
    settings s = {maxes[b & 7], lines[(b >> 3) & 3], depths[(b >> 5) & 3]};
    return s;
}

/* ---- the encoded form ------------------------------------------------------ */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Checks that [p, p + len) is exactly one encoded reply within the bounds;
 * returns its root tag. */
static uint8_t validate(const uint8_t *p, size_t len, const settings *s, int is_push) {
    const uint8_t *end = p + len;
    /* Items still owed by each open aggregate; the root is one item owed. */
    static uint32_t owed[CPIPE_REPLY_MAX_DEPTH + 2];
    int depth = 0;
    owed[0] = 1;
    uint8_t root = len ? p[0] : 0;
    if (len == 0) fail("empty reply");
    if ((root == '>') != (is_push != 0)) fail("is_push does not match the root's tag");
    while (depth >= 0) {
        if (owed[depth] == 0) {
            depth--;
            continue;
        }
        owed[depth]--;
        if (p >= end) fail("reply ends inside an aggregate");
        uint8_t tag = *p++;
        switch (tag) {
        case '+':
        case '-':
        case '$':
        case '=':
        case '(': {
            if (end - p < 4) fail("string length cut");
            uint32_t n = le32(p);
            p += 4;
            if ((size_t)(end - p) < n) fail("string cut");
            if ((tag == '$' || tag == '=') && n > (s->max_reply_bytes ? s->max_reply_bytes : CPIPE_REPLY_MAX_BYTES_DEFAULT))
                fail("bulk string past maxReplyBytes");
            if ((tag == '+' || tag == '-' || tag == '(') && n > s->max_line) fail("line past max_line");
            if (tag == '+' || tag == '-')
                for (uint32_t i = 0; i < n; i++)
                    if (p[i] == '\r' || p[i] == '\n') fail("CR or LF in a simple string");
            if (tag == '(') {
                uint32_t i = n > 0 && p[0] == '-' ? 1 : 0;
                if (i == n) fail("big number without digits");
                for (; i < n; i++)
                    if (p[i] < '0' || p[i] > '9') fail("big number with a non-digit");
            }
            p += n;
            break;
        }
        case ':': {
            if (end - p < 8) fail("integer cut");
            uint64_t bits = le64(p);
            double d;
            memcpy(&d, &bits, sizeof d);
            if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || d != (double)(long long)d)
                fail("':' not an exact integer");
            p += 8;
            break;
        }
        case 'L': {
            if (end - p < 8) fail("integer cut");
            long long v = (long long)le64(p);
            if (v >= -9007199254740991LL && v <= 9007199254740991LL) fail("'L' for an integer an f64 holds");
            p += 8;
            break;
        }
        case ',':
            if (end - p < 8) fail("double cut");
            p += 8;
            break;
        case '#':
            if (end - p < 1 || p[0] > 1) fail("boolean not 0 or 1");
            p += 1;
            break;
        case '_':
            break;
        case '*':
        case '~':
        case '>':
        case '%': {
            if (end - p < 4) fail("count cut");
            uint32_t n = le32(p);
            p += 4;
            if (tag == '%' && n % 2) fail("map with an odd count");
            if (depth + 1 > s->max_depth) fail("nested past max_depth");
            if (n > (size_t)(end - p)) fail("more elements than bytes left");
            owed[++depth] = n;
            break;
        }
        default:
            fail("unknown tag");
        }
    }
    if (p != end) fail("bytes after the reply");
    return root;
}

/* ---- three readings ---------------------------------------------------------- */

typedef struct reading {
    int replies;
    uint8_t *reply[MAX_REPLIES]; /* copies, for comparing the readings */
    size_t reply_len[MAX_REPLIES];
    int32_t rc;      /* 0, or the failure */
    int unfinished;  /* no failure, and a reply was begun and not finished */
} reading;

static void keep(reading *out, cpipe_reply_encoder *enc, const settings *s) {
    size_t n = cpipe_buffer_live(&enc->encoded);
    uint64_t max = s->max_reply_bytes ? s->max_reply_bytes : CPIPE_REPLY_MAX_BYTES_DEFAULT;
    uint64_t limit = max + (max < CPIPE_REPLY_SLACK ? max : CPIPE_REPLY_SLACK);
    if (n > limit) fail("reply past the whole-reply bound");
    validate(enc->encoded.data + enc->encoded.pos, n, s, enc->is_push);
    if (out->replies < MAX_REPLIES) {
        out->reply[out->replies] = malloc(n);
        memcpy(out->reply[out->replies], enc->encoded.data + enc->encoded.pos, n);
        out->reply_len[out->replies] = n;
    }
    out->replies++;
    cpipe_buffer_reset(&enc->encoded);
}

/* Whether the reader holds a begun reply. After its last reply, a reader
 * asked again with every byte read stands at the root task with no type yet
 * (ridx 0, type -1): nothing is begun, though ridx is not -1. */
static int holds_partial(const redisReader *r) {
    return r->len > r->pos || (r->ridx >= 0 && r->task[0]->type >= 0);
}

static redisReader *open_reader(cpipe_reply_encoder *enc, const settings *s) {
    memset(enc, 0, sizeof *enc);
    redisReader *r = cpipe_reply_reader_create(enc, s->max_reply_bytes);
    if (r == NULL) fail("no reader");
    enc->max_line = s->max_line;
    enc->max_depth = s->max_depth;
    return r;
}

/* The reference: every byte fed at once, no check between feeds. */
static void read_whole(const uint8_t *data, size_t len, const settings *s, reading *out) {
    cpipe_reply_encoder enc;
    redisReader *r = open_reader(&enc, s);
    char why[CPIPE_ERRSTR_LEN];
    if (len > 0 && redisReaderFeed(r, (const char *)data, len) != REDIS_OK) fail("feed failed");
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(r, &reply) != REDIS_OK) {
            out->rc = cpipe_reply_failure(r, &enc, why, sizeof why);
            break;
        }
        if (reply == NULL) {
            out->unfinished = holds_partial(r);
            break;
        }
        keep(out, &enc, s);
    }
    redisReaderFree(r);
    cpipe_buffer_release(&enc.encoded);
}

/* Reads of 1 to 64 bytes (now and then up to 4,096) from a small PRNG, or of
 * one byte each when seed is 0, through cpipe_reply_parse. */
static void read_split(const uint8_t *data, size_t len, const settings *s, uint32_t seed, reading *out) {
    cpipe_reply_encoder enc;
    redisReader *r = open_reader(&enc, s);
    char why[CPIPE_ERRSTR_LEN];
    uint64_t max = s->max_reply_bytes ? s->max_reply_bytes : CPIPE_REPLY_MAX_BYTES_DEFAULT;
    uint64_t limit = max + (max < CPIPE_REPLY_SLACK ? max : CPIPE_REPLY_SLACK);
    uint32_t x = seed * 2654435761u + 1;
    size_t off = 0;
    while (off < len && out->rc == 0) {
        size_t n = 1;
        if (seed) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            n = (x & 0xff) == 0 ? 1 + (x >> 8) % 4096 : 1 + (x >> 8) % 64;
        }
        if (n > len - off) n = len - off;
        size_t read_end = off + n;
        while (off < read_end) {
            size_t used = 0;
            int32_t rc = cpipe_reply_parse(r, &enc, data + off, read_end - off, &used, why, sizeof why);
            off += used;
            if (rc < 0) {
                out->rc = rc;
                break;
            }
            if (rc == 1) {
                keep(out, &enc, s);
                continue;
            }
            /* Waiting for more: what is held belongs to one unfinished item. */
            size_t held = r->len - r->pos;
            if (held > max + s->max_line + 32) fail("reader holds more than the bounds allow");
            if (cpipe_buffer_live(&enc.encoded) > limit) fail("partial reply past the bound");
        }
    }
    if (out->rc == 0) {
        /* Every byte fed: drain replies the last feed completed. */
        size_t used;
        int32_t rc;
        while ((rc = cpipe_reply_parse(r, &enc, NULL, 0, &used, why, sizeof why)) == 1) keep(out, &enc, s);
        if (rc < 0) out->rc = rc;
        else out->unfinished = holds_partial(r);
    }
    redisReaderFree(r);
    cpipe_buffer_release(&enc.encoded);
}

static void release(reading *rd) {
    for (int i = 0; i < rd->replies && i < MAX_REPLIES; i++) free(rd->reply[i]);
}

static void same_as_reference(const reading *ref, const reading *got) {
    int common = ref->replies < got->replies ? ref->replies : got->replies;
    for (int i = 0; i < common && i < MAX_REPLIES; i++)
        if (ref->reply_len[i] != got->reply_len[i] || memcmp(ref->reply[i], got->reply[i], ref->reply_len[i]) != 0)
            fail("a split changed a reply");
    if (ref->rc != 0 && ref->rc != CPIPE_ERR_PROTOCOL) fail("reference failed other than by protocol");
    if (got->rc != 0 && got->rc != CPIPE_ERR_PROTOCOL) fail("split failed other than by protocol");
    if (ref->rc != 0) {
        if (got->rc == 0) fail("a split accepted what the reference refused");
        if (got->replies != ref->replies) fail("a split failed at another reply");
    } else if (got->rc != 0) {
        /* Refused early: only what the reference had not finished reading. */
        if (!ref->unfinished || got->replies != ref->replies) fail("a split refused what the reference accepted");
    } else if (got->replies != ref->replies || got->unfinished != ref->unfinished) {
        fail("a split gave another number of replies");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    settings s = settings_of(data[0]);
    uint32_t seed = data[1] + 1u;
    data += 2;
    size -= 2;
    reading whole = {0}, split = {0}, trickle = {0};
    read_whole(data, size, &s, &whole);
    read_split(data, size, &s, seed, &split);
    same_as_reference(&whole, &split);
    if (size <= 2048) {
        read_split(data, size, &s, 0, &trickle);
        same_as_reference(&whole, &trickle);
    }
    release(&whole);
    release(&split);
    release(&trickle);
    return 0;
}
