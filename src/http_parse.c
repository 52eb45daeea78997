/* http_parse.c - the strict HTTP/1.x request-head parser of the stats server.
 *
 * Strict on purpose: lines end in CRLF (a bare CR or LF is malformed), single spaces
 * in the request line, origin-form targets only, no header folding, no NUL or control
 * bytes, exactly one Host in HTTP/1.1, no request body. Whatever it does not accept
 * gets an error status rather than a guess; the connection is closed after any answer.
 */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: the characters of a token (method, header name). */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed in a header value (VCHAR, SP, HTAB, obs-text). */
static int is_value_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* Find the end of the line starting at P (N bytes available). Returns 1 with the
 * line's length (without CRLF) in *LINE_LEN, 0 if no CRLF yet, -1 on a bare CR or LF
 * or a NUL byte. */
static int scan_line(const char *p, size_t n, size_t *line_len)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0' || p[i] == '\n')
            return -1;
        if (p[i] != '\r')
            continue;
        if (i + 1 == n)
            return 0;
        if (p[i + 1] != '\n')
            return -1;
        *line_len = i;
        return 1;
    }
    return 0;
}

/* "HTTP/1.1": 0 with the minor version set, else the status to answer with. */
static int parse_version(const char *v, size_t n, struct http_request *req)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
        v[7] > '9')
        return 400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return 505;
    req->minor = v[7] - '0';
    return 0;
}

/* METHOD SP origin-form SP HTTP/1.x; 0 or the status to answer with. */
static int parse_request_line(const char *p, size_t n, struct http_request *req)
{
    size_t m = 0, t, tlen;

    while (m < n && is_tchar((unsigned char)p[m]))
        m++;
    if (m == 0 || m == n || p[m] != ' ')
        return 400;
    if (m > HTTP_METHOD_MAX)
        return 501; /* no method this long exists, let alone is implemented */
    memcpy(req->method, p, m);
    req->method[m] = '\0';
    t = m + 1;
    for (tlen = 0; t + tlen < n && p[t + tlen] != ' '; tlen++) {
        unsigned char c = (unsigned char)p[t + tlen];
        if (c < 0x21 || c > 0x7e || c == '#')
            return 400;
    }
    if (tlen == 0 || t + tlen == n || p[t] != '/')
        return 400;
    if (tlen > HTTP_TARGET_MAX)
        return 414;
    memcpy(req->target, p + t, tlen);
    req->target[tlen] = '\0';
    req->path_len = strcspn(req->target, "?");
    return parse_version(p + t + tlen + 1, n - t - tlen - 1, req);
}

/* Header facts that decide whether the request as a whole is acceptable. */
struct header_tally {
    int hosts;          /* Host fields seen */
    int body;           /* Content-Length > 0 or Transfer-Encoding seen */
    int content_length; /* a Content-Length field seen */
};

/* Is V[0..N) a run of decimal digits, all '0'? -1 if not digits at all. */
static int zero_length(const char *v, size_t n)
{
    int zero = 1;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (v[i] != '0')
            zero = 0;
    }
    return zero;
}

/* NAME ":" OWS VALUE OWS; 0 or the status to answer with. */
static int parse_header(const char *p, size_t n, struct header_tally *t)
{
    size_t name = 0, v, vend;
    int z;

    while (name < n && is_tchar((unsigned char)p[name]))
        name++;
    if (name == 0 || name == n || p[name] != ':')
        return 400; /* also obs-fold (leading space) and space before the colon */
    for (v = name + 1; v < n && (p[v] == ' ' || p[v] == '\t'); v++)
        ;
    for (vend = n; vend > v && (p[vend - 1] == ' ' || p[vend - 1] == '\t'); vend--)
        ;
    for (size_t i = v; i < vend; i++)
        if (!is_value_char((unsigned char)p[i]))
            return 400;
    if (name == 4 && !strncasecmp(p, "host", 4)) {
        t->hosts++;
    } else if (name == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
        t->body = 1;
    } else if (name == 14 && !strncasecmp(p, "content-length", 14)) {
        if ((z = zero_length(p + v, vend - v)) < 0 || t->content_length++)
            return 400;
        if (!z)
            t->body = 1;
    }
    return 0;
}

/* Can the incomplete request line P[0..N) still become valid? Rejects at once what
 * could never be HTTP (a TLS hello, binary noise) instead of waiting for the timeout. */
static int plausible_request_line(const char *p, size_t n)
{
    size_t m = 0;

    while (m < n && is_tchar((unsigned char)p[m]))
        m++;
    if (m < n && p[m] != ' ')
        return 0;
    for (size_t i = m; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && !(c == '\r' && i + 1 == n)) || c > 0x7e)
            return 0;
    }
    return 1;
}

/* The status for a head that is not complete within the LEN bytes given. */
static int incomplete(size_t len, int in_request_line)
{
    if (len < HTTP_HEAD_MAX)
        return HTTP_PARSE_MORE;
    return in_request_line ? 414 : 431;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
    size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, pos, n;
    struct header_tally tally = {0, 0, 0};
    int rc, nheaders = 0;

    memset(req, 0, sizeof(*req));
    rc = scan_line(buf, lim, &n);
    if (rc < 0)
        return 400;
    if (rc == 0)
        return plausible_request_line(buf, lim) ? incomplete(len, 1) : 400;
    if ((rc = parse_request_line(buf, n, req)) != 0)
        return rc;
    for (pos = n + 2;; pos += n + 2) {
        rc = scan_line(buf + pos, lim - pos, &n);
        if (rc < 0)
            return 400;
        if (rc == 0)
            return incomplete(len, 0);
        if (n == 0)
            break;
        if (++nheaders > HTTP_HEADERS_MAX)
            return 431;
        if ((rc = parse_header(buf + pos, n, &tally)) != 0)
            return rc;
    }
    if (tally.hosts > 1 || (req->minor == 1 && tally.hosts == 0))
        return 400;
    if (tally.body)
        return 501;
    req->head_len = pos + 2;
    return HTTP_PARSE_OK;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}
