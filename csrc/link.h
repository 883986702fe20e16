/* The engine of one connection to a Redis server, shared by the synchronous
 * connection (conn.c) and the pool (pool.c): a non-blocking socket, the RESP
 * bytes waiting to be written, the bytes received, and hiredis' reader
 * turning them into encoded replies (see reply.h and cpipe.h). It never
 * waits: its owner decides when to poll. A link is not thread-safe; its owner
 * serializes every call (the pool holds the slot's lock).
 *
 * Every function that can fail returns CPIPE_OK or a negative CPIPE_ERR_*
 * and leaves the reason in `errstr` (without the server's address); it does
 * not close the socket: the owner calls cpipe_link_close(). */
#ifndef CPIPE_LINK_H
#define CPIPE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "buffer.h"
#include "cpipe.h"
#include "reply.h"

typedef struct cpipe_link {
    redisContext *ctx;       /* the socket; NULL while closed */
    redisReader *reader;     /* NULL while closed */
    cpipe_reply_encoder enc; /* the reply being parsed, then the whole reply */
    int reply_ready;         /* enc holds a whole reply not yet taken */
    cpipe_buffer unsent;     /* RESP bytes not yet written to the socket */
    cpipe_buffer inbox;      /* bytes received, not yet given to the reader */
    char errstr[CPIPE_ERRSTR_LEN];
} cpipe_link;

/* Makes a socket non-blocking and close-on-exec (a child process must not
 * keep the connection open). 0, or -1 on failure. */
int cpipe_socket_set_nonblocking(redisFD fd);

/* Connects to `host` (a unix socket path when it starts with '/'). With
 * `wait` 0 it only starts: a TCP connect may still be in progress on return;
 * wait for the socket to be writable, then call cpipe_link_connect_done().
 * With `wait` 1 it returns connected, or failed after `timeout_ms` (0: no
 * limit). Either way the socket is non-blocking on success, and host names
 * are resolved here, synchronously. */
int32_t cpipe_link_open(cpipe_link *l, const char *host, int port, int wait, int timeout_ms);

/* Whether a connect started by cpipe_link_open() finished: CPIPE_OK with
 * *done set to 1 when connected, 0 when still in progress; CPIPE_ERR_CONN
 * when it failed. */
int32_t cpipe_link_connect_done(cpipe_link *l, int *done);

/* Writes what it can of `unsent`; *progress is set to 1 when bytes went out. */
int32_t cpipe_link_write(cpipe_link *l, int *progress);

/* Receives what is available, up to CPIPE_LINK_READ bytes; *got is set to
 * the number of bytes that came (fewer than asked: the socket is empty). */
#define CPIPE_LINK_READ (64 * 1024)
int32_t cpipe_link_read(cpipe_link *l, size_t *got);

/* Parses received bytes: 1 when a whole reply is in `enc` (take it, then
 * call cpipe_link_next_reply), 0 when more bytes are needed, or an error. */
int32_t cpipe_link_parse(cpipe_link *l);

/* Forgets the reply taken from `enc`. */
void cpipe_link_next_reply(cpipe_link *l);

/* The socket, or -1 while closed. */
int64_t cpipe_link_fd(const cpipe_link *l);

/* Closes the socket and frees the reader and every buffer. */
void cpipe_link_close(cpipe_link *l);

#endif
