/* http_parse.h - a strict, minimal HTTP/1.0 and HTTP/1.1 request-head parser.
 *
 * Pure: bytes in, a parsed request or an HTTP error status out; no sockets, no
 * allocation, so the stats server and the fuzz target share it. */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>

#define HTTP_HEAD_MAX    8192 /* request line + headers + empty line, in bytes */
#define HTTP_TARGET_MAX  1024 /* longest request target (path and query) */
#define HTTP_METHOD_MAX  16   /* longest method token */
#define HTTP_HEADERS_MAX 64   /* most header fields in one request */

/* What http_parse_request() returns besides an error status. */
#define HTTP_PARSE_MORE 0   /* the head is not complete yet: read more bytes */
#define HTTP_PARSE_OK   200 /* a complete, valid head is in the request */

/* The parts of a request the stats server acts on. */
struct http_request {
    char method[HTTP_METHOD_MAX + 1]; /* "GET"; case-sensitive, as RFC 9110 says */
    char target[HTTP_TARGET_MAX + 1]; /* "/metrics?x=1", origin-form only */
    size_t path_len;                  /* length of the path part of target (before '?') */
    int minor;                        /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    size_t head_len;                  /* bytes of the head, including the empty line */
};

/* Parse the request head at BUF[0..LEN). Returns HTTP_PARSE_OK with REQ filled in,
 * HTTP_PARSE_MORE while the head is incomplete but valid so far, or the status to
 * answer with: 400 (malformed), 414 (target or request line too long), 431 (head
 * larger than HTTP_HEAD_MAX or too many headers), 501 (a request body), 505 (an HTTP
 * version other than 1.0 and 1.1). Bytes after the head are not looked at. */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* "Bad Request" for 400, ... ; "Error" for a status it does not know. */
const char *http_reason(int status);

#endif
