/* The settings of a client, a pool or one connection, read from the
 * key/value buffer described in cpipe.h. */
#ifndef CPIPE_SETTINGS_H
#define CPIPE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define CPIPE_MAX_HOST_LEN 1024
#define CPIPE_MAX_CONNECTIONS 1024

typedef struct cpipe_settings {
    char host[CPIPE_MAX_HOST_LEN + 1]; /* a unix socket path when it starts with '/' */
    int port;
    int connect_timeout_ms;  /* 0: none */
    int command_timeout_ms;  /* 0: none */
    int reconnect_max_ms;
    int max_in_flight;
    int shared;
    int exclusive;
    int keepalive_s;         /* 0: off */
    int only_up;             /* pool: route -1 never stages on a connection that is not up */
    uint32_t max_reply_bytes;
    const uint8_t *handshake; /* packed commands, in the caller's buffer */
    size_t handshake_len;
} cpipe_settings;

/* Which keys a reader accepts: a single connection's, or a pool's too. */
enum { CPIPE_SETTINGS_CONNECTION = 0, CPIPE_SETTINGS_POOL = 1 };

/* Fills `s` with the defaults, then the buffer's entries, and checks every
 * value. 0, or -1 with the reason in `why`. `s->handshake` points into
 * `buf`: copy it before the call returns to the host. */
int cpipe_settings_read(cpipe_settings *s, const uint8_t *buf, size_t len, int scope, char *why, size_t cap);

#endif
