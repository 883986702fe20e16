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
    int ready_check;         /* a PING ends the handshake: not up while the server answers LOADING */
    int reconnect_on_readonly; /* a READONLY reply drops the connection, which dials again */
    uint32_t max_reply_bytes;
    const uint8_t *handshake; /* packed commands, in the caller's buffer */
    size_t handshake_len;
    size_t handshake_count;   /* how many */
    size_t handshake_lenient; /* its last commands whose error replies are ignored */
    /* TLS (tls.h): the entries point into the caller's buffer, as the handshake does. */
    int tls;                  /* 0: plain */
    int tls_verify;           /* 1 (default): the server's certificate must verify */
    const uint8_t *tls_ca;    /* PEM roots */
    size_t tls_ca_len;
    const uint8_t *tls_cert;  /* PEM client certificate chain */
    size_t tls_cert_len;
    const uint8_t *tls_key;   /* PEM key of tls_cert: a secret */
    size_t tls_key_len;
    char tls_servername[CPIPE_MAX_HOST_LEN + 1]; /* "": the host */
    /* Set by the owner, not read from the buffer: the parsed config the
     * connection's TLS transport uses (owned by the owner). */
    const struct cpipe_tls_config *tls_config;
} cpipe_settings;

/* Which keys a reader accepts: a single connection's, or a pool's too. */
enum { CPIPE_SETTINGS_CONNECTION = 0, CPIPE_SETTINGS_POOL = 1 };

/* Fills `s` with the defaults, then the buffer's entries, and checks every
 * value. 0, or -1 with the reason in `why`. `s->handshake` points into
 * `buf`: copy it before the call returns to the host. */
int cpipe_settings_read(cpipe_settings *s, const uint8_t *buf, size_t len, int scope, char *why, size_t cap);

#endif
