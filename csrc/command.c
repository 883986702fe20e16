#include "command.h"

#include <string.h>

#include "bytes.h"
#include "cpipe.h"

static size_t decimal_digits(uint32_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* "<prefix><decimal>\r\n", the header of a RESP array or bulk string. */
static size_t resp_header_size(uint32_t v) {
    return 1 + decimal_digits(v) + 2;
}

/* A bulk string of `len` bytes: its header, the bytes, "\r\n". */
static size_t resp_bulk_size(uint32_t len) {
    return resp_header_size(len) + len + 2;
}

static uint8_t *write_resp_header(uint8_t *p, char prefix, uint32_t v) {
    size_t digits = decimal_digits(v);
    *p++ = (uint8_t)prefix;
    for (size_t i = digits; i > 0; i--) {
        p[i - 1] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
    p += digits;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Reads "<prefix><decimal>\r\n" from p (len bytes there): 0 with its number and size, or -1. */
static int read_resp_header(const uint8_t *p, size_t len, char prefix, uint32_t *value, size_t *size) {
    if (len == 0 || p[0] != (uint8_t)prefix) return -1;
    uint64_t v = 0;
    size_t i = 1;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > UINT32_MAX) return -1;
    }
    if (i == 1 || len - i < 2 || p[i] != '\r' || p[i + 1] != '\n') return -1;
    *value = (uint32_t)v;
    *size = i + 2;
    return 0;
}

int cpipe_commands_measure(const uint8_t *cmds, size_t len, size_t *count, size_t *resp_size) {
    size_t pos = 0, commands = 0, size = 0;
    if (len > 0 && cmds == NULL) return -1;
    while (pos < len) {
        if (len - pos < 4) return -1;
        uint32_t argc = cpipe_get_u32(cmds + pos);
        pos += 4;
        /* Each argument needs at least its 4-byte length. */
        if (argc == 0 || argc > (len - pos) / 4) return -1;
        size += resp_header_size(argc);
        for (uint32_t i = 0; i < argc; i++) {
            if (len - pos < 4) return -1;
            uint32_t arg_len = cpipe_get_u32(cmds + pos);
            pos += 4;
            if (arg_len > len - pos) return -1;
            pos += arg_len;
            size += resp_bulk_size(arg_len);
        }
        commands++;
    }
    *count = commands;
    *resp_size = size;
    return 0;
}

size_t cpipe_command_resp_size(const uint8_t *cmd, size_t *packed) {
    uint32_t argc = cpipe_get_u32(cmd);
    size_t pos = 4, size = resp_header_size(argc);
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t arg_len = cpipe_get_u32(cmd + pos);
        pos += 4 + arg_len;
        size += resp_bulk_size(arg_len);
    }
    *packed = pos;
    return size;
}

size_t cpipe_command_packed_from_resp(const uint8_t *resp, size_t len, uint8_t *dst) {
    uint32_t argc, arg_len;
    size_t pos, header, packed = 4;
    if (resp == NULL || read_resp_header(resp, len, '*', &argc, &pos) != 0 || argc == 0) return 0;
    if (dst != NULL) cpipe_put_u32(dst, argc);
    for (uint32_t i = 0; i < argc; i++) {
        if (read_resp_header(resp + pos, len - pos, '$', &arg_len, &header) != 0) return 0;
        pos += header;
        if (arg_len > len - pos || len - pos - arg_len < 2 || resp[pos + arg_len] != '\r' ||
            resp[pos + arg_len + 1] != '\n')
            return 0;
        if (dst != NULL) {
            cpipe_put_u32(dst + packed, arg_len);
            memcpy(dst + packed + 4, resp + pos, arg_len);
        }
        packed += 4 + (size_t)arg_len;
        pos += arg_len + 2;
    }
    return packed;
}

int cpipe_commands_write_resp(const uint8_t *cmds, size_t len, size_t resp_size, cpipe_buffer *out) {
    if (cpipe_buffer_reserve(out, resp_size) != 0) return -1;
    uint8_t *p = out->data + out->len;
    size_t pos = 0;
    while (pos < len) {
        uint32_t argc = cpipe_get_u32(cmds + pos);
        pos += 4;
        p = write_resp_header(p, '*', argc);
        for (uint32_t i = 0; i < argc; i++) {
            uint32_t arg_len = cpipe_get_u32(cmds + pos);
            pos += 4;
            p = write_resp_header(p, '$', arg_len);
            memcpy(p, cmds + pos, arg_len);
            p += arg_len;
            pos += arg_len;
            *p++ = '\r';
            *p++ = '\n';
        }
    }
    out->len += resp_size;
    return 0;
}

CPIPE_API int32_t cpipe_commands_count(const uint8_t *cmds, int32_t cmds_len) {
    size_t count, size;
    if (cmds_len < 0) return CPIPE_ERR_ARG;
    if (cpipe_commands_measure(cmds, (size_t)cmds_len, &count, &size) != 0) return CPIPE_ERR_ARG;
    if (count > INT32_MAX) return CPIPE_ERR_ARG;
    return (int32_t)count;
}
