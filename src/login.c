/* login.c - the MySQL login's packets, read and rewritten to move a login in progress to
 * another server (session.c: a server that went away between its greeting and its answer).
 *
 * The client answered server A's scramble. Server B has another, so rebound asks the client,
 * with an AuthSwitchRequest naming the client's own plugin and B's scramble, to answer again,
 * then gives B the client's first response with that new answer in place of the old one.
 * Pure packet work, no I/O; every length is checked against what was received. */
#include "login.h"

#include <string.h>

#include "mysql_packet.h"

/* A NUL-terminated field at *OFF of P (N bytes): moves *OFF past its NUL. -1 if unterminated. */
static int skip_str0(const uint8_t *p, size_t n, size_t *off)
{
    const uint8_t *nul = *off < n ? memchr(p + *off, 0, n - *off) : NULL;

    if (!nul)
        return -1;
    *off = (size_t)(nul - p) + 1;
    return 0;
}

int login_parse_response(const uint8_t *p, size_t n, struct login_response *r)
{
    size_t off = 32, k;
    uint64_t len;

    memset(r, 0, sizeof(*r));
    if (n <= 32)
        return -1; /* an SSL request is exactly 32 bytes */
    r->caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (!(r->caps & MYSQL_CLIENT_PROTOCOL_41) || (r->caps & MYSQL_CLIENT_SSL))
        return -1;
    if (skip_str0(p, n, &off) < 0) /* user name */
        return -1;
    r->auth_at = off;
    if (r->caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC) {
        if (!(k = mysql_get_lenenc(p + off, n - off, &len)))
            return -1;
        off += k;
    } else if (r->caps & MYSQL_CLIENT_SECURE_CONNECTION) {
        if (off >= n)
            return -1;
        len = p[off++];
    } else {
        const uint8_t *nul = memchr(p + off, 0, n - off);
        if (!nul)
            return -1;
        len = (uint64_t)(nul - (p + off)) + 1; /* its NUL with it */
    }
    if (len > n - off)
        return -1;
    off += (size_t)len;
    r->auth_end = off;
    if ((r->caps & MYSQL_CLIENT_CONNECT_WITH_DB) && off < n && skip_str0(p, n, &off) < 0)
        return -1;
    if ((r->caps & MYSQL_CLIENT_PLUGIN_AUTH) && off < n) {
        size_t from = off;
        if (skip_str0(p, n, &off) < 0 || off - from > sizeof(r->plugin))
            return -1;
        memcpy(r->plugin, p + from, off - from);
    }
    return 0;
}

bool login_plugin_restartable(const char *name)
{
    static const char *const signers[] = {"mysql_native_password", "caching_sha2_password",
                                          "client_ed25519"};

    for (size_t i = 0; i < sizeof(signers) / sizeof(signers[0]); i++)
        if (!strcmp(name, signers[i]))
            return true;
    return false;
}

int login_greeting_scramble(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t off = MYSQL_HEADER_LEN + 1; /* past the protocol version */

    if (n < off || skip_str0(p, n, &off) < 0) /* server version */
        return -1;
    off += 4; /* thread id */
    if (n < off + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 12)
        return -1;
    memcpy(out, p + off, 8);
    off += 8 + 1 + 2 + 1 + 2 + 2; /* part 1, filler, capabilities, charset, status, capabilities */
    if (p[off] < LOGIN_SCRAMBLE_LEN + 1)
        return -1; /* announces a shorter scramble */
    off += 1 + 10; /* its length, reserved */
    memcpy(out + 8, p + off, LOGIN_SCRAMBLE_LEN - 8);
    return 0;
}

/* The header of a packet of payload length LEN with sequence id SEQ, at OUT. */
static void put_header(uint8_t *out, size_t len, uint8_t seq)
{
    out[0] = (uint8_t)len;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)(len >> 16);
    out[3] = seq;
}

size_t login_auth_switch(uint8_t *out, size_t outsz, uint8_t seq, const char *plugin,
                         const uint8_t *scramble)
{
    size_t pl = strlen(plugin) + 1, len = 1 + pl + LOGIN_SCRAMBLE_LEN + 1;

    if (MYSQL_HEADER_LEN + len > outsz)
        return 0;
    put_header(out, len, seq);
    out[4] = 0xfe;
    memcpy(out + 5, plugin, pl);
    memcpy(out + 5 + pl, scramble, LOGIN_SCRAMBLE_LEN);
    out[5 + pl + LOGIN_SCRAMBLE_LEN] = 0;
    return MYSQL_HEADER_LEN + len;
}

int login_rebuild_response(struct mysql_wbuf *w, uint8_t seq, const uint8_t *p, size_t n,
                           const struct login_response *r, const uint8_t *auth, size_t alen)
{
    size_t start = w->len;

    mysql_put_bytes(w, "\0\0\0\0", MYSQL_HEADER_LEN); /* the header, once the length is known */
    mysql_put_bytes(w, p, r->auth_at);
    if (r->caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC) {
        mysql_put_lenenc_str(w, auth, alen);
    } else if (r->caps & MYSQL_CLIENT_SECURE_CONNECTION) {
        if (alen > 255)
            return -1;
        mysql_put_u8(w, (uint8_t)alen);
        mysql_put_bytes(w, auth, alen);
    } else {
        mysql_put_bytes(w, auth, alen);
        mysql_put_u8(w, 0);
    }
    mysql_put_bytes(w, p + r->auth_end, n - r->auth_end);
    if (w->failed || w->len - start - MYSQL_HEADER_LEN > MYSQL_MAX_PAYLOAD)
        return -1;
    put_header(w->data + start, w->len - start - MYSQL_HEADER_LEN, seq);
    return 0;
}

/* ---- TLS on one side of a login (session.c terminates the client's TLS, or talks TLS to
 * the server for a plain client): the capability flag in the greeting and the response,
 * and the SSLRequest that asks a server to switch. */

/* The offset of the greeting's lower capability flags in the packet P (N bytes, header
 * included), or 0 when it has none (mysql_greeting_parse() accepted it already). */
static size_t greeting_caps_at(const uint8_t *p, size_t n)
{
    const uint8_t *nul;

    if (n < MYSQL_HEADER_LEN + 1 || p[4] != 0x0a || !(nul = memchr(p + 5, 0, n - 5)))
        return 0;
    /* NUL, thread id (4), scramble part 1 (8), filler (1), then the flags (2). */
    size_t at = (size_t)(nul - p) + 1 + 4 + 8 + 1;
    return at + 2 <= n ? at : 0;
}

bool login_greeting_offers_tls(const uint8_t *p, size_t n)
{
    size_t at = greeting_caps_at(p, n);

    return at && (p[at + 1] << 8 | p[at]) & MYSQL_CLIENT_SSL;
}

void login_greeting_set_tls(uint8_t *p, size_t n, bool offer)
{
    size_t at = greeting_caps_at(p, n);

    if (!at)
        return;
    if (offer)
        p[at + 1] |= MYSQL_CLIENT_SSL >> 8;
    else
        p[at + 1] &= (uint8_t) ~(MYSQL_CLIENT_SSL >> 8);
}

bool login_is_ssl_request(const uint8_t *p, size_t n)
{
    return n == MYSQL_HEADER_LEN + 32 && mysql_payload_len(p) == 32 && p[3] == 1 &&
           (p[MYSQL_HEADER_LEN + 1] & (MYSQL_CLIENT_SSL >> 8));
}

int login_response_retls(uint8_t *p, size_t n, bool tls)
{
    if (n < MYSQL_HEADER_LEN + 32 || mysql_payload_len(p) != n - MYSQL_HEADER_LEN)
        return -1;
    if (tls) {
        p[MYSQL_HEADER_LEN + 1] |= MYSQL_CLIENT_SSL >> 8;
        p[3] = 2;
    } else {
        p[MYSQL_HEADER_LEN + 1] &= (uint8_t) ~(MYSQL_CLIENT_SSL >> 8);
        p[3] = 1;
    }
    return 0;
}

size_t login_ssl_request(uint8_t out[36], const uint8_t *p, size_t n)
{
    if (n < MYSQL_HEADER_LEN + 32)
        return 0;
    out[0] = 32;
    out[1] = out[2] = 0;
    out[3] = 1;
    memcpy(out + MYSQL_HEADER_LEN, p + MYSQL_HEADER_LEN, 32);
    /* All 32 bytes as the client sent them: MariaDB keeps its extended capabilities in the
     * last 4 bytes of the filler, and the server takes them from the SSLRequest. */
    out[MYSQL_HEADER_LEN + 1] |= MYSQL_CLIENT_SSL >> 8;
    return MYSQL_HEADER_LEN + 32;
}
