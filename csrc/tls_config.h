/* cpipe's build configuration of Mbed TLS 3.6 (MBEDTLS_CONFIG_FILE): what a
 * TLS client of a Redis server needs and nothing else. TLS 1.2 and 1.3 client
 * only (no server side, no DTLS), X.509 parsing and chain verification from
 * PEM or DER, client certificates, session tickets for resumption, and the
 * platform's entropy source. TLS 1.3 in Mbed TLS 3.6 runs on PSA Crypto,
 * whose key store and random generator are process-wide: every owner of
 * connections (the host's thread, each pool's I/O thread) handshakes
 * concurrently, so threading support is on. */
#ifndef CPIPE_TLS_CONFIG_H
#define CPIPE_TLS_CONFIG_H

/* ---- platform ---- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE /* certificate validity: expired / not yet valid */
#define MBEDTLS_DEPRECATED_REMOVED
#define MBEDTLS_THREADING_C
#if defined(_WIN32)
#define MBEDTLS_PLATFORM_C    /* Mbed TLS requires it on Windows (its snprintf) */
#define MBEDTLS_THREADING_ALT /* threading_alt.h: Windows' SRW locks */
/* Mbed TLS' own Windows entropy needs bcrypt.dll; cpipe's library may link
 * to nothing but the C library and winsock, so transport_tls.c loads the
 * system's generator at run time (mbedtls_hardware_poll). */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#else
#define MBEDTLS_THREADING_PTHREAD
#endif

/* ---- symmetric crypto and hashes ---- */
#define MBEDTLS_AES_C
#if defined(__x86_64__) || defined(_M_X64)
#define MBEDTLS_AESNI_C /* chosen at run time when the CPU has AES-NI */
#endif
#if defined(__aarch64__)
#define MBEDTLS_AESCE_C
#endif
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C /* signatures of older intermediate certificates */
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ENTROPY_C

/* ---- public keys ---- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21 /* RSA-PSS, which TLS 1.3 requires */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_PARSE_EC_EXTENDED
#define MBEDTLS_PK_PARSE_EC_COMPRESSED
#define MBEDTLS_PK_WRITE_C /* PSA imports a client key through its export */
#define MBEDTLS_PKCS5_C /* encrypted PKCS#8 keys are refused with a clear error either way */
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* ---- X.509 ---- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- PSA Crypto (TLS 1.3's key schedule and key exchange) ---- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_CRYPTO_CLIENT
#define MBEDTLS_USE_PSA_CRYPTO /* TLS 1.2 on PSA too: one crypto path, RSA-PSS signatures in 1.2 */
/* Every TLS 1.3 connection holds several PSA keys while it lives; the fixed
 * store (32 slots) ran out at the eleventh connection of a process ("SSL -
 * Memory allocation failed"): a pool of 10 and one subscriber. The dynamic
 * store grows with the connections. */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC

/* ---- TLS client ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED /* resumption */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_ERROR_C /* mbedtls_strerror: the library's reason in words */

#endif
