/* fuzz_login.c - fuzz target for the login packets rebound rewrites to move a login
 * (login.c): a client's HandshakeResponse41, a server's greeting scramble, the rebuilt
 * response.
 *
 * Properties checked besides "no crash" (ASan watches every read): a response that parses has
 * its auth response inside it; rebuilding it with a new answer gives a packet of exactly the
 * expected length that parses again, to the same capabilities and plugin, with the new answer
 * where the old one was.
 *
 * The same input is also read as the packets of a login with TLS on one side (whole packets,
 * header included): an SSLRequest is recognized only when it is one; CLIENT_SSL set or cleared
 * in a greeting or a response changes that one bit (and the response's sequence id) and nothing
 * else; the SSLRequest built for a server from a response is one, with the response's flags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "mysql_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes of A and B (N each) differ only where MASK has bits, and only in those bits. */
static void same_but(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i] ^ b[i]) & ~mask[i])
            abort();
}

/* The TLS side of the login: greeting flag, SSLRequest, response rewritten for the server. */
static void tls_packets(const uint8_t *data, size_t size)
{
    uint8_t *copy, *mask, req[36];
    size_t n;

    if (size == 0 || size > 70000)
        return;
    copy = malloc(size);
    mask = calloc(1, size);
    if (!copy || !mask) {
        free(copy);
        free(mask);
        return;
    }
    if (login_is_ssl_request(data, size) &&
        (size != 36 || mysql_payload_len(data) != 32 || data[3] != 1 || !(data[5] & 0x08)))
        abort();
    for (int offer = 0; offer < 2; offer++) {
        memcpy(copy, data, size);
        login_greeting_set_tls(copy, size, offer);
        for (size_t i = 0; i < size; i++)
            mask[i] = copy[i] != data[i] ? 0x08 : 0;
        same_but(data, copy, mask, size);
        if (memcmp(data, copy, size) && login_greeting_offers_tls(copy, size) != offer)
            abort();
    }
    memset(mask, 0, size);
    memcpy(copy, data, size);
    if (login_response_retls(copy, size, true) == 0) {
        mask[3] = 0xff;
        mask[5] = 0x08;
        same_but(data, copy, mask, size);
        if (copy[3] != 2 || !(copy[5] & 0x08))
            abort();
        if (login_response_retls(copy, size, false) < 0 || copy[3] != 1 || (copy[5] & 0x08))
            abort();
    }
    if ((n = login_ssl_request(req, data, size)) != 0) {
        if (n != 36 || !login_is_ssl_request(req, n) || memcmp(req + 6, data + 6, 30) ||
            req[4] != data[4] || (req[5] | 0x08) != (data[5] | 0x08))
            abort();
    }
    free(mask);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t answer[LOGIN_SCRAMBLE_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                       11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    uint8_t scramble[LOGIN_SCRAMBLE_LEN];
    struct login_response r, again;
    struct mysql_wbuf w;
    const uint8_t *out;
    size_t n;

    tls_packets(data, size);
    (void)login_greeting_scramble(data, size, scramble);
    if (login_parse_response(data, size, &r) < 0)
        return 0;
    if (r.auth_at > r.auth_end || r.auth_end > size || r.plugin[sizeof(r.plugin) - 1])
        abort();
    mysql_wbuf_init(&w, 70000);
    if (login_rebuild_response(&w, 1, data, size, &r, answer, sizeof(answer)) < 0) {
        mysql_wbuf_free(&w);
        return 0;
    }
    out = w.data;
    n = w.len;
    if (out[3] != 1 || mysql_payload_len(out) != n - MYSQL_HEADER_LEN)
        abort();
    if (login_parse_response(out + MYSQL_HEADER_LEN, n - MYSQL_HEADER_LEN, &again) < 0)
        abort();
    if (again.caps != r.caps || strcmp(again.plugin, r.plugin) || again.auth_at != r.auth_at)
        abort();
    if (memcmp(out + MYSQL_HEADER_LEN + again.auth_end - sizeof(answer) -
                   (!(r.caps & MYSQL_CLIENT_SECURE_CONNECTION) &&
                    !(r.caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC)),
               answer, sizeof(answer)))
        abort();
    mysql_wbuf_free(&w);
    return 0;
}
