/* admin_funcs.c - the SQL functions of the admin port: what MySQL clients call about their
 * session (DATABASE(), USER(), VERSION(), CONNECTION_ID(), NOW(), ...) and, for their
 * metadata queries, MySQL's IF, CONCAT, LOCATE, LEAST and friends; SQLite's own LIKE, GLOB,
 * instr(), replace() and trim(X,Y) replaced by versions whose cost is bounded; and the list
 * of functions a statement may call at all (the authorizer asks admin_funcs_allowed()).
 *
 * Thread: rb_loop (the control thread) only: they run inside the statement running now. */
#include "admin_funcs.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_exec.h"
#include "log.h"
#include "rebound.h"

/* ---- what MySQL clients ask about their session ---- */

static void fn_database(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct admin_client *c = admin_sql_client();
    (void)argc;
    (void)argv;
    if (c && c->db[0])
        sqlite3_result_text(ctx, c->db, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

static void fn_user(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct admin_client *c = admin_sql_client();
    char host[80] = "", buf[CONF_NAME_MAX + 90];
    (void)argc;
    (void)argv;
    if (c)
        snprintf(host, sizeof(host), "%s", c->peer);
    if (strrchr(host, ':')) /* the host, without the port */
        *strrchr(host, ':') = '\0';
    snprintf(buf, sizeof(buf), "%s@%s", c ? c->user : "", host);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_text(ctx, ADMIN_SERVER_VERSION, -1, SQLITE_STATIC);
}

static void fn_connection_id(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct admin_client *c = admin_sql_client();
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, c ? c->id : 0);
}

static void fn_zero(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, 0);
}

static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[32];
    time_t t = time(NULL);
    struct tm tm;
    (void)argc;
    (void)argv;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static void fn_unix_timestamp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int64(ctx, (sqlite3_int64)time(NULL));
}

/* ---- SQL functions whose cost is bounded ----
 *
 * SQLite's own LIKE, GLOB, instr(), replace() and trim(X,Y) can take time in the product of
 * their arguments' lengths in a single call, where no progress handler runs. These replace
 * them: the same results (matching is still SQLite's, through sqlite3_strlike() and
 * sqlite3_strglob()), but a call whose cost would exceed ADMIN_SQL_MATCH_COST is refused
 * (1041), substring search is linear (memmem), and a call made after the slice ended stops
 * the statement. */

/* End a function call with the interruption, when the slice is over. */
static bool fn_interrupted(sqlite3_context *ctx)
{
    if (!admin_sql_slice_over())
        return false;
    sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
    return true;
}

/* Refuse a call of FN on A bytes by B bytes: its cost bound A x B is too high. */
static void fn_too_costly(sqlite3_context *ctx, const char *fn, size_t a, size_t b)
{
    char msg[200];

    snprintf(msg, sizeof(msg),
             "%s on %zu bytes by %zu bytes is too costly for the admin port (at most %d for the "
             "product)",
             fn, a, b, ADMIN_SQL_MATCH_COST);
    admin_sql_refuse(ER_OUT_OF_RESOURCES, "HY000", msg);
    sqlite3_result_error(ctx, msg, -1);
}

/* The code point of S if S is exactly one UTF-8 character (decoded as SQLite does), else -1. */
static long one_char(const unsigned char *s)
{
    long c = *s++;

    if (c == 0)
        return -1;
    if (c >= 0xc0) {
        c &= c >= 0xf0 ? 0x07 : c >= 0xe0 ? 0x0f : 0x1f;
        while ((*s & 0xc0) == 0x80)
            c = (c << 6) | (*s++ & 0x3f);
    }
    return *s ? -1 : c;
}

/* like(P, X[, E]) for X LIKE P [ESCAPE E]; glob(P, X) (user data 1) for X GLOB P. */
static void fn_match(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    bool glob = sqlite3_user_data(ctx) != NULL;
    const char *pat = (const char *)sqlite3_value_text(argv[0]);
    const char *str = (const char *)sqlite3_value_text(argv[1]);
    size_t np = (size_t)sqlite3_value_bytes(argv[0]), ns = (size_t)sqlite3_value_bytes(argv[1]);
    long esc = 0;

    if (!pat || !str)
        return; /* NULL */
    if (np > ADMIN_SQL_MAX_PATTERN) {
        sqlite3_result_error(ctx, "LIKE or GLOB pattern too complex", -1);
        return;
    }
    if (argc == 3) {
        const unsigned char *e = sqlite3_value_text(argv[2]);
        if (!e)
            return;
        if ((esc = one_char(e)) < 0) {
            sqlite3_result_error(ctx, "ESCAPE expression must be a single character", -1);
            return;
        }
    }
    if ((uint64_t)np * ns > ADMIN_SQL_MATCH_COST) {
        fn_too_costly(ctx, glob ? "GLOB" : "LIKE", ns, np);
        return;
    }
    if (fn_interrupted(ctx))
        return;
    if (glob)
        sqlite3_result_int(ctx, sqlite3_strglob(pat, str) == 0);
    else
        sqlite3_result_int(ctx, sqlite3_strlike(pat, str, (unsigned)esc) == 0);
}

/* instr(X, Y): where Y first occurs in X, in characters (bytes when both are blobs) from 1;
 * 0 if it does not. */
static void fn_instr(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int th = sqlite3_value_type(argv[0]), tn = sqlite3_value_type(argv[1]);
    bool text = th != SQLITE_BLOB || tn != SQLITE_BLOB;
    const unsigned char *h, *n, *at;
    size_t nh, nn;
    sqlite3_int64 pos = 1;
    (void)argc;

    if (th == SQLITE_NULL || tn == SQLITE_NULL)
        return;
    h = text ? sqlite3_value_text(argv[0]) : sqlite3_value_blob(argv[0]);
    nh = (size_t)sqlite3_value_bytes(argv[0]);
    n = text ? sqlite3_value_text(argv[1]) : sqlite3_value_blob(argv[1]);
    nn = (size_t)sqlite3_value_bytes(argv[1]);
    if (nn == 0) {
        sqlite3_result_int(ctx, 1);
        return;
    }
    if (!n || (nh && !h)) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (fn_interrupted(ctx))
        return;
    if (nn > nh) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    /* SQLite tries text matches only where a character starts: one whose first byte is a
     * continuation byte can only match at the very start. */
    if (text && (n[0] & 0xc0) == 0x80) {
        sqlite3_result_int(ctx, memcmp(h, n, nn) == 0);
        return;
    }
    if (!(at = memmem(h, nh, n, nn))) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    if (!text) {
        pos += at - h;
    } else if (at > h) { /* characters before AT: the first, then each byte starting one */
        pos++;
        for (const unsigned char *p = h + 1; p < at; p++)
            pos += (*p & 0xc0) != 0x80;
    }
    sqlite3_result_int64(ctx, pos);
}

/* replace(X, Y, Z): X with every occurrence of Y replaced by Z; X itself when Y is empty. */
static void fn_replace(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *s = sqlite3_value_text(argv[0]), *y, *z, *at, *from;
    size_t ns, ny, nz, hits = 0, len;
    unsigned char *out, *o;
    (void)argc;

    if (!s)
        return;
    ns = (size_t)sqlite3_value_bytes(argv[0]);
    if (!(y = sqlite3_value_text(argv[1])))
        return;
    if (!y[0]) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    ny = (size_t)sqlite3_value_bytes(argv[1]);
    if (!(z = sqlite3_value_text(argv[2])))
        return;
    nz = (size_t)sqlite3_value_bytes(argv[2]);
    if (fn_interrupted(ctx))
        return;
    for (from = s; (at = memmem(from, ns - (size_t)(from - s), y, ny)); from = at + ny)
        hits++;
    len = ns - hits * ny + hits * nz;
    if (len > ADMIN_SQL_MAX_VALUE) {
        sqlite3_result_error_toobig(ctx);
        return;
    }
    if (!(out = sqlite3_malloc64(len + 1))) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    o = out;
    for (from = s; (at = memmem(from, ns - (size_t)(from - s), y, ny)); from = at + ny) {
        memcpy(o, from, (size_t)(at - from));
        o += at - from;
        memcpy(o, z, nz);
        o += nz;
    }
    memcpy(o, from, ns - (size_t)(from - s));
    sqlite3_result_text64(ctx, (const char *)out, len, sqlite3_free, SQLITE_UTF8);
}

/* The length of the character of SET (a C string, UTF-8) that S (N bytes) starts with, or
 * with AT_END ends with; 0 if none. */
static size_t set_char(const unsigned char *s, size_t n, const unsigned char *set, bool at_end)
{
    while (*set) {
        size_t len = 1;
        if (*set >= 0xc0)
            while ((set[len] & 0xc0) == 0x80)
                len++;
        if (len <= n && !memcmp(at_end ? s + n - len : s, set, len))
            return len;
        set += len;
    }
    return 0;
}

/* trim(X, Y), ltrim(X, Y), rtrim(X, Y): X without the characters of Y at its start (user
 * data bit 1) and at its end (bit 2). The one-argument forms (blanks) are SQLite's. */
static void fn_trim(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uintptr_t sides = (uintptr_t)sqlite3_user_data(ctx);
    const unsigned char *in, *set;
    size_t nin, nset, len;
    (void)argc;

    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || !(in = sqlite3_value_text(argv[0])))
        return;
    nin = (size_t)sqlite3_value_bytes(argv[0]);
    if (!(set = sqlite3_value_text(argv[1])))
        return;
    nset = strlen((const char *)set);
    if ((uint64_t)nin * nset > ADMIN_SQL_MATCH_COST) {
        fn_too_costly(ctx, "trim()", nin, nset);
        return;
    }
    if (fn_interrupted(ctx))
        return;
    while ((sides & 1) && nin && (len = set_char(in, nin, set, false))) {
        in += len;
        nin -= len;
    }
    while ((sides & 2) && nin && (len = set_char(in, nin, set, true)))
        nin -= len;
    sqlite3_result_text64(ctx, (const char *)in, nin, SQLITE_TRANSIENT, SQLITE_UTF8);
}

/* A function defined here: name, arity, implementation, user data. */
struct sql_function {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    uintptr_t data;
};

static const struct sql_function functions[] = {
    /* What MySQL clients call. */
    {"database", 0, fn_database, 0},
    {"schema", 0, fn_database, 0},
    {"user", 0, fn_user, 0},
    {"current_user", 0, fn_user, 0},
    {"session_user", 0, fn_user, 0},
    {"system_user", 0, fn_user, 0},
    {"version", 0, fn_version, 0},
    {"connection_id", 0, fn_connection_id, 0},
    {"last_insert_id", 0, fn_zero, 0},
    {"found_rows", 0, fn_zero, 0},
    {"now", 0, fn_now, 0},
    {"current_timestamp", 0, fn_now, 0},
    {"unix_timestamp", 0, fn_unix_timestamp, 0},
    /* SQLite's, with their cost bounded. */
    {"like", 2, fn_match, 0},
    {"like", 3, fn_match, 0},
    {"glob", 2, fn_match, 1},
    {"instr", 2, fn_instr, 0},
    {"replace", 3, fn_replace, 0},
    {"ltrim", 2, fn_trim, 1},
    {"rtrim", 2, fn_trim, 2},
    {"trim", 2, fn_trim, 3},
};

/* ---- MySQL's functions that metadata queries call ----
 *
 * Each takes time in proportion to its arguments, which are no longer than SQLite's length
 * limit (ADMIN_SQL_MAX_VALUE), and builds no longer a value. */

/* MySQL's truth: not NULL and not zero (a string counts by its leading number). */
static bool truth(sqlite3_value *v)
{
    return sqlite3_value_type(v) != SQLITE_NULL && sqlite3_value_double(v) != 0.0;
}

/* IF(cond, then, else) */
static void fn_if(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_value(ctx, truth(argv[0]) ? argv[1] : argv[2]);
}

/* UCASE(s), LCASE(s): ASCII letters only, as SQLite's upper() and lower(). User data 1:
 * upper. */
static void fn_case(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    bool upper = sqlite3_user_data(ctx) != NULL;
    const unsigned char *s = sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    char *out;
    (void)argc;

    if (!s)
        return;
    if (!(out = sqlite3_malloc(n + 1))) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (int i = 0; i < n; i++)
        out[i] = (char)(s[i] < 0x80 ? (upper ? toupper(s[i]) : tolower(s[i])) : s[i]);
    out[n] = '\0';
    sqlite3_result_text(ctx, out, n, sqlite3_free);
}

/* Answer with the text of S (freed), or its error. */
static void result_str(sqlite3_context *ctx, sqlite3_str *s)
{
    int rc = sqlite3_str_errcode(s), n = sqlite3_str_length(s);
    char *text = sqlite3_str_finish(s);

    if (rc == SQLITE_TOOBIG)
        sqlite3_result_error_toobig(ctx);
    else if (rc != SQLITE_OK)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_text(ctx, text ? text : "", n, SQLITE_TRANSIENT);
    sqlite3_free(text);
}

/* CONCAT(a, ...): NULL if any argument is. CONCAT_WS(sep, a, ...) (user data 1): the
 * arguments that are not NULL, SEP between them; NULL only if SEP is. */
static void fn_concat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    bool ws = sqlite3_user_data(ctx) != NULL;
    sqlite3_str *s;
    bool first = true;

    if (argc == 0 || (ws && sqlite3_value_type(argv[0]) == SQLITE_NULL))
        return;
    s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    for (int i = ws ? 1 : 0; i < argc; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
            if (ws)
                continue;
            sqlite3_free(sqlite3_str_finish(s));
            return;
        }
        if (ws && !first)
            sqlite3_str_append(s, (const char *)sqlite3_value_text(argv[0]),
                               sqlite3_value_bytes(argv[0]));
        sqlite3_str_append(s, (const char *)sqlite3_value_text(argv[i]),
                           sqlite3_value_bytes(argv[i]));
        first = false;
    }
    result_str(ctx, s);
}

/* A copy of V's text with ASCII letters in lower case (MySQL's _ci comparison, near enough),
 * its length in *N; NULL when out of memory. */
static char *folded(sqlite3_value *v, size_t *n)
{
    const unsigned char *s = sqlite3_value_text(v);
    char *out;

    *n = (size_t)sqlite3_value_bytes(v);
    if (!s || !(out = malloc(*n + 1)))
        return NULL;
    for (size_t i = 0; i < *n; i++)
        out[i] = (char)(s[i] < 0x80 ? tolower(s[i]) : s[i]);
    out[*n] = '\0';
    return out;
}

/* Characters (UTF-8) in the N bytes at S. */
static long long utf8_chars(const char *s, size_t n)
{
    long long c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* LOCATE(substr, str[, pos]): where SUBSTR first occurs in STR at or after character POS
 * (from 1), in characters; 0 if it does not. Letters match in either case. */
static void fn_locate(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    long long pos = argc == 3 ? sqlite3_value_int64(argv[2]) : 1, len;
    size_t nn, nh, off = 0;
    char *needle, *hay;
    const char *at;

    for (int i = 0; i < argc; i++)
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            return;
    needle = folded(argv[0], &nn);
    hay = folded(argv[1], &nh);
    if (!needle || !hay) {
        free(needle);
        free(hay);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    len = utf8_chars(hay, nh);
    for (long long skip = pos - 1; skip > 0 && off < nh; skip--) /* to character POS */
        for (off++; off < nh && ((unsigned char)hay[off] & 0xc0) == 0x80; off++)
            ;
    if (pos < 1 || pos > len + 1)
        sqlite3_result_int(ctx, 0);
    else if (!(at = memmem(hay + off, nh - off, needle, nn)))
        sqlite3_result_int(ctx, 0);
    else
        sqlite3_result_int64(ctx, utf8_chars(hay, (size_t)(at - hay)) + 1);
    free(needle);
    free(hay);
}

/* LEAST(a, b, ...) and GREATEST (user data 1): NULL if any argument is; numbers compare as
 * numbers when all are, else as text without regard to case. */
static void fn_least(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    bool greatest = sqlite3_user_data(ctx) != NULL, numeric = true;
    int best = 0;

    for (int i = 0; i < argc; i++) {
        int t = sqlite3_value_type(argv[i]);
        if (t == SQLITE_NULL)
            return;
        numeric = numeric && (t == SQLITE_INTEGER || t == SQLITE_FLOAT);
    }
    for (int i = 1; i < argc; i++) {
        int cmp;
        if (numeric) {
            double a = sqlite3_value_double(argv[i]), b = sqlite3_value_double(argv[best]);
            cmp = (a > b) - (a < b);
        } else {
            cmp = sqlite3_stricmp((const char *)sqlite3_value_text(argv[i]),
                                  (const char *)sqlite3_value_text(argv[best]));
        }
        if (greatest ? cmp > 0 : cmp < 0)
            best = i;
    }
    sqlite3_result_value(ctx, argv[best]);
}

/* A function defined here: name, arity (-1: any), implementation, user data. */
struct dialect_function {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    uintptr_t data;
};

static const struct dialect_function dialect_functions[] = {
    {"if", 3, fn_if, 0},          {"ucase", 1, fn_case, 1},        {"lcase", 1, fn_case, 0},
    {"concat", -1, fn_concat, 0}, {"concat_ws", -1, fn_concat, 1}, {"locate", 2, fn_locate, 0},
    {"locate", 3, fn_locate, 0},  {"least", -1, fn_least, 0},      {"greatest", -1, fn_least, 1},
};

/* The functions a statement may call, besides those above: SQLite's that read and format
 * values and nothing else, each taking time in proportion to values no longer than
 * ADMIN_SQL_MAX_VALUE. So not, for instance, fts3_tokenizer() (it returns an address),
 * load_extension(), zeroblob(), randomblob(), the json and pragma ones, nor printf() and
 * format(): printf('%.*c', N, x) loops N times whatever the length limit. */
static const char *const allowed_functions[] = {
    /* aggregate and window */
    "count",
    "sum",
    "total",
    "avg",
    "min",
    "max",
    "group_concat",
    "row_number",
    "rank",
    "dense_rank",
    /* scalar */
    "abs",
    "round",
    "length",
    "lower",
    "upper",
    "substr",
    "substring",
    "char",
    "unicode",
    "hex",
    "quote",
    "coalesce",
    "ifnull",
    "nullif",
    "iif",
    "typeof",
    /* date and time */
    "date",
    "time",
    "datetime",
    "julianday",
    "strftime",
    "unixepoch",
    "current_date",
    "current_time",
};

bool admin_funcs_allowed(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(dialect_functions); i++)
        if (!strcasecmp(dialect_functions[i].name, name))
            return true;
    for (size_t i = 0; i < ARRAY_SIZE(functions); i++)
        if (!strcasecmp(functions[i].name, name))
            return true;
    for (size_t i = 0; i < ARRAY_SIZE(allowed_functions); i++)
        if (!strcasecmp(allowed_functions[i], name))
            return true;
    return false;
}

int admin_funcs_open(sqlite3 *db)
{
    for (size_t i = 0; i < ARRAY_SIZE(functions); i++)
        sqlite3_create_function(db, functions[i].name, functions[i].nargs,
                                SQLITE_UTF8 | SQLITE_DIRECTONLY, (void *)functions[i].data,
                                functions[i].fn, NULL, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(dialect_functions); i++) {
        const struct dialect_function *f = &dialect_functions[i];
        if (sqlite3_create_function(db, f->name, f->nargs,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_DETERMINISTIC,
                                    (void *)f->data, f->fn, NULL, NULL) != SQLITE_OK) {
            log_err("admin: cannot create function %s: %s", f->name, sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}
