/* Records, the one format in which the core tells the host what happened
 * (see cpipe.h): replies to calls, failures, pushes, connection events. */
#ifndef CPIPE_RECORD_H
#define CPIPE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

/* Each appends one record to `out`: 0, or -1 when out of memory (nothing
 * appended). */
int cpipe_record_reply(cpipe_buffer *out, uint16_t connection, uint32_t id, int partial, const uint8_t *reply,
                       size_t len);
int cpipe_record_push(cpipe_buffer *out, uint16_t connection, const uint8_t *reply, size_t len);
/* `resend`: the RESP of a call that never left, `resend_len` bytes from
 * there, whose command the record carries (packed) when they hold one whole;
 * NULL for none. */
int cpipe_record_failure(cpipe_buffer *out, uint16_t connection, uint32_t id, int32_t status, int unsent,
                         const char *message, const uint8_t *resend, size_t resend_len);
int cpipe_record_event(cpipe_buffer *out, uint16_t connection, uint8_t event, int32_t status, uint32_t attempt,
                       uint32_t delay_ms, const char *message, const uint8_t *server_reply, size_t reply_len);

/* Moves whole records from `from` into the host's buffer after its header,
 * and writes the header; returns how many moved. `flags` is or-ed into the
 * header's flags (CPIPE_FLAG_MORE is set when records stay behind). */
uint32_t cpipe_records_move(cpipe_buffer *from, uint8_t *out, size_t out_cap, uint32_t flags);

#endif
