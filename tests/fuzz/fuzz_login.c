/* fuzz_login.c - fuzz target for the login packets rebound rewrites to move a login
 * (login.c): a client's HandshakeResponse41, a server's greeting scramble, the rebuilt
 * response.
 *
 * Properties checked besides "no crash" (ASan watches every read): a response that parses has
 * its auth response inside it; rebuilding it with a new answer gives a packet of exactly the
 * expected length that parses again, to the same capabilities and plugin, with the new answer
 * where the old one was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "login.h"
#include "mysql_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t answer[LOGIN_SCRAMBLE_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                       11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    uint8_t scramble[LOGIN_SCRAMBLE_LEN];
    struct login_response r, again;
    struct mysql_wbuf w;
    const uint8_t *out;
    size_t n;

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
