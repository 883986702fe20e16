#include "settings.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "command.h"
#include "cpipe.h"

#define DEFAULT_MAX_REPLY_BYTES (512u * 1024 * 1024) /* Redis' own proto-max-bulk-len */

static int refuse(char *why, size_t cap, const char *what, uint32_t key) {
    snprintf(why, cap, "setting %u: %s", key, what);
    return -1;
}

static int read_int(const uint8_t *value, uint32_t len, int min, int max, int *out) {
    if (len != 4) return -1;
    int32_t v = (int32_t)cpipe_get_u32(value);
    if (v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cpipe_settings_read(cpipe_settings *s, const uint8_t *buf, size_t len, int scope, char *why, size_t cap) {
    memset(s, 0, sizeof *s);
    memcpy(s->host, "127.0.0.1", 10);
    s->port = 6379;
    s->reconnect_max_ms = 2000;
    s->max_in_flight = 1 << 17;
    s->shared = 1;
    s->max_reply_bytes = DEFAULT_MAX_REPLY_BYTES;
    s->tls_verify = 1;
    if (buf == NULL || len < 4) return refuse(why, cap, "no settings version", 0);
    if (cpipe_get_u32(buf) != CPIPE_SETTINGS_VERSION) return refuse(why, cap, "unknown settings version", 0);
    size_t pos = 4;
    while (pos < len) {
        if (len - pos < 8) return refuse(why, cap, "truncated entry", 0);
        uint32_t key = cpipe_get_u32(buf + pos), n = cpipe_get_u32(buf + pos + 4);
        pos += 8;
        if (n > len - pos) return refuse(why, cap, "length past the end", key);
        const uint8_t *v = buf + pos;
        pos += n;
        int ok = 0;
        size_t count = 0, resp_size = 0;
        int lenient = 0;
        int pool_only = key == CPIPE_SET_RECONNECT_MAX || key == CPIPE_SET_MAX_IN_FLIGHT || key == CPIPE_SET_SHARED ||
                        key == CPIPE_SET_EXCLUSIVE || key == CPIPE_SET_ONLY_UP;
        if (pool_only && scope != CPIPE_SETTINGS_POOL) return refuse(why, cap, "only a pool takes it", key);
        switch (key) {
        case CPIPE_SET_HOST:
            ok = n > 0 && n <= CPIPE_MAX_HOST_LEN && memchr(v, 0, n) == NULL;
            if (ok) {
                memcpy(s->host, v, n);
                s->host[n] = '\0';
            }
            break;
        case CPIPE_SET_PORT: ok = read_int(v, n, 0, 65535, &s->port) == 0; break;
        case CPIPE_SET_CONNECT_TIMEOUT: ok = read_int(v, n, 0, INT32_MAX, &s->connect_timeout_ms) == 0; break;
        case CPIPE_SET_COMMAND_TIMEOUT: ok = read_int(v, n, 0, INT32_MAX, &s->command_timeout_ms) == 0; break;
        case CPIPE_SET_RECONNECT_MAX: ok = read_int(v, n, 1, INT32_MAX, &s->reconnect_max_ms) == 0; break;
        case CPIPE_SET_MAX_IN_FLIGHT: ok = read_int(v, n, 1, 1 << 26, &s->max_in_flight) == 0; break;
        case CPIPE_SET_SHARED: ok = read_int(v, n, 1, CPIPE_MAX_CONNECTIONS, &s->shared) == 0; break;
        case CPIPE_SET_EXCLUSIVE: ok = read_int(v, n, 0, CPIPE_MAX_CONNECTIONS, &s->exclusive) == 0; break;
        case CPIPE_SET_KEEPALIVE: ok = read_int(v, n, 0, INT32_MAX / 1000, &s->keepalive_s) == 0; break;
        case CPIPE_SET_ONLY_UP: ok = read_int(v, n, 0, 1, &s->only_up) == 0; break;
        case CPIPE_SET_READY_CHECK: ok = read_int(v, n, 0, 1, &s->ready_check) == 0; break;
        case CPIPE_SET_RECONNECT_ON_READONLY: ok = read_int(v, n, 0, 1, &s->reconnect_on_readonly) == 0; break;
        case CPIPE_SET_MAX_REPLY_BYTES:
            ok = n == 4 && cpipe_get_u32(v) > 0;
            if (ok) s->max_reply_bytes = cpipe_get_u32(v);
            break;
        case CPIPE_SET_TLS: ok = read_int(v, n, 0, 1, &s->tls) == 0; break;
        case CPIPE_SET_TLS_VERIFY: ok = read_int(v, n, 0, 1, &s->tls_verify) == 0; break;
        case CPIPE_SET_TLS_CA:
            ok = n > 0;
            s->tls_ca = v;
            s->tls_ca_len = n;
            break;
        case CPIPE_SET_TLS_CERT:
            ok = n > 0;
            s->tls_cert = v;
            s->tls_cert_len = n;
            break;
        case CPIPE_SET_TLS_KEY:
            ok = n > 0;
            s->tls_key = v;
            s->tls_key_len = n;
            break;
        case CPIPE_SET_TLS_SERVERNAME:
            ok = n > 0 && n <= CPIPE_MAX_HOST_LEN && memchr(v, 0, n) == NULL;
            if (ok) {
                memcpy(s->tls_servername, v, n);
                s->tls_servername[n] = '\0';
            }
            break;
        case CPIPE_SET_HANDSHAKE:
            ok = cpipe_commands_measure(v, n, &count, &resp_size) == 0;
            s->handshake = v;
            s->handshake_len = n;
            s->handshake_count = count;
            break;
        case CPIPE_SET_HANDSHAKE_LENIENT:
            ok = read_int(v, n, 0, INT32_MAX, &lenient) == 0;
            s->handshake_lenient = (size_t)lenient;
            break;
        default: return refuse(why, cap, "unknown key", key);
        }
        if (!ok) return refuse(why, cap, "invalid value", key);
    }
    if (s->handshake_lenient > s->handshake_count)
        return refuse(why, cap, "more lenient commands than the handshake has", CPIPE_SET_HANDSHAKE_LENIENT);
    if ((s->tls_cert_len > 0) != (s->tls_key_len > 0))
        return refuse(why, cap, "a TLS certificate needs its key", CPIPE_SET_TLS_KEY);
    return 0;
}
