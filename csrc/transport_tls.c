/* The TLS transport (tls.h) on Mbed TLS 3.6: the plain transport's socket,
 * a non-blocking handshake, then records. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* the alert a server sent: no accessor in 3.6 */

#include "tls.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/sockcompat.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "cpipe.h"
#include "heap.h"
#include "sys.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: the socket has SO_NOSIGPIPE (sock.c) */
#endif

/* ---- once per process ---------------------------------------------------------- */

#if defined(_WIN32)
#include <mbedtls/threading.h>

#include "threading_alt.h"

static void win_mutex_init(mbedtls_threading_mutex_t *m) {
    InitializeSRWLock(&m->lock);
}
static void win_mutex_free(mbedtls_threading_mutex_t *m) {
    (void)m; /* an SRW lock holds no resources */
}
static int win_mutex_lock(mbedtls_threading_mutex_t *m) {
    AcquireSRWLockExclusive(&m->lock);
    return 0;
}
static int win_mutex_unlock(mbedtls_threading_mutex_t *m) {
    ReleaseSRWLockExclusive(&m->lock);
    return 0;
}

void cpipe_tls_threading_install(void) {
    mbedtls_threading_set_alt(win_mutex_init, win_mutex_free, win_mutex_lock, win_mutex_unlock);
}

/* The entropy source (MBEDTLS_ENTROPY_HARDWARE_ALT): the system's generator,
 * BCryptGenRandom, looked up at run time so that the library links to
 * kernel32 and ws2_32 only. */
typedef LONG(WINAPI *gen_random_fn)(void *alg, unsigned char *out, ULONG len, ULONG flags);
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen) {
    static gen_random_fn gen;
    (void)data;
    *olen = 0;
    if (gen == NULL) {
        HMODULE bcrypt = LoadLibraryA("bcrypt.dll");
        if (bcrypt == NULL) return -1;
        gen = (gen_random_fn)(void (*)(void))GetProcAddress(bcrypt, "BCryptGenRandom");
        if (gen == NULL) return -1;
    }
    const ULONG system_preferred_rng = 0x2; /* BCRYPT_USE_SYSTEM_PREFERRED_RNG */
    if (len > 0xffffffffu) len = 0xffffffffu;
    if (gen(NULL, output, (ULONG)len, system_preferred_rng) != 0) return -1;
    *olen = len;
    return 0;
}
#endif

/* PSA Crypto (TLS 1.3's key schedule, and the random generator of every
 * handshake) is the process's: it starts with the first config alive and is
 * freed with the last, so that nothing stays allocated once every client and
 * pool is closed. Configs come and go on their owners' threads, rarely: a
 * spin lock is enough. */
static atomic_flag crypto_lock = ATOMIC_FLAG_INIT;
static int crypto_users; /* configs holding PSA Crypto, under crypto_lock */

static void crypto_lock_take(void) {
    while (atomic_flag_test_and_set_explicit(&crypto_lock, memory_order_acquire)) cpipe_thread_yield();
}

static void crypto_lock_give(void) { atomic_flag_clear_explicit(&crypto_lock, memory_order_release); }

/* Takes a hold on PSA Crypto, starting it if none was held; -1 when it cannot start. */
static int crypto_hold(void) {
    crypto_lock_take();
    int ok = 1;
    if (crypto_users == 0) {
#if defined(_WIN32)
        static int threading; /* Mbed TLS' mutexes, once per process */
        if (!threading) cpipe_tls_threading_install();
        threading = 1;
#endif
        ok = psa_crypto_init() == PSA_SUCCESS;
        if (!ok) mbedtls_psa_crypto_free(); /* what a failed start allocated */
    }
    if (ok) crypto_users++;
    crypto_lock_give();
    return ok ? 0 : -1;
}

static void crypto_release(void) {
    crypto_lock_take();
    if (--crypto_users == 0) mbedtls_psa_crypto_free();
    crypto_lock_give();
}

/* ---- the config ------------------------------------------------------------------ */

/* Cipher suites, AES-GCM first: Mbed TLS' AES runs on the CPU's AES
 * instructions (AES-NI, ARMv8 crypto), its ChaCha20 in portable C, and an
 * OpenSSL server such as Redis' takes the client's order. */
static const int cipher_suites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

/* Signature algorithms offered, RSA-PSS after RSA PKCS#1 v1.5 (Mbed TLS'
 * default puts it first). Mbed TLS 3.6.6's TLS 1.2 client refuses a
 * ServerKeyExchange signed with RSA-PSS although its hello offers it (the
 * list serves TLS 1.3 too; fixed upstream after 3.6.6: Mbed-TLS/mbedtls
 * PR 10672), and an OpenSSL server such as Redis' picks by the client's
 * order: so a TLS 1.2 server picks PKCS#1, which TLS 1.3 forbids and skips. */
static const uint16_t signature_algorithms[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256, MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP521R1_SHA512, MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,      MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,   MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA512,   MBEDTLS_TLS1_3_SIG_NONE,
};

struct cpipe_tls_config {
    mbedtls_ssl_config ssl;
    mbedtls_x509_crt roots;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    unsigned char digest[32]; /* of the TLS entries it was made from */
    int verify;
    int holds_crypto; /* it took a hold on PSA Crypto (crypto_hold) */
    char error[256]; /* why it cannot be used; "" when it can */
};

/* Digest of what a config is made of: two owners' settings with the same
 * digest share one config. Lengths go in too, so that moving bytes from one
 * entry to the next changes it. */
static void settings_digest(const cpipe_settings *s, unsigned char out[32]) {
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    (void)mbedtls_sha256_starts(&h, 0);
    const uint8_t *parts[3] = {s->tls_ca, s->tls_cert, s->tls_key};
    size_t lens[3] = {s->tls_ca_len, s->tls_cert_len, s->tls_key_len};
    for (int i = 0; i < 3; i++) {
        unsigned char n[8];
        for (int b = 0; b < 8; b++) n[b] = (unsigned char)((uint64_t)lens[i] >> (8 * b));
        (void)mbedtls_sha256_update(&h, n, sizeof n);
        if (lens[i] > 0) (void)mbedtls_sha256_update(&h, parts[i], lens[i]);
    }
    unsigned char v = (unsigned char)s->tls_verify;
    (void)mbedtls_sha256_update(&h, &v, 1);
    (void)mbedtls_sha256_finish(&h, out);
    mbedtls_sha256_free(&h);
}

/* Mbed TLS parses PEM from a NUL-terminated buffer, its length counting the NUL. */
static unsigned char *terminated_copy(const uint8_t *bytes, size_t len) {
    unsigned char *copy = cpipe_malloc(len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, bytes, len);
    copy[len] = '\0';
    return copy;
}

/* PEM or DER: PEM text holds a "-----BEGIN" line (memmem is not everywhere). */
static int is_pem(const uint8_t *bytes, size_t len) {
    static const char mark[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof mark - 1 <= len; i++)
        if (bytes[i] == '-' && memcmp(bytes + i, mark, sizeof mark - 1) == 0) return 1;
    return 0;
}

static void library_reason(int rc, char *buf, size_t cap) {
    mbedtls_strerror(rc, buf, cap);
}

/* Parses certificates (PEM, one or more; or one DER) into `chain`. 0, or -1
 * with the reason in cfg->error. Certificates among many that Mbed TLS
 * cannot read (a runtime's bundle may hold a few) are skipped. */
static int parse_certs(cpipe_tls_config *cfg, mbedtls_x509_crt *chain, const uint8_t *bytes, size_t len,
                       const char *what) {
    unsigned char *copy = terminated_copy(bytes, len);
    if (copy == NULL) {
        snprintf(cfg->error, sizeof cfg->error, "out of memory reading %s", what);
        return -1;
    }
    int pem = is_pem(bytes, len);
    int rc = mbedtls_x509_crt_parse(chain, copy, pem ? len + 1 : len);
    cpipe_free(copy);
    if (rc >= 0 && chain->version != 0) return 0;
    char reason[160] = "no certificate found";
    if (rc < 0) library_reason(rc, reason, sizeof reason);
    snprintf(cfg->error, sizeof cfg->error, "TLS: cannot read %s (%s)", what, reason);
    return -1;
}

static int parse_key(cpipe_tls_config *cfg, const uint8_t *bytes, size_t len) {
    unsigned char *copy = terminated_copy(bytes, len);
    if (copy == NULL) {
        snprintf(cfg->error, sizeof cfg->error, "out of memory reading tls.key");
        return -1;
    }
    int pem = is_pem(bytes, len);
    int rc = mbedtls_pk_parse_key(&cfg->key, copy, pem ? len + 1 : len, NULL, 0, mbedtls_psa_get_random,
                                  MBEDTLS_PSA_RANDOM_STATE);
    mbedtls_platform_zeroize(copy, len);
    cpipe_free(copy);
    if (rc == 0) return 0;
    /* The library's words name the format, never the key's bytes. */
    char reason[160];
    library_reason(rc, reason, sizeof reason);
    if (rc == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || rc == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
        snprintf(reason, sizeof reason, "it is encrypted; give the key unencrypted");
    snprintf(cfg->error, sizeof cfg->error, "TLS: cannot read tls.key (%s)", reason);
    return -1;
}

cpipe_tls_config *cpipe_tls_config_create(const cpipe_settings *s) {
    cpipe_tls_config *cfg = cpipe_calloc(1, sizeof *cfg);
    if (cfg == NULL) return NULL;
    mbedtls_ssl_config_init(&cfg->ssl);
    mbedtls_x509_crt_init(&cfg->roots);
    mbedtls_x509_crt_init(&cfg->cert);
    mbedtls_pk_init(&cfg->key);
    settings_digest(s, cfg->digest);
    cfg->verify = s->tls_verify;
    if (crypto_hold() != 0) {
        snprintf(cfg->error, sizeof cfg->error, "TLS: the crypto library could not start (no entropy source?)");
        return cfg;
    }
    cfg->holds_crypto = 1;
    if (cfg->verify && s->tls_ca_len == 0) {
        snprintf(cfg->error, sizeof cfg->error, "TLS: no trusted certificates (tls.ca) to verify the server with");
        return cfg;
    }
    if (s->tls_ca_len > 0 && parse_certs(cfg, &cfg->roots, s->tls_ca, s->tls_ca_len, "tls.ca") != 0) return cfg;
    if (s->tls_cert_len > 0) {
        if (parse_certs(cfg, &cfg->cert, s->tls_cert, s->tls_cert_len, "tls.cert") != 0 ||
            parse_key(cfg, s->tls_key, s->tls_key_len) != 0)
            return cfg;
        if (mbedtls_pk_check_pair(&cfg->cert.pk, &cfg->key, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE) != 0) {
            snprintf(cfg->error, sizeof cfg->error, "TLS: tls.key is not the key of tls.cert");
            return cfg;
        }
    }
    int rc = mbedtls_ssl_config_defaults(&cfg->ssl, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0 && s->tls_cert_len > 0) rc = mbedtls_ssl_conf_own_cert(&cfg->ssl, &cfg->cert, &cfg->key);
    if (rc != 0) {
        char reason[160];
        library_reason(rc, reason, sizeof reason);
        snprintf(cfg->error, sizeof cfg->error, "TLS: cannot configure (%s)", reason);
        return cfg;
    }
    mbedtls_ssl_conf_rng(&cfg->ssl, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
    mbedtls_ssl_conf_sig_algs(&cfg->ssl, signature_algorithms);
    mbedtls_ssl_conf_ciphersuites(&cfg->ssl, cipher_suites);
    mbedtls_ssl_conf_min_tls_version(&cfg->ssl, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_authmode(&cfg->ssl, cfg->verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->roots, NULL);
    mbedtls_ssl_conf_session_tickets(&cfg->ssl, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    /* TLS 1.3 tickets come after the handshake; ssl_read signals each one so
     * that the session can be kept for the next dial. */
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&cfg->ssl,
                                                             MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    return cfg;
}

int cpipe_tls_config_matches(const cpipe_tls_config *cfg, const cpipe_settings *s) {
    unsigned char digest[32];
    settings_digest(s, digest);
    return memcmp(digest, cfg->digest, sizeof digest) == 0;
}

void cpipe_tls_config_free(cpipe_tls_config *cfg) {
    if (cfg == NULL) return;
    mbedtls_ssl_config_free(&cfg->ssl);
    mbedtls_x509_crt_free(&cfg->roots);
    mbedtls_x509_crt_free(&cfg->cert);
    mbedtls_pk_free(&cfg->key);
    if (cfg->holds_crypto) crypto_release();
    cpipe_free(cfg);
}

/* ---- one connection's TLS ------------------------------------------------------------ */

#define OUT_RECORDS 64 /* records gathered at most: 8 full ones fill the buffer, small ones are many */

typedef struct tls_state {
    const cpipe_tls_config *cfg;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_session last; /* offered on the next dial */
    int have_last;
    int set_up;        /* ssl was set up with cfg */
    int secured;       /* the handshake finished: records flow */
    int broken;        /* a fatal error: no close_notify */
    /* The caller's bytes in records made but not yet in the socket (gathered
     * below, or the record Mbed TLS holds), not yet counted as sent. */
    size_t write_len;
    int sys_errno; /* the socket's errno behind MBEDTLS_ERR_NET_* */
    /* A write that failed after some of its records went: it reported those,
     * and the failure waits here for the next write (see failed_after). */
    int32_t failure;
    char failure_why[CPIPE_ERRSTR_LEN];
    /* The records one tls_write makes, gathered so that one send() carries
     * several: a send() per 16 KB record wakes the server once per record,
     * and a 10,000-command pipeline is about 24 of them. out[out_pos,
     * out_len) is still to go; record i ends at out_end[i] and holds
     * out_plain[i] of the caller's bytes. */
    uint8_t *out;
    size_t out_pos, out_len;
    size_t out_end[OUT_RECORDS], out_plain[OUT_RECORDS];
    int out_records;
    int gathering; /* inside tls_write: bio_send gathers instead of sending */
    /* Bytes read from the socket ahead of Mbed TLS, which asks for a record's
     * header and then its body: one recv() serves several records. */
    uint8_t *in;
    size_t in_pos, in_len;
    int in_drained; /* this turn's recv() came back short: the socket is empty */
    char name[CPIPE_MAX_HOST_LEN + 1]; /* the name to verify; "" for none */
    unsigned char ip[16];              /* the name as an IP address, when it is one */
    size_t ip_len;                     /* 4, 16, or 0: a host name */
    redisFD fd;
} tls_state;

#define NET_SEND_FAILED (-0x004E) /* MBEDTLS_ERR_NET_SEND_FAILED: net_sockets.c is not built */
#define NET_RECV_FAILED (-0x004C)

static int would_block(void) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

#define OUT_SIZE (128 * 1024)

/* send(), in Mbed TLS' terms: bytes sent, MBEDTLS_ERR_SSL_WANT_WRITE, or NET_SEND_FAILED. */
static int send_some(tls_state *st, const unsigned char *buf, size_t len) {
    ssize_t n = send(st->fd, (const char *)buf, len, MSG_NOSIGNAL);
    if (n >= 0) return (int)n;
    if (would_block()) return MBEDTLS_ERR_SSL_WANT_WRITE;
    st->sys_errno = errno;
    return NET_SEND_FAILED;
}

/* Sends the gathered records: 0 once all went, or what send_some said. */
static int send_gathered(tls_state *st) {
    while (st->out_pos < st->out_len) {
        int n = send_some(st, st->out + st->out_pos, st->out_len - st->out_pos);
        if (n < 0) return n;
        st->out_pos += (size_t)n;
    }
    st->out_pos = st->out_len = 0;
    st->out_records = 0;
    return 0;
}

/* The caller's bytes in gathered records not yet wholly in the socket. */
static size_t gathered_unsent(const tls_state *st) {
    size_t unsent = 0;
    for (int i = st->out_records - 1; i >= 0 && st->out_end[i] > st->out_pos; i--) unsent += st->out_plain[i];
    return unsent;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len) {
    tls_state *st = ctx;
    /* Records must reach the socket in the order they were made: the
     * gathered ones first, whoever sends next (a read may flush a record). */
    int full = st->out_len + len > OUT_SIZE || st->out_records == OUT_RECORDS;
    if (st->out_pos < st->out_len && (!st->gathering || full)) {
        int rc = send_gathered(st);
        if (rc < 0) return rc;
    }
    if (!st->gathering || len > OUT_SIZE) return send_some(st, buf, len);
    memcpy(st->out + st->out_len, buf, len);
    st->out_len += len;
    st->out_end[st->out_records] = st->out_len;
    st->out_plain[st->out_records++] = 0; /* tls_write says how many of its bytes, once Mbed TLS returns */
    return (int)len;
}

/* Read ahead: at most IN_SIZE bytes per recv(). */
#define IN_SIZE (64 * 1024)

static int bio_recv(void *ctx, unsigned char *buf, size_t len) {
    tls_state *st = ctx;
    if (st->in_pos == st->in_len) {
        /* A short read emptied the socket this turn; asking again would only
         * cost a system call. The next turn starts when poll says so. */
        if (st->in_drained) return MBEDTLS_ERR_SSL_WANT_READ;
        ssize_t n = recv(st->fd, (char *)st->in, IN_SIZE, 0);
        if (n == 0) return 0; /* the peer closed the socket */
        if (n < 0) {
            if (!would_block()) {
                st->sys_errno = errno;
                return NET_RECV_FAILED;
            }
            st->in_drained = 1;
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        st->in_pos = 0;
        st->in_len = (size_t)n;
        st->in_drained = (size_t)n < IN_SIZE;
    }
    size_t n = st->in_len - st->in_pos < len ? st->in_len - st->in_pos : len;
    memcpy(buf, st->in + st->in_pos, n);
    st->in_pos += n;
    return (int)n;
}

/* An IP address carries no SNI (RFC 6066): the leaf certificate must then
 * name it among its IP entries, which this check does after the chain's. */
static int verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
    const tls_state *st = ctx;
    if (depth != 0) return 0;
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san != NULL; san = san->next) {
        if (san->buf.p == NULL) continue;
        unsigned char type = (unsigned char)san->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        if (type == MBEDTLS_X509_SAN_IP_ADDRESS && san->buf.len == st->ip_len &&
            memcmp(san->buf.p, st->ip, st->ip_len) == 0)
            return 0;
    }
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

int cpipe_tls_attach(cpipe_transport *t, const cpipe_tls_config *cfg, const char *servername) {
    tls_state *st = cpipe_calloc(1, sizeof *st);
    if (st == NULL) return -1;
    st->in = cpipe_malloc(IN_SIZE);
    st->out = cpipe_malloc(OUT_SIZE);
    if (st->in == NULL || st->out == NULL) {
        cpipe_free(st->in);
        cpipe_free(st->out);
        cpipe_free(st);
        return -1;
    }
    st->cfg = cfg;
    st->fd = REDIS_INVALID_FD;
    mbedtls_ssl_init(&st->ssl);
    mbedtls_ssl_session_init(&st->last);
    if (servername != NULL && servername[0] != '/') {
        snprintf(st->name, sizeof st->name, "%s", servername);
        st->ip_len = mbedtls_x509_crt_parse_cn_inet_pton(st->name, st->ip);
    }
    t->state = st;
    return 0;
}

/* Words for what the library said; for a certificate that did not verify,
 * why, as a person reads it. */
static void handshake_reason(tls_state *st, int rc, char *why, size_t cap) {
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        uint32_t flags = mbedtls_ssl_get_verify_result(&st->ssl);
        const char *what = flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED ? "it is signed by an unknown CA (not a trusted root)"
                           : flags & MBEDTLS_X509_BADCERT_EXPIRED     ? "it has expired"
                           : flags & MBEDTLS_X509_BADCERT_FUTURE      ? "it is not yet valid"
                                                                      : NULL;
        if (what == NULL && (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH))
            snprintf(why, cap, "TLS: the server's certificate does not verify: it is not for '%.200s' (name mismatch)",
                     st->name);
        else if (what != NULL) snprintf(why, cap, "TLS: the server's certificate does not verify: %s", what);
        else {
            char info[200];
            int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
            if (n > 0 && info[n - 1] == '\n') info[n - 1] = '\0';
            snprintf(why, cap, "TLS: the server's certificate does not verify: %s", n > 0 ? info : "unknown reason");
        }
        return;
    }
    if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        unsigned char alert = st->ssl.in_msg != NULL ? st->ssl.in_msg[1] : 0;
        const char *what = alert == MBEDTLS_SSL_ALERT_MSG_CERT_REQUIRED ? "it requires a client certificate (tls.cert)"
                           : alert == MBEDTLS_SSL_ALERT_MSG_BAD_CERT     ? "it refused the client certificate"
                           : alert == MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA   ? "it does not trust the client certificate's CA"
                           : alert == MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE ? "no protocol or cipher in common"
                           : alert == MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION  ? "no TLS version in common"
                                                                               : NULL;
        if (what != NULL) snprintf(why, cap, "TLS: the server ended the session: %s", what);
        else snprintf(why, cap, "TLS: the server ended the session (alert %u)", alert);
        return;
    }
    if (rc == NET_SEND_FAILED || rc == NET_RECV_FAILED) {
        snprintf(why, cap, "%s failed: %s", rc == NET_SEND_FAILED ? "write" : "read", strerror(st->sys_errno));
        return;
    }
    if (rc == MBEDTLS_ERR_SSL_INVALID_RECORD && !st->secured) {
        snprintf(why, cap, "TLS: the server did not answer in TLS (is this its TLS port?)");
        return;
    }
    if (rc == MBEDTLS_ERR_SSL_CONN_EOF || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        snprintf(why, cap, "server closed the connection");
        return;
    }
    char reason[200];
    library_reason(rc, reason, sizeof reason);
    snprintf(why, cap, "TLS: %s", reason);
}

/* A fatal error: the session is over (no close_notify), `why` says why. */
static int32_t broken_by(tls_state *st, int rc, char *why, size_t cap) {
    st->broken = 1;
    handshake_reason(st, rc, why, cap);
    return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? CPIPE_ERR_NOMEM : CPIPE_ERR_CONN;
}

static int32_t tls_dial(cpipe_transport *t, const char *host, int port, const cpipe_socket_options *opt,
                        short *events, char *why, size_t cap) {
    tls_state *st = t->state;
    if (st == NULL) {
        snprintf(why, cap, "TLS: not set up");
        return CPIPE_ERR_CONN;
    }
    if (st->cfg->error[0] != '\0') {
        snprintf(why, cap, "%s", st->cfg->error);
        return CPIPE_ERR_CONN;
    }
    int rc = 0;
    if (!st->set_up) {
        rc = mbedtls_ssl_setup(&st->ssl, &st->cfg->ssl);
        if (rc == 0) {
            st->set_up = 1;
            /* NULL: no name to check (a unix socket), said explicitly as
             * Mbed TLS asks; an IP address: checked by verify_ip, no SNI. */
            if (st->name[0] == '\0' || st->ip_len > 0) rc = mbedtls_ssl_set_hostname(&st->ssl, NULL);
            else rc = mbedtls_ssl_set_hostname(&st->ssl, st->name);
            if (st->ip_len > 0 && st->cfg->verify) mbedtls_ssl_set_verify(&st->ssl, verify_ip, st);
        }
    } else {
        rc = mbedtls_ssl_session_reset(&st->ssl);
    }
    if (rc == 0 && st->have_last) (void)mbedtls_ssl_set_session(&st->ssl, &st->last); /* a stale one is refused */
    if (rc != 0) {
        handshake_reason(st, rc, why, cap);
        return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? CPIPE_ERR_NOMEM : CPIPE_ERR_CONN;
    }
    st->secured = 0;
    st->broken = 0;
    st->failure = 0;
    st->write_len = 0;
    st->out_pos = st->out_len = 0;
    st->out_records = 0;
    st->gathering = 0;
    st->in_pos = st->in_len = 0;
    st->in_drained = 0;
    int32_t r = cpipe_transport_plain.dial(t, host, port, opt, events, why, cap);
    st->fd = t->fd;
    mbedtls_ssl_set_bio(&st->ssl, st, bio_send, bio_recv, NULL);
    return r;
}

/* Keeps the session for the next dial (a TLS 1.2 ticket comes with the
 * handshake, TLS 1.3 tickets after it). */
static void keep_session(tls_state *st) {
    mbedtls_ssl_session_free(&st->last);
    mbedtls_ssl_session_init(&st->last);
    st->have_last = mbedtls_ssl_get_session(&st->ssl, &st->last) == 0;
}

static int32_t tls_handshake(cpipe_transport *t, short *events, char *why, size_t cap) {
    tls_state *st = t->state;
    if (t->dialing) {
        int32_t rc = cpipe_transport_plain.handshake(t, events, why, cap);
        if (rc != CPIPE_OK) return rc;
    }
    st->in_drained = 0; /* the socket woke up: read it again */
    int rc = mbedtls_ssl_handshake(&st->ssl);
    /* A TLS 1.3 ticket that came with the server's last flight: keep it, go on. */
    while (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        keep_session(st);
        rc = mbedtls_ssl_handshake(&st->ssl);
    }
    if (rc == 0) {
        st->secured = 1;
        if (mbedtls_ssl_get_version_number(&st->ssl) == MBEDTLS_SSL_VERSION_TLS1_2) keep_session(st);
        return CPIPE_OK;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        *events = rc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT;
        return CPIPE_AGAIN;
    }
    return broken_by(st, rc, why, cap);
}

static int64_t tls_read(cpipe_transport *t, uint8_t *buf, size_t cap, char *why, size_t why_cap) {
    tls_state *st = t->state;
    size_t got = 0;
    st->in_drained = 0; /* a new turn: the socket may hold more */
    /* One call returns one record's bytes at most: ask until the buffer is
     * full or the socket is empty. */
    while (got < cap) {
        int n = mbedtls_ssl_read(&st->ssl, buf + got, cap - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            keep_session(st);
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) break;
        /* The bytes before the failure are the replies' that explain it:
         * they go first, the failure comes on the next read. */
        if (got > 0) break;
        if (n == 0) n = MBEDTLS_ERR_SSL_CONN_EOF;
        if (n != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) st->broken = 1;
        handshake_reason(st, n, why, why_cap);
        return n == MBEDTLS_ERR_SSL_ALLOC_FAILED ? CPIPE_ERR_NOMEM : CPIPE_ERR_CONN;
    }
    return (int64_t)got;
}

/* Sends what is still held of earlier records: the gathered ones, then the
 * one Mbed TLS holds. 0 when all went, CPIPE_AGAIN when the socket is full,
 * or an error. */
static int32_t flush_held(tls_state *st, char *why, size_t why_cap) {
    int sent = send_gathered(st);
    if (sent == MBEDTLS_ERR_SSL_WANT_WRITE) return CPIPE_AGAIN;
    if (sent < 0) return broken_by(st, sent, why, why_cap);
    if (st->ssl.out_left == 0) return CPIPE_OK;
    /* A write of nothing flushes what is held and makes no record
     * (mbedtls_ssl_flush_output is not public). */
    static const unsigned char nothing[1];
    int rc = mbedtls_ssl_write(&st->ssl, nothing, 0);
    /* A write finishes a post-handshake message a read began: a TLS 1.3
     * ticket can surface here too. Keep it and go on, as tls_read does. */
    while (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        keep_session(st);
        rc = mbedtls_ssl_write(&st->ssl, nothing, 0);
    }
    if (rc >= 0) return CPIPE_OK;
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) return CPIPE_AGAIN;
    return broken_by(st, rc, why, why_cap);
}

/* A write failed (`failure`, with `why`) after `went` of the caller's bytes
 * had reached the socket in whole records. The server may have run those:
 * they count as sent now, and the failure comes with the next write, as a
 * plain socket's does. Counted as never sent, their calls would fail as
 * UNSENT, which tells the caller that a retry is safe. */
static int64_t failed_after(tls_state *st, size_t went, int32_t failure, const char *why) {
    if (went == 0) return failure;
    st->failure = failure;
    snprintf(st->failure_why, sizeof st->failure_why, "%s", why);
    st->write_len = 0;
    return (int64_t)went;
}

static int64_t tls_write(cpipe_transport *t, const uint8_t *buf, size_t len, char *why, size_t why_cap) {
    tls_state *st = t->state;
    if (st->failure != 0) {
        snprintf(why, why_cap, "%s", st->failure_why);
        return st->failure;
    }
    size_t sent = 0;
    /* A record of the caller's bytes is encrypted and held until the socket
     * takes it; those bytes count as sent once it went, whoever flushed it
     * (mbedtls_ssl_read flushes too, before a post-handshake message). The
     * gathered ones come first in `buf`. */
    size_t gathered = gathered_unsent(st);
    int32_t rc = flush_held(st, why, why_cap);
    if (rc < 0) return failed_after(st, gathered - gathered_unsent(st), rc, why);
    if (rc == CPIPE_AGAIN) return 0;
    if (st->write_len > 0) {
        sent = st->write_len < len ? st->write_len : len;
        st->write_len = 0;
    }
    size_t held = 0; /* the caller's bytes in a record Mbed TLS holds */
    st->gathering = 1;
    while (sent < len) {
        int n = mbedtls_ssl_write(&st->ssl, buf + sent, len - sent);
        if (n > 0) {
            if (st->out_records > 0) st->out_plain[st->out_records - 1] = (size_t)n;
            sent += (size_t)n;
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            keep_session(st); /* see flush_held */
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ) {
            /* Nothing was held before the call: anything held now is the
             * record just made of these bytes (at most one fragment). */
            if (st->ssl.out_left > 0) {
                size_t max = (size_t)mbedtls_ssl_get_max_out_record_payload(&st->ssl);
                held = len - sent < max ? len - sent : max;
            }
            break;
        }
        st->gathering = 0;
        rc = broken_by(st, n, why, why_cap);
        return failed_after(st, sent - gathered_unsent(st), rc, why);
    }
    st->gathering = 0;
    int rc_send = send_gathered(st);
    if (rc_send < 0 && rc_send != MBEDTLS_ERR_SSL_WANT_WRITE) {
        rc = broken_by(st, rc_send, why, why_cap);
        return failed_after(st, sent - gathered_unsent(st), rc, why);
    }
    /* Gathered records the socket did not take are the last of the bytes
     * counted above: they count as sent once they went (flush_held). */
    size_t unsent = gathered_unsent(st);
    st->write_len = unsent + held;
    return (int64_t)(sent - unsent);
}

static int64_t tls_fd(const cpipe_transport *t) {
    return cpipe_transport_plain.fd(t);
}

static int tls_pending(const cpipe_transport *t) {
    const tls_state *st = t->state;
    return st != NULL && st->secured && (st->in_pos < st->in_len || mbedtls_ssl_check_pending(&st->ssl));
}

static void tls_hangup(cpipe_transport *t) {
    tls_state *st = t->state;
    /* Best effort, never waiting: a server reading a broken pipe logs nothing. */
    if (st != NULL && st->secured && !st->broken && t->fd != REDIS_INVALID_FD) (void)mbedtls_ssl_close_notify(&st->ssl);
    if (st != NULL) {
        st->secured = 0;
        st->fd = REDIS_INVALID_FD;
    }
    cpipe_transport_plain.hangup(t);
}

static void tls_destroy(cpipe_transport *t) {
    tls_state *st = t->state;
    if (st == NULL) return;
    mbedtls_ssl_free(&st->ssl);
    mbedtls_ssl_session_free(&st->last);
    cpipe_free(st->in);
    cpipe_free(st->out);
    cpipe_free(st);
    t->state = NULL;
}

const cpipe_transport_funcs cpipe_transport_tls = {
    .name = "tls",
    .dial = tls_dial,
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .fd = tls_fd,
    .hangup = tls_hangup,
    .pending = tls_pending,
    .destroy = tls_destroy,
};
