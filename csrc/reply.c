#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/sds.h>

#include "bytes.h"
#include "cpipe.h"

#define MAX_EXACT_INTEGER 9007199254740991LL /* 2^53 - 1: exact in an f64 */

/* Encoded size of a string's or an aggregate's tag and u32, and of a number. */
#define TAG_LEN 5
#define NUMBER_LEN 9

/* The reader only needs a non-NULL object to know a callback succeeded; the
 * encoder itself serves, and NULL reports a refusal or running out of memory. */
static cpipe_reply_encoder *encoder_of(const redisReadTask *task) {
    return (cpipe_reply_encoder *)task->privdata;
}

/* The whole reply's bound in encoded bytes: room for a value of
 * max_reply_bytes and the framing around it (the slack, or as much again
 * when the bound is smaller than that). */
static uint64_t reply_limit(const cpipe_reply_encoder *enc) {
    uint64_t slack = enc->max_reply_bytes < CPIPE_REPLY_SLACK ? enc->max_reply_bytes : CPIPE_REPLY_SLACK;
    return enc->max_reply_bytes + slack;
}

/* Quotes up to 24 bytes of what the peer sent, escaped, for a message. */
static void excerpt(char *dst, size_t cap, const char *s, size_t len) {
    size_t n = 0;
    if (cap == 0) return;
    for (size_t i = 0; i < len && i < 24 && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') dst[n++] = (char)c;
        else n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
    }
    if (len > 24 && n + 4 < cap) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

/* Records why a value was refused (the first reason wins) and returns NULL,
 * which hiredis reports as "Out of memory"; cpipe_reply_failure() knows better. */
static void *refuse(cpipe_reply_encoder *enc, const char *fmt, ...) {
    if (enc->refusal[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(enc->refusal, sizeof enc->refusal, fmt, ap);
        va_end(ap);
        if (enc->refusal[0] == '\0') memcpy(enc->refusal, "refused", 8);
    }
    return NULL;
}

/* Whether `more` encoded bytes still fit the reply. */
static int fits(const cpipe_reply_encoder *enc, uint64_t more) {
    return cpipe_buffer_live(&enc->encoded) + more <= reply_limit(enc);
}

static void *refuse_size(cpipe_reply_encoder *enc) {
    return refuse(enc, "a reply larger than maxReplyBytes (%llu)", (unsigned long long)enc->max_reply_bytes);
}

static void note_root(cpipe_reply_encoder *enc, const redisReadTask *task) {
    if (task->parent == NULL) enc->is_push = task->type == REDIS_REPLY_PUSH;
}

static void *put_tagged(const redisReadTask *task, char tag, const void *payload, size_t n) {
    cpipe_reply_encoder *enc = encoder_of(task);
    if (!fits(enc, 1 + n)) return refuse_size(enc);
    note_root(enc, task);
    if (cpipe_buffer_reserve(&enc->encoded, 1 + n) != 0) return NULL;
    enc->encoded.data[enc->encoded.len] = (uint8_t)tag;
    if (n) memcpy(enc->encoded.data + enc->encoded.len + 1, payload, n);
    enc->encoded.len += 1 + n;
    return enc;
}

static void *put_f64(const redisReadTask *task, char tag, double d) {
    uint64_t bits;
    uint8_t payload[8];
    memcpy(&bits, &d, sizeof bits);
    cpipe_put_u64(payload, bits);
    return put_tagged(task, tag, payload, sizeof payload);
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* An optional '-' and at least one digit: what BigInt() reads. hiredis lets
 * an empty or sign-only big number through. */
static int valid_big_number(const char *s, size_t len) {
    size_t i = len > 0 && s[0] == '-' ? 1 : 0;
    if (i == len) return 0;
    for (; i < len; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* A line's kind with its article, for messages. */
static const char *line_kind(int type) {
    switch (type) {
    case REDIS_REPLY_STATUS: return "a status";
    case REDIS_REPLY_ERROR: return "an error";
    case REDIS_REPLY_INTEGER: return "an integer";
    case REDIS_REPLY_DOUBLE: return "a double";
    case REDIS_REPLY_NIL: return "a nil";
    case REDIS_REPLY_BOOL: return "a boolean";
    case REDIS_REPLY_BIGNUM: return "a big number";
    case REDIS_REPLY_STRING: return "a bulk string header";
    case REDIS_REPLY_VERB: return "a verbatim string header";
    case REDIS_REPLY_MAP: return "a map header";
    case REDIS_REPLY_SET: return "a set header";
    case REDIS_REPLY_PUSH: return "a push header";
    default: return "an array header";
    }
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    cpipe_reply_encoder *enc = encoder_of(task);
    char tag;
    switch (task->type) {
    case REDIS_REPLY_STATUS: tag = '+'; break;
    case REDIS_REPLY_ERROR: tag = '-'; break;
    case REDIS_REPLY_BIGNUM: tag = '('; break;
    case REDIS_REPLY_VERB: tag = '='; break;
    default: tag = '$'; break;
    }
    if (tag == '$' || tag == '=') {
        if (len > enc->max_reply_bytes)
            return refuse(enc, "a bulk string of %zu bytes, larger than maxReplyBytes (%llu)", len,
                          (unsigned long long)enc->max_reply_bytes);
        /* The reader counts the CRLF after the value but does not look at it
         * (it hands over the value only once both bytes are in its buffer):
         * anything else there means the length and the bytes disagree. */
        if (str[len] != '\r' || str[len + 1] != '\n')
            return refuse(enc, "a bulk string of %zu bytes not followed by CRLF", len);
    } else if (len > enc->max_line) {
        /* The same bound cpipe_reply_check() applies while the CRLF has not
         * come: the outcome must not depend on how the bytes were split. */
        return refuse(enc, "%s line of %zu bytes, longer than %zu", line_kind(task->type), len, enc->max_line);
    }
    if (tag == '(' && !valid_big_number(str, len)) {
        char quoted[112];
        excerpt(quoted, sizeof quoted, str, len);
        return refuse(enc, "a big number that is not an optional '-' and digits: \"%s\"", quoted);
    }
    if (tag == '=') {
        /* The reader has checked the "xxx:" format prefix; the value follows it. */
        str += 4;
        len -= 4;
    }
    if (!fits(enc, TAG_LEN + (uint64_t)len)) return refuse_size(enc);
    note_root(enc, task);
    if (cpipe_buffer_reserve(&enc->encoded, TAG_LEN + len) != 0) return NULL;
    uint8_t *p = enc->encoded.data + enc->encoded.len;
    p[0] = (uint8_t)tag;
    cpipe_put_u32(p + 1, (uint32_t)len); /* len <= the limit, below INT32_MAX */
    if (len) memcpy(p + TAG_LEN, str, len);
    enc->encoded.len += TAG_LEN + len;
    return enc;
}

static void *create_array(const redisReadTask *task, size_t elements) {
    cpipe_reply_encoder *enc = encoder_of(task);
    char tag;
    switch (task->type) {
    case REDIS_REPLY_MAP: tag = '%'; break;
    case REDIS_REPLY_SET: tag = '~'; break;
    case REDIS_REPLY_PUSH: tag = '>'; break;
    case REDIS_REPLY_ATTR: tag = '|'; break;
    default: tag = '*'; break;
    }
    /* The reader is at this aggregate's task: ridx aggregates enclose it. */
    if (enc->reader != NULL && enc->reader->ridx >= enc->max_depth)
        return refuse(enc, "aggregates nested deeper than %d levels", enc->max_depth);
    /* Every element takes at least one encoded byte ('_'). For a map the
     * reader has doubled the count already, which its maxelements cannot. */
    if (!fits(enc, TAG_LEN + (uint64_t)elements))
        return refuse(enc, "an aggregate of %zu elements, more than maxReplyBytes (%llu) can hold", elements,
                      (unsigned long long)enc->max_reply_bytes);
    uint8_t payload[4];
    cpipe_put_u32(payload, (uint32_t)elements);
    return put_tagged(task, tag, payload, sizeof payload);
}

static void *create_integer(const redisReadTask *task, long long value) {
    if (value >= -MAX_EXACT_INTEGER && value <= MAX_EXACT_INTEGER) return put_f64(task, ':', (double)value);
    uint8_t payload[8];
    cpipe_put_u64(payload, (uint64_t)value);
    return put_tagged(task, 'L', payload, sizeof payload);
}

static int letters_equal(const char *s, size_t len, const char *word) {
    size_t n = strlen(word);
    if (len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != word[i]) return 0;
    }
    return 1;
}

static size_t skip_digits(const char *s, size_t i, size_t len) {
    while (i < len && is_digit(s[i])) i++;
    return i;
}

/* RESP3's double: [sign] digits [. digits] [e [sign] digits], at least one
 * digit before the exponent; or inf, -inf, nan (any case, as hiredis reads
 * them). hiredis' strtod() would also take blanks, hexadecimal and the like. */
static int valid_double(const char *s, size_t len) {
    if (letters_equal(s, len, "inf") || letters_equal(s, len, "-inf") || letters_equal(s, len, "nan") ||
        letters_equal(s, len, "-nan"))
        return 1;
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    size_t int_start = i;
    i = skip_digits(s, i, len);
    size_t digits = i - int_start;
    if (i < len && s[i] == '.') {
        size_t frac_start = ++i;
        i = skip_digits(s, i, len);
        digits += i - frac_start;
    }
    if (digits == 0) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        size_t exp_start = i;
        i = skip_digits(s, i, len);
        if (i == exp_start) return 0;
    }
    return i == len;
}

static void *create_double(const redisReadTask *task, double value, char *str, size_t len) {
    if (!valid_double(str, len)) {
        char quoted[112];
        excerpt(quoted, sizeof quoted, str, len);
        return refuse(encoder_of(task), "a double that is not a decimal number: \"%s\"", quoted);
    }
    return put_f64(task, ',', value);
}

static void *create_nil(const redisReadTask *task) {
    /* hiredis reads "%-1", "~-1" and ">-1" as nil, which RESP3 does not
     * have (its null is "_"); a null push would also be flagged a push and
     * answer no command, so the replies after it would shift. */
    if (task->type == REDIS_REPLY_MAP || task->type == REDIS_REPLY_SET || task->type == REDIS_REPLY_PUSH) {
        const char *kind = task->type == REDIS_REPLY_MAP ? "map" : task->type == REDIS_REPLY_SET ? "set" : "push";
        return refuse(encoder_of(task), "a null %s (length -1), which RESP3 does not have", kind);
    }
    return put_tagged(task, '_', NULL, 0);
}

static void *create_bool(const redisReadTask *task, int value) {
    uint8_t payload = value ? 1 : 0;
    return put_tagged(task, '#', &payload, 1);
}

static redisReplyObjectFunctions encoding_functions = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createDouble = create_double,
    .createNil = create_nil,
    .createBool = create_bool,
    .freeObject = NULL, /* the encoder owns its bytes */
};

redisReader *cpipe_reply_reader_create(cpipe_reply_encoder *enc, uint64_t max_reply_bytes) {
    if (max_reply_bytes == 0) max_reply_bytes = CPIPE_REPLY_MAX_BYTES_DEFAULT;
    if (max_reply_bytes > CPIPE_REPLY_MAX_BYTES_LIMIT) max_reply_bytes = CPIPE_REPLY_MAX_BYTES_LIMIT;
    redisReader *r = redisReaderCreateWithFunctions(&encoding_functions);
    if (r == NULL) return NULL;
    enc->max_reply_bytes = max_reply_bytes;
    enc->max_line = CPIPE_REPLY_MAX_LINE;
    enc->max_depth = CPIPE_REPLY_MAX_DEPTH;
    enc->reader = r;
    enc->refusal[0] = '\0';
    r->privdata = enc;
    /* An aggregate of n elements takes at least 5 + n encoded bytes, so a
     * larger count could never fit: hiredis refuses it on reading the header
     * ("Multi-bulk length out of range"). Below 2^31, this also keeps a
     * map's doubled count within the encoded form's u32. */
    r->maxelements = (long long)(reply_limit(enc) - TAG_LEN);
    /* Keep up to 64 KiB of read buffer between replies instead of 16 KiB:
     * fewer reallocations when replies stream in. */
    r->maxbuf = 64 * 1024;
    return r;
}

static const char *find_crlf(const char *s, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        const char *cr = memchr(s + i, '\r', len - 1 - i);
        if (cr == NULL) return NULL;
        if (cr[1] == '\n') return cr;
        i = (size_t)(cr - s);
    }
    return NULL;
}

static int check_failed(char *why, size_t cap, const char *fmt, ...) {
    if (cap > 0) {
        int n = snprintf(why, cap, "protocol error: ");
        if (n > 0 && (size_t)n < cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(why + n, cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* After a GetReply that returned no reply, every byte the reader holds
 * belongs to the item it stopped at (task[ridx]): had that item been whole,
 * the reader would have gone past it. The reader stops either before an
 * item's type byte (nothing held), or right after it (pos at the line). */
int cpipe_reply_check(const redisReader *r, const cpipe_reply_encoder *enc, char *why, size_t cap) {
    if (r->err || r->ridx < 0) return 0;
    const redisReadTask *cur = r->task[r->ridx];
    size_t held = r->len - r->pos;
    if (cur->type < 0 || held == 0) return 0;
    const char *line = r->buf + r->pos;
    size_t encoded = cpipe_buffer_live(&enc->encoded);
    if (cur->type == REDIS_REPLY_STRING || cur->type == REDIS_REPLY_VERB) {
        /* Stopped at the header or in the payload: read the header. */
        const char *crlf = find_crlf(line, held < enc->max_line + 2 ? held : enc->max_line + 2);
        if (crlf != NULL) {
            uint64_t n = 0;
            for (const char *p = line; p < crlf; p++) {
                /* The reader has parsed this header; no digit or an overflow
                 * means it did so differently: let it decide. */
                if (!is_digit(*p) || n > (UINT64_MAX - 9) / 10) return 0;
                n = n * 10 + (uint64_t)(*p - '0');
            }
            if (n > enc->max_reply_bytes)
                return check_failed(why, cap, "a bulk string of %llu bytes, larger than maxReplyBytes (%llu)",
                                    (unsigned long long)n, (unsigned long long)enc->max_reply_bytes);
            /* Encoded: the tag, the u32, the value (a verbatim string's
             * 4-byte format prefix dropped), as create_string() will check. */
            uint64_t value = cur->type == REDIS_REPLY_VERB ? (n >= 4 ? n - 4 : 0) : n;
            if (encoded + TAG_LEN + value > reply_limit(enc))
                return check_failed(why, cap, "a reply larger than maxReplyBytes (%llu)",
                                    (unsigned long long)enc->max_reply_bytes);
            return 0;
        }
    }
    /* No CRLF in what is held: the line is at least held - 1 bytes long
     * (a CR may be last), and will be refused when it ends: refuse it now. */
    if (held > enc->max_line + 1)
        return check_failed(why, cap, "%s line longer than %zu bytes", line_kind(cur->type), enc->max_line);
    int string_line = cur->type == REDIS_REPLY_STATUS || cur->type == REDIS_REPLY_ERROR ||
                      cur->type == REDIS_REPLY_BIGNUM;
    if (string_line && encoded + TAG_LEN + (held - 1) > reply_limit(enc))
        return check_failed(why, cap, "a reply larger than maxReplyBytes (%llu)",
                            (unsigned long long)enc->max_reply_bytes);
    return 0;
}

size_t cpipe_reply_feed_size(const redisReader *r, size_t left) {
    size_t n = CPIPE_REPLY_FEED_SLICE;
    size_t held = r->len - r->pos;
    if (r->ridx >= 0 && held > n) n = held;
    return n < left ? n : left;
}

int32_t cpipe_reply_failure(const redisReader *r, const cpipe_reply_encoder *enc, char *why, size_t cap) {
    if (enc->refusal[0] != '\0') {
        snprintf(why, cap, "protocol error: %s", enc->refusal);
        return CPIPE_ERR_PROTOCOL;
    }
    /* A GetReply can fail without a reason only when compacting its buffer
     * found no memory. */
    if (r->err == 0 || r->err == REDIS_ERR_OOM) {
        snprintf(why, cap, "out of memory reading a reply");
        return CPIPE_ERR_NOMEM;
    }
    if (strcmp(r->errstr, "Multi-bulk length out of range") == 0) {
        snprintf(why, cap,
                 "protocol error: an aggregate length out of range (below -1, or more elements than "
                 "maxReplyBytes (%llu) can hold)",
                 (unsigned long long)enc->max_reply_bytes);
        return CPIPE_ERR_PROTOCOL;
    }
    snprintf(why, cap, "protocol error: %s", r->errstr);
    return CPIPE_ERR_PROTOCOL;
}

/* ---- flat frames, read without the reader -------------------------------------------- */

/* An array or push of at most this many bulk strings (no nil) is a flat
 * frame: a Pub/Sub message (3 items, 4 from a pattern), short MGET, HMGET or
 * LRANGE replies. */
#define FLAT_MAX_ITEMS 16
/* Digits of a length a flat frame's header may have (below 10^9). */
#define FLAT_MAX_DIGITS 9

/* The length in a header line "<digits>\r\n" at b[*pos...end), as hiredis'
 * string2ll reads it ("0", or no leading zero), the position moved past the
 * CRLF. -1 when the line is not whole, or not such digits (a sign, a nil, a
 * leading zero: the reader decides what those are). */
static int64_t flat_length(const uint8_t *b, size_t *pos, size_t end) {
    size_t p = *pos, start = p;
    int64_t n = 0;
    while (p < end && b[p] >= '0' && b[p] <= '9' && p - start < FLAT_MAX_DIGITS) n = n * 10 + (b[p++] - '0');
    if (p == start || (b[start] == '0' && p - start > 1) || p + 2 > end || b[p] != '\r' || b[p + 1] != '\n') return -1;
    *pos = p + 2;
    return n;
}

/* Where a flat frame's strings are, once measured. */
typedef struct flat_frame {
    int64_t items;
    uint64_t encoded; /* its encoded size */
    size_t size;      /* its size in RESP */
    size_t starts[FLAT_MAX_ITEMS], lengths[FLAT_MAX_ITEMS];
} flat_frame;

/* Measures a whole flat frame at b[0, len): 1, or 0 when no whole flat
 * frame is there or when it breaks a bound (the reader then reads it and
 * says why). */
static int measure_flat(const cpipe_reply_encoder *enc, const uint8_t *b, size_t len, flat_frame *f) {
    if (len < 4 || (b[0] != '*' && b[0] != '>') || enc->max_depth < 1) return 0;
    size_t pos = 1;
    f->items = flat_length(b, &pos, len);
    if (f->items < 1 || f->items > FLAT_MAX_ITEMS) return 0;
    f->encoded = TAG_LEN;
    for (int64_t i = 0; i < f->items; i++) {
        if (pos >= len || b[pos] != '$') return 0;
        pos++;
        int64_t n = flat_length(b, &pos, len);
        if (n < 0 || (uint64_t)n > enc->max_reply_bytes || (uint64_t)n + 2 > len - pos) return 0;
        if (b[pos + (size_t)n] != '\r' || b[pos + (size_t)n + 1] != '\n') return 0;
        f->starts[i] = pos;
        f->lengths[i] = (size_t)n;
        f->encoded += TAG_LEN + (uint64_t)n;
        pos += (size_t)n + 2;
    }
    if (f->encoded > reply_limit(enc)) return 0;
    f->size = pos;
    return 1;
}

/* Reads a whole flat frame at bytes[0, len) straight into the empty
 * enc->encoded, encoded exactly as the reader's callbacks would encode it
 * (the reader's cost per item is most of a Pub/Sub message's). Returns the
 * frame's size in bytes, or 0 when there is none (see measure_flat). */
static size_t parse_flat(cpipe_reply_encoder *enc, const uint8_t *b, size_t len) {
    flat_frame f;
    if (cpipe_buffer_live(&enc->encoded) != 0 || !measure_flat(enc, b, len, &f)) return 0;
    if (cpipe_buffer_reserve(&enc->encoded, (size_t)f.encoded) != 0) return 0; /* the reader reports it */
    uint8_t *out = enc->encoded.data + enc->encoded.len;
    out[0] = b[0];
    cpipe_put_u32(out + 1, (uint32_t)f.items);
    out += TAG_LEN;
    for (int64_t i = 0; i < f.items; i++) {
        out[0] = '$';
        cpipe_put_u32(out + 1, (uint32_t)f.lengths[i]);
        if (f.lengths[i]) memcpy(out + TAG_LEN, b + f.starts[i], f.lengths[i]);
        out += TAG_LEN + f.lengths[i];
    }
    enc->encoded.len += (size_t)f.encoded;
    enc->is_push = b[0] == '>';
    return f.size;
}

/* Whether the reader holds nothing and is between replies: the next byte may
 * be read without it. Asked for a reply with every byte read, the reader
 * stands at its root task with no type yet (ridx 0, type -1): between
 * replies too. */
static int reader_idle(const redisReader *r) {
    return !r->err && r->pos == r->len && (r->ridx < 0 || (r->ridx == 0 && r->task[0]->type < 0));
}

/* After the reader gave a reply: when what it still holds came from this
 * call's feeds and begins with a whole flat frame, those bytes go back to
 * the caller (`*used` less), so that the next call reads them without it.
 * Replies of other kinds stay with the reader, which reads a run of them
 * from one feed. */
static void give_back_flat(redisReader *r, cpipe_reply_encoder *enc, size_t *used) {
    size_t held = r->len - r->pos;
    if (held == 0 || held > *used || r->ridx >= 0) return;
    flat_frame f;
    if (!measure_flat(enc, (const uint8_t *)r->buf + r->pos, held, &f)) return;
    *used -= held;
    sdsclear(r->buf);
    r->pos = r->len = 0;
}

int32_t cpipe_reply_parse(redisReader *r, cpipe_reply_encoder *enc, const uint8_t *bytes, size_t len, size_t *used,
                          char *why, size_t cap) {
    *used = 0;
    for (;;) {
        if (*used < len && reader_idle(r)) {
            size_t n = parse_flat(enc, bytes + *used, len - *used);
            if (n > 0) {
                *used += n;
                return 1;
            }
        }
        void *reply = NULL;
        if (redisReaderGetReply(r, &reply) != REDIS_OK) return cpipe_reply_failure(r, enc, why, cap);
        if (reply != NULL) {
            give_back_flat(r, enc, used);
            return 1;
        }
        if (cpipe_reply_check(r, enc, why, cap) != 0) return CPIPE_ERR_PROTOCOL;
        if (*used == len) return 0;
        size_t n = cpipe_reply_feed_size(r, len - *used);
        if (redisReaderFeed(r, (const char *)bytes + *used, n) != REDIS_OK)
            return cpipe_reply_failure(r, enc, why, cap);
        *used += n;
    }
}
