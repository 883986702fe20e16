#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* _POSIX_C_SOURCE alone hides SO_NOSIGPIPE */
#endif
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/net.h>
#include <hiredis/sockcompat.h>
#ifndef _WIN32
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

#include "heap.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif
#if defined(__APPLE__) && !defined(SO_NOSIGPIPE)
#error "SO_NOSIGPIPE is needed on macOS, or a write to a closed socket raises SIGPIPE"
#endif

int cpipe_socket_prepare(redisFD fd, const cpipe_socket_options *opt) {
#ifdef _WIN32
    unsigned long on = 1;
    if (ioctl(fd, FIONBIO, &on) != 0) return -1;
#else
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
#endif
#ifdef SO_NOSIGPIPE
    int nosig = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &nosig, sizeof nosig) != 0) return -1;
#endif
    if (opt == NULL || !opt->tcp) return 0;
    int yes = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&yes, sizeof yes) != 0) return -1;
    if (opt->keepalive_s > 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, (const char *)&yes, sizeof yes) != 0) return -1;
#if defined(TCP_KEEPIDLE)
        int idle = opt->keepalive_s;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (const char *)&idle, sizeof idle);
#elif defined(TCP_KEEPALIVE)
        int idle = opt->keepalive_s;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPALIVE, (const char *)&idle, sizeof idle);
#endif
    }
    return 0;
}

int cpipe_socket_dial(const char *host, int port, const cpipe_socket_options *opt, redisFD *fd, char *why,
                      size_t cap) {
    /* hiredis resolves the name and starts the connect (every address in
     * turn, IPv4 and IPv6); the core then takes the descriptor over and
     * speaks through its own transports. */
    redisOptions ro = {0};
    if (host[0] == '/') {
        REDIS_OPTIONS_SET_UNIX(&ro, host);
    } else {
        REDIS_OPTIONS_SET_TCP(&ro, host, port);
    }
    ro.options |= REDIS_OPT_NONBLOCK;
    redisContext *ctx = redisConnectWithOptions(&ro);
    if (ctx == NULL) {
        snprintf(why, cap, "out of memory connecting");
        return -1;
    }
    if (ctx->err) {
        snprintf(why, cap, "cannot connect: %s", ctx->errstr);
        redisFree(ctx);
        return -1;
    }
    redisFD taken = ctx->fd;
    ctx->fd = REDIS_INVALID_FD; /* redisFree must not close it */
    redisFree(ctx);
    if (cpipe_socket_prepare(taken, opt) != 0) {
        snprintf(why, cap, "cannot set the socket up: %s", strerror(errno));
        cpipe_socket_close(taken);
        return -1;
    }
    *fd = taken;
    return 0;
}

int cpipe_socket_connected(redisFD fd, char *why, size_t cap) {
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, (void *)&error, &len) != 0) error = errno;
    if (error == EINPROGRESS || error == EALREADY) return 0;
    if (error != 0) {
        snprintf(why, cap, "cannot connect: %s", strerror(error));
        return -1;
    }
    return 1;
}


#ifdef _WIN32
/* Windows has no socketpair(): connect two sockets through a listener on
 * the loopback interface, and check that the accepted peer is ours. */
static int socket_pair(redisFD fds[2]) {
    struct sockaddr_in addr;
    int len = sizeof addr;
    SOCKET listener = socket(AF_INET, SOCK_STREAM, 0), a = INVALID_SOCKET, b = INVALID_SOCKET;
    if (listener == INVALID_SOCKET) return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    a = socket(AF_INET, SOCK_STREAM, 0);
    if (a == INVALID_SOCKET || connect(a, (struct sockaddr *)&addr, sizeof addr) != 0) goto fail;
    b = accept(listener, NULL, NULL);
    if (b == INVALID_SOCKET) goto fail;
    struct sockaddr_in mine, peer;
    int mine_len = sizeof mine, peer_len = sizeof peer;
    if (getsockname(a, (struct sockaddr *)&mine, &mine_len) != 0 ||
        getpeername(b, (struct sockaddr *)&peer, &peer_len) != 0 || mine.sin_port != peer.sin_port)
        goto fail;
    closesocket(listener);
    fds[0] = a;
    fds[1] = b;
    return 0;
fail:
    closesocket(listener);
    if (a != INVALID_SOCKET) closesocket(a);
    if (b != INVALID_SOCKET) closesocket(b);
    return -1;
}
#else
static int socket_pair(redisFD fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
}
#endif

int cpipe_socket_pair(redisFD fds[2]) {
    if (socket_pair(fds) != 0) return -1;
    if (cpipe_socket_prepare(fds[0], NULL) != 0 || cpipe_socket_prepare(fds[1], NULL) != 0) {
        cpipe_socket_close(fds[0]);
        cpipe_socket_close(fds[1]);
        return -1;
    }
    return 0;
}

int cpipe_socket_poke(redisFD fd) {
    char byte = 1;
    for (;;) {
        if (send(fd, &byte, 1, MSG_NOSIGNAL) == 1) return 0;
        if (errno != EINTR) return -1;
    }
}

void cpipe_socket_drain(redisFD fd) {
    char bytes[64];
    for (;;) {
        ssize_t n = recv(fd, bytes, sizeof bytes, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        return;
    }
}

int cpipe_socket_closed(redisFD fd) {
    char byte;
    for (;;) {
        ssize_t n = recv(fd, &byte, 1, 0);
        if (n == 0) return 1;
        if (n > 0) return 0;
        if (errno == EINTR) continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

void cpipe_socket_close(redisFD fd) {
#ifdef _WIN32
    closesocket(fd);
#else
    close(fd); /* not retried on EINTR: the descriptor is gone either way */
#endif
}

redisFD cpipe_socket_share(redisFD fd) {
#ifdef _WIN32
    (void)fd;
    return REDIS_INVALID_FD;
#else
    int shared = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return shared < 0 ? REDIS_INVALID_FD : shared;
#endif
}

void cpipe_socket_end(redisFD fd) {
#ifdef _WIN32
    shutdown(fd, SD_BOTH);
#else
    shutdown(fd, SHUT_RDWR);
#endif
}
