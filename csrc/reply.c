#include "reply.h"

#include <string.h>

#define MAX_EXACT_INTEGER 9007199254740991LL /* 2^53 - 1: exact in an f64 */

/* The reader only needs a non-NULL object to know a callback succeeded; the
 * encoder itself serves, and NULL reports running out of memory. */
static cpipe_reply_encoder *encoder_of(const redisReadTask *task) {
    return (cpipe_reply_encoder *)task->privdata;
}

static void note_root(cpipe_reply_encoder *enc, const redisReadTask *task) {
    if (task->parent == NULL) enc->is_push = task->type == REDIS_REPLY_PUSH;
}

static void *put_tagged(const redisReadTask *task, char tag, const void *payload, size_t n) {
    cpipe_reply_encoder *enc = encoder_of(task);
    note_root(enc, task);
    if (cpipe_buffer_reserve(&enc->encoded, 1 + n) != 0) return NULL;
    enc->encoded.data[enc->encoded.len] = (uint8_t)tag;
    if (n) memcpy(enc->encoded.data + enc->encoded.len + 1, payload, n);
    enc->encoded.len += 1 + n;
    return enc;
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v) {
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static void *put_f64(const redisReadTask *task, char tag, double d) {
    uint64_t bits;
    uint8_t payload[8];
    memcpy(&bits, &d, sizeof bits);
    put_le64(payload, bits);
    return put_tagged(task, tag, payload, sizeof payload);
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
    char tag;
    switch (task->type) {
    case REDIS_REPLY_STATUS: tag = '+'; break;
    case REDIS_REPLY_ERROR: tag = '-'; break;
    case REDIS_REPLY_BIGNUM: tag = '('; break;
    case REDIS_REPLY_VERB:
        /* The reader has checked the "xxx:" format prefix; the value follows it. */
        tag = '=';
        str += 4;
        len -= 4;
        break;
    default: tag = '$'; break;
    }
    if (len > UINT32_MAX) return NULL;
    cpipe_reply_encoder *enc = encoder_of(task);
    note_root(enc, task);
    if (cpipe_buffer_reserve(&enc->encoded, 5 + len) != 0) return NULL;
    uint8_t *p = enc->encoded.data + enc->encoded.len;
    p[0] = (uint8_t)tag;
    put_le32(p + 1, (uint32_t)len);
    if (len) memcpy(p + 5, str, len);
    enc->encoded.len += 5 + len;
    return enc;
}

static void *create_array(const redisReadTask *task, size_t elements) {
    char tag;
    switch (task->type) {
    case REDIS_REPLY_MAP: tag = '%'; break;
    case REDIS_REPLY_SET: tag = '~'; break;
    case REDIS_REPLY_PUSH: tag = '>'; break;
    case REDIS_REPLY_ATTR: tag = '|'; break;
    default: tag = '*'; break;
    }
    if (elements > UINT32_MAX) return NULL;
    uint8_t payload[4];
    put_le32(payload, (uint32_t)elements);
    return put_tagged(task, tag, payload, sizeof payload);
}

static void *create_integer(const redisReadTask *task, long long value) {
    if (value >= -MAX_EXACT_INTEGER && value <= MAX_EXACT_INTEGER) return put_f64(task, ':', (double)value);
    uint8_t payload[8];
    put_le64(payload, (uint64_t)value);
    return put_tagged(task, 'L', payload, sizeof payload);
}

static void *create_double(const redisReadTask *task, double value, char *str, size_t len) {
    (void)str;
    (void)len;
    return put_f64(task, ',', value);
}

static void *create_nil(const redisReadTask *task) {
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

redisReader *cpipe_reply_reader_create(cpipe_reply_encoder *enc) {
    redisReader *r = redisReaderCreateWithFunctions(&encoding_functions);
    if (r == NULL) return NULL;
    r->privdata = enc;
    /* Keep up to 64 KiB of read buffer between replies instead of 16 KiB:
     * fewer reallocations when replies stream in. */
    r->maxbuf = 64 * 1024;
    return r;
}
