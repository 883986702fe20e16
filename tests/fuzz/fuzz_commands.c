/* libFuzzer harness over the command path (csrc/command.c):
 * cpipe_commands_measure and cpipe_commands_write_resp (and
 * cpipe_commands_count, which must agree with measure). Inputs stay
 * far below 2 GiB, so every length fits the int32 the host passes.
 *
 * Two ways in, on every input:
 *   - the input as it is, as packed commands (cpipe.h's host -> core form):
 *     measured without reading past its end; when accepted, written out and
 *     read back;
 *   - the input as a recipe for well-formed packed commands (below), which
 *     must be accepted, counted right, and written out as exactly
 *     resp_size bytes.
 * Read back means: hiredis' own reader parses the RESP into one array of
 * bulk strings per command, holding the same arguments byte for byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "buffer.h"
#include "command.h"
#include "cpipe.h"

static void fail(const char *what) {
    fprintf(stderr, "fuzz_commands: invariant broken: %s\n", what);
    abort();
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Measures, writes and reads back packed commands; returns the count, or -1
 * when measure refused them. */
static long round_trip(const uint8_t *cmds, size_t len) {
    size_t count = 0, resp_size = 0;
    /* An exact-size copy, so that ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, cmds, len);
    if (cpipe_commands_measure(copy, len, &count, &resp_size) != 0) {
        if (cpipe_commands_count(copy, (int32_t)len) != CPIPE_ERR_ARG) fail("count accepted what measure refused");
        free(copy);
        return -1;
    }
    if (cpipe_commands_count(copy, (int32_t)len) != (int32_t)count) fail("count disagrees with measure");
    cpipe_buffer out = {0};
    if (cpipe_buffer_append(&out, "#", 1) != 0) fail("no memory"); /* a byte already there stays */
    if (cpipe_commands_write_resp(copy, len, resp_size, &out) != 0) fail("write_resp failed");
    if (out.len != 1 + resp_size) fail("write_resp wrote other than resp_size bytes");
    if (out.data[0] != '#') fail("write_resp overwrote what was in the buffer");

    redisReader *r = redisReaderCreate();
    if (r == NULL) fail("no reader");
    /* Fed in two pieces, split somewhere in the middle. */
    size_t half = resp_size / 2;
    if (redisReaderFeed(r, (const char *)out.data + 1, half) != REDIS_OK) fail("feed");
    if (redisReaderFeed(r, (const char *)out.data + 1 + half, resp_size - half) != REDIS_OK) fail("feed");
    size_t pos = 0;
    for (size_t c = 0; c < count; c++) {
        void *obj = NULL;
        if (redisReaderGetReply(r, &obj) != REDIS_OK || obj == NULL) fail("RESP written does not parse back");
        redisReply *reply = obj;
        uint32_t argc = le32(copy + pos);
        pos += 4;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != argc) fail("wrong argument count");
        for (uint32_t i = 0; i < argc; i++) {
            uint32_t n = le32(copy + pos);
            pos += 4;
            redisReply *arg = reply->element[i];
            if (arg->type != REDIS_REPLY_STRING || arg->len != n || memcmp(arg->str, copy + pos, n) != 0)
                fail("an argument changed");
            pos += n;
        }
        freeReplyObject(reply);
    }
    void *extra = NULL;
    if (redisReaderGetReply(r, &extra) != REDIS_OK || extra != NULL || r->len != r->pos)
        fail("bytes after the last command");
    if (pos != len) fail("measure accepted bytes the commands do not cover");
    redisReaderFree(r);
    cpipe_buffer_release(&out);
    free(copy);
    return (long)count;
}

/* Recipe: repeatedly, one byte gives a command's argument count (1 to 8),
 * then per argument one byte its length (0 to 255, or 0 to 12,000 when the
 * byte is 255, from the next two bytes, to cross the 5-digit length), and
 * the bytes come from the input, repeated as needed; up to 64 commands or
 * 64 KiB (one argument may pass that), so that an input runs fast. */
static void build_and_check(const uint8_t *data, size_t size) {
    if (size == 0) return;
    size_t cap = 256, len = 0;
    uint8_t *cmds = malloc(cap);
    size_t in = 0, commands = 0;
    while (in < size && commands < 64 && len < (64u << 10)) {
        uint32_t argc = 1 + data[in++] % 8;
        if (len + 4 > cap) cmds = realloc(cmds, cap *= 2);
        put_le32(cmds + len, argc);
        len += 4;
        for (uint32_t a = 0; a < argc; a++) {
            uint32_t n = in < size ? data[in++] : 0;
            if (n == 255 && in + 1 < size) {
                n = ((uint32_t)data[in] << 8 | data[in + 1]) % 12001;
                in += 2;
            }
            while (len + 4 + n > cap) cmds = realloc(cmds, cap *= 2);
            put_le32(cmds + len, n);
            len += 4;
            /* In whole runs of the input: a byte at a time, the harness's own
             * instrumented loop would cost more than what it tests. */
            for (size_t i = 0, from = in % size; i < n;) {
                size_t run = size - from < n - i ? size - from : n - i;
                memcpy(cmds + len + i, data + from, run);
                i += run;
                from = 0;
            }
            len += n;
        }
        commands++;
    }
    if (round_trip(cmds, len) != (long)commands) fail("well-formed commands refused or miscounted");
    /* One byte short, the last command is cut: refused. */
    if (round_trip(cmds, len - 1) >= 0) fail("a cut command accepted");
    free(cmds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    round_trip(data, size);
    build_and_check(data, size);
    return 0;
}
