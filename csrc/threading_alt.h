/* Mbed TLS' mutex on Windows (MBEDTLS_THREADING_ALT in tls_config.h): a
 * slim reader/writer lock, as sys.h's cpipe_mutex. Elsewhere Mbed TLS uses
 * POSIX threads itself and this header is not read. */
#ifndef CPIPE_THREADING_ALT_H
#define CPIPE_THREADING_ALT_H

#include <winsock2.h>
#include <windows.h>

typedef struct mbedtls_threading_mutex_t {
    SRWLOCK lock;
} mbedtls_threading_mutex_t;

/* Gives Mbed TLS the functions over that type; once, before anything else of it. */
void cpipe_tls_threading_install(void);

#endif
