/* admin.c - the admin port: a MySQL-protocol server for `mysql`/`mariadb` clients.
 *
 * Two layers. struct admin_proto is the protocol without a socket: the greeting, the
 * handshake response (optionally after an SSL request), authentication with
 * mysql_native_password or caching_sha2_password (fast path; full authentication only
 * over TLS), auth switch for other plugins, then commands, whose SQL runs in
 * admin_sql.c and comes back through an admin_sink that encodes result sets (prepared
 * statements, COM_STMT_*, are admin_stmt.c's, answering into the same output). Bytes in,
 * bytes out: the unit tests and the fuzzer drive it directly.
 *
 * struct admin_conn moves those bytes through its struct conn (conn.h): a non-blocking
 * socket, and TLS over it once started. Every watcher runs at EV_MINPRI, below client traffic. The
 * work itself (a packet, or a slice of a statement: admin_sql.h) is done one piece per loop
 * iteration for all connections together, in turn (the `ready` queue and its zero-delay timer), so
 * pipelined statements or many busy connections never hold the loop for long. A connection
 * whose unsent output reaches ADMIN_OUT_CAP is neither read nor worked for until it drains.
 * Until it has logged in, a connection is pre-auth (preauth.h): a deadline from accept, a
 * cap per source address and one for the port, where the oldest makes room for the newest.
 * A client that sends an oversized or malformed packet gets an ERR and is closed.
 *
 *   socket --read--> admin_conn --feed--> admin_proto --work--> admin_sql_start / _resume
 *   socket <--write-- admin_conn <------ ap->out <----- ap->sink <------------- admin_sql
 *
 * Thread: rb_loop (the control thread) only.
 */
#include "admin.h"

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
#include "admin_dialect.h"
#include "admin_views.h"
#include "admin_wire.h"
#include "conn.h"
#include "log.h"
#include "preauth.h"
#include "tls.h"

/* Error numbers of the handshake and command phases. */
#define ER_CON_COUNT            1040
#define ER_HANDSHAKE            1043
#define ER_ACCESS_DENIED        1045
#define ER_UNKNOWN_COM          1047
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_READ_INTERRUPTED 1159
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
static unsigned nlogged;          /* connections logged in (the connection layer counts them) */
static struct log_rate full_rate; /* logins refused at ADMIN_MAX_LOGGED_IN */

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

static void sink_init(struct admin_sink *k);

int admin_proto_init(struct admin_proto *ap, uint32_t id, const char *peer, bool tls_offered)
{
    memset(ap, 0, sizeof(*ap));
    mysql_wbuf_init(&ap->out, ADMIN_OUT_LIMIT);
    sink_init(&ap->sink);
    admin_stmts_init(&ap->stmts, ap);
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
    admin_sql_abort(ap->run);
    ap->run = NULL;
    admin_stmts_close_all(&ap->stmts);
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
    if (nlogged >= ADMIN_MAX_LOGGED_IN) {
        unsigned quiet;
        if (log_rate_allow(&full_rate, &quiet))
            log_warn("admin: login of %s from %s refused: %d connections are logged in "
                     "already; %u similar not logged",
                     ap->client.user, ap->client.peer, ADMIN_MAX_LOGGED_IN, quiet);
        return fatal(ap, ER_CON_COUNT, "08004", "Too many connections to the admin port");
    }
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
    ap->client.found_rows = caps & MYSQL_CLIENT_FOUND_ROWS;
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
    if (db[0] && !admin_dialect_database(db, strlen(db))) {
        char msg[CONF_NAME_MAX + 40];
        snprintf(msg, sizeof(msg), "Unknown database '%s'", db);
        return fatal(ap, 1049, "42000", msg);
    }
    if (db[0])
        snprintf(ap->client.db, sizeof(ap->client.db), "%s",
                 admin_dialect_database(db, strlen(db)));
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

/* ap->sink writes MySQL text result sets into the protocol's output. */
static struct admin_proto *sink_proto(struct admin_sink *k)
{
    return container_of(k, struct admin_proto, sink);
}

/* Has the answer written since the command began grown too large for one answer? */
static bool answer_too_large(const struct admin_proto *ap)
{
    return admin_wire_too_large(&ap->out, ap->result_start, ap->result_sent);
}

static int sink_columns(struct admin_sink *k, int n, const char *const *names,
                        const enum admin_type *types)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_pkt_begin(&ap->out, ap->seq++);
    mysql_put_lenenc(&ap->out, (uint64_t)n);
    mysql_pkt_end(&ap->out);
    for (int i = 0; i < n; i++)
        admin_wire_column_def(&ap->out, ap->seq++, names[i], types[i]);
    if (!admin_wire_deprecate_eof(ap->caps))
        mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, false);
    return answer_too_large(ap) ? -1 : 0;
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
    return answer_too_large(ap) ? -1 : 0;
}

static void sink_end(struct admin_sink *k)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT,
                     admin_wire_deprecate_eof(ap->caps));
}

static void sink_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    struct admin_proto *ap = sink_proto(k);

    mysql_ok_packet(&ap->out, ap->seq++, affected, 0, MYSQL_SERVER_STATUS_AUTOCOMMIT, 0, info);
}

/* An error replaces the answer written so far, or when part of it is sent already (a
 * long result set), comes in place of the next row, as MySQL does. */
static void sink_error(struct admin_sink *k, uint16_t code, const char *sqlstate, const char *msg)
{
    struct admin_proto *ap = sink_proto(k);

    if (!ap->result_sent) {
        mysql_wbuf_truncate(&ap->out, ap->result_start);
        ap->seq = ap->result_seq;
    }
    send_err(ap, code, sqlstate, msg);
}

/* Enough unsent output: a statement pauses between rows. */
static bool sink_full(struct admin_sink *k)
{
    return sink_proto(k)->out.len >= ADMIN_OUT_CAP;
}

static void sink_init(struct admin_sink *k)
{
    *k = (struct admin_sink){
        .columns = sink_columns,
        .row = sink_row,
        .end = sink_end,
        .ok = sink_ok,
        .error = sink_error,
        .full = sink_full,
        .typed_row = NULL, /* text rows: row() */
    };
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
    mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT,
                     admin_wire_deprecate_eof(ap->caps));
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

/* After a piece of an answer: 0, or -1 if even its error did not fit (out of memory). */
static int answer_fits(struct admin_proto *ap)
{
    if (!ap->out.failed)
        return 0;
    admin_sql_abort(ap->run);
    ap->run = NULL;
    mysql_wbuf_truncate(&ap->out, ap->result_start);
    return fatal(ap, ER_NET_PACKET_TOO_LARGE, "08S01", "answer too large");
}

/* One command packet. A statement may go on in later pieces of work (ap->run). */
static int command(struct admin_proto *ap, const uint8_t *p, size_t len)
{
    ap->seq = 1;
    ap->result_start = ap->out.len;
    ap->result_sent = 0;
    ap->result_seq = 1;
    if (len == 0)
        return fatal(ap, ER_UNKNOWN_COM, "08S01", "empty command packet");
    switch (p[0]) {
    case 0x01: /* COM_QUIT */
        ap->phase = AP_CLOSED;
        return -1;
    case 0x02: /* COM_INIT_DB */
        admin_sql_use(&ap->client, (const char *)p + 1, len - 1, &ap->sink);
        break;
    case 0x03: /* COM_QUERY */
        ap->run = admin_sql_start(&ap->client, (const char *)p + 1, len - 1, &ap->sink);
        break;
    case 0x04: /* COM_FIELD_LIST */
        field_list(ap, p + 1, len - 1);
        break;
    case 0x09: /* COM_STATISTICS */
        statistics(ap);
        break;
    case 0x0e: /* COM_PING */
        send_ok(ap);
        break;
    case 0x1f: /* COM_RESET_CONNECTION: as MySQL does, it closes the prepared statements */
        admin_stmts_close_all(&ap->stmts);
        send_ok(ap);
        break;
    case 0x16: /* COM_STMT_PREPARE */
    case 0x17: /* COM_STMT_EXECUTE */
    case 0x18: /* COM_STMT_SEND_LONG_DATA: no answer */
    case 0x19: /* COM_STMT_CLOSE: no answer */
    case 0x1a: /* COM_STMT_RESET */
    case 0x1c: /* COM_STMT_FETCH */
        ap->run = admin_stmt_command(&ap->stmts, p, len);
        break;
    default: {
        char msg[80];
        snprintf(msg, sizeof(msg), "Unknown or unsupported command 0x%02x on the admin port", p[0]);
        send_err(ap, ER_UNKNOWN_COM, "08S01", msg);
    }
    }
    return answer_fits(ap);
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

/* The payload length of the packet whose header is held, or -1 if none is. */
static long held_packet(const struct admin_proto *ap)
{
    return ap->in_len >= MYSQL_HEADER_LEN ? (long)mysql_payload_len(ap->in) : -1;
}

size_t admin_proto_room(const struct admin_proto *ap)
{
    size_t room = ADMIN_MAX_PACKET + MYSQL_HEADER_LEN - ap->in_len;
    long plen = held_packet(ap);
    size_t want;

    if (!ap->tls_offered || ap->tls || ap->phase != AP_HANDSHAKE)
        return room;
    /* The first packet may be an SSL request, and the client's TLS handshake follows it
     * without waiting: not one byte past that packet, those are OpenSSL's to read. */
    want = plen < 0 ? MYSQL_HEADER_LEN : MYSQL_HEADER_LEN + (size_t)plen;
    if (want <= ap->in_len)
        return 0;
    return want - ap->in_len < room ? want - ap->in_len : room;
}

void admin_proto_feed(struct admin_proto *ap, const uint8_t *data, size_t n)
{
    size_t room = admin_proto_room(ap);

    if (n > room) /* the caller asked for no more than the room */
        n = room;
    memcpy(ap->in + ap->in_len, data, n);
    ap->in_len += n;
}

bool admin_proto_pending(const struct admin_proto *ap)
{
    long plen = held_packet(ap);

    if (ap->phase == AP_CLOSED || ap->want_tls)
        return false;
    return ap->run || (plen >= 0 &&
                       (plen > ADMIN_MAX_PACKET || ap->in_len >= MYSQL_HEADER_LEN + (size_t)plen));
}

int admin_proto_work(struct admin_proto *ap)
{
    long plen;
    int rc;

    if (ap->phase == AP_CLOSED)
        return -1;
    if (ap->run) {
        if (admin_sql_resume(ap->run))
            ap->run = NULL;
        return answer_fits(ap);
    }
    if (!admin_proto_pending(ap))
        return 0;
    if ((plen = held_packet(ap)) > ADMIN_MAX_PACKET) {
        ap->seq = (uint8_t)(ap->in[3] + 1);
        return fatal(ap, ER_NET_PACKET_TOO_LARGE, "08S01",
                     "Got a packet bigger than 'max_allowed_packet' bytes");
    }
    rc = packet(ap, ap->in + MYSQL_HEADER_LEN, (size_t)plen, ap->in[3]);
    ap->in_len -= MYSQL_HEADER_LEN + (size_t)plen;
    memmove(ap->in, ap->in + MYSQL_HEADER_LEN + plen, ap->in_len);
    if (rc < 0)
        return -1;
    if (ap->want_tls && ap->in_len)
        return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: data after the SSL request");
    return 0;
}

void admin_proto_sent(struct admin_proto *ap, size_t n)
{
    if (n > ap->result_start) {
        ap->result_sent += n - ap->result_start;
        ap->result_start = 0;
    } else {
        ap->result_start -= n;
    }
    mysql_wbuf_consume(&ap->out, n);
}

int admin_proto_input(struct admin_proto *ap, const uint8_t *data, size_t n)
{
    for (;;) {
        size_t take = n < admin_proto_room(ap) ? n : admin_proto_room(ap);

        admin_proto_feed(ap, data, take);
        data += take;
        n -= take;
        while (admin_proto_pending(ap))
            if (admin_proto_work(ap) < 0)
                return -1;
        if (ap->phase == AP_CLOSED)
            return -1;
        if (ap->want_tls && n)
            return fatal(ap, ER_HANDSHAKE, "08S01", "Bad handshake: data after the SSL request");
        if (!n || ap->want_tls)
            return 0;
    }
}

/* ---- connections ---- */

/* One admin client on the socket: protocol state plus the socket (and TLS) around it. */
struct admin_conn {
    LIST_ENTRY(admin_conn) link;
    TAILQ_ENTRY(admin_conn) ready_link; /* in `ready` while queued */
    bool queued;
    bool logged;      /* counted in nlogged */
    struct conn conn; /* the socket, and TLS over it once started */
    /* The reading and the writing direction, each on the event its last operation waits
     * for (conn.want: TLS may read only once writable, or write only once readable). */
    ev_io rd, wr;
    ev_timer idle;     /* once logged in: ADMIN_IDLE_TIMEOUT without a command */
    double last;       /* ev_now() of the last bytes received */
    SSL_CTX *ssl_ctx;  /* the TLS context its greeting offered (a reference); NULL: no TLS */
    struct preauth pa; /* until logged in: the login deadline and the caps */
    struct admin_proto proto;
};

static LIST_HEAD(, admin_conn) conns = LIST_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, admin_conn) ready = TAILQ_HEAD_INITIALIZER(ready); /* have work, in turn */
static ev_timer work_timer;         /* zero delay: the next piece of work, one per loop iteration */
static struct preauth_port waiting; /* connections not logged in yet */
static unsigned nconns;
static uint64_t nconns_total;
static uint32_t next_conn_id = 1;
static int listen_fd = -1;
static struct acceptor acc;
static SSL_CTX *ssl_ctx; /* for new connections; each connection holds its own reference */

/* What a start or a reload brings, prepared beside the running port (a socket on a new
 * address, a new TLS context), then switched to, or dropped, as a whole. */
static struct {
    const struct conf *conf; /* the configuration prepared for; NULL when none */
    int fd;                  /* a socket on a new address; -1: keep the running one (if any) */
    SSL_CTX *ssl_ctx;        /* the TLS context for new connections from then on; NULL: none */
} staged = {.fd = -1};

unsigned admin_connections(void)
{
    return nconns;
}

uint64_t admin_connections_total(void)
{
    return nconns_total;
}

uint64_t admin_login_timeouts(void)
{
    return waiting.timeouts;
}

uint64_t admin_login_evictions(void)
{
    return waiting.evictions;
}

/* The one teardown of an admin connection. */
static void ac_close(struct admin_conn *c, const char *why)
{
    log_debug("admin: connection %u from %s closed: %s", c->proto.client.id, c->proto.client.peer,
              why);
    ev_io_stop(rb_loop, &c->rd);
    ev_io_stop(rb_loop, &c->wr);
    ev_timer_stop(rb_loop, &c->idle);
    preauth_leave(&c->pa);
    if (c->queued)
        TAILQ_REMOVE(&ready, c, ready_link);
    if (c->logged)
        nlogged--;
    if (c->conn.ssl) /* close_notify, once the handshake is done; a plain close says it all */
        conn_shutdown_write(&c->conn);
    conn_close(&c->conn);
    if (c->ssl_ctx)
        SSL_CTX_free(c->ssl_ctx);
    LIST_REMOVE(c, link);
    admin_proto_fini(&c->proto);
    free(c);
    nconns--;
}

/* Point W at EVENTS, the event its direction's last operation waits for; an active W stays
 * active. */
static void ac_aim(ev_io *w, int events)
{
    bool active = ev_is_active(w);

    if ((w->events & (EV_READ | EV_WRITE)) == events)
        return;
    if (active)
        ev_io_stop(rb_loop, w);
    ev_io_set(w, w->fd, events);
    if (active)
        ev_io_start(rb_loop, w);
}

/* C has work to do: queue it for the work timer (one piece per loop iteration). */
static void ac_queue(struct admin_conn *c)
{
    if (c->queued)
        return;
    TAILQ_INSERT_TAIL(&ready, c, ready_link);
    c->queued = true;
    if (!ev_is_active(&work_timer)) {
        ev_timer_set(&work_timer, 0, 0);
        ev_timer_start(rb_loop, &work_timer);
    }
}

/* Point C's watchers and its place in the queue at what it needs now: writing while output
 * waits; work while there is some and the output is no more than half ADMIN_OUT_CAP (a
 * statement pauses at the cap: each piece of work then sends a good part of it, however
 * slowly the client reads); reading only when there is nothing else to do for it. */
static void ac_update(struct admin_conn *c)
{
    struct admin_proto *ap = &c->proto;
    bool full = ap->out.len > ADMIN_OUT_CAP / 2;

    if (conn_handshaking(&c->conn))
        return;
    if (ap->out.len)
        ev_io_start(rb_loop, &c->wr);
    else
        ev_io_stop(rb_loop, &c->wr);
    if (ap->phase == AP_CLOSED || full || admin_proto_pending(ap)) {
        ev_io_stop(rb_loop, &c->rd);
        if (!full && admin_proto_pending(ap))
            ac_queue(c);
        return;
    }
    ev_io_start(rb_loop, &c->rd);
    if (conn_pending(&c->conn)) /* decrypted bytes that no readiness event will announce */
        ac_queue(c);
}

/* Send what the protocol wrote, as much as the socket takes. Returns -1 if the connection
 * was closed (write error, or done after a final answer). */
static int ac_flush(struct admin_conn *c)
{
    struct mysql_wbuf *out = &c->proto.out;

    while (out->len) {
        ssize_t n = conn_write(&c->conn, out->data, out->len);

        ac_aim(&c->wr, c->conn.want);
        if (n < 0 && conn_again())
            break;
        if (n <= 0) {
            ac_close(c, "write error");
            return -1;
        }
        admin_proto_sent(&c->proto, (size_t)n);
    }
    if (!out->len && out->cap > ADMIN_OUT_CAP) { /* one big answer: do not keep its buffer */
        mysql_wbuf_free(out);
        mysql_wbuf_init(out, ADMIN_OUT_LIMIT);
    }
    if (!out->len && c->proto.phase == AP_CLOSED) {
        ac_close(c, "closed");
        return -1;
    }
    ac_update(c);
    return 0;
}

/* Drive the TLS handshake, the read watcher on whatever it waits for; once done, let the
 * protocol go on. */
static void ac_handshake(struct admin_conn *c)
{
    enum conn_fail why;
    int r = conn_handshake(&c->conn, &why);

    if (r < 0) {
        log_info("admin: TLS handshake with %s failed: %s", c->proto.client.peer,
                 conn_fail_str(why));
        ac_close(c, "TLS handshake failed");
        return;
    }
    ev_io_stop(rb_loop, &c->wr);
    ac_aim(&c->rd, c->conn.want);
    if (r == 0) {
        ev_io_start(rb_loop, &c->rd);
        return;
    }
    admin_proto_tls_started(&c->proto);
    ac_update(c);
}

static void start_tls(struct admin_conn *c)
{
    if (!c->ssl_ctx || conn_tls_start(&c->conn, c->ssl_ctx, CONN_ACCEPT) < 0) {
        ac_close(c, "cannot start TLS");
        return;
    }
    ev_io_stop(rb_loop, &c->rd);
    ac_handshake(c);
}

/* Read once, as much as the protocol has room for; the work is done from the queue. */
static void ac_read(struct admin_conn *c)
{
    uint8_t buf[16384];
    size_t room = admin_proto_room(&c->proto);
    ssize_t n;

    if (room == 0) { /* a whole packet waits: nothing to read for now */
        ac_update(c);
        return;
    }
    if (room > sizeof(buf))
        room = sizeof(buf);
    n = conn_read(&c->conn, buf, room);
    ac_aim(&c->rd, c->conn.want);
    if (n < 0 && conn_again())
        return;
    if (n <= 0) {
        ac_close(c, n == 0 ? "client closed" : "read error");
        return;
    }
    c->last = ev_now(rb_loop);
    admin_proto_feed(&c->proto, buf, (size_t)n);
    ac_update(c);
}

/* The client proved itself: no longer pre-auth; from now on the idle timeout applies. */
static void ac_logged_in(struct admin_conn *c)
{
    preauth_leave(&c->pa);
    c->logged = true;
    nlogged++;
    c->last = ev_now(rb_loop);
    ev_timer_set(&c->idle, ADMIN_IDLE_TIMEOUT, 0);
    ev_timer_start(rb_loop, &c->idle);
}

/* C's next piece of work: a packet, a slice of its statement, or TLS bytes to read. */
static void ac_work(struct admin_conn *c)
{
    if (!admin_proto_pending(&c->proto)) {
        if (!conn_handshaking(&c->conn) && conn_pending(&c->conn))
            ac_read(c);
        return;
    }
    admin_proto_work(&c->proto);
    if (c->proto.phase == AP_COMMAND && !c->logged)
        ac_logged_in(c);
    if (c->proto.want_tls) {
        if (ac_flush(c) == 0)
            start_tls(c);
        return;
    }
    ac_flush(c);
}

/* One piece of work of the first connection in the queue, then the next iteration. */
static void work_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = TAILQ_FIRST(&ready);
    (void)revents;

    if (c) {
        TAILQ_REMOVE(&ready, c, ready_link);
        c->queued = false;
        ac_work(c); /* may queue C again, at the end */
    }
    if (!TAILQ_EMPTY(&ready)) {
        ev_timer_set(w, 0, 0);
        ev_timer_start(loop, w);
    }
}

static void rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, rd);
    (void)loop;
    (void)revents;

    if (conn_handshaking(&c->conn))
        ac_handshake(c);
    else
        ac_read(c);
}

static void wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, wr);
    (void)loop;
    (void)revents;

    if (conn_handshaking(&c->conn))
        ac_handshake(c);
    else
        ac_flush(c);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = container_of(w, struct admin_conn, idle);
    double now = ev_now(loop);
    (void)revents;

    if (now - c->last >= ADMIN_IDLE_TIMEOUT) {
        ac_close(c, "idle timeout");
        return;
    }
    ev_timer_set(w, c->last + ADMIN_IDLE_TIMEOUT - now, 0);
    ev_timer_start(loop, w);
}

/* Not logged in at the deadline, or making room for a newer connection: tell the client
 * (an ERR, if the socket takes it at once and TLS has not started) and close. */
static void ac_preauth_close(struct preauth *p, enum preauth_reason why)
{
    struct admin_conn *c = container_of(p, struct admin_conn, pa);
    char msg[120];

    if (!c->conn.ssl) {
        if (why == PREAUTH_TIMEOUT) {
            snprintf(msg, sizeof(msg),
                     "Got timeout reading communication packets: log in within %.0f s",
                     ADMIN_AUTH_TIMEOUT);
            send_err(&c->proto, ER_NET_READ_INTERRUPTED, "08S01", msg);
        } else {
            send_err(&c->proto, ER_CON_COUNT, "08004",
                     "Too many connections waiting to log in to the admin port");
        }
        if (conn_write(&c->conn, c->proto.out.data, c->proto.out.len) < 0)
            log_debug("admin: cannot tell %s why it is closed: %s", c->proto.client.peer,
                      strerror(errno));
    }
    ac_close(c, why == PREAUTH_TIMEOUT ? "login timeout" : "evicted before logging in");
}

/* An operator (or anyone) connected: greet; pre-auth until logged in. Never refused here:
 * room is made among the connections not logged in yet (preauth.c), and the logged-in cap
 * is applied at login. */
static bool on_accept(struct acceptor *a, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct sockaddr_storage ss = {0};
    struct admin_conn *c;
    char name[80];
    (void)a;

    memcpy(&ss, peer, len < sizeof(ss) ? len : sizeof(ss));
    acceptor_peer_str((const struct sockaddr *)&ss, true, name, sizeof(name));
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
    /* Its own reference: a reload may replace the port's context before TLS starts. */
    if (ssl_ctx && SSL_CTX_up_ref(ssl_ctx) == 1)
        c->ssl_ctx = ssl_ctx;
    conn_init(&c->conn, fd);
    c->last = ev_now(rb_loop);
    ev_io_init(&c->rd, rd_cb, fd, EV_READ);
    ev_io_init(&c->wr, wr_cb, fd, EV_WRITE);
    ev_init(&c->idle, idle_cb);
    ev_set_priority(&c->rd, EV_MINPRI);
    ev_set_priority(&c->wr, EV_MINPRI);
    ev_set_priority(&c->idle, EV_MINPRI);
    LIST_INSERT_HEAD(&conns, c, link);
    nconns++;
    nconns_total++;
    preauth_join(&waiting, &c->pa, (const struct sockaddr *)&ss, ac_preauth_close);
    ac_flush(c); /* the greeting */
    return true;
}

int admin_init(const struct conf *conf)
{
    aconf = conf;
    return admin_sql_open(conf, &admin_views);
}

int admin_reconf_prepare(const struct conf *conf, char *err, size_t errlen)
{
    const struct conf_admin *a = &conf->admin;
    char msg[512];

    admin_reconf_cancel();
    staged.conf = conf;
    if (!a->enabled)
        return 0;
    /* The files are read every time: a renewed certificate under the same name is picked up. */
    if (a->ssl_crt[0] &&
        !(staged.ssl_ctx = tls_server_ctx(a->ssl_crt, a->ssl_key, msg, sizeof(msg)))) {
        admin_reconf_cancel();
        return conf_fail(conf, a->ssl_line, err, errlen, "admin-ssl: %s", msg);
    }
    if (listen_fd >= 0 && !strcmp(aconf->admin.addr.text, a->addr.text))
        return 0; /* the running socket carries over */
    staged.fd = acceptor_listen((const struct sockaddr *)&a->addr.sa, a->addr.len, ADMIN_BACKLOG,
                                msg, sizeof(msg));
    if (staged.fd < 0) {
        admin_reconf_cancel();
        return conf_fail(conf, a->line, err, errlen, "admin: cannot bind %s: %s", a->addr.text,
                         msg);
    }
    return 0;
}

void admin_reconf_cancel(void)
{
    if (staged.fd >= 0)
        close(staged.fd);
    if (staged.ssl_ctx)
        SSL_CTX_free(staged.ssl_ctx);
    staged.fd = -1;
    staged.ssl_ctx = NULL;
    staged.conf = NULL;
}

/* New connections get the prepared TLS context; those under way keep theirs. Logs what a
 * client of a port that WAS_OPEN and stays so will notice (a port that opens says it itself). */
static void switch_tls(const struct conf_admin *a, bool was_open)
{
    if (was_open && a->enabled) {
        if (!ssl_ctx && staged.ssl_ctx)
            log_info("admin: TLS now offered, certificate %s", a->ssl_crt);
        else if (ssl_ctx && !staged.ssl_ctx)
            log_info("admin: TLS no longer offered");
        else if (ssl_ctx && !tls_same_certificate(ssl_ctx, staged.ssl_ctx))
            log_info("admin: TLS certificate reloaded from %s", a->ssl_crt);
    }
    if (ssl_ctx)
        SSL_CTX_free(ssl_ctx);
    ssl_ctx = staged.ssl_ctx;
    staged.ssl_ctx = NULL;
}

/* Close the running socket if the port moved or is switched off, then accept on the new one.
 * Connections already accepted go on either way. */
static void switch_socket(const struct conf_admin *a)
{
    if (listen_fd >= 0 && (staged.fd >= 0 || !a->enabled)) {
        acceptor_stop(&acc);
        close(listen_fd);
        listen_fd = -1;
        log_info("admin: no longer accepting on %s", aconf->admin.addr.text);
    }
    if (staged.fd < 0)
        return;
    listen_fd = staged.fd;
    staged.fd = -1;
    acceptor_init(&acc, listen_fd, EV_MINPRI, 16, "admin", on_accept);
    acceptor_start(&acc);
    log_info("admin: accepting on %s%s", a->addr.text, ssl_ctx ? " (TLS offered)" : "");
}

static bool same_account(const struct conf_admin_user *x, const struct conf_admin_user *y)
{
    return !strcmp(x->name, y->name) && !strcmp(x->password, y->password);
}

/* Do the accounts of A differ from those of OLD? */
static bool accounts_changed(const struct conf_admin *old, const struct conf_admin *a)
{
    return !same_account(&old->user, &a->user) || old->has_ro != a->has_ro ||
           (a->has_ro && !same_account(&old->ro, &a->ro));
}

void admin_reconf_commit(void)
{
    const struct conf_admin *a;
    bool was_open = listen_fd >= 0;

    if (!staged.conf)
        return;
    a = &staged.conf->admin;
    switch_tls(a, was_open);
    switch_socket(a);
    if (was_open && a->enabled && accounts_changed(&aconf->admin, a))
        log_info("admin: accounts changed: new logins use them, the %u connections logged in "
                 "go on",
                 nlogged);
    /* From here logins check the new accounts and the views show the new configuration. */
    aconf = staged.conf;
    admin_sql_reconf(staged.conf);
    staged.conf = NULL;
}

int admin_start(const struct conf *conf)
{
    char err[1024];

    if (admin_init(conf) < 0)
        return -1;
    ev_init(&work_timer, work_cb);
    ev_set_priority(&work_timer, EV_MINPRI);
    preauth_port_init(&waiting, "admin", "logged in", ADMIN_MAX_PENDING, ADMIN_PENDING_PER_SOURCE,
                      ADMIN_AUTH_TIMEOUT, EV_MINPRI);
    if (admin_reconf_prepare(conf, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    admin_reconf_commit();
    return 0;
}

void admin_stop(void)
{
    admin_reconf_cancel();
    while (!LIST_EMPTY(&conns))
        ac_close(LIST_FIRST(&conns), "shutting down");
    if (listen_fd >= 0) {
        acceptor_stop(&acc);
        close(listen_fd);
        listen_fd = -1;
    }
    ev_timer_stop(rb_loop, &work_timer);
    preauth_port_stop(&waiting);
    if (ssl_ctx)
        SSL_CTX_free(ssl_ctx);
    ssl_ctx = NULL;
    admin_sql_close();
    aconf = NULL;
}
