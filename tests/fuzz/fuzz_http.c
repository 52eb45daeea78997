/* fuzz_http.c - fuzz target for the stats port's HTTP request-head parser
 * (http_parse_request). Needs only src/http_parse.c.
 *
 * Properties checked besides "no crash, no out-of-bounds read": the result is one of
 * the documented values; an accepted head is self-consistent (origin-form target, a
 * path no longer than the target, a head within the input and HTTP_HEAD_MAX); and every
 * strict prefix of an accepted head is "more" (the parser never rejects a request just
 * because it arrived in pieces). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_status(int rc)
{
    switch (rc) {
    case HTTP_PARSE_MORE:
    case HTTP_PARSE_OK:
    case 400:
    case 414:
    case 431:
    case 501:
    case 505:
        return 1;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_request req, part;
    /* An exact-size copy, so reading one byte too far trips the sanitizer. */
    char *buf = malloc(size ? size : 1);
    int rc;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    rc = http_parse_request(buf, size, &req);
    if (!known_status(rc))
        abort();
    if (rc == HTTP_PARSE_OK) {
        if (req.head_len > size || req.head_len > HTTP_HEAD_MAX || req.target[0] != '/' ||
            req.path_len > strlen(req.target) || (req.minor != 0 && req.minor != 1) ||
            !req.method[0])
            abort();
        /* Cut at a point taken from the input itself, and just before the end. */
        size_t cuts[2] = {req.head_len - 1, size ? data[0] % req.head_len : 0};
        for (int i = 0; i < 2; i++)
            if (http_parse_request(buf, cuts[i], &part) != HTTP_PARSE_MORE)
                abort();
    }
    free(buf);
    return 0;
}
