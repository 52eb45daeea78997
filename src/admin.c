/* admin.c - the admin port: a MySQL-protocol server for `mysql`/`mariadb` clients.
 *
 * Two layers. struct admin_proto is the protocol without a socket: the greeting, the
 * handshake response (optionally after an SSL request), authentication with
 * mysql_native_password or caching_sha2_password (fast path; full authentication only
 * over TLS), auth switch for other plugins, then commands, whose SQL runs in
 * admin_sql.c and comes back through an admin_sink that encodes result sets. Bytes in,
 * bytes out: the unit tests and the fuzzer drive it directly.
 *
 * struct admin_conn moves those bytes over a non-blocking socket, through OpenSSL once
 * TLS is started. Every watcher runs at EV_MINPRI, below client traffic; a connection
 * that stops reading its answers stops being read (bounded output), and a client that
 * sends an oversized or malformed packet gets an ERR and is closed.
 *
 *   socket --read--> admin_conn --admin_proto_input--> admin_proto --admin_sql_exec-->
 *   socket <--write-- admin_conn <------ ap->out <----- wire_sink <-------- admin_sql
 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "acceptor.h"
#include "log.h"
#include "tls.h"

/* Error numbers of the handshake and command phases. */
#define ER_CON_COUNT            1040
#define ER_HANDSHAKE            1043
#define ER_ACCESS_DENIED        1045
#define ER_UNKNOWN_COM          1047
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_UNSUPPORTED_PS       1295
#define ER_NOT_SUPPORTED_AUTH   1251

#define NATIVE "mysql_native_password"
#define SHA2   "caching_sha2_password"

/* The capabilities the admin port offers (CLIENT_SSL only with admin-ssl). */
#define ADMIN_CAPS                                                                                 \
    (MYSQL_CLIENT_LONG_PASSWORD | MYSQL_CLIENT_FOUND_ROWS | MYSQL_CLIENT_LONG_FLAG |               \
     MYSQL_CLIENT_CONNECT_WITH_DB | MYSQL_CLIENT_PROTOCOL_41 | MYSQL_CLIENT_INTERACTIVE |          \
     MYSQL_CLIENT_TRANSACTIONS | MYSQL_CLIENT_SECURE_CONNECTION | MYSQL_CLIENT_MULTI_RESULTS |     \
     MYSQL_CLIENT_PLUGIN_AUTH | MYSQL_CLIENT_CONNECT_ATTRS | MYSQL_CLIENT_PLUGIN_AUTH_LENENC |     \
     MYSQL_CLIENT_DEPRECATE_EOF)

static const struct conf *aconf;

/* ---- auth plugins ---- */

bool admin_native_ok(const char *password, const uint8_t *scramble, const uint8_t *resp, size_t len)
{
    uint8_t stage1[SHA_DIGEST_LENGTH], stage2[SHA_DIGEST_LENGTH], mix[SHA_DIGEST_LENGTH];
    uint8_t buf[20 + SHA_DIGEST_LENGTH];

    if (len != SHA_DIGEST_LENGTH)
        return false;
    /* SHA1(pw) XOR SHA1(scramble . SHA1(SHA1(pw))) */
    SHA1((const uint8_t *)password, strlen(password), stage1);
    SHA1(stage1, sizeof(stage1), stage2);
    memcpy(buf, scramble, 20);
    memcpy(buf + 20, stage2, sizeof(stage2));
    SHA1(buf, sizeof(buf), mix);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        mix[i] ^= stage1[i];
    return CRYPTO_memcmp(mix, resp, SHA_DIGEST_LENGTH) == 0;
}

bool admin_sha2_ok(const char *password, const uint8_t *scramble, const uint8_t *resp, size_t len)
{
    uint8_t stage1[SHA256_DIGEST_LENGTH], stage2[SHA256_DIGEST_LENGTH];
    uint8_t mix[SHA256_DIGEST_LENGTH], buf[SHA256_DIGEST_LENGTH + 20];

    if (len != SHA256_DIGEST_LENGTH)
        return false;
    /* SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) . scramble) */
    SHA256((const uint8_t *)password, strlen(password), stage1);
    SHA256(stage1, sizeof(stage1), stage2);
    memcpy(buf, stage2, sizeof(stage2));
    memcpy(buf + sizeof(stage2), scramble, 20);
    SHA256(buf, sizeof(buf), mix);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        mix[i] ^= stage1[i];
    return CRYPTO_memcmp(mix, resp, SHA256_DIGEST_LENGTH) == 0;
}

/* ---- the protocol ---- */

static bool deprecate_eof(const struct admin_proto *ap)
{
    return ap->caps & MYSQL_CLIENT_DEPRECATE_EOF;
}

static void send_err(struct admin_proto *ap, uint16_t code, const char *state, const char *msg)
{
    mysql_err_append(&ap->out, ap->seq++, code, state, msg);
}

static void send_ok(struct admin_proto *ap)
{
    mysql_ok_packet(&ap->out, ap->seq++, 0, 0, MYSQL_SERVER_STATUS_AUTOCOMMIT, 0, NULL);
}

/* Send an ERR and end the connection; returns -1 for the caller to pass on. */
static int fatal(struct admin_proto *ap, uint16_t code, const char *state, const char *msg)
{
    send_err(ap, code, state, msg);
    ap->phase = AP_CLOSED;
    return -1;
}

static void greet(struct admin_proto *ap)
{
    uint32_t caps = ADMIN_CAPS | (ap->tls_offered ? MYSQL_CLIENT_SSL : 0);
    struct mysql_wbuf *w = &ap->out;
    static const uint8_t zeros[10];

    mysql_pkt_begin(w, ap->seq++);
    mysql_put_u8(w, 10);
    mysql_put_str0(w, ADMIN_SERVER_VERSION);
    mysql_put_u32(w, ap->client.id);
    mysql_put_bytes(w, ap->scramble, 8);
    mysql_put_u8(w, 0);
    mysql_put_u16(w, (uint16_t)caps);
    mysql_put_u8(w, MYSQL_CHARSET_UTF8MB4);
    mysql_put_u16(w, MYSQL_SERVER_STATUS_AUTOCOMMIT);
    mysql_put_u16(w, (uint16_t)(caps >> 16));
    mysql_put_u8(w, 21);
    mysql_put_bytes(w, zeros, 10);
    mysql_put_bytes(w, ap->scramble + 8, 12);
    mysql_put_u8(w, 0);
    mysql_put_str0(w, NATIVE);
    mysql_pkt_end(w);
}

int admin_proto_init(struct admin_proto *ap, uint32_t id, const char *peer, bool tls_offered)
{
    memset(ap, 0, sizeof(*ap));
    mysql_wbuf_init(&ap->out, ADMIN_OUT_LIMIT);
    ap->tls_offered = tls_offered;
    ap->client.id = id;
    snprintf(ap->client.peer, sizeof(ap->client.peer), "%s", peer);
    if (RAND_bytes(ap->scramble, sizeof(ap->scramble)) != 1)
        return -1;
    /* Printable, never NUL: some clients treat the nonce as a C string. */
    for (size_t i = 0; i < sizeof(ap->scramble); i++)
        ap->scramble[i] = (uint8_t)(33 + ap->scramble[i] % 94);
    if (!(ap->in = malloc(ADMIN_MAX_PACKET + MYSQL_HEADER_LEN)))
        return -1;
    greet(ap);
    return ap->out.failed ? -1 : 0;
}

void admin_proto_fini(struct admin_proto *ap)
{
    mysql_wbuf_free(&ap->out);
    free(ap->in);
    ap->in = NULL;
}

void admin_proto_tls_started(struct admin_proto *ap)
{
    ap->want_tls = false;
    ap->tls = true;
}

/* The account USER logs in as, NULL if none; sets READONLY. */
static const struct conf_admin_user *account(const char *user, bool *readonly)
{
    const struct conf_admin *a = aconf ? &aconf->admin : NULL;

    if (!a || !a->enabled)
        return NULL;
    *readonly = false;
    if (!strcmp(user, a->user.name))
        return &a->user;
    *readonly = true;
    if (a->has_ro && !strcmp(user, a->ro.name))
        return &a->ro;
    return NULL;
}

static int deny_access(struct admin_proto *ap, bool with_password)
{
    char msg[200], host[80];

    snprintf(host, sizeof(host), "%s", ap->client.peer);
    if (strrchr(host, ':'))
        *strrchr(host, ':') = '\0';
    snprintf(msg, sizeof(msg), "Access denied for user '%s'@'%s' (using password: %s)",
             ap->client.user, host, with_password ? "YES" : "NO");
    log_info("admin: %s", msg);
    return fatal(ap, ER_ACCESS_DENIED, "28000", msg);
}

static int logged_in(struct admin_proto *ap)
{
    ap->phase = AP_COMMAND;
    send_ok(ap);
    log_info("admin: %s logged in from %s%s%s", ap->client.user, ap->client.peer,
             ap->tls ? " over TLS" : "", ap->client.readonly ? " (read-only)" : "");
    return 0;
}

/* Auth switch request: answer again with PLUGIN over our nonce. */
static int switch_plugin(struct admin_proto *ap, const char *plugin)
{
    ap->phase = AP_AUTH_SWITCH;
    ap->switched_to = !strcmp(plugin, SHA2) ? SHA2 : NATIVE;
    mysql_pkt_begin(&ap->out, ap->seq++);
    mysql_put_u8(&ap->out, 0xfe);
    mysql_put_str0(&ap->out, plugin);
    mysql_put_bytes(&ap->out, ap->scramble, sizeof(ap->scramble));
    mysql_put_u8(&ap->out, 0);
    mysql_pkt_end(&ap->out);
    return 0;
}

/* Check the auth response RESP of plugin PLUGIN; switch plugins when it is another. */
static int authenticate(struct admin_proto *ap, const char *plugin, const uint8_t *resp, size_t len)
{
    bool ro = false;
    const struct conf_admin_user *u = account(ap->client.user, &ro);
    static const uint8_t fast_ok[] = {0x01, 0x03}, full_auth[] = {0x01, 0x04};

    ap->client.readonly = ro;
    if (!strcmp(plugin, NATIVE)) {
        if (!u || !admin_native_ok(u->password, ap->scramble, resp, len))
            return deny_access(ap, len > 0);
        return logged_in(ap);
    }
    if (!strcmp(plugin, SHA2) && len == 0 && ap->phase == AP_HANDSHAKE)
        return switch_plugin(ap, SHA2); /* the client waits for our nonce */
    if (!strcmp(plugin, SHA2)) {
        if (u && admin_sha2_ok(u->password, ap->scramble, resp, len)) {
            mysql_pkt_begin(&ap->out, ap->seq++);
            mysql_put_bytes(&ap->out, fast_ok, sizeof(fast_ok));
            mysql_pkt_end(&ap->out);
            return logged_in(ap);
        }
        if (!ap->tls || len == 0)
            return deny_access(ap, len > 0);
        /* Over TLS the password itself may come: full authentication. */
        ap->phase = AP_SHA2_FULL;
        mysql_pkt_begin(&ap->out, ap->seq++);
        mysql_put_bytes(&ap->out, full_auth, sizeof(full_auth));
        mysql_pkt_end(&ap->out);
        return 0;
    }
    if (ap->phase == AP_AUTH_SWITCH)
        return deny_access(ap, len > 0);
    /* Another plugin (ed25519, clear password, ...): ask for the native scramble. */
    return switch_plugin(ap, NATIVE);
}

/* A NUL-terminated string at *P (before END), copied into BUF; -1 if unterminated. */
static int get_str0(const uint8_t **p, const uint8_t *end, char *buf, size_t len)
{
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    size_t n;

    if (!nul)
        return -1;
    n = (size_t)(nul - *p);
    if (n >= len)
        return -1;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = nul + 1;
    return 0;
}

/* HandshakeResponse41, or the SSL request that comes first on a TLS connection. */
static int handshake_response(struct admin_proto *ap, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len, *resp;
    uint32_t caps;
    uint64_t rlen;
    char plugin[64] = NATIVE, db[CONF_NAME_MAX + 1] = "";
    size_t n;

    if (len < 32)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake");
    caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (!(caps & MYSQL_CLIENT_PROTOCOL_41))
        return fatal(ap, ER_NOT_SUPPORTED_AUTH, "08004",
                     "Client does not support the 4.1 protocol; upgrade the MySQL client");
    ap->caps = caps & (ADMIN_CAPS | MYSQL_CLIENT_SSL);
    if ((caps & MYSQL_CLIENT_SSL) && !ap->tls) {
        if (!ap->tls_offered || len != 32)
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: TLS is not offered here");
        ap->want_tls = true;
        return 0;
    }
    if (ap->tls_offered && !ap->tls && len == 32)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake");
    p += 32;
    if (get_str0(&p, end, ap->client.user, sizeof(ap->client.user)) < 0)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: user name");
    if (caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC) {
        if (!(n = mysql_get_lenenc(p, (size_t)(end - p), &rlen)))
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: auth response");
        p += n;
    } else if (caps & MYSQL_CLIENT_SECURE_CONNECTION) {
        if (p >= end)
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: auth response");
        rlen = *p++;
    } else {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        if (!nul)
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: auth response");
        rlen = (uint64_t)(nul - p);
    }
    if (rlen > (uint64_t)(end - p))
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: auth response");
    resp = p;
    p += rlen;
    if (!(caps & MYSQL_CLIENT_PLUGIN_AUTH_LENENC) && !(caps & MYSQL_CLIENT_SECURE_CONNECTION) &&
        p < end)
        p++; /* its NUL */
    if ((caps & MYSQL_CLIENT_CONNECT_WITH_DB) && p < end && get_str0(&p, end, db, sizeof(db)) < 0)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: database name");
    if ((caps & MYSQL_CLIENT_PLUGIN_AUTH) && p < end &&
        get_str0(&p, end, plugin, sizeof(plugin)) < 0)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: plugin name");
    /* Connection attributes follow; nothing here needs them. */
    if (db[0] && strcasecmp(db, "rebound") && strcasecmp(db, "main")) {
        char msg[CONF_NAME_MAX + 40];
        snprintf(msg, sizeof(msg), "Unknown database '%s'", db);
        return fatal(ap, 1049, "42000", msg);
    }
    if (db[0])
        snprintf(ap->client.db, sizeof(ap->client.db), "rebound");
    return authenticate(ap, plugin, resp, (size_t)rlen);
}

/* caching_sha2 full authentication over TLS: the password, NUL-terminated. */
static int sha2_password(struct admin_proto *ap, const uint8_t *p, size_t len)
{
    bool ro = false;
    const struct conf_admin_user *u = account(ap->client.user, &ro);
    size_t n = len && p[len - 1] == 0 ? len - 1 : len;

    if (!u || n != strlen(u->password) || CRYPTO_memcmp(p, u->password, n) != 0)
        return deny_access(ap, n > 0);
    return logged_in(ap);
}

/* ---- answering statements: the sink that encodes result sets ---- */

/* An admin_sink writing MySQL text result sets into a protocol's output. */
struct wire_sink {
    struct admin_sink base;
    struct admin_proto *ap;
};

static struct admin_proto *sink_proto(struct admin_sink *k)
{
    return ((struct wire_sink *)k)->ap;
}

/* Too large for one answer (or for the buffer)? */
static bool too_large(const struct admin_proto *ap)
{
    return ap->out.failed || ap->out.len - ap->result_start > ADMIN_RESULT_MAX;
}

static int sink_columns(struct admin_sink *k, int n, const char *const *names,
                        const enum admin_type *types)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_pkt_begin(&ap->out, ap->seq++);
    mysql_put_lenenc(&ap->out, (uint64_t)n);
    mysql_pkt_end(&ap->out);
    for (int i = 0; i < n; i++) {
        if (types[i] == ADMIN_T_INT)
            mysql_column_def(&ap->out, ap->seq++, "rebound", "", names[i], MYSQL_TYPE_LONGLONG,
                             MYSQL_CHARSET_BINARY, 21, MYSQL_NUM_FLAG | MYSQL_BINARY_FLAG, 0);
        else if (types[i] == ADMIN_T_REAL)
            mysql_column_def(&ap->out, ap->seq++, "rebound", "", names[i], MYSQL_TYPE_DOUBLE,
                             MYSQL_CHARSET_BINARY, 22, MYSQL_NUM_FLAG | MYSQL_BINARY_FLAG, 31);
        else
            mysql_column_def(&ap->out, ap->seq++, "rebound", "", names[i], MYSQL_TYPE_VAR_STRING,
                             MYSQL_CHARSET_UTF8MB4, 1024, 0, 0);
    }
    if (!deprecate_eof(ap))
        mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, false);
    return too_large(ap) ? -1 : 0;
}

static int sink_row(struct admin_sink *k, int n, const char *const *vals, const size_t *lens)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_pkt_begin(&ap->out, ap->seq++);
    for (int i = 0; i < n; i++) {
        if (vals[i])
            mysql_put_lenenc_str(&ap->out, vals[i], lens[i]);
        else
            mysql_put_u8(&ap->out, 0xfb);
    }
    mysql_pkt_end(&ap->out);
    return too_large(ap) ? -1 : 0;
}

static void sink_end(struct admin_sink *k)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, deprecate_eof(ap));
}

static void sink_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_ok_packet(&ap->out, ap->seq++, affected, 0, MYSQL_SERVER_STATUS_AUTOCOMMIT, 0, info);
}

/* An error replaces whatever part of the answer was written. */
static void sink_error(struct admin_sink *k, uint16_t code, const char *sqlstate, const char *msg)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_wbuf_truncate(&ap->out, ap->result_start);
    ap->seq = ap->result_seq;
    send_err(ap, code, sqlstate, msg);
}

/* COM_FIELD_LIST: one column definition per column, with a NULL default. */
static void field_def(void *arg, const char *name, enum admin_type type)
{
    struct admin_proto *ap = arg;
    uint8_t t = type == ADMIN_T_INT    ? MYSQL_TYPE_LONGLONG
                : type == ADMIN_T_REAL ? MYSQL_TYPE_DOUBLE
                                       : MYSQL_TYPE_VAR_STRING;

    mysql_column_def(&ap->out, ap->seq++, "rebound", "", name, t,
                     type == ADMIN_T_TEXT ? MYSQL_CHARSET_UTF8MB4 : MYSQL_CHARSET_BINARY, 1024, 0,
                     0);
    mysql_put_u8(&ap->out, 0xfb);
    mysql_pkt_end(&ap->out);
}

static void field_list(struct admin_proto *ap, const uint8_t *p, size_t len)
{
    char table[CONF_NAME_MAX];
    size_t n = memchr(p, 0, len) ? (size_t)((const uint8_t *)memchr(p, 0, len) - p) : len;

    snprintf(table, sizeof(table), "%.*s", (int)(n < sizeof(table) ? n : sizeof(table) - 1),
             (const char *)p);
    if (admin_sql_table_columns(table, field_def, ap) < 0) {
        char msg[CONF_NAME_MAX + 40];
        snprintf(msg, sizeof(msg), "Table 'rebound.%s' doesn't exist", table);
        send_err(ap, 1146, "42S02", msg);
        return;
    }
    mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, deprecate_eof(ap));
}

/* COM_STATISTICS: one line of text, as mysqladmin status shows it. */
static void statistics(struct admin_proto *ap)
{
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "Uptime: %llu  Admin connections: %u  Queries: %llu",
                     (unsigned long long)(mono_ms() / 1000), admin_connections(),
                     (unsigned long long)admin_sql_queries());

    mysql_pkt_begin(&ap->out, ap->seq++);
    mysql_put_bytes(&ap->out, buf, (size_t)n);
    mysql_pkt_end(&ap->out);
}

/* One command packet. */
static int command(struct admin_proto *ap, const uint8_t *p, size_t len)
{
    struct wire_sink sink = {{sink_columns, sink_row, sink_end, sink_ok, sink_error}, ap};

    ap->seq = 1;
    ap->result_start = ap->out.len;
    ap->result_seq = 1;
    if (len == 0)
        return fatal(ap, ER_UNKNOWN_COM, "08S01", "empty command packet");
    switch (p[0]) {
    case 0x01: /* COM_QUIT */
        ap->phase = AP_CLOSED;
        return -1;
    case 0x02: /* COM_INIT_DB */
        admin_sql_use(&ap->client, (const char *)p + 1, len - 1, &sink.base);
        break;
    case 0x03: /* COM_QUERY */
        admin_sql_exec(&ap->client, (const char *)p + 1, len - 1, &sink.base);
        break;
    case 0x04: /* COM_FIELD_LIST */
        field_list(ap, p + 1, len - 1);
        break;
    case 0x09: /* COM_STATISTICS */
        statistics(ap);
        break;
    case 0x0e: /* COM_PING */
    case 0x1f: /* COM_RESET_CONNECTION */
        send_ok(ap);
        break;
    case 0x16: /* COM_STMT_PREPARE */
    case 0x17: /* COM_STMT_EXECUTE */
    case 0x18: /* COM_STMT_SEND_LONG_DATA */
    case 0x1a: /* COM_STMT_RESET */
    case 0x1c: /* COM_STMT_FETCH */
        send_err(ap, ER_UNSUPPORTED_PS, "HY000",
                 "Prepared statements are not supported on the admin port; use text queries");
        break;
    case 0x19: /* COM_STMT_CLOSE: no answer */
        break;
    default: {
        char msg[80];
        snprintf(msg, sizeof(msg), "Unknown or unsupported command 0x%02x on the admin port", p[0]);
        send_err(ap, ER_UNKNOWN_COM, "08S01", msg);
    }
    }
    if (ap->out.failed) { /* even the error did not fit: give up on this client */
        mysql_wbuf_truncate(&ap->out, ap->result_start);
        return fatal(ap, ER_NET_PACKET_TOO_LARGE, "08S01", "answer too large");
    }
    return 0;
}

/* One whole packet from the client, by phase. */
static int packet(struct admin_proto *ap, const uint8_t *p, size_t len, uint8_t seq)
{
    if (ap->phase != AP_COMMAND)
        ap->seq = (uint8_t)(seq + 1);
    switch (ap->phase) {
    case AP_HANDSHAKE:
        return handshake_response(ap, p, len);
    case AP_AUTH_SWITCH:
        return authenticate(ap, ap->switched_to, p, len);
    case AP_SHA2_FULL:
        return sha2_password(ap, p, len);
    case AP_COMMAND:
        return command(ap, p, len);
    case AP_CLOSED:
        break;
    }
    return -1;
}

int admin_proto_input(struct admin_proto *ap, const uint8_t *data, size_t n)
{
    const size_t cap = ADMIN_MAX_PACKET + MYSQL_HEADER_LEN;

    for (;;) {
        size_t take = n < cap - ap->in_len ? n : cap - ap->in_len;
        size_t off = 0;

        if (ap->phase == AP_CLOSED)
            return -1;
        memcpy(ap->in + ap->in_len, data, take);
        ap->in_len += take;
        data += take;
        n -= take;
        /* Every whole packet held. */
        while (ap->in_len - off >= MYSQL_HEADER_LEN && !ap->want_tls) {
            uint32_t plen = mysql_payload_len(ap->in + off);
            if (plen > ADMIN_MAX_PACKET) {
                ap->seq = (uint8_t)(ap->in[off + 3] + 1);
                return fatal(ap, ER_NET_PACKET_TOO_LARGE, "08S01",
                             "Got a packet bigger than 'max_allowed_packet' bytes");
            }
            if (ap->in_len - off < MYSQL_HEADER_LEN + plen)
                break;
            if (packet(ap, ap->in + off + MYSQL_HEADER_LEN, plen, ap->in[off + 3]) < 0)
                return -1;
            off += MYSQL_HEADER_LEN + plen;
        }
        memmove(ap->in, ap->in + off, ap->in_len - off);
        ap->in_len -= off;
        if (ap->want_tls && (n || ap->in_len))
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: data after the SSL request");
        if (!n)
            return 0;
    }
}

/* ---- connections ---- */

/* One admin client on the socket: protocol state plus the socket (and TLS) around it. */
struct admin_conn {
    LIST_ENTRY(admin_conn) link;
    int fd;
    ev_io rd, wr;
    ev_timer timer; /* login, then idle, timeout */
    double last;    /* ev_now() of the last command */
    SSL *ssl;
    bool handshaking; /* TLS handshake in progress */
    struct admin_proto proto;
};

static LIST_HEAD(, admin_conn) conns = LIST_HEAD_INITIALIZER(conns);
static unsigned nconns;
static uint64_t nconns_total;
static uint32_t next_conn_id = 1;
static int listen_fd = -1;
static struct acceptor acc;
static SSL_CTX *ssl_ctx;

unsigned admin_connections(void)
{
    return nconns;
}

uint64_t admin_connections_total(void)
{
    return nconns_total;
}

/* The one teardown of an admin connection. */
static void conn_close(struct admin_conn *c, const char *why)
{
    log_debug("admin: connection %u from %s closed: %s", c->proto.client.id, c->proto.client.peer,
              why);
    ev_io_stop(rb_loop, &c->rd);
    ev_io_stop(rb_loop, &c->wr);
    ev_timer_stop(rb_loop, &c->timer);
    if (c->ssl) {
        if (!c->handshaking)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    LIST_REMOVE(c, link);
    admin_proto_fini(&c->proto);
    free(c);
    nconns--;
}

/* Send what the protocol wrote. Returns -1 if the connection was closed. */
static int conn_flush(struct admin_conn *c)
{
    struct mysql_wbuf *out = &c->proto.out;

    while (out->len) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_write(c->ssl, out->data, (int)(out->len > 1 << 30 ? 1 << 30 : out->len));
            int e = r > 0 ? 0 : SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                break;
            n = r > 0 ? r : -1;
        } else {
            n = write(c->fd, out->data, out->len);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
        }
        if (n <= 0) {
            conn_close(c, "write error");
            return -1;
        }
        mysql_wbuf_consume(out, (size_t)n);
    }
    if (out->len) {
        ev_io_start(rb_loop, &c->wr);
        ev_io_stop(rb_loop, &c->rd); /* no new commands while answers wait */
        return 0;
    }
    ev_io_stop(rb_loop, &c->wr);
    if (c->proto.phase == AP_CLOSED) {
        conn_close(c, "closed");
        return -1;
    }
    if (!c->handshaking)
        ev_io_start(rb_loop, &c->rd);
    return 0;
}

static void conn_read(struct admin_conn *c);

/* Drive the TLS handshake; once done, let the protocol go on. */
static void conn_tls(struct admin_conn *c)
{
    int r = SSL_accept(c->ssl), e;

    if (r == 1) {
        c->handshaking = false;
        admin_proto_tls_started(&c->proto);
        ev_io_stop(rb_loop, &c->wr);
        ev_io_start(rb_loop, &c->rd);
        conn_read(c); /* the client may have written already */
        return;
    }
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        ev_io_stop(rb_loop, &c->wr);
        ev_io_start(rb_loop, &c->rd);
    } else if (e == SSL_ERROR_WANT_WRITE) {
        ev_io_start(rb_loop, &c->wr);
    } else {
        char msg[200];
        log_info("admin: TLS handshake with %s failed: %s", c->proto.client.peer,
                 tls_error(msg, sizeof(msg), "protocol error"));
        conn_close(c, "TLS handshake failed");
    }
}

static void start_tls(struct admin_conn *c)
{
    if (!ssl_ctx || !(c->ssl = SSL_new(ssl_ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
        conn_close(c, "cannot start TLS");
        return;
    }
    c->handshaking = true;
    conn_tls(c);
}

/* Read what is there (bounded per call) and feed the protocol. */
static void conn_read(struct admin_conn *c)
{
    uint8_t buf[16384];

    for (int i = 0; i < 4; i++) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, buf, sizeof(buf));
            int e = r > 0 ? 0 : SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            n = r > 0 ? r : 0;
        } else {
            n = read(c->fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                break;
        }
        if (n <= 0) {
            conn_close(c, n == 0 ? "client closed" : "read error");
            return;
        }
        c->last = ev_now(rb_loop);
        if (admin_proto_input(&c->proto, buf, (size_t)n) < 0)
            break;
        if (c->proto.want_tls) {
            if (conn_flush(c) == 0)
                start_tls(c);
            return;
        }
        if (c->proto.out.len)
            break;
    }
    conn_flush(c);
}

static void rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, rd);
    (void)loop;
    (void)revents;

    if (c->handshaking)
        conn_tls(c);
    else
        conn_read(c);
}

static void wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, wr);
    (void)loop;
    (void)revents;

    if (c->handshaking)
        conn_tls(c);
    else
        conn_flush(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, timer);
    double now = ev_now(loop);
    (void)revents;

    if (c->proto.phase != AP_COMMAND) {
        conn_close(c, "login timeout");
        return;
    }
    if (now - c->last >= ADMIN_IDLE_TIMEOUT) {
        conn_close(c, "idle timeout");
        return;
    }
    ev_timer_set(w, c->last + ADMIN_IDLE_TIMEOUT - now, 0);
    ev_timer_start(loop, w);
}

static void peer_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
    }
}

/* Past ADMIN_MAX_CONNS: tell the client why, as a server would, and close. */
static void refuse(int fd)
{
    uint8_t pkt[128];
    size_t n = mysql_err_packet(pkt, sizeof(pkt), 0, ER_CON_COUNT, NULL,
                                "Too many connections to the admin port");

    if (n && write(fd, pkt, n) < 0)
        log_debug("admin: cannot refuse a connection: %s", strerror(errno));
    close(fd);
}

/* An operator connected: greet, with a login deadline. */
static bool on_accept(struct acceptor *a, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct sockaddr_storage ss = {0};
    struct admin_conn *c;
    char name[80];
    (void)a;

    if (nconns >= ADMIN_MAX_CONNS) {
        refuse(fd);
        return true;
    }
    memcpy(&ss, peer, len < sizeof(ss) ? len : sizeof(ss));
    peer_str(&ss, name, sizeof(name));
    if (!(c = calloc(1, sizeof(*c)))) {
        close(fd);
        return true;
    }
    if (admin_proto_init(&c->proto, next_conn_id++, name, ssl_ctx != NULL) < 0) {
        admin_proto_fini(&c->proto);
        free(c);
        close(fd);
        return true;
    }
    c->fd = fd;
    c->last = ev_now(rb_loop);
    ev_io_init(&c->rd, rd_cb, fd, EV_READ);
    ev_io_init(&c->wr, wr_cb, fd, EV_WRITE);
    ev_timer_init(&c->timer, timer_cb, ADMIN_AUTH_TIMEOUT, 0);
    ev_set_priority(&c->rd, EV_MINPRI);
    ev_set_priority(&c->wr, EV_MINPRI);
    ev_set_priority(&c->timer, EV_MINPRI);
    ev_timer_start(rb_loop, &c->timer);
    LIST_INSERT_HEAD(&conns, c, link);
    nconns++;
    nconns_total++;
    conn_flush(c); /* the greeting */
    return true;
}

int admin_init(const struct conf *conf)
{
    aconf = conf;
    return admin_sql_open(conf);
}

int admin_start(const struct conf *conf)
{
    const struct conf_admin *a = &conf->admin;
    char err[512];
    int one = 1;

    if (admin_init(conf) < 0)
        return -1;
    if (!a->enabled)
        return 0;
    if (a->ssl_crt[0] && !(ssl_ctx = tls_server_ctx(a->ssl_crt, a->ssl_key, err, sizeof(err)))) {
        log_err("admin-ssl: %s", err);
        return -1;
    }
    listen_fd = socket(a->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        log_err("admin: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listen_fd, (const struct sockaddr *)&a->addr.sa, a->addr.len) < 0 ||
        listen(listen_fd, 64) < 0) {
        log_err("admin: cannot bind %s: %s", a->addr.text, strerror(errno));
        return -1;
    }
    acceptor_init(&acc, listen_fd, EV_MINPRI, 16, "admin", on_accept);
    acceptor_start(&acc);
    log_info("admin: accepting on %s%s", a->addr.text, ssl_ctx ? " (TLS offered)" : "");
    return 0;
}

void admin_stop(void)
{
    while (!LIST_EMPTY(&conns))
        conn_close(LIST_FIRST(&conns), "shutting down");
    if (listen_fd >= 0) {
        acceptor_stop(&acc);
        close(listen_fd);
        listen_fd = -1;
    }
    if (ssl_ctx)
        SSL_CTX_free(ssl_ctx);
    ssl_ctx = NULL;
    admin_sql_close();
    aconf = NULL;
}

void admin_reconf(const struct conf *conf)
{
    /* The port stays where it was started; accounts and views follow CONF. */
    if (!aconf)
        return;
    aconf = conf;
    admin_sql_reconf(conf);
}
