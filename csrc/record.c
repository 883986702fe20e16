#include "record.h"

#include <string.h>

#include "bytes.h"
#include "command.h"
#include "cpipe.h"

static uint8_t *head(cpipe_buffer *out, uint8_t kind, uint8_t flags, uint16_t connection, uint32_t id, size_t len) {
    if (len > UINT32_MAX - CPIPE_RECORD_HEAD || cpipe_buffer_reserve(out, CPIPE_RECORD_HEAD + len) != 0) return NULL;
    uint8_t *p = out->data + out->len;
    p[0] = kind;
    p[1] = flags;
    cpipe_put_u16(p + 2, connection);
    cpipe_put_u32(p + 4, id);
    cpipe_put_u32(p + 8, (uint32_t)len);
    out->len += CPIPE_RECORD_HEAD + len;
    return p + CPIPE_RECORD_HEAD;
}

/* Writes `n` bytes of text after their u32 length; returns where they end. */
static uint8_t *put_text(uint8_t *p, const char *text, size_t n) {
    cpipe_put_u32(p, (uint32_t)n);
    memcpy(p + 4, text, n);
    return p + 4 + n;
}

int cpipe_record_reply(cpipe_buffer *out, uint16_t connection, uint32_t id, int partial, const uint8_t *reply,
                       size_t len) {
    uint8_t *p = head(out, CPIPE_RECORD_REPLY, partial ? CPIPE_RECORD_PARTIAL : 0, connection, id, len);
    if (p == NULL) return -1;
    memcpy(p, reply, len);
    return 0;
}

int cpipe_record_push(cpipe_buffer *out, uint16_t connection, const uint8_t *reply, size_t len) {
    uint8_t *p = head(out, CPIPE_RECORD_PUSH, 0, connection, 0, len);
    if (p == NULL) return -1;
    memcpy(p, reply, len);
    return 0;
}

int cpipe_record_failure(cpipe_buffer *out, uint16_t connection, uint32_t id, int32_t status, int unsent,
                         const char *message, const uint8_t *resend, size_t resend_len) {
    size_t n = strlen(message);
    size_t packed = resend == NULL ? 0 : cpipe_command_packed_from_resp(resend, resend_len, NULL);
    if (packed > UINT32_MAX - 8 - n) return -1;
    uint8_t *p = head(out, CPIPE_RECORD_FAILURE, unsent ? CPIPE_RECORD_UNSENT : 0, connection, id, 8 + n + packed);
    if (p == NULL) return -1;
    cpipe_put_u32(p, (uint32_t)status);
    uint8_t *command = put_text(p + 4, message, n);
    if (packed > 0) (void)cpipe_command_packed_from_resp(resend, resend_len, command);
    return 0;
}

int cpipe_record_event(cpipe_buffer *out, uint16_t connection, uint8_t event, int32_t status, uint32_t attempt,
                       uint32_t delay_ms, const char *message, const uint8_t *server_reply, size_t reply_len) {
    size_t n = strlen(message);
    if (reply_len > UINT32_MAX / 2) return -1;
    uint8_t *p = head(out, CPIPE_RECORD_EVENT, 0, connection, 0, 20 + n + reply_len);
    if (p == NULL) return -1;
    p[0] = event;
    p[1] = p[2] = p[3] = 0;
    cpipe_put_u32(p + 4, (uint32_t)status);
    cpipe_put_u32(p + 8, attempt);
    cpipe_put_u32(p + 12, delay_ms);
    uint8_t *reply = put_text(p + 16, message, n);
    if (reply_len) memcpy(reply, server_reply, reply_len);
    return 0;
}

uint32_t cpipe_records_move(cpipe_buffer *from, uint8_t *out, size_t out_cap, uint32_t flags) {
    size_t room = out_cap - CPIPE_HEADER_SIZE, used = 0;
    uint32_t records = 0, need = 0;
    while (cpipe_buffer_live(from) >= CPIPE_RECORD_HEAD) {
        const uint8_t *rec = from->data + from->pos;
        size_t size = CPIPE_RECORD_HEAD + (size_t)cpipe_get_u32(rec + 8);
        if (size > room - used) {
            if (records == 0) need = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
            break;
        }
        memcpy(out + CPIPE_HEADER_SIZE + used, rec, size);
        used += size;
        from->pos += size;
        records++;
    }
    if (cpipe_buffer_live(from) == 0) cpipe_buffer_reset(from);
    else flags |= CPIPE_FLAG_MORE;
    cpipe_put_u32(out, records);
    cpipe_put_u32(out + 4, (uint32_t)used);
    cpipe_put_u32(out + 8, flags);
    cpipe_put_u32(out + 12, need);
    return records;
}
