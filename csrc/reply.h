/* hiredis' reader driven with callbacks that write replies in cpipe's encoded
 * form (see cpipe.h) instead of building redisReply trees, and the bounds that
 * keep a hostile or broken peer from costing unbounded memory or CPU.
 *
 * Bounds (all enforced without patching hiredis: by the reader's own
 * maxelements, by the encoding callbacks, and by cpipe_reply_check() looking
 * at the reader's buffer and task stack from outside):
 *
 * - A bulk or verbatim string longer than max_reply_bytes is refused as soon
 *   as its header line is buffered, before its payload arrives. (hiredis 1.2
 *   has no RESP3 blob error, '!': it is a protocol error already.)
 * - A whole reply is refused once its encoded form is sure to pass
 *   max_reply_bytes + CPIPE_REPLY_SLACK (64 KiB): a string or aggregate header that
 *   cannot fit in what is left, or a value that does not.
 * - An aggregate header announcing more elements than could fit is a protocol
 *   error from hiredis itself: every element takes at least one encoded byte
 *   ('_'), after the aggregate's own five, so maxelements is the limit minus
 *   five. hiredis compares a map's count before doubling it, so maps are cut
 *   exactly by the encoder, which sees the doubled count.
 * - A line (status, error, big number, integer, double, boolean, nil, and
 *   every header) longer than max_line bytes is refused while its CRLF has
 *   not come yet. hiredis looks for a line's CRLF from the line's start after
 *   every feed, so an unbounded line costs quadratic time (64 MB of "+xxx..."
 *   without CRLF in 4 KiB feeds: 23 to 73 s of CPU, as measured). Bounded at 64 KiB and fed as
 *   cpipe_reply_parse() feeds, it fails after at most 128 KiB, in 0.5 ms;
 *   lines just under the bound cost ~3 ms of CPU per MB. 64 KiB is the bound
 *   Redis itself puts on the lines it reads (PROTO_INLINE_MAX_SIZE: "too big
 *   inline request", "too big mbulk count string"); no number or header line
 *   hiredis accepts is longer than 325 bytes, so the bound only ever cuts a
 *   status, error or big number, which a server writes from short messages.
 * - Aggregates nested deeper than max_depth levels (10,000: Redis' own
 *   replies nest a few levels; scripts and modules may go deeper, and
 *   test_core reads 5,000) are refused: hiredis keeps about 64 bytes of
 *   task per level, so 4-byte "*1\r\n" levels would otherwise turn a
 *   512 MiB reply into 8 GB of tasks.
 * - A big number must be an optional '-' and at least one digit (hiredis
 *   lets "(\r\n" and "(-\r\n" through, which BigInt() cannot read); a double
 *   must be a RESP3 number: optional sign, digits with an optional fraction
 *   and exponent, or inf/-inf/nan (hiredis' strtod() would also take leading
 *   blanks and hexadecimal).
 * - "%-1", "~-1" and ">-1" are refused: RESP3 has no null map, set or push
 *   (hiredis reads them as nil, and a nil flagged as a push would shift
 *   every later reply). "*-1" and "$-1", RESP2's nulls, stay nil.
 * - `%4294967295`, `*4294967295` and friends are protocol errors that say
 *   so, never "out of memory".
 *
 * Every bound holds whatever the split of the bytes into feeds: a refusal at
 * a header or on an unfinished line is always one the encoder would make on
 * the finished reply, so slicing only decides how early it comes.
 *
 * ---- Contract for the feeding loop (csrc/link.c) ---------------------------
 * Create the reader with cpipe_reply_reader_create(&enc, max_reply_bytes)
 * (CPIPE_REPLY_MAX_BYTES_DEFAULT unless the host asked otherwise), then let
 * cpipe_reply_parse() do all feeding; cpipe_link_parse becomes:
 *
 *     if (l->reply_ready) return 1;
 *     size_t used = 0;
 *     int32_t rc = cpipe_reply_parse(l->reader, &l->enc, l->inbox.data + l->inbox.pos,
 *                                    cpipe_buffer_live(&l->inbox), &used, l->errstr, sizeof l->errstr);
 *     l->inbox.pos += used;
 *     if (rc == 1) l->reply_ready = 1;
 *     return rc; // 1, 0, CPIPE_ERR_PROTOCOL or CPIPE_ERR_NOMEM; drop the connection on < 0
 *
 * A loop of its own must keep this sequence, and must not feed more bytes
 * between two checks than cpipe_reply_parse() does:
 *
 *     for (;;) {
 *         void *reply;
 *         if (redisReaderGetReply(r, &reply) != REDIS_OK) return cpipe_reply_failure(r, enc, why, cap);
 *         if (reply != NULL) return 1;                                   // take enc->encoded
 *         if (cpipe_reply_check(r, enc, why, cap) != 0) return CPIPE_ERR_PROTOCOL;
 *         if (nothing left to feed) return 0;
 *         redisReaderFeed(r, next bytes, cpipe_reply_feed_size(r, left));  // fails: cpipe_reply_failure
 *     }
 *
 * After a failure the reader is unusable: free it (and the connection) and
 * create a new one for the next connection. */
#ifndef CPIPE_REPLY_H
#define CPIPE_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/read.h>

#include "buffer.h"

/* Redis' own proto-max-bulk-len: the largest value a server stores. */
#define CPIPE_REPLY_MAX_BYTES_DEFAULT (512ull * 1024 * 1024)
/* The largest bound accepted: an encoded reply plus the 16-byte output header
 * (or an 8-byte pool record header) must fit an int32 output buffer. */
#define CPIPE_REPLY_MAX_BYTES_LIMIT ((uint64_t)INT32_MAX - (1u << 17))
/* Room for the framing around a value of max_reply_bytes (its own 5 bytes,
 * the aggregates holding it), so that the largest value a server stores can
 * be read back. A whole reply is refused past max_reply_bytes + this (or
 * past twice max_reply_bytes when that is smaller: tests use small bounds). */
#define CPIPE_REPLY_SLACK (64u * 1024)
#define CPIPE_REPLY_MAX_LINE (64u * 1024)
/* A lower max_line would refuse lines hiredis accepts (doubles of up to 325
 * bytes) only when they come in pieces: the outcome would depend on slicing. */
#define CPIPE_REPLY_MIN_LINE 512u
#define CPIPE_REPLY_MAX_DEPTH 10000
/* Bytes handed to the reader per feed while it is between items: it compacts
 * its buffer after each reply, and small slices keep that cheap. */
#define CPIPE_REPLY_FEED_SLICE 4096

typedef struct cpipe_reply_encoder {
    cpipe_buffer encoded; /* the reply being parsed, then the whole reply */
    int is_push;          /* the reply at the root is an out-of-band push */
    /* Bounds, set by cpipe_reply_reader_create(); tests may lower max_line
     * (not below CPIPE_REPLY_MIN_LINE) and max_depth after creating. */
    uint64_t max_reply_bytes; /* largest bulk or verbatim string */
    size_t max_line;          /* longest line without its CRLF */
    int max_depth;            /* deepest nesting of aggregates */
    const redisReader *reader; /* the reader feeding this encoder: its depth */
    /* Why the encoder refused a value ("" when it did not). hiredis reports
     * any refusal of a callback as "Out of memory"; cpipe_reply_failure()
     * tells the two apart by this. */
    char refusal[112];
} cpipe_reply_encoder;

/* A reader whose replies go to enc->encoded, bounded as described above.
 * max_reply_bytes 0 means CPIPE_REPLY_MAX_BYTES_DEFAULT; above
 * CPIPE_REPLY_MAX_BYTES_LIMIT it is lowered to it. Resets enc's bounds and
 * refusal (not its bytes). NULL when out of memory. */
redisReader *cpipe_reply_reader_create(cpipe_reply_encoder *enc, uint64_t max_reply_bytes);

/* Looks at what the reader holds after a redisReaderGetReply() that returned
 * REDIS_OK and no reply: 0 when it may go on, -1 when the reply in progress
 * breaks a bound (the reason, NUL-terminated, in `why`). Constant time but
 * for a bulk string's header, which it reads up to max_line + 2 bytes of;
 * it never scans a line's payload. */
int cpipe_reply_check(const redisReader *r, const cpipe_reply_encoder *enc, char *why, size_t cap);

/* How many of `left` bytes to feed next: CPIPE_REPLY_FEED_SLICE, or as many
 * as the reader holds already when it waits for the end of one item, so
 * that hiredis' rescans of an unfinished line or header add up to linear
 * time (each feed at least doubles what it rescans). */
size_t cpipe_reply_feed_size(const redisReader *r, size_t left);

/* Classifies a failed redisReaderFeed() or redisReaderGetReply():
 * CPIPE_ERR_PROTOCOL (the peer broke the protocol or a bound) or
 * CPIPE_ERR_NOMEM, with the message ("protocol error: ..." or "out of
 * memory reading a reply") in `why`. */
int32_t cpipe_reply_failure(const redisReader *r, const cpipe_reply_encoder *enc, char *why, size_t cap);

/* Flat frames (an array or push of 1-16 bulk strings, no nil: Pub/Sub
 * messages, short MGET replies) are read without the reader while it holds
 * nothing, encoded as its callbacks would; after a reply of the reader's,
 * the bytes it holds go back (`*used` less) when a whole flat frame begins
 * there. Anything odd or past a bound is the reader's to read or refuse.
 * Feeds `bytes` to the reader until a whole reply is in enc->encoded (1),
 * or every byte was fed and no reply is complete (0), or a failure
 * (CPIPE_ERR_PROTOCOL, CPIPE_ERR_NOMEM; message in `why`). *used is set to
 * the bytes fed: on 1 the rest is for the next call, after the caller took
 * the reply and reset enc->encoded. */
int32_t cpipe_reply_parse(redisReader *r, cpipe_reply_encoder *enc, const uint8_t *bytes, size_t len, size_t *used,
                          char *why, size_t cap);

#endif
