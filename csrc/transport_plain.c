/* The plain transport: bytes straight to and from the socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/sockcompat.h>

#include "cpipe.h"
#include "transport.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: the socket has SO_NOSIGPIPE (sock.c) */
#endif

static int would_block(void) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static int32_t plain_dial(cpipe_transport *t, const char *host, int port, const cpipe_socket_options *opt,
                          short *events, char *why, size_t cap) {
    if (cpipe_socket_dial(host, port, opt, &t->fd, why, cap) != 0) return CPIPE_ERR_CONN;
    t->dialing = 1;
    *events = POLLOUT;
    return CPIPE_AGAIN;
}

static int32_t plain_handshake(cpipe_transport *t, short *events, char *why, size_t cap) {
    if (!t->dialing) return CPIPE_OK;
    /* SO_ERROR reads 0 while a connect is still in progress too: only a
     * writable socket has finished. */
    struct pollfd pfd = {.fd = t->fd, .events = POLLOUT};
    if (poll(&pfd, 1, 0) == 0) {
        *events = POLLOUT;
        return CPIPE_AGAIN;
    }
    int done = cpipe_socket_connected(t->fd, why, cap);
    if (done < 0) return CPIPE_ERR_CONN;
    if (done == 0) {
        *events = POLLOUT;
        return CPIPE_AGAIN;
    }
    t->dialing = 0;
    return CPIPE_OK;
}

static int64_t plain_read(cpipe_transport *t, uint8_t *buf, size_t cap, char *why, size_t why_cap) {
    ssize_t n = recv(t->fd, (char *)buf, cap, 0);
    if (n > 0) return n;
    if (n < 0 && would_block()) return 0;
    if (n == 0) snprintf(why, why_cap, "server closed the connection");
    else snprintf(why, why_cap, "read failed: %s", strerror(errno));
    return CPIPE_ERR_CONN;
}

static int64_t plain_write(cpipe_transport *t, const uint8_t *buf, size_t len, char *why, size_t why_cap) {
    if (len > (1u << 30)) len = 1u << 30;
    ssize_t n = send(t->fd, (const char *)buf, len, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (would_block()) return 0;
    snprintf(why, why_cap, "write failed: %s", strerror(errno));
    return CPIPE_ERR_CONN;
}

static int64_t plain_fd(const cpipe_transport *t) {
    return t->fd == REDIS_INVALID_FD ? -1 : (int64_t)t->fd;
}

static void plain_hangup(cpipe_transport *t) {
    if (t->fd != REDIS_INVALID_FD) cpipe_socket_close(t->fd);
    t->fd = REDIS_INVALID_FD;
    t->dialing = 0;
}

const cpipe_transport_funcs cpipe_transport_plain = {
    .name = "plain",
    .dial = plain_dial,
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .fd = plain_fd,
    .hangup = plain_hangup,
};
