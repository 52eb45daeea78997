/* conn.c - one end of a connection: a descriptor, and TLS over it once switched.
 *
 * A plain conn is read() and write() and nothing else: the relay's syscalls stay what they
 * were. A TLS conn maps OpenSSL's answers onto the same contract: WANT_READ/WANT_WRITE become
 * EAGAIN with the event to wait for in c->want (a read may need the socket writable, and a
 * write readable: the caller watches whatever c->want says), a clean or abrupt close becomes
 * the end of the stream, and anything else EPROTO. OpenSSL's error queue is per thread: it is
 * emptied before each call, so one conn's failure never shows up as another's.
 */
#include "conn.h"

#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn_tally conn_tally;

void conn_count(enum conn_side side, const struct conn *c, bool ok, enum conn_fail why)
{
    if (!ok) {
        atomic_fetch_add_explicit(&conn_tally.failures[side][why < CONN_FAIL__COUNT ? why : 0], 1,
                                  memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&conn_tally.handshakes[side], 1, memory_order_relaxed);
    if (conn_resumed(c))
        atomic_fetch_add_explicit(&conn_tally.resumptions[side], 1, memory_order_relaxed);
}

void conn_init(struct conn *c, int fd)
{
    c->fd = fd;
    c->ssl = NULL;
    c->want = EV_READ;
}

/* N as an int for OpenSSL (which takes at most INT_MAX at once). */
static int clamp(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* OpenSSL said R (<= 0) for an operation on C: -1 with errno, or 0 at the end of the stream.
 * NATURAL is the event the operation itself waits for. */
static ssize_t tls_result(struct conn *c, int r, int natural)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        c->want = EV_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->want = EV_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        return 0;
    case SSL_ERROR_SYSCALL:
        /* errno 0: the peer closed without close_notify (OpenSSL 1.1); else the socket's. */
        if (errno == 0)
            return 0;
        c->want = natural;
        return -1;
    default:
        ERR_clear_error();
        c->want = natural;
        errno = EPROTO;
        return -1;
    }
}

ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
    int r;

    if (!c->ssl) {
        c->want = EV_READ;
        return read(c->fd, buf, n);
    }
    ERR_clear_error();
    errno = 0;
    if ((r = SSL_read(c->ssl, buf, clamp(n))) > 0) {
        c->want = EV_READ;
        return r;
    }
    return tls_result(c, r, EV_READ);
}

ssize_t conn_write(struct conn *c, const void *buf, size_t n)
{
    int r;

    if (!c->ssl) {
        c->want = EV_WRITE;
        return write(c->fd, buf, n);
    }
    if (n == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    if ((r = SSL_write(c->ssl, buf, clamp(n))) > 0) {
        c->want = EV_WRITE;
        return r;
    }
    if (tls_result(c, r, EV_WRITE) == 0) {
        errno = EPIPE; /* the peer closed: a write cannot go on */
        return -1;
    }
    return -1;
}

ssize_t conn_write_last(struct conn *c, const void *buf, size_t n)
{
    int one = 1;

    if (!c->ssl)
        return send(c->fd, buf, n, MSG_MORE | MSG_NOSIGNAL);
    /* TLS writes records itself: cork the socket; the FIN (close_notify before it) flushes. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
    return conn_write(c, buf, n);
}

bool conn_again(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

bool conn_pending(const struct conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

int conn_tls_start(struct conn *c, SSL_CTX *ctx, enum conn_role role)
{
    SSL *ssl = SSL_new(ctx);

    if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    /* A MySQL peer that closes without close_notify ends its stream: its framing says what
     * was cut, and the session's close path judges that. */
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (role == CONN_ACCEPT) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        tls_offer_session(ssl);
    }
    c->ssl = ssl;
    c->want = role == CONN_ACCEPT ? EV_READ : EV_WRITE;
    return 0;
}

int conn_handshake(struct conn *c, enum conn_fail *why)
{
    int r, e;

    ERR_clear_error();
    errno = 0;
    if ((r = SSL_do_handshake(c->ssl)) == 1) {
        c->want = EV_READ;
        return 1;
    }
    switch ((e = SSL_get_error(c->ssl, r))) {
    case SSL_ERROR_WANT_READ:
        c->want = EV_READ;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->want = EV_WRITE;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
    case SSL_ERROR_SYSCALL:
        *why = CONN_FAIL_CLOSED;
        break;
    case SSL_ERROR_SSL:
        *why = SSL_get_verify_result(c->ssl) != X509_V_OK ? CONN_FAIL_VERIFY : CONN_FAIL_PROTOCOL;
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            *why = CONN_FAIL_CLOSED;
        break;
    default:
        *why = CONN_FAIL_OTHER;
        break;
    }
    ERR_clear_error();
    if (!SSL_is_server(c->ssl))
        tls_forget_session(c->ssl);
    return -1;
}

bool conn_handshaking(const struct conn *c)
{
    return c->ssl && !SSL_is_init_finished(c->ssl);
}

bool conn_resumed(const struct conn *c)
{
    return c->ssl && SSL_session_reused(c->ssl);
}

const char *conn_tls_str(const struct conn *c, char *buf, size_t len)
{
    if (!c->ssl || !SSL_is_init_finished(c->ssl))
        snprintf(buf, len, "%s", c->ssl ? "handshake" : "");
    else
        snprintf(buf, len, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return buf;
}

const char *conn_fail_str(enum conn_fail why)
{
    static const char *const names[CONN_FAIL__COUNT] = {"protocol", "verify", "closed", "timeout",
                                                        "other"};

    return why < CONN_FAIL__COUNT ? names[why] : "other";
}

void conn_shutdown_write(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->ssl && SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* sends close_notify if the socket takes it; never waits */
        ERR_clear_error();
    }
    shutdown(c->fd, SHUT_WR);
}

int conn_release(struct conn *c)
{
    int fd = c->fd;

    SSL_free(c->ssl);
    c->ssl = NULL;
    c->fd = -1;
    return fd;
}

void conn_reset(struct conn *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    if (c->fd < 0)
        return;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
}

void conn_close(struct conn *c)
{
    int fd = conn_release(c);

    if (fd >= 0)
        close(fd);
}
