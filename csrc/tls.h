/* TLS for connections (Mbed TLS 3.6, configured by tls_config.h).
 *
 * A cpipe_tls_config is what an owner parses once from its settings: the
 * trusted roots, the client certificate and key, whether to verify. Parsing
 * a runtime's ~150 roots costs milliseconds, so the synchronous client keeps
 * one and a pool one per distinct set of TLS settings, shared read-only by
 * its connections (on its I/O thread). A config that does not parse still
 * exists: it keeps the reason, and every dial through it fails with that
 * reason (a ConnectionError at connect, where the user looks), never a crash.
 *
 * cpipe_transport_tls is the transport (transport.h) over it: the plain
 * socket's dial, then a non-blocking TLS handshake, then records. Each
 * connection keeps its last session and offers it on the next dial
 * (resumption). */
#ifndef CPIPE_TLS_H
#define CPIPE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "settings.h"
#include "transport.h"

typedef struct cpipe_tls_config cpipe_tls_config;

/* Parses the TLS entries of `s`. NULL only when out of memory; a config
 * whose material did not parse is returned with its reason kept. */
cpipe_tls_config *cpipe_tls_config_create(const cpipe_settings *s);

/* Whether `cfg` was made from the same TLS entries as `s` hold (a digest). */
int cpipe_tls_config_matches(const cpipe_tls_config *cfg, const cpipe_settings *s);

/* NULL is accepted. No connection may use it any more. */
void cpipe_tls_config_free(cpipe_tls_config *cfg);

/* Gives a connection's transport its TLS state: the server name to check
 * (and send as SNI unless it is an IP address; NULL or "" for none). 0, or
 * -1 when out of memory. The transport's destroy() frees it. */
int cpipe_tls_attach(cpipe_transport *t, const cpipe_tls_config *cfg, const char *servername);

extern const cpipe_transport_funcs cpipe_transport_tls;

#endif
