/* Sockets: opening a connection to an address, the one set-up every socket
 * of the core gets, and the socket pairs that wake threads up. */
#ifndef CPIPE_SOCK_H
#define CPIPE_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h> /* redisFD */

/* The options a connection's socket gets. */
typedef struct cpipe_socket_options {
    int tcp;         /* TCP (not a unix socket): no Nagle delay, keepalive */
    int keepalive_s; /* 0: off */
} cpipe_socket_options;

/* Makes a socket non-blocking, close-on-exec (a child process must not keep
 * the connection open) and free of SIGPIPE; with `opt`, sets its TCP
 * options too. 0, or -1 on failure. */
int cpipe_socket_prepare(redisFD fd, const cpipe_socket_options *opt);

/* Starts connecting to `host` (a unix socket path when it starts with '/')
 * and `port` without waiting: the connect may still be in progress on
 * return (see cpipe_socket_connected). Host names are resolved here,
 * synchronously. The socket is prepared. 0 with *fd set, or -1 with the
 * reason in `why`. */
int cpipe_socket_dial(const char *host, int port, const cpipe_socket_options *opt, redisFD *fd, char *why,
                      size_t cap);

/* Whether a dial finished: 1 connected, 0 still in progress, -1 failed
 * (reason in `why`). */
int cpipe_socket_connected(redisFD fd, char *why, size_t cap);

/* Two connected stream sockets, prepared. 0 or -1. */
int cpipe_socket_pair(redisFD fds[2]);
/* Writes one byte; 0, or -1 when the peer is gone or the socket is full. */
int cpipe_socket_poke(redisFD fd);
/* Reads and discards whatever is waiting. */
void cpipe_socket_drain(redisFD fd);
/* 1 when the peer of a socket it never sends on has closed (end of stream or an error), else 0. */
int cpipe_socket_closed(redisFD fd);
void cpipe_socket_close(redisFD fd);
/* A second descriptor of the same socket, for the host runtime to read
 * (close-on-exec); REDIS_INVALID_FD where sockets cannot be shared so (Windows). */
redisFD cpipe_socket_share(redisFD fd);
/* Ends both directions of the socket for every descriptor of it: a host
 * reading a shared one sees the end of the stream. */
void cpipe_socket_end(redisFD fd);

#endif
