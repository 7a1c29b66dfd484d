/* mbedTLS 3.6 configuration for coap-fleet's WebAssembly DTLS module: only what DTLS 1.2
 * with TLS_PSK_WITH_AES_128_CCM_8 and TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (P-256) needs.
 * Replaces mbedtls_config.h entirely (passed as MBEDTLS_CONFIG_FILE by tools/build-wasm.mjs).
 * No libc: time, entropy, allocation and gmtime come from the fleet_*.c files and the host. */
#ifndef FLEET_MBEDTLS_CONFIG_H
#define FLEET_MBEDTLS_CONFIG_H

/* Platform: freestanding wasm32. calloc/free are our allocator (fleet_malloc.c); time()
 * and the millisecond clock come from the host's now_ms import; gmtime_r is ours. */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_MS_TIME_ALT
#define MBEDTLS_PLATFORM_GMTIME_R_ALT
#define MBEDTLS_NO_PLATFORM_ENTROPY
/* wasm32 has native 64-bit multiply and divide (no compiler-rt needed); mbedTLS then
 * uses 32-bit limbs with a 64-bit double limb. No inline assembly exists for wasm.
 * Unaligned loads and stores are ordinary wasm instructions (alignment is only a hint):
 * mbedtls_xor and friends then work a word at a time, not a byte (library/alignment.h). */
#define MBEDTLS_EFFICIENT_UNALIGNED_ACCESS

/* Symmetric crypto: AES-128 in CCM mode (record protection) and for CTR_DRBG. All eight
 * T-tables, precomputed in the module's data (ROM_TABLES: no generation at start), not
 * FEWER_TABLES' rotations at every round: 6 KiB more module (issue 14). */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_ONLY_128_BIT_KEY_LENGTH
#define MBEDTLS_CCM_C
/* ChaCha20-Poly1305 (RFC 7905), preferred where both ends have it: no AES instructions in
 * WebAssembly, and table AES in CCM (two block operations per 16 bytes) was most of a
 * record's cost; ChaCha20 and Poly1305 are plain 32-bit arithmetic (issue 14). */
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_CTR_DRBG_USE_128_BIT_KEY
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA224_C

/* Public key: ECDHE and ECDSA on P-256 only; certificates and keys parsed from PEM. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C

/* SSL: DTLS 1.2 client and server, the two CoAP suites (RFC 7252 §9.1.3.1, §9.1.3.3),
 * which every session still offers, and their ChaCha20-Poly1305 twins (RFC 7905). */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_CIPHERSUITES \
    MBEDTLS_TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
/* Server hardening (RFC 6347 §4.2.1 cookies, §4.1.2.6 replay window, bad-MAC limit). The
 * stateless cookie check of a listener reuses mbedTLS's own reconnect code, which only
 * exists with CLIENT_PORT_REUSE (see fleet_listener.c). */
#define MBEDTLS_SSL_COOKIE_C
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_DTLS_BADMAC_LIMIT
/* RFC 9146 connection IDs, so a node whose address changes keeps its session. */
#define MBEDTLS_SSL_DTLS_CONNECTION_ID
#define MBEDTLS_SSL_DTLS_CONNECTION_ID_COMPAT 0
#define MBEDTLS_SSL_CID_IN_LEN_MAX 16
#define MBEDTLS_SSL_CID_OUT_LEN_MAX 16
/* Idle sessions hibernate (fleet_session_save/load): mbedtls_ssl_context_save/load. */
#define MBEDTLS_SSL_CONTEXT_SERIALIZATION

/* CoAP datagrams are small: 4 KiB record buffers keep a session near 10 KB of heap. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 4096
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
#define MBEDTLS_SSL_DTLS_MAX_BUFFERING 8192
#define MBEDTLS_PSK_MAX_LEN 64
#define MBEDTLS_MPI_MAX_SIZE 64

/* Deliberately absent: TLS 1.3, renegotiation, session tickets and cache, SNI, ALPN,
 * RSA, DHM, PSA crypto, debug and error strings, NET, FS_IO,
 * TIMING (JS drives every timer), ENTROPY (the host is the entropy source). */

#endif /* FLEET_MBEDTLS_CONFIG_H */
