/* The DTLS 1.2 glue of coap-fleet's WebAssembly module: datagrams in, datagrams out.
 * A config (client or server; PSK or certificate mode) is shared by its sessions; each
 * session reads one borrowed input datagram through its bio and queues every datagram it
 * sends, for src/dtls/session.ts to drain after each call. The module owns no timers: the
 * mbedTLS timer callbacks only record the requested delay, and JS says when it expired.
 * Servers check HelloVerifyRequest cookies statelessly before any session exists
 * (RFC 6347 §4.2.1; fleet_listener.c). */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_cookie.h"
#include "mbedtls/x509_crt.h"
#include "fleet_host.h"

#if !defined(FLEET_MBEDTLS_CONFIG_H)
#error "built without tools/mbedtls/fleet_mbedtls_config.h (MBEDTLS_CONFIG_FILE was lost)"
#endif

#define FLEET_MODE_PSK 0
#define FLEET_MODE_CERTIFICATE 1

/* A session keeps at most this many unsent datagrams (one flight is a handful); beyond it a
 * datagram is dropped and counted, as a full socket buffer would. */
#define FLEET_OUT_QUEUE_MAX 32
#define FLEET_IDENTITY_MAX 256
#define FLEET_REPLY_MAX 128

typedef struct fleet_config {
    mbedtls_ssl_config conf;
    mbedtls_ssl_cookie_ctx cookie;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own_cert;
    mbedtls_pk_context own_key;
    int is_server;
    int mode;
    int ciphersuites[3];
    uint16_t groups[2];
    uint16_t sig_algs[2];
    uint32_t mtu;
    size_t cid_len;
    int cid_enabled;
    char *server_name;
    unsigned char reply[FLEET_REPLY_MAX];
    size_t reply_len;
} fleet_config;

typedef struct fleet_datagram {
    struct fleet_datagram *next;
    size_t len;
    unsigned char data[];
} fleet_datagram;

typedef struct fleet_session {
    mbedtls_ssl_context ssl;
    fleet_config *cfg;
    const unsigned char *in; /* borrowed for one call from JS, never kept */
    size_t in_len;
    fleet_datagram *out_head;
    fleet_datagram *out_tail;
    uint32_t out_count;
    uint32_t out_dropped;
    uint32_t timer_fin_ms;
    uint32_t timer_generation;
    int timer_state; /* mbedtls_ssl_get_timer_t: -1 cancelled, 0 running, 2 expired */
    int alert_received;
    int psk_unknown;
    char identity[FLEET_IDENTITY_MAX];
    size_t identity_len;
    unsigned char own_cid[MBEDTLS_SSL_CID_IN_LEN_MAX];
} fleet_session;

/* --- randomness: one CTR_DRBG for the module, seeded from the host --- */

static mbedtls_ctr_drbg_context drbg;
static int drbg_ready;

static int fleet_entropy(void *unused, unsigned char *buf, size_t len)
{
    (void) unused;
    return fleet_host_random(buf, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static int rng_ready(void)
{
    if (drbg_ready) {
        return 0;
    }
    static const unsigned char personalization[] = "coap-fleet dtls";
    mbedtls_ctr_drbg_init(&drbg);
    int rc = mbedtls_ctr_drbg_seed(&drbg, fleet_entropy, NULL, personalization,
                                   sizeof personalization - 1);
    if (rc == 0) {
        drbg_ready = 1;
    }
    return rc;
}

/* --- configs --- */

FLEET_API fleet_config *fleet_config_new(int is_server, int mode)
{
    if (rng_ready() != 0) {
        return NULL;
    }
    fleet_config *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->is_server = is_server;
    c->mode = mode;
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_cookie_init(&c->cookie);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->own_cert);
    mbedtls_pk_init(&c->own_key);
    if (mbedtls_ssl_config_defaults(&c->conf,
                                    is_server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        mbedtls_ssl_config_free(&c->conf);
        free(c);
        return NULL;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    /* The suites of one mode only, so a peer cannot talk us into the other mode: the CoAP
     * mandatory AES-128-CCM-8 suite, and first, for peers that have it, its ChaCha20-Poly1305
     * twin (RFC 7905; the same 16 bytes of record overhead, a quarter of the CPU in wasm).
     * A server picks by its own order (MBEDTLS_SSL_SRV_RESPECT_CLIENT_PREFERENCE is off). */
    if (mode == FLEET_MODE_PSK) {
        c->ciphersuites[0] = MBEDTLS_TLS_PSK_WITH_CHACHA20_POLY1305_SHA256;
        c->ciphersuites[1] = MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8;
    } else {
        c->ciphersuites[0] = MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256;
        c->ciphersuites[1] = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8;
    }
    c->ciphersuites[2] = 0;
    mbedtls_ssl_conf_ciphersuites(&c->conf, c->ciphersuites);
    c->groups[0] = MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1;
    c->groups[1] = MBEDTLS_SSL_IANA_TLS_GROUP_NONE;
    mbedtls_ssl_conf_groups(&c->conf, c->groups);
    c->sig_algs[0] = MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256;
    c->sig_algs[1] = MBEDTLS_TLS1_3_SIG_NONE;
    mbedtls_ssl_conf_sig_algs(&c->conf, c->sig_algs);
    mbedtls_ssl_conf_extended_master_secret(&c->conf, MBEDTLS_SSL_EXTENDED_MS_ENABLED);
    mbedtls_ssl_conf_dtls_anti_replay(&c->conf, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    c->mtu = 1400;
    return c;
}

FLEET_API void fleet_config_free(fleet_config *c)
{
    if (c == NULL) {
        return;
    }
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ssl_cookie_free(&c->cookie);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->own_cert);
    mbedtls_pk_free(&c->own_key);
    if (c->server_name != NULL) {
        free(c->server_name);
    }
    mbedtls_platform_zeroize(c, sizeof *c);
    free(c);
}

/* A client's own PSK and identity (mbedTLS copies both). */
FLEET_API int fleet_config_set_psk(fleet_config *c, const unsigned char *identity, size_t identity_len,
                                   const unsigned char *key, size_t key_len)
{
    return mbedtls_ssl_conf_psk(&c->conf, key, key_len, identity, identity_len);
}

/* PEM text must end with its NUL, counted in len (mbedTLS's PEM reader needs it). */
FLEET_API int fleet_config_set_ca(fleet_config *c, const unsigned char *pem, size_t len)
{
    int rc = mbedtls_x509_crt_parse(&c->ca, pem, len);
    if (rc != 0) {
        return rc > 0 ? MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT : rc;
    }
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    return 0;
}

static int parse_own_cert(mbedtls_x509_crt *crt, mbedtls_pk_context *key, const unsigned char *cert_pem,
                          size_t cert_len, const unsigned char *key_pem, size_t key_len)
{
    int rc = mbedtls_x509_crt_parse(crt, cert_pem, cert_len);
    if (rc != 0) {
        return rc > 0 ? MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT : rc;
    }
    return mbedtls_pk_parse_key(key, key_pem, key_len, NULL, 0, mbedtls_ctr_drbg_random, &drbg);
}

/* Sets our certificate chain and key, or replaces them (a renewed certificate: enrollment,
 * RFC 9148): both are parsed aside first, so a bad pair leaves the old one in use. The
 * caller replaces them only while no handshake is under way (one may point at the old). */
FLEET_API int fleet_config_set_own_cert(fleet_config *c, const unsigned char *cert_pem, size_t cert_len,
                                        const unsigned char *key_pem, size_t key_len)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    int rc = parse_own_cert(&crt, &key, cert_pem, cert_len, key_pem, key_len);
    mbedtls_x509_crt_free(&crt);
    mbedtls_pk_free(&key);
    if (rc != 0) {
        return rc;
    }
    /* A NULL certificate empties the config's list (ssl_append_key_cert). */
    mbedtls_ssl_conf_own_cert(&c->conf, NULL, NULL);
    mbedtls_x509_crt_free(&c->own_cert);
    mbedtls_pk_free(&c->own_key);
    mbedtls_x509_crt_init(&c->own_cert);
    mbedtls_pk_init(&c->own_key);
    rc = parse_own_cert(&c->own_cert, &c->own_key, cert_pem, cert_len, key_pem, key_len);
    if (rc != 0) {
        return rc;
    }
    return mbedtls_ssl_conf_own_cert(&c->conf, &c->own_cert, &c->own_key);
}

/* 0 none, 1 optional, 2 required (MBEDTLS_SSL_VERIFY_*). */
FLEET_API void fleet_config_set_authmode(fleet_config *c, int authmode)
{
    mbedtls_ssl_conf_authmode(&c->conf, authmode);
}

/* Retransmission starts at min and doubles up to max (RFC 6347 §4.2.4.1); past max the
 * handshake fails with MBEDTLS_ERR_SSL_TIMEOUT. */
FLEET_API void fleet_config_set_timeouts(fleet_config *c, uint32_t min_ms, uint32_t max_ms)
{
    mbedtls_ssl_conf_handshake_timeout(&c->conf, min_ms, max_ms);
}

FLEET_API void fleet_config_set_mtu(fleet_config *c, uint32_t mtu)
{
    c->mtu = mtu;
}

/* After `limit` records with a bad MAC the session fails (0: no limit). */
FLEET_API void fleet_config_set_badmac_limit(fleet_config *c, uint32_t limit)
{
    mbedtls_ssl_conf_dtls_badmac_limit(&c->conf, limit);
}

/* Offer RFC 9146 connection IDs; each session then asks its peer to send records with a
 * random CID of cid_len bytes (0: we use the peer's CID but need none ourselves). */
FLEET_API int fleet_config_set_cid(fleet_config *c, size_t cid_len)
{
    if (cid_len > MBEDTLS_SSL_CID_IN_LEN_MAX) {
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
    c->cid_enabled = 1;
    c->cid_len = cid_len;
    return mbedtls_ssl_conf_cid(&c->conf, cid_len, MBEDTLS_SSL_UNEXPECTED_CID_IGNORE);
}

/* Client, certificate mode: the name the server certificate must carry (CN or SAN). */
FLEET_API int fleet_config_set_server_name(fleet_config *c, const char *name, size_t len)
{
    char *copy = calloc(1, len + 1);
    if (copy == NULL) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    memcpy(copy, name, len);
    if (c->server_name != NULL) {
        free(c->server_name);
    }
    c->server_name = copy;
    return 0;
}

static int fleet_psk_lookup(void *unused, mbedtls_ssl_context *ssl, const unsigned char *identity,
                            size_t identity_len);

/* Completes a config once its credentials are set. */
FLEET_API int fleet_config_ready(fleet_config *c)
{
    if (c->is_server) {
        int rc = mbedtls_ssl_cookie_setup(&c->cookie, mbedtls_ctr_drbg_random, &drbg);
        if (rc != 0) {
            return rc;
        }
        mbedtls_ssl_conf_dtls_cookies(&c->conf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
                                      &c->cookie);
        if (c->mode == FLEET_MODE_PSK) {
            mbedtls_ssl_conf_psk_cb(&c->conf, fleet_psk_lookup, NULL);
        }
    }
    if (c->mode == FLEET_MODE_CERTIFICATE) {
        if ((c->is_server && c->own_key.pk_info == NULL) ||
            (c->conf.authmode != MBEDTLS_SSL_VERIFY_NONE && c->ca.raw.p == NULL)) {
            return MBEDTLS_ERR_SSL_BAD_CONFIG;
        }
    }
    return 0;
}

/* The datagram of a HelloVerifyRequest written by fleet_listener_check. */
FLEET_API const unsigned char *fleet_config_reply(fleet_config *c) { return c->reply; }
FLEET_API size_t fleet_config_reply_len(fleet_config *c) { return c->reply_len; }

int fleet_clihlo_cookie_check(const mbedtls_ssl_config *conf, const unsigned char *cli_id,
                              size_t cli_id_len, const unsigned char *in, size_t in_len,
                              unsigned char *out, size_t out_cap, size_t *out_len);

/* A server's stateless first look at a datagram from a peer without a session: 0 when it is
 * a ClientHello with a valid cookie for cli_id (make a session and give it the datagram),
 * 1 when a HelloVerifyRequest was written to the reply buffer (send it, keep nothing), and
 * a negative mbedTLS error for anything else (drop it). */
FLEET_API int fleet_listener_check(fleet_config *c, const unsigned char *cli_id, size_t cli_id_len,
                                   const unsigned char *in, size_t in_len)
{
    c->reply_len = 0;
    int rc = fleet_clihlo_cookie_check(&c->conf, cli_id, cli_id_len, in, in_len, c->reply,
                                       sizeof c->reply, &c->reply_len);
    if (rc == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
        return 1;
    }
    return rc;
}

/* --- sessions: bio, timer and callbacks --- */

static int fleet_send(void *ctx, const unsigned char *buf, size_t len)
{
    fleet_session *s = ctx;
    if (s->out_count >= FLEET_OUT_QUEUE_MAX) {
        s->out_dropped++;
        return (int) len;
    }
    fleet_datagram *d = malloc(sizeof *d + len);
    if (d == NULL) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    d->next = NULL;
    d->len = len;
    memcpy(d->data, buf, len);
    if (s->out_tail != NULL) {
        s->out_tail->next = d;
    } else {
        s->out_head = d;
    }
    s->out_tail = d;
    s->out_count++;
    return (int) len;
}

/* The length of the datagram up to its last whole record header. mbedTLS 3.6.6 fails the
 * session with MBEDTLS_ERR_SSL_INTERNAL_ERROR when 1..12 bytes follow a record it skipped
 * (a replay, an old epoch) or read (mbedtls_ssl_fetch_input: "should never happen"), so
 * one spoofed datagram could end any session; such a tail is garbage, drop it here.
 * A record longer than the rest of the datagram is left for mbedTLS, which drops it. */
static size_t whole_records(const fleet_session *s, const unsigned char *in, size_t len)
{
    size_t offset = 0;
    while (offset < len) {
        size_t header = 13;
        if (in[offset] == MBEDTLS_SSL_MSG_CID) {
            header += s->ssl.conf->cid_len;
        }
        if (len - offset < header) {
            return offset;
        }
        offset += header + (((size_t) in[offset + header - 2] << 8) | in[offset + header - 1]);
    }
    return len;
}

static int fleet_recv(void *ctx, unsigned char *buf, size_t len)
{
    fleet_session *s = ctx;
    const unsigned char *in = s->in;
    size_t in_len = in == NULL ? 0 : whole_records(s, s->in, s->in_len);
    s->in = NULL;
    s->in_len = 0;
    /* No datagram, an empty one, or one larger than a record buffer: nothing to read. */
    if (in == NULL || in_len == 0 || in_len > len) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    memcpy(buf, in, in_len);
    return (int) in_len;
}

static void fleet_set_timer(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    fleet_session *s = ctx;
    (void) int_ms; /* mbedTLS's DTLS code only acts on the final delay */
    s->timer_fin_ms = fin_ms;
    s->timer_state = fin_ms == 0 ? -1 : 0;
    s->timer_generation++;
}

static int fleet_get_timer(void *ctx)
{
    fleet_session *s = ctx;
    return s->timer_state;
}

static int fleet_psk_lookup(void *unused, mbedtls_ssl_context *ssl, const unsigned char *identity,
                            size_t identity_len)
{
    (void) unused;
    fleet_session *s = mbedtls_ssl_get_user_data_p(ssl);
    unsigned char key[MBEDTLS_PSK_MAX_LEN];
    if (identity_len == 0 || identity_len >= FLEET_IDENTITY_MAX) {
        s->psk_unknown = 1;
        return -1;
    }
    memcpy(s->identity, identity, identity_len);
    s->identity[identity_len] = '\0';
    s->identity_len = identity_len;
    int n = fleet_host_psk(s, identity, identity_len, key, sizeof key);
    if (n <= 0 || (size_t) n > sizeof key) {
        s->psk_unknown = 1;
        return -1;
    }
    int rc = mbedtls_ssl_set_hs_psk(ssl, key, (size_t) n);
    mbedtls_platform_zeroize(key, sizeof key);
    return rc;
}

/* Records the subject of the peer's end-entity certificate (depth 0) as its identity, and
 * on a server asks the host whether that certificate is revoked (the fleet keeps its own
 * revocation list, DESIGN §6): a revoked one gets BADCERT_REVOKED, which fails the
 * handshake like any other verification flag (RFC 5280 §6.3). Verification itself is
 * mbedTLS's, against the config's CA. */
static int fleet_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    fleet_session *s = ctx;
    if (depth == 0) {
        int n = mbedtls_x509_dn_gets(s->identity, sizeof s->identity, &crt->subject);
        s->identity_len = n > 0 ? (size_t) n : 0;
        if (s->cfg->is_server &&
            fleet_host_cert_revoked(s, crt->serial.p, crt->serial.len, s->identity, s->identity_len) != 0) {
            *flags |= MBEDTLS_X509_BADCERT_REVOKED;
        }
    }
    return 0;
}

/* Remembers the description of a fatal alert the peer sent (RFC 5246 §7.2). */
static int track(fleet_session *s, int rc)
{
    if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && s->ssl.in_msg != NULL) {
        s->alert_received = s->ssl.in_msg[1];
    }
    return rc;
}

static void drop_queue(fleet_session *s)
{
    while (s->out_head != NULL) {
        fleet_datagram *d = s->out_head;
        s->out_head = d->next;
        free(d);
    }
    s->out_tail = NULL;
    s->out_count = 0;
}

FLEET_API void fleet_session_free(fleet_session *s)
{
    if (s == NULL) {
        return;
    }
    drop_queue(s);
    mbedtls_ssl_free(&s->ssl);
    mbedtls_platform_zeroize(s, sizeof *s);
    free(s);
}

/* cli_id: the peer's transport address as the server binds cookies to it (ignored on
 * clients). */
FLEET_API fleet_session *fleet_session_new(fleet_config *c, const unsigned char *cli_id, size_t cli_id_len)
{
    fleet_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->cfg = c;
    s->timer_state = -1;
    s->alert_received = -1;
    mbedtls_ssl_init(&s->ssl);
    if (mbedtls_ssl_setup(&s->ssl, &c->conf) != 0) {
        goto fail;
    }
    mbedtls_ssl_set_user_data_p(&s->ssl, s);
    mbedtls_ssl_set_bio(&s->ssl, s, fleet_send, fleet_recv, NULL);
    mbedtls_ssl_set_timer_cb(&s->ssl, s, fleet_set_timer, fleet_get_timer);
    mbedtls_ssl_set_mtu(&s->ssl, (uint16_t) c->mtu);
    if (c->is_server &&
        mbedtls_ssl_set_client_transport_id(&s->ssl, cli_id, cli_id_len) != 0) {
        goto fail;
    }
    if (c->mode == FLEET_MODE_CERTIFICATE) {
        mbedtls_ssl_set_verify(&s->ssl, fleet_verify, s);
        if (!c->is_server && mbedtls_ssl_set_hostname(&s->ssl, c->server_name) != 0) {
            goto fail;
        }
    }
    if (c->cid_enabled) {
        if (c->cid_len > 0 && mbedtls_ctr_drbg_random(&drbg, s->own_cid, c->cid_len) != 0) {
            goto fail;
        }
        if (mbedtls_ssl_set_cid(&s->ssl, MBEDTLS_SSL_CID_ENABLED, s->own_cid, c->cid_len) != 0) {
            goto fail;
        }
    }
    return s;
fail:
    fleet_session_free(s);
    return NULL;
}

/* Hibernation of an idle established session (issue 14): its state serialized into buf
 * (RFC 6347 §4.1.2.6's replay window, the epoch, the write sequence number, the keys'
 * master secret and randoms, the CIDs: mbedtls_ssl_context_save), a few hundred bytes in
 * place of the context's record buffers. Returns the length written, or a negative mbedTLS
 * error with the session untouched (a handshake not over, unread input, unsent output, or
 * buf too small). After success the context is reset: free the session. */
FLEET_API int fleet_session_save(fleet_session *s, unsigned char *buf, size_t cap)
{
    if (s->out_head != NULL || s->in != NULL) {
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
    size_t len = 0;
    int rc = mbedtls_ssl_context_save(&s->ssl, buf, cap, &len);
    if (rc != 0) {
        return rc;
    }
    return (int) len;
}

/* A hibernated session brought back: a new session of the same config and client transport
 * ID (cookies, RFC 6347 §4.2.8's reconnect check) with the state of buf loaded; NULL when
 * the blob is not one of ours or memory ran out. */
FLEET_API fleet_session *fleet_session_load(fleet_config *c, const unsigned char *cli_id, size_t cli_id_len,
                                            const unsigned char *buf, size_t len)
{
    fleet_session *s = fleet_session_new(c, cli_id, cli_id_len);
    if (s == NULL) {
        return NULL;
    }
    if (mbedtls_ssl_context_load(&s->ssl, buf, len) != 0) {
        fleet_session_free(s);
        return NULL;
    }
    /* Records are checked against the CID in the loaded transform; the one fleet_session_new
     * drew into own_cid is unused (JS read our CID once, when the handshake was over). */
    return s;
}

/* Lends the session one received datagram for the calls that follow; JS clears it (NULL)
 * before the memory is reused. */
FLEET_API void fleet_session_input(fleet_session *s, const unsigned char *in, size_t len)
{
    s->in = in;
    s->in_len = len;
}

/* 0 when the handshake is over, MBEDTLS_ERR_SSL_WANT_READ while it waits, else an error. */
FLEET_API int fleet_session_handshake(fleet_session *s)
{
    int rc = mbedtls_ssl_handshake(&s->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        rc = MBEDTLS_ERR_SSL_WANT_READ;
    }
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
        /* mbedTLS fails silently here; tell the client, or it retransmits until its timeout
         * (RFC 5246 §7.4.6: a fatal handshake_failure). */
        (void) mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                              MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    }
    return track(s, rc);
}

/* Up to cap bytes of one application record, MBEDTLS_ERR_SSL_WANT_READ when none is left,
 * MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY, MBEDTLS_ERR_SSL_CLIENT_RECONNECT, or an error. */
FLEET_API int fleet_session_read(fleet_session *s, unsigned char *buf, size_t cap)
{
    int rc = mbedtls_ssl_read(&s->ssl, buf, cap);
    if (rc == 0) {
        rc = MBEDTLS_ERR_SSL_WANT_READ; /* an empty record (OpenSSL sends some) */
    }
    return track(s, rc);
}

FLEET_API int fleet_session_write(fleet_session *s, const unsigned char *buf, size_t len)
{
    return track(s, mbedtls_ssl_write(&s->ssl, buf, len));
}

FLEET_API int fleet_session_close_notify(fleet_session *s)
{
    return mbedtls_ssl_close_notify(&s->ssl);
}

/* JS's clock passed the delay the session last asked for. */
FLEET_API void fleet_session_timer_expired(fleet_session *s)
{
    if (s->timer_state == 0) {
        s->timer_state = 2;
    }
}

FLEET_API const unsigned char *fleet_session_out_data(fleet_session *s)
{
    return s->out_head != NULL ? s->out_head->data : NULL;
}

FLEET_API int fleet_session_out_len(fleet_session *s)
{
    return s->out_head != NULL ? (int) s->out_head->len : -1;
}

FLEET_API void fleet_session_out_pop(fleet_session *s)
{
    fleet_datagram *d = s->out_head;
    if (d == NULL) {
        return;
    }
    s->out_head = d->next;
    if (s->out_head == NULL) {
        s->out_tail = NULL;
    }
    s->out_count--;
    free(d);
}

FLEET_API const char *fleet_session_identity(fleet_session *s) { return s->identity; }
FLEET_API const unsigned char *fleet_session_own_cid(fleet_session *s) { return s->own_cid; }

enum {
    FLEET_INFO_VERIFY_FLAGS = 0,
    FLEET_INFO_ALERT_RECEIVED = 1,
    FLEET_INFO_PSK_UNKNOWN = 2,
    FLEET_INFO_IDENTITY_LEN = 3,
    FLEET_INFO_MAX_PAYLOAD = 4,
    FLEET_INFO_HANDSHAKE_OVER = 5,
    FLEET_INFO_PEER_CID_LEN = 6,
    FLEET_INFO_TIMER_MS = 7,
    FLEET_INFO_TIMER_GENERATION = 8,
    FLEET_INFO_OUT_DROPPED = 9,
    FLEET_INFO_OWN_CID_LEN = 10,
};

FLEET_API int fleet_session_info(fleet_session *s, int what)
{
    switch (what) {
        case FLEET_INFO_VERIFY_FLAGS:
            return (int) mbedtls_ssl_get_verify_result(&s->ssl);
        case FLEET_INFO_ALERT_RECEIVED:
            return s->alert_received;
        case FLEET_INFO_PSK_UNKNOWN:
            return s->psk_unknown;
        case FLEET_INFO_IDENTITY_LEN:
            return (int) s->identity_len;
        case FLEET_INFO_MAX_PAYLOAD:
            return mbedtls_ssl_get_max_out_record_payload(&s->ssl);
        case FLEET_INFO_HANDSHAKE_OVER:
            return mbedtls_ssl_is_handshake_over(&s->ssl);
        case FLEET_INFO_PEER_CID_LEN: {
            int enabled = MBEDTLS_SSL_CID_DISABLED;
            unsigned char peer[MBEDTLS_SSL_CID_OUT_LEN_MAX];
            size_t peer_len = 0;
            if (mbedtls_ssl_get_peer_cid(&s->ssl, &enabled, peer, &peer_len) != 0 ||
                enabled != MBEDTLS_SSL_CID_ENABLED) {
                return -1;
            }
            return (int) peer_len;
        }
        case FLEET_INFO_TIMER_MS:
            return s->timer_state == -1 ? -1 : (int) s->timer_fin_ms;
        case FLEET_INFO_TIMER_GENERATION:
            return (int) s->timer_generation;
        case FLEET_INFO_OUT_DROPPED:
            return (int) s->out_dropped;
        case FLEET_INFO_OWN_CID_LEN:
            return s->cfg->cid_enabled ? (int) s->cfg->cid_len : -1;
        default:
            return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
}

FLEET_API size_t fleet_sizeof_session(void) { return sizeof(fleet_session); }
