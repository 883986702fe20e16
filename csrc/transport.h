/* A transport moves a connection's bytes: every byte the core sends or
 * receives goes through one table of functions chosen per connection, as
 * hiredis' redisContextFuncs does for its TLS. Plain sockets (TCP and unix)
 * are the first implementation; a TLS transport is another table with a
 * handshake step, and nothing above this seam changes for it.
 *
 * Every function returns CPIPE_OK (or a byte count), CPIPE_AGAIN when it
 * must wait for the socket (with the poll events it waits for in *events),
 * or a negative CPIPE_ERR_* with the reason in `why`. */
#ifndef CPIPE_TRANSPORT_H
#define CPIPE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sock.h"

#define CPIPE_AGAIN 1

typedef struct cpipe_transport cpipe_transport;

typedef struct cpipe_transport_funcs {
    const char *name;
    /* Starts connecting to host/port (a unix socket path when host starts
     * with '/'): CPIPE_OK when connected, CPIPE_AGAIN while in progress. */
    int32_t (*dial)(cpipe_transport *t, const char *host, int port, const cpipe_socket_options *opt, short *events,
                    char *why, size_t cap);
    /* Advances the connect and the transport's own handshake (TLS) after the
     * socket woke up: CPIPE_OK once bytes can flow. */
    int32_t (*handshake)(cpipe_transport *t, short *events, char *why, size_t cap);
    /* Receives up to `cap` bytes: how many (> 0), 0 when none wait, or an
     * error (the peer closing the connection is CPIPE_ERR_CONN). */
    int64_t (*read)(cpipe_transport *t, uint8_t *buf, size_t cap, char *why, size_t why_cap);
    /* Sends up to `len` bytes: how many went (0 when the socket is full), or an error. */
    int64_t (*write)(cpipe_transport *t, const uint8_t *buf, size_t len, char *why, size_t why_cap);
    /* The descriptor to poll, or -1. */
    int64_t (*fd)(const cpipe_transport *t);
    /* Closes and forgets the connection; the transport may dial again.
     * (Not named `close`: hiredis' sockcompat.h makes that a macro on Windows.) */
    void (*hangup)(cpipe_transport *t);
    /* Optional. Whether bytes already received wait inside the transport
     * (decrypted TLS records), where polling the socket would not see them:
     * the owner reads again before it sleeps. */
    int (*pending)(const cpipe_transport *t);
    /* Optional. Frees `state` for good (after a hangup). */
    void (*destroy)(cpipe_transport *t);
} cpipe_transport_funcs;

struct cpipe_transport {
    const cpipe_transport_funcs *funcs;
    redisFD fd;  /* REDIS_INVALID_FD while closed */
    int dialing; /* a non-blocking connect is in progress */
    void *state; /* the implementation's own (a TLS session…) */
};

/* Plain TCP and unix sockets. The TLS transport is tls.h's. */
extern const cpipe_transport_funcs cpipe_transport_plain;

#endif
