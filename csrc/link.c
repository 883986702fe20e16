#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* _POSIX_C_SOURCE alone hides SO_NOSIGPIPE */
#endif
#include "link.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/net.h>
#include <hiredis/sockcompat.h>
#ifndef _WIN32
#include <fcntl.h>
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif
#if defined(__APPLE__) && !defined(SO_NOSIGPIPE)
#error "SO_NOSIGPIPE is needed on macOS, or a write to a closed socket raises SIGPIPE"
#endif

/* Bytes received are handed to the reader in slices of this size: the reader
 * compacts its buffer as it consumes, and smaller slices keep that cheap. */
#define FEED_SLICE 4096

static int32_t link_error(cpipe_link *l, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errstr, sizeof l->errstr, fmt, ap);
    va_end(ap);
    return code;
}

static int would_block(void) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

int cpipe_socket_set_nonblocking(redisFD fd) {
#ifdef _WIN32
    unsigned long on = 1;
    return ioctl(fd, FIONBIO, &on) == 0 ? 0 : -1;
#else
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    /* Close on exec too: a child process must not keep the connection open. */
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 ? 0 : -1;
#endif
}

int32_t cpipe_link_open(cpipe_link *l, const char *host, int port, int wait, int timeout_ms) {
    cpipe_link_close(l);
    redisOptions opts = {0};
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (host[0] == '/') {
        REDIS_OPTIONS_SET_UNIX(&opts, host);
    } else {
        REDIS_OPTIONS_SET_TCP(&opts, host, port);
    }
    if (!wait) opts.options |= REDIS_OPT_NONBLOCK;
    else if (timeout_ms > 0) opts.connect_timeout = &timeout;
    l->ctx = redisConnectWithOptions(&opts);
    if (l->ctx == NULL) return link_error(l, CPIPE_ERR_NOMEM, "out of memory connecting");
    if (l->ctx->err) return link_error(l, CPIPE_ERR_CONN, "cannot connect: %s", l->ctx->errstr);
    if (cpipe_socket_set_nonblocking(l->ctx->fd) != 0) return link_error(l, CPIPE_ERR_CONN, "cannot make the socket non-blocking");
    /* hiredis sets TCP_NODELAY only when it waits for the connect itself. */
    if (!wait && host[0] != '/' && redisSetTcpNoDelay(l->ctx) != REDIS_OK)
        return link_error(l, CPIPE_ERR_CONN, "cannot connect: %s", l->ctx->errstr);
#ifdef SO_NOSIGPIPE
    int on = 1;
    setsockopt(l->ctx->fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    l->reader = cpipe_reply_reader_create(&l->enc, CPIPE_REPLY_MAX_BYTES_DEFAULT);
    if (l->reader == NULL) return link_error(l, CPIPE_ERR_NOMEM, "out of memory connecting");
    return CPIPE_OK;
}

int32_t cpipe_link_connect_done(cpipe_link *l, int *done) {
    *done = 0;
    if (l->ctx == NULL) return link_error(l, CPIPE_ERR_CONN, "not connected");
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(l->ctx->fd, SOL_SOCKET, SO_ERROR, (void *)&error, &len) != 0) error = errno;
    if (error == EINPROGRESS || error == EALREADY) return CPIPE_OK;
    if (error != 0) return link_error(l, CPIPE_ERR_CONN, "cannot connect: %s", strerror(error));
    *done = 1;
    return CPIPE_OK;
}

/* When the server hangs up on a request it refused (an oversized argument,
 * say), it usually sent an error reply first: find it among the bytes that
 * already arrived, so the caller learns why. 1 when one was found. */
static int server_last_words(cpipe_link *l, char *said, size_t cap) {
    char bytes[512];
    ssize_t n = recv(l->ctx->fd, bytes, sizeof bytes, 0);
    if (n <= 0) return 0;
    for (ssize_t i = 0; i + 1 < n; i++) {
        if (bytes[i] != '-' || (i > 0 && bytes[i - 1] != '\n')) continue;
        size_t len = 0;
        while (i + 1 + (ssize_t)len < n && bytes[i + 1 + len] != '\r' && len + 1 < cap) len++;
        memcpy(said, bytes + i + 1, len);
        said[len] = '\0';
        return 1;
    }
    return 0;
}

int32_t cpipe_link_write(cpipe_link *l, int *progress) {
    while (cpipe_buffer_live(&l->unsent) > 0) {
        size_t want = cpipe_buffer_live(&l->unsent);
        if (want > (1u << 30)) want = 1u << 30;
        ssize_t n = send(l->ctx->fd, (const char *)l->unsent.data + l->unsent.pos, want, MSG_NOSIGNAL);
        if (n > 0) {
            l->unsent.pos += (size_t)n;
            *progress = 1;
            continue;
        }
        if (n < 0 && would_block()) return CPIPE_OK;
        const char *why = n < 0 ? strerror(errno) : "connection closed";
        char said[160];
        if (server_last_words(l, said, sizeof said))
            return link_error(l, CPIPE_ERR_CONN, "write failed: %s; the server said: %s", why, said);
        return link_error(l, CPIPE_ERR_CONN, "write failed: %s", why);
    }
    cpipe_buffer_reset(&l->unsent);
    return CPIPE_OK;
}

int32_t cpipe_link_read(cpipe_link *l, size_t *got) {
    *got = 0;
    if (cpipe_buffer_reserve(&l->inbox, CPIPE_LINK_READ) != 0) return link_error(l, CPIPE_ERR_NOMEM, "out of memory");
    ssize_t n = recv(l->ctx->fd, (char *)l->inbox.data + l->inbox.len, CPIPE_LINK_READ, 0);
    if (n > 0) {
        l->inbox.len += (size_t)n;
        *got = (size_t)n;
        return CPIPE_OK;
    }
    if (n < 0 && would_block()) return CPIPE_OK;
    if (n == 0) return link_error(l, CPIPE_ERR_CONN, "server closed the connection");
    return link_error(l, CPIPE_ERR_CONN, "read failed: %s", strerror(errno));
}

int32_t cpipe_link_parse(cpipe_link *l) {
    if (l->reply_ready) return 1;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(l->reader, &reply) != REDIS_OK) {
            if (l->reader->err == REDIS_ERR_OOM) return link_error(l, CPIPE_ERR_NOMEM, "out of memory reading a reply");
            return link_error(l, CPIPE_ERR_PROTOCOL, "protocol error: %s", l->reader->errstr);
        }
        if (reply != NULL) {
            l->reply_ready = 1;
            return 1;
        }
        size_t live = cpipe_buffer_live(&l->inbox);
        if (live == 0) return 0;
        size_t slice = live < FEED_SLICE ? live : FEED_SLICE;
        if (redisReaderFeed(l->reader, (const char *)l->inbox.data + l->inbox.pos, slice) != REDIS_OK)
            return link_error(l, CPIPE_ERR_NOMEM, "out of memory reading a reply");
        l->inbox.pos += slice;
    }
}

void cpipe_link_next_reply(cpipe_link *l) {
    l->reply_ready = 0;
    cpipe_buffer_reset(&l->enc.encoded);
}

int64_t cpipe_link_fd(const cpipe_link *l) {
    return l->ctx ? (int64_t)l->ctx->fd : -1;
}

void cpipe_link_close(cpipe_link *l) {
    if (l->ctx) redisFree(l->ctx);
    l->ctx = NULL;
    if (l->reader) redisReaderFree(l->reader);
    l->reader = NULL;
    cpipe_buffer_release(&l->enc.encoded);
    cpipe_buffer_release(&l->unsent);
    cpipe_buffer_release(&l->inbox);
    l->reply_ready = 0;
}
