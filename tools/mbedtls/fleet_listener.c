/* mbedTLS's record layer (library/ssl_msg.c), compiled here instead of on its own so the
 * stateless ClientHello cookie check it uses for client reconnects (RFC 6347 §4.2.1,
 * §4.2.8) can also serve a server's listener before any session is allocated: a flood of
 * ClientHellos from spoofed addresses then costs one HelloVerifyRequest each, no state. */
#include "ssl_msg.c"

int fleet_clihlo_cookie_check(const mbedtls_ssl_config *conf, const unsigned char *cli_id,
                              size_t cli_id_len, const unsigned char *in, size_t in_len,
                              unsigned char *out, size_t out_cap, size_t *out_len);

int fleet_clihlo_cookie_check(const mbedtls_ssl_config *conf, const unsigned char *cli_id,
                              size_t cli_id_len, const unsigned char *in, size_t in_len,
                              unsigned char *out, size_t out_cap, size_t *out_len)
{
    /* The check reads only ssl->conf (its cookie callbacks) from the context. */
    mbedtls_ssl_context ssl;
    memset(&ssl, 0, sizeof ssl);
    ssl.conf = conf;
    if (conf->f_cookie_check == NULL || conf->f_cookie_write == NULL) {
        return MBEDTLS_ERR_SSL_BAD_CONFIG;
    }
    return mbedtls_ssl_check_dtls_clihlo_cookie(&ssl, cli_id, cli_id_len, in, in_len, out,
                                                out_cap, out_len);
}
