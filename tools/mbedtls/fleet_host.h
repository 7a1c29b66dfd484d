/* The host imports of the WebAssembly DTLS module (module "env"), implemented by
 * src/dtls/wasm-module.ts. The link allows exactly these undefined symbols
 * (tools/mbedtls/imports.txt); anything else missing fails the link. */
#ifndef FLEET_HOST_H
#define FLEET_HOST_H
#include <stddef.h>
#include <stdint.h>

#define FLEET_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define FLEET_API __attribute__((visibility("default"), used))

/* Wall-clock milliseconds since the epoch (certificate validity, cookie age). */
FLEET_IMPORT(fleet_host_now_ms) double fleet_host_now_ms(void);
/* Fills buf with len bytes from a cryptographically strong source; 0 on success. */
FLEET_IMPORT(fleet_host_random) int fleet_host_random(unsigned char *buf, size_t len);
/* Never returns: the host throws, which unwinds the module call. */
FLEET_IMPORT(fleet_host_abort) _Noreturn void fleet_host_abort(int code);
/* Looks up the key of a PSK identity for a server session; returns the key length written
 * to key (at most cap), or -1 when the identity is unknown. Must not call into the module. */
FLEET_IMPORT(fleet_host_psk) int fleet_host_psk(void *session, const unsigned char *identity,
                                                size_t identity_len, unsigned char *key, size_t cap);

/* Asks whether a server session's peer certificate (depth 0: its serial number's bytes as
 * encoded, and its subject as mbedtls_x509_dn_gets writes it) is revoked; 1 revoked, 0 not.
 * Must not call into the module. */
FLEET_IMPORT(fleet_host_cert_revoked) int fleet_host_cert_revoked(void *session, const unsigned char *serial,
                                                                  size_t serial_len, const char *subject,
                                                                  size_t subject_len);

/* Abort codes (the host names them in its error). */
#define FLEET_ABORT_ASSERT 1
#define FLEET_ABORT_HEAP_CORRUPT 2
#define FLEET_ABORT_DOUBLE_FREE 3

#endif
