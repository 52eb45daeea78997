/* gtid.c - GTID positions: parsing MariaDB's and MySQL's text forms and deciding whether a
 * master holds every transaction a backup holds (the GTID guard's comparison, server.c).
 *
 * Pure functions of their arguments, for any thread. A position is at most GTID_POS_MAX - 1
 * characters; anything not in the flavor's format is refused with a reason, never guessed at.
 *
 *   MariaDB  "0-1-1040,5-2-7"     domain-server-sequence, one entry per domain in
 *                                  @@gtid_current_pos (several per domain in a binlog position:
 *                                  the highest sequence of the domain counts)
 *   MySQL    "uuid:1-5:7,uuid2:1-3" or, since 8.3, "uuid:1-5:tag:1-2": a set of transactions,
 *                                  each uuid (and tag) with its intervals; @@gtid_executed puts a
 *                                  newline after each comma
 */
#include "gtid.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UUID_LEN 36
#define TAG_MAX  32
#define KEY_MAX  (UUID_LEN + 1 + TAG_MAX + 1) /* "uuid" or "uuid:tag", with the NUL */

/* One MariaDB GTID. */
struct mdb_gtid {
    uint64_t domain, server, seq;
};

/* One interval of a MySQL set: transactions LO..HI of source KEY ("uuid" or "uuid:tag"). */
struct mys_iv {
    char key[KEY_MAX];
    uint64_t lo, hi;
};

/* A parsed position: N entries of one flavor. */
struct gtid_list {
    struct mdb_gtid *mdb;
    struct mys_iv *mys;
    size_t n;
};

static int bad(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* Length of the item starting at S (up to the next comma), for messages. */
static int item_len(const char *s)
{
    size_t n = strcspn(s, ",");

    return n > 60 ? 60 : (int)n;
}

/* Decimal digits at *S, at most MAX; advances *S. 0 or -1 (no digit, or too large). */
static int parse_uint(const char **s, uint64_t max, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return 0;
}

/* Room for every entry POS can hold: one more than its separators (SEP). */
static size_t capacity(const char *pos, int sep)
{
    size_t n = 1;

    for (; *pos; pos++)
        n += *pos == sep || *pos == ',';
    return n;
}

/* "D-S-N" at *S. */
static int mdb_entry(const char **s, struct mdb_gtid *g)
{
    if (parse_uint(s, UINT32_MAX, &g->domain) < 0 || *(*s)++ != '-')
        return -1;
    if (parse_uint(s, UINT32_MAX, &g->server) < 0 || *(*s)++ != '-')
        return -1;
    return parse_uint(s, UINT64_MAX, &g->seq);
}

/* The comma-separated items of a position, from S (not empty, spaces skipped): each is parsed
 * and added to L by ITEM; FORM names an item's form in the error. 0, or -1 with WHY. */
static int parse_items(const char *s, struct gtid_list *l,
                       int (*item)(const char **s, struct gtid_list *l), const char *form,
                       char *why, size_t len)
{
    for (;;) {
        const char *at = s;
        if (item(&s, l) < 0)
            return bad(why, len, "'%.*s' is not %s", item_len(at), at, form);
        s = skip_space(s);
        if (!*s)
            return 0;
        if (*s != ',')
            return bad(why, len, "unexpected '%c' after '%.*s'", *s, (int)(s - at), at);
        s = skip_space(s + 1);
    }
}

/* One MariaDB item, added to L. */
static int mdb_item(const char **s, struct gtid_list *l)
{
    if (mdb_entry(s, &l->mdb[l->n]) < 0)
        return -1;
    l->n++;
    return 0;
}

static int mdb_parse(const char *pos, struct gtid_list *l, char *why, size_t len)
{
    const char *s = skip_space(pos);

    if (!*s)
        return 0;
    if (!(l->mdb = calloc(capacity(pos, '-'), sizeof(*l->mdb))))
        return bad(why, len, "out of memory");
    return parse_items(s, l, mdb_item, "DOMAIN-SERVER-SEQUENCE", why, len);
}

/* A uuid at *S, lowercased into KEY. */
static int mys_uuid(const char **s, char *key)
{
    for (int i = 0; i < UUID_LEN; i++) {
        char ch = (*s)[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? ch != '-' : !isxdigit((unsigned char)ch))
            return -1;
        key[i] = (char)tolower((unsigned char)ch);
    }
    key[UUID_LEN] = '\0';
    *s += UUID_LEN;
    return 0;
}

/* A tag at *S (a letter or '_', then letters, digits or '_'), lowercased after "uuid:". */
static int mys_tag(const char **s, char *key)
{
    const char *p = *s;
    size_t n = 0;

    if (!isalpha((unsigned char)*p) && *p != '_')
        return -1;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') {
        if (n == TAG_MAX)
            return -1;
        n++;
    }
    key[UUID_LEN] = ':';
    for (size_t i = 0; i < n; i++)
        key[UUID_LEN + 1 + i] = (char)tolower((unsigned char)p[i]);
    key[UUID_LEN + 1 + n] = '\0';
    *s = p + n;
    return 0;
}

/* "N" or "N-M" at *S, 1 <= N <= M < 2^63. */
static int mys_interval(const char **s, struct mys_iv *iv)
{
    if (parse_uint(s, INT64_MAX, &iv->lo) < 0 || iv->lo == 0)
        return -1;
    iv->hi = iv->lo;
    if (**s == '-') {
        (*s)++;
        if (parse_uint(s, INT64_MAX, &iv->hi) < 0 || iv->hi < iv->lo)
            return -1;
    }
    return 0;
}

/* One item: uuid, then ":" segments, each an interval or a tag for the intervals after it. */
static int mys_item(const char **s, struct gtid_list *l)
{
    char key[KEY_MAX] = "";
    bool need_iv = true;

    if (mys_uuid(s, key) < 0)
        return -1;
    while (**s == ':') {
        (*s)++;
        if (isdigit((unsigned char)**s)) {
            struct mys_iv *iv = &l->mys[l->n];
            if (mys_interval(s, iv) < 0)
                return -1;
            memcpy(iv->key, key, sizeof(key));
            l->n++;
            need_iv = false;
        } else if (mys_tag(s, key) < 0) {
            return -1;
        } else {
            need_iv = true; /* a tag stands for the intervals after it */
        }
    }
    return need_iv ? -1 : 0;
}

static int mys_parse(const char *pos, struct gtid_list *l, char *why, size_t len)
{
    const char *s = skip_space(pos);

    if (!*s)
        return 0;
    if (!(l->mys = calloc(capacity(pos, ':'), sizeof(*l->mys))))
        return bad(why, len, "out of memory");
    return parse_items(s, l, mys_item, "UUID:INTERVAL[:INTERVAL...]", why, len);
}

static int parse(enum gtid_flavor f, const char *pos, struct gtid_list *l, char *why, size_t len)
{
    memset(l, 0, sizeof(*l));
    if (!pos)
        return bad(why, len, "no position");
    if (strlen(pos) >= GTID_POS_MAX)
        return bad(why, len, "longer than %d characters", GTID_POS_MAX - 1);
    return f == GTID_MARIADB ? mdb_parse(pos, l, why, len) : mys_parse(pos, l, why, len);
}

static void list_free(struct gtid_list *l)
{
    free(l->mdb);
    free(l->mys);
    memset(l, 0, sizeof(*l));
}

int gtid_check(enum gtid_flavor flavor, const char *pos, char *why, size_t len)
{
    struct gtid_list l;
    int rc = parse(flavor, pos, &l, why, len);

    list_free(&l);
    return rc;
}

/* ---- MariaDB: per domain, the highest sequence number ---- */

/* The entry of L with the highest sequence in DOMAIN, NULL if L has none there. */
static const struct mdb_gtid *mdb_top(const struct gtid_list *l, uint64_t domain)
{
    const struct mdb_gtid *top = NULL;

    for (size_t i = 0; i < l->n; i++)
        if (l->mdb[i].domain == domain && (!top || l->mdb[i].seq > top->seq))
            top = &l->mdb[i];
    return top;
}

static enum gtid_verdict mdb_compare(const struct gtid_list *m, const struct gtid_list *b,
                                     char *what, size_t len)
{
    const struct mdb_gtid *first_b = NULL, *first_m = NULL;
    unsigned behind = 0;

    for (size_t i = 0; i < b->n; i++) {
        const struct mdb_gtid *bt = mdb_top(b, b->mdb[i].domain), *mt;
        if (bt != &b->mdb[i])
            continue; /* the domain is decided by its top entry, once */
        mt = mdb_top(m, bt->domain);
        if (mt && mt->seq >= bt->seq)
            continue;
        if (behind++ == 0) {
            first_b = bt;
            first_m = mt;
        }
    }
    if (!behind)
        return GTID_COVERS;
    if (first_m)
        snprintf(what, len,
                 "has %" PRIu64 "-%" PRIu64 "-%" PRIu64 ", master stops at %" PRIu64 "-%" PRIu64
                 "-%" PRIu64,
                 first_b->domain, first_b->server, first_b->seq, first_m->domain, first_m->server,
                 first_m->seq);
    else
        snprintf(what, len,
                 "has %" PRIu64 "-%" PRIu64 "-%" PRIu64 ", master has nothing in domain %" PRIu64,
                 first_b->domain, first_b->server, first_b->seq, first_b->domain);
    if (behind > 1) {
        size_t n = strlen(what);
        snprintf(what + n, len - n, " (and %u more domains behind)", behind - 1);
    }
    return GTID_LACKS;
}

/* ---- MySQL: GTID_SUBSET(backup, master) ---- */

/* The interval of M holding transaction P of KEY, NULL if none. */
static const struct mys_iv *mys_holding(const struct gtid_list *m, const char *key, uint64_t p)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->mys[i].lo <= p && p <= m->mys[i].hi && !strcmp(m->mys[i].key, key))
            return &m->mys[i];
    return NULL;
}

/* The first transaction of KEY after P that M holds, 0 if none. */
static uint64_t mys_next(const struct gtid_list *m, const char *key, uint64_t p)
{
    uint64_t next = 0;

    for (size_t i = 0; i < m->n; i++)
        if (m->mys[i].lo > p && (!next || m->mys[i].lo < next) && !strcmp(m->mys[i].key, key))
            next = m->mys[i].lo;
    return next;
}

/* Where B's interval IV is not in M: the first gap into *GAP, and how many gaps. */
static unsigned mys_gaps(const struct gtid_list *m, const struct mys_iv *iv, struct mys_iv *gap)
{
    uint64_t p = iv->lo;
    unsigned gaps = 0;

    while (p <= iv->hi) {
        const struct mys_iv *h = mys_holding(m, iv->key, p);
        uint64_t next, end;
        if (h) {
            p = h->hi + 1; /* hi < 2^63: no overflow */
            continue;
        }
        next = mys_next(m, iv->key, p);
        end = next && next - 1 < iv->hi ? next - 1 : iv->hi;
        if (gaps++ == 0)
            *gap = (struct mys_iv){.lo = p, .hi = end};
        p = end + 1;
    }
    return gaps;
}

static enum gtid_verdict mys_compare(const struct gtid_list *m, const struct gtid_list *b,
                                     char *what, size_t len)
{
    struct mys_iv first = {0}, gap;
    unsigned gaps = 0;

    for (size_t i = 0; i < b->n; i++) {
        unsigned g = mys_gaps(m, &b->mys[i], &gap);
        if (g && !gaps) {
            first = gap;
            memcpy(first.key, b->mys[i].key, sizeof(first.key));
        }
        gaps += g;
    }
    if (!gaps)
        return GTID_COVERS;
    if (first.lo == first.hi)
        snprintf(what, len, "has %s:%" PRIu64 ", which the master lacks", first.key, first.lo);
    else
        snprintf(what, len, "has %s:%" PRIu64 "-%" PRIu64 ", which the master lacks", first.key,
                 first.lo, first.hi);
    if (gaps > 1) {
        size_t n = strlen(what);
        snprintf(what + n, len - n, " (and %u more ranges)", gaps - 1);
    }
    return GTID_LACKS;
}

enum gtid_verdict gtid_compare(enum gtid_flavor flavor, const char *master, const char *backup,
                               char *what, size_t len)
{
    struct gtid_list m = {0}, b = {0};
    enum gtid_verdict v = GTID_INVALID;
    char why[128];

    if (len)
        what[0] = '\0';
    if (parse(flavor, master, &m, why, sizeof(why)) < 0)
        snprintf(what, len, "master position unreadable: %s", why);
    else if (parse(flavor, backup, &b, why, sizeof(why)) < 0)
        snprintf(what, len, "position unreadable: %s", why);
    else if (flavor == GTID_MARIADB)
        v = mdb_compare(&m, &b, what, len);
    else
        v = mys_compare(&m, &b, what, len);
    list_free(&m);
    list_free(&b);
    return v;
}
