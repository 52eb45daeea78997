/* admin_show.c - the MySQL statements SQLite cannot parse, answered from a {words, handler}
 * table: SHOW SERVERS, SESSIONS, HEALTH LOG, STATUS, VARIABLES and PROCESSLIST over the
 * router's tables; SHOW DATABASES, TABLES, COLUMNS, INDEX, CREATE ... over
 * information_schema; SHOW GRANTS, DESCRIBE, KILL, USE, and the statements that only answer
 * OK (SET, BEGIN, ...) or refuse (PREPARE, ...). Most translate to SQL that the engine runs
 * as it would the client's own (admin_sql_run()).
 *
 * Thread: rb_loop (the control thread) only, inside the statement running now. */
#include "admin_show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "admin_dialect.h"
#include "admin_exec.h"
#include "admin_lex.h"
#include "rebound.h"

/* "LIKE 'pat'" or "WHERE expr" after SHOW STATUS / VARIABLES / TABLES, as SQL on COL
 * appended to BASE. */
static void show_filtered(struct admin_exec *x, const char *base, const char *col, const char *rest,
                          const char *order)
{
    const char *r;

    if (!*rest)
        admin_sql_run_built(x, sqlite3_mprintf("%s ORDER BY %s", base, order));
    else if ((r = admin_lex_words(rest, "LIKE")))
        admin_sql_run_built(
            x, sqlite3_mprintf("%s WHERE %s LIKE %s ORDER BY %s", base, col, r, order));
    else if ((r = admin_lex_words(rest, "WHERE")))
        admin_sql_run_built(
            x, sqlite3_mprintf("SELECT * FROM (%s) WHERE %s ORDER BY %s", base, r, order));
    else
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                       "You have an error in your SQL syntax: expected LIKE 'pattern' or WHERE");
}

/* SHOW SERVERS: what fits a terminal - where each server stands and why. The state shows
 * MAINT for a server an operator keeps in maintenance. */
static void sc_servers(struct admin_exec *x, const char *rest)
{
    show_filtered(x,
                  "SELECT listener, name, role, CASE admin_state WHEN 'maint' THEN 'MAINT' ELSE "
                  "state END AS state, admin_state, check_status, check_info, sessions_current "
                  "AS sessions, downtime_s FROM servers",
                  "name", rest, "rowid");
}

/* SHOW FULL SERVERS: every column of the servers table. */
static void sc_full_servers(struct admin_exec *x, const char *rest)
{
    show_filtered(x, "SELECT * FROM servers", "name", rest, "rowid");
}

static void sc_sessions(struct admin_exec *x, const char *rest)
{
    show_filtered(x, "SELECT * FROM sessions", "server", rest, "id");
}

static void sc_processlist(struct admin_exec *x, const char *rest)
{
    (void)rest;
    admin_sql_run(x, "SELECT id AS Id, 'client' AS User, client AS Host, listener AS db, "
                     "'Relay' AS Command, CAST(idle_s AS INTEGER) AS Time, state AS State, "
                     "server AS Info FROM sessions ORDER BY id");
}

/* SHOW HEALTH LOG [LIMIT n]: the newest N events (default 50), oldest first. */
/* SHOW [FULL] HEALTH LOG [LIMIT n]: the newest n events, oldest first; the time and the line
 * (which says it all) unless FULL asks for every column. */
static void health_log_rows(struct admin_exec *x, const char *rest, bool full)
{
    const char *r = admin_lex_words(rest, "LIMIT");
    char *end;
    long n = 50;

    if (*rest) {
        n = r ? strtol(r, &end, 10) : -1;
        if (!r || end == r || n < 0 || *admin_lex_space(end)) {
            x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                           "You have an error in your SQL syntax: expected SHOW [FULL] HEALTH "
                           "LOG [LIMIT n]");
            return;
        }
    }
    admin_sql_run_built(x,
                        sqlite3_mprintf("SELECT %s FROM (SELECT * FROM health_log ORDER BY id DESC "
                                        "LIMIT %ld) ORDER BY id",
                                        full ? "*" : "time, line", n));
}

static void sc_health_log(struct admin_exec *x, const char *rest)
{
    health_log_rows(x, rest, false);
}

static void sc_full_health_log(struct admin_exec *x, const char *rest)
{
    health_log_rows(x, rest, true);
}

static void sc_status(struct admin_exec *x, const char *rest)
{
    show_filtered(x, "SELECT name AS Variable_name, value AS Value FROM status", "name", rest,
                  "rowid");
}

static void sc_variables(struct admin_exec *x, const char *rest)
{
    show_filtered(x, "SELECT name AS Variable_name, value AS Value FROM variables", "name", rest,
                  "rowid");
}

/* ---- SHOW statements about the catalog: queries of information_schema ---- */

/* The database a statement names, else the current one, else ADMIN_DB. */
static const char *default_db(const struct admin_exec *x, const char *named)
{
    if (named && named[0])
        return named;
    return x->client->db[0] ? x->client->db : ADMIN_DB;
}

/* "t" or "db.t" at S into T and DB ("" when not given), then an optional FROM|IN db. Returns
 * what follows. */
static const char *object_name(const char *s, char *dbname, char *t)
{
    const char *r;

    dbname[0] = '\0';
    s = admin_lex_name(s, t, CONF_NAME_MAX);
    if (*s == '.') {
        snprintf(dbname, CONF_NAME_MAX, "%s", t);
        s = admin_lex_name(admin_lex_space(s + 1), t, CONF_NAME_MAX);
    }
    if ((r = admin_lex_words(s, "FROM")) || (r = admin_lex_words(s, "IN")))
        s = admin_lex_name(r, dbname, CONF_NAME_MAX);
    return s;
}

/* An optional FROM|IN db at S into DB ("" if none). Returns what follows. */
static const char *from_db(const char *s, char *dbname)
{
    const char *r;

    dbname[0] = '\0';
    if ((r = admin_lex_words(s, "FROM")) || (r = admin_lex_words(s, "IN")))
        return admin_lex_name(r, dbname, CONF_NAME_MAX);
    return s;
}

/* Is DB a database? If not, answer 1049 and return false. */
static bool db_exists(struct admin_exec *x, const char *dbname)
{
    char msg[CONF_NAME_MAX + 40];

    if (admin_dialect_database(dbname, strlen(dbname)))
        return true;
    snprintf(msg, sizeof(msg), "Unknown database '%s'", dbname);
    x->sink->error(x->sink, ER_BAD_DB, "42000", msg);
    return false;
}

/* Is T a table (or view) of database DB? If not, answer 1146 and return false. */
static bool table_exists(struct admin_exec *x, const char *dbname, const char *t)
{
    const char *schema = admin_dialect_schema(dbname);
    char msg[2 * CONF_NAME_MAX + 40];

    if (schema && !strcmp(schema, "main") ? admin_sql_table(t) != NULL : admin_dialect_table(t))
        return true;
    snprintf(msg, sizeof(msg), "Table '%s.%s' doesn't exist", dbname, t);
    x->sink->error(x->sink, ER_NO_SUCH_TABLE, "42S02", msg);
    return false;
}

/* Answer SELECT-list SEL (with FROM) restricted to COND, then by REST: "LIKE 'pat'" on
 * LIKE_COL (NULL: LIKE is not allowed) or "WHERE expr" on the answer's own columns, ordered
 * by ORDER. SEL and COND are freed. */
static void show_meta(struct admin_exec *x, char *sel, char *cond, const char *like_col,
                      const char *rest, const char *order)
{
    const char *r;

    if (!sel || !cond)
        x->sink->error(x->sink, ER_OUT_OF_RESOURCES, "HY000", "out of memory");
    else if (!*rest)
        admin_sql_run_built(x, sqlite3_mprintf("%s WHERE %s ORDER BY %s", sel, cond, order));
    else if (like_col && (r = admin_lex_words(rest, "LIKE")))
        admin_sql_run_built(x, sqlite3_mprintf("%s WHERE (%s) AND %s LIKE %s ORDER BY %s", sel,
                                               cond, like_col, r, order));
    else if ((r = admin_lex_words(rest, "WHERE")))
        admin_sql_run_built(x, sqlite3_mprintf("SELECT * FROM (%s WHERE %s ORDER BY %s) WHERE %s",
                                               sel, cond, order, r));
    else
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                       like_col ? "You have an error in your SQL syntax: expected LIKE "
                                  "'pattern' or WHERE"
                                : "You have an error in your SQL syntax: expected WHERE");
    sqlite3_free(sel);
    sqlite3_free(cond);
}

/* SHOW DATABASES | SCHEMAS [LIKE | WHERE] */
static void sc_databases(struct admin_exec *x, const char *rest)
{
    show_meta(x,
              sqlite3_mprintf("SELECT SCHEMA_NAME AS `Database` FROM " ADMIN_INFO_DB ".SCHEMATA"),
              sqlite3_mprintf("1"), "SCHEMA_NAME", rest, "SCHEMA_NAME");
}

/* The database an optional FROM|IN db at *REST names (*REST moves past it), else the current
 * one, by the name MySQL clients know it by; NULL once 1049 is answered. */
static const char *shown_db(struct admin_exec *x, const char **rest)
{
    char named[CONF_NAME_MAX];
    const char *dbname;

    *rest = from_db(*rest, named);
    dbname = default_db(x, named);
    if (!db_exists(x, dbname))
        return NULL;
    return admin_dialect_database(dbname, strlen(dbname));
}

/* SHOW [FULL] TABLES [FROM db] [LIKE | WHERE] */
static void show_tables(struct admin_exec *x, const char *rest, bool full)
{
    const char *dbname = shown_db(x, &rest);

    if (!dbname)
        return;
    show_meta(x,
              sqlite3_mprintf("SELECT TABLE_NAME AS \"Tables_in_%w\"%s FROM " ADMIN_INFO_DB
                              ".TABLES",
                              dbname, full ? ", TABLE_TYPE AS Table_type" : ""),
              sqlite3_mprintf("TABLE_SCHEMA = %Q", dbname), "TABLE_NAME", rest, "TABLE_NAME");
}

static void sc_tables(struct admin_exec *x, const char *rest)
{
    show_tables(x, rest, false);
}

static void sc_full_tables(struct admin_exec *x, const char *rest)
{
    show_tables(x, rest, true);
}

/* SHOW TABLE STATUS [FROM db] [LIKE | WHERE] */
static void sc_table_status(struct admin_exec *x, const char *rest)
{
    const char *dbname = shown_db(x, &rest);

    if (!dbname)
        return;
    show_meta(x,
              sqlite3_mprintf(
                  "SELECT TABLE_NAME AS Name, ENGINE AS Engine, VERSION AS Version, ROW_FORMAT "
                  "AS Row_format, TABLE_ROWS AS \"Rows\", AVG_ROW_LENGTH AS Avg_row_length, "
                  "DATA_LENGTH AS Data_length, MAX_DATA_LENGTH AS Max_data_length, "
                  "INDEX_LENGTH AS Index_length, DATA_FREE AS Data_free, AUTO_INCREMENT AS "
                  "Auto_increment, CREATE_TIME AS Create_time, UPDATE_TIME AS Update_time, "
                  "CHECK_TIME AS Check_time, TABLE_COLLATION AS Collation, CHECKSUM AS "
                  "Checksum, CREATE_OPTIONS AS Create_options, TABLE_COMMENT AS Comment "
                  "FROM " ADMIN_INFO_DB ".TABLES"),
              sqlite3_mprintf("TABLE_SCHEMA = %Q", dbname), "TABLE_NAME", rest, "TABLE_NAME");
}

/* The next name of a writable list W ("a,b") into NAME; returns the rest, NULL at the end. */
static const char *writable_next(const char *w, char *name, size_t size)
{
    size_t n;

    if (!w || !*w)
        return NULL;
    n = strcspn(w, ",");
    snprintf(name, size, "%.*s", (int)n, w);
    return w + n + (w[n] == ',');
}

/* The columns of list W as SQL strings, "'a','b'" ("''" when none); sqlite3_free() it. */
static char *writable_sql(const char *w)
{
    char name[CONF_NAME_MAX], *list = NULL;

    while ((w = writable_next(w, name, sizeof(name))))
        list = sqlite3_mprintf("%z%s%Q", list, list ? "," : "", name);
    return list ? list : sqlite3_mprintf("''");
}

/* The columns of table T that an UPDATE may set, NULL if none (or not for this client). */
static const char *writable_column(const struct admin_exec *x, const char *dbname, const char *t)
{
    const struct admin_vtable *def = admin_sql_table(t);

    if (!def || strcmp(admin_dialect_schema(dbname), "main") || x->client->readonly)
        return NULL;
    return def->writable;
}

/* DESCRIBE t [col] and SHOW [FULL] COLUMNS|FIELDS FROM t [FROM db] [LIKE | WHERE]: one row per
 * column; Extra says `writable` for the columns an UPDATE may set. */
static void show_columns(struct admin_exec *x, const char *rest, bool full, bool describe)
{
    char named[CONF_NAME_MAX], t[CONF_NAME_MAX], col[CONF_NAME_MAX], *pat = NULL, *privs, *w;
    const char *dbname;

    rest = object_name(rest, named, t);
    dbname = default_db(x, named);
    if (!db_exists(x, dbname) || !table_exists(x, dbname, t))
        return;
    if (describe && *rest) { /* DESCRIBE t col: the columns it matches */
        admin_lex_name(rest, col, sizeof(col));
        rest = pat = sqlite3_mprintf("LIKE %Q", col);
    }
    w = writable_sql(writable_column(x, dbname, t));
    privs = sqlite3_mprintf(
        "(CASE WHEN COLUMN_NAME IN (%s) THEN 'select,update' ELSE PRIVILEGES END)", w ? w : "''");
    show_meta(x,
              sqlite3_mprintf("SELECT COLUMN_NAME AS Field, COLUMN_TYPE AS Type, %s IS_NULLABLE "
                              "AS \"Null\", COLUMN_KEY AS \"Key\", COLUMN_DEFAULT AS \"Default\", "
                              "(CASE WHEN COLUMN_NAME IN (%s) THEN 'writable' ELSE EXTRA END) AS "
                              "Extra%s%s%s FROM " ADMIN_INFO_DB ".COLUMNS",
                              full ? "COLLATION_NAME AS Collation," : "", w ? w : "''",
                              full ? ", " : "", full && privs ? privs : "",
                              full ? " AS Privileges, COLUMN_COMMENT AS Comment" : ""),
              sqlite3_mprintf("TABLE_SCHEMA = %Q AND TABLE_NAME = %Q",
                              admin_dialect_database(dbname, strlen(dbname)), t),
              "COLUMN_NAME", rest ? rest : "", "ORDINAL_POSITION");
    sqlite3_free(privs);
    sqlite3_free(w);
    sqlite3_free(pat);
}

static void sc_describe(struct admin_exec *x, const char *rest)
{
    show_columns(x, rest, false, true);
}

static void sc_columns(struct admin_exec *x, const char *rest)
{
    show_columns(x, rest, false, false);
}

static void sc_full_columns(struct admin_exec *x, const char *rest)
{
    show_columns(x, rest, true, false);
}

/* SHOW INDEX|INDEXES|KEYS FROM t [FROM db] [WHERE]: the primary key. */
static void sc_index(struct admin_exec *x, const char *rest)
{
    char named[CONF_NAME_MAX], t[CONF_NAME_MAX];
    const char *dbname;

    rest = object_name(rest, named, t);
    dbname = default_db(x, named);
    if (!db_exists(x, dbname) || !table_exists(x, dbname, t))
        return;
    show_meta(x,
              sqlite3_mprintf("SELECT TABLE_NAME AS \"Table\", NON_UNIQUE AS Non_unique, "
                              "INDEX_NAME AS Key_name, SEQ_IN_INDEX AS Seq_in_index, COLUMN_NAME "
                              "AS Column_name, COLLATION AS Collation, CARDINALITY AS "
                              "Cardinality, SUB_PART AS Sub_part, PACKED AS Packed, NULLABLE AS "
                              "\"Null\", INDEX_TYPE AS Index_type, COMMENT AS Comment, "
                              "INDEX_COMMENT AS Index_comment, IS_VISIBLE AS Visible, EXPRESSION "
                              "AS Expression FROM " ADMIN_INFO_DB ".STATISTICS"),
              sqlite3_mprintf("TABLE_SCHEMA = %Q AND TABLE_NAME = %Q",
                              admin_dialect_database(dbname, strlen(dbname)), t),
              NULL, rest, "SEQ_IN_INDEX");
}

/* SHOW CREATE TABLE t: MySQL's CREATE TABLE for it, from information_schema. */
static void sc_show_create(struct admin_exec *x, const char *rest)
{
    char named[CONF_NAME_MAX], t[CONF_NAME_MAX];
    const char *dbname;

    object_name(rest, named, t);
    dbname = default_db(x, named);
    if (!db_exists(x, dbname) || !table_exists(x, dbname, t))
        return;
    dbname = admin_dialect_database(dbname, strlen(dbname));
    admin_sql_run_built(
        x, sqlite3_mprintf(
               "SELECT TABLE_NAME AS `Table`, 'CREATE TABLE `' || TABLE_NAME || '` (' || char(10) "
               "|| group_concat(def, ',' || char(10)) || coalesce((SELECT ',' || char(10) || '  "
               "PRIMARY KEY (' || group_concat('`' || COLUMN_NAME || '`', ',') || ')' FROM (SELECT "
               "COLUMN_NAME FROM " ADMIN_INFO_DB ".KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %Q AND "
               "TABLE_NAME = %Q ORDER BY ORDINAL_POSITION)), '') || char(10) || ') ENGINE=' || "
               "coalesce((SELECT ENGINE FROM " ADMIN_INFO_DB ".TABLES WHERE TABLE_SCHEMA = %Q AND "
               "TABLE_NAME = %Q), 'MEMORY') || ' DEFAULT CHARSET=utf8mb4' AS `Create Table` FROM "
               "(SELECT TABLE_NAME, '  `' || COLUMN_NAME || '` ' || COLUMN_TYPE || (CASE "
               "IS_NULLABLE WHEN 'NO' THEN ' NOT NULL' ELSE '' END) AS def FROM " ADMIN_INFO_DB
               ".COLUMNS WHERE TABLE_SCHEMA = %Q AND TABLE_NAME = %Q ORDER BY ORDINAL_POSITION)",
               dbname, t, dbname, t, dbname, t));
}

/* SHOW CREATE DATABASE | SCHEMA db */
static void sc_show_create_db(struct admin_exec *x, const char *rest)
{
    char named[CONF_NAME_MAX];
    const char *dbname;

    admin_lex_name(rest, named, sizeof(named));
    if (!db_exists(x, named))
        return;
    dbname = admin_dialect_database(named, strlen(named));
    admin_sql_run_built(x,
                        sqlite3_mprintf("SELECT %Q AS `Database`, 'CREATE DATABASE `%q` /*!40100 "
                                        "DEFAULT CHARACTER SET utf8mb4 */' AS `Create Database`",
                                        dbname, dbname));
}

/* SHOW [STORAGE] ENGINES */
static void sc_engines(struct admin_exec *x, const char *rest)
{
    show_meta(x,
              sqlite3_mprintf("SELECT ENGINE AS Engine, SUPPORT AS Support, COMMENT AS Comment, "
                              "TRANSACTIONS AS Transactions, XA, SAVEPOINTS AS Savepoints FROM "
                              "" ADMIN_INFO_DB ".ENGINES"),
              sqlite3_mprintf("1"), NULL, rest, "ENGINE");
}

/* SHOW COLLATION [LIKE | WHERE] */
static void sc_collation(struct admin_exec *x, const char *rest)
{
    show_meta(x,
              sqlite3_mprintf("SELECT COLLATION_NAME AS Collation, CHARACTER_SET_NAME AS "
                              "Charset, ID AS Id, IS_DEFAULT AS \"Default\", IS_COMPILED AS "
                              "Compiled, SORTLEN AS Sortlen, PAD_ATTRIBUTE AS Pad_attribute FROM "
                              "" ADMIN_INFO_DB ".COLLATIONS"),
              sqlite3_mprintf("1"), "COLLATION_NAME", rest, "COLLATION_NAME");
}

/* SHOW CHARACTER SET | CHARSET [LIKE | WHERE] */
static void sc_charset(struct admin_exec *x, const char *rest)
{
    show_meta(x,
              sqlite3_mprintf("SELECT CHARACTER_SET_NAME AS Charset, DESCRIPTION AS "
                              "Description, DEFAULT_COLLATE_NAME AS \"Default collation\", "
                              "MAXLEN AS Maxlen FROM " ADMIN_INFO_DB ".CHARACTER_SETS"),
              sqlite3_mprintf("1"), "CHARACTER_SET_NAME", rest, "CHARACTER_SET_NAME");
}

/* The account called USER: whether it is read-only. False if there is none. */
static bool account_readonly(const char *user, bool *readonly)
{
    const struct conf *aconf = admin_sql_conf();
    const struct conf_admin *a = aconf ? &aconf->admin : NULL;

    if (a && !strcmp(user, a->user.name)) {
        *readonly = false;
        return true;
    }
    if (a && a->has_ro && !strcmp(user, a->ro.name)) {
        *readonly = true;
        return true;
    }
    return false;
}

/* Send one GRANT line: "GRANT WHAT ON OBJ TO `user`@`%`". */
static int grant_row(struct admin_exec *x, const char *user, const char *what, const char *obj)
{
    char line[3 * CONF_NAME_MAX + 80];
    const char *vals[1] = {line};
    size_t lens[1];

    snprintf(line, sizeof(line), "GRANT %s ON %s TO `%s`@`%%`", what, obj, user);
    lens[0] = strlen(line);
    return x->sink->row(x->sink, 1, vals, lens);
}

/* SHOW GRANTS [FOR CURRENT_USER[()] | FOR user[@host]]: what the account may do, in MySQL's
 * form: reading every table (and information_schema, which MySQL does not list), and for the
 * admin user the writes the tables take. Accounts are not tied to a host: `%`. */
static void sc_grants(struct admin_exec *x, const char *rest)
{
    static const enum admin_type types[] = {ADMIN_T_TEXT};
    char user[CONF_NAME_MAX], host[CONF_NAME_MAX], title[CONF_NAME_MAX + 20], msg[200], obj[80];
    const char *names[1] = {title}, *r;
    bool readonly = x->client->readonly;
    const struct admin_tables *tabs = admin_sql_tables();

    snprintf(user, sizeof(user), "%s", x->client->user);
    if ((r = admin_lex_words(rest, "FOR"))) {
        if ((rest = admin_lex_words(r, "CURRENT_USER"))) {
            if (rest[0] == '(' && admin_lex_space(rest + 1)[0] == ')')
                rest = admin_lex_space(admin_lex_space(rest + 1) + 1);
        } else {
            rest = admin_lex_name(r, user, sizeof(user));
            if (*rest == '@')
                rest = admin_lex_name(admin_lex_space(rest + 1), host, sizeof(host));
            if (strcmp(user, x->client->user) && x->client->readonly) {
                snprintf(msg, sizeof(msg),
                         "Access denied for user '%s'@'%%' to database 'mysql': the read-only "
                         "user sees only its own grants",
                         x->client->user);
                x->sink->error(x->sink, ER_DBACCESS_DENIED, "42000", msg);
                return;
            }
            if (strcmp(user, x->client->user) && !account_readonly(user, &readonly)) {
                snprintf(msg, sizeof(msg),
                         "There is no such grant defined for user '%.64s' on host '%%'", user);
                x->sink->error(x->sink, ER_NONEXISTING_GRANT, "42000", msg);
                return;
            }
        }
    }
    if (*rest) {
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                       "You have an error in your SQL syntax: expected SHOW GRANTS [FOR "
                       "CURRENT_USER | FOR user]");
        return;
    }
    snprintf(title, sizeof(title), "Grants for %s@%%", user);
    if (x->sink->columns(x->sink, 1, names, types) < 0 || grant_row(x, user, "USAGE", "*.*") < 0 ||
        grant_row(x, user, "SELECT", "`" ADMIN_DB "`.*") < 0)
        return;
    for (size_t i = 0; !readonly && i < tabs->ntables; i++) {
        const struct admin_vtable *t = &tabs->tables[i];
        char what[4 * CONF_NAME_MAX + 20], name[CONF_NAME_MAX];
        const char *w = t->writable;
        size_t n = (size_t)snprintf(what, sizeof(what), "UPDATE (");
        snprintf(obj, sizeof(obj), "`" ADMIN_DB "`.`%s`", t->name);
        while ((w = writable_next(w, name, sizeof(name))) && n < sizeof(what))
            n += (size_t)snprintf(what + n, sizeof(what) - n, "%s`%s`", n > 8 ? ", " : "", name);
        if (n < sizeof(what))
            snprintf(what + n, sizeof(what) - n, ")");
        if ((t->update && t->writable && grant_row(x, user, what, obj) < 0) ||
            (t->remove && grant_row(x, user, "DELETE", obj) < 0))
            return;
    }
    x->sink->end(x->sink);
}

/* PREPARE, EXECUTE, DEALLOCATE PREPARE: refused with what to do instead. */
static void sc_prepare(struct admin_exec *x, const char *rest)
{
    (void)rest;
    x->sink->error(x->sink, ER_NOT_SUPPORTED_YET, "42000",
                   "SQL prepared statements (PREPARE, EXECUTE, DEALLOCATE PREPARE) are not "
                   "supported on the admin port: send the statement itself");
}

static void sc_warnings(struct admin_exec *x, const char *rest)
{
    (void)rest;
    admin_sql_run(x, "SELECT 'Note' AS Level, 0 AS Code, '' AS Message WHERE 0");
}

/* KILL [CONNECTION | QUERY] id: close a client session. */
static void sc_kill(struct admin_exec *x, const char *rest)
{
    const char *r;
    char *end;
    long long id;

    if (admin_lex_words(rest, "QUERY")) {
        x->sink->error(x->sink, ER_NOT_SUPPORTED_YET, "42000",
                       "KILL QUERY is not supported: rebound relays whole sessions, use KILL id");
        return;
    }
    if ((r = admin_lex_words(rest, "CONNECTION")))
        rest = r;
    id = strtoll(rest, &end, 10);
    if (end == rest || id <= 0 || *admin_lex_space(end)) {
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                       "You have an error in your SQL syntax: expected KILL [CONNECTION] id");
        return;
    }
    x->kill_id = (uint64_t)id;
    admin_sql_run_built(x, sqlite3_mprintf("DELETE FROM sessions WHERE id = %lld", id));
}

static void sc_ok(struct admin_exec *x, const char *rest)
{
    (void)rest;
    x->sink->ok(x->sink, 0, NULL);
}

static void sc_use(struct admin_exec *x, const char *rest)
{
    char name[CONF_NAME_MAX];

    /* "db", or the last part of "x.db" */
    for (rest = admin_lex_name(rest, name, sizeof(name)); *rest == '.';)
        rest = admin_lex_name(admin_lex_space(rest + 1), name, sizeof(name));
    admin_sql_use(x->client, name, strlen(name), x->sink);
}

/* Longer word lists first where one starts another. */
static const struct admin_shortcut shortcuts[] = {
    {"SHOW FULL SERVERS", sc_full_servers, ADMIN_SC_SQL},
    {"SHOW SERVERS", sc_servers, ADMIN_SC_SQL},
    {"SHOW SESSIONS", sc_sessions, ADMIN_SC_SQL},
    {"SHOW FULL PROCESSLIST", sc_processlist, ADMIN_SC_SQL},
    {"SHOW PROCESSLIST", sc_processlist, ADMIN_SC_SQL},
    {"SHOW FULL HEALTH LOG", sc_full_health_log, ADMIN_SC_SQL},
    {"SHOW HEALTH LOG", sc_health_log, ADMIN_SC_SQL},
    {"SHOW GLOBAL STATUS", sc_status, ADMIN_SC_SQL},
    {"SHOW SESSION STATUS", sc_status, ADMIN_SC_SQL},
    {"SHOW STATUS", sc_status, ADMIN_SC_SQL},
    {"SHOW GLOBAL VARIABLES", sc_variables, ADMIN_SC_SQL},
    {"SHOW SESSION VARIABLES", sc_variables, ADMIN_SC_SQL},
    {"SHOW VARIABLES", sc_variables, ADMIN_SC_SQL},
    {"SHOW DATABASES", sc_databases, ADMIN_SC_SQL},
    {"SHOW SCHEMAS", sc_databases, ADMIN_SC_SQL},
    {"SHOW FULL TABLES", sc_full_tables, ADMIN_SC_SQL},
    {"SHOW TABLES", sc_tables, ADMIN_SC_SQL},
    {"SHOW TABLE STATUS", sc_table_status, ADMIN_SC_SQL},
    {"SHOW FULL COLUMNS FROM", sc_full_columns, ADMIN_SC_SQL},
    {"SHOW FULL COLUMNS IN", sc_full_columns, ADMIN_SC_SQL},
    {"SHOW FULL FIELDS FROM", sc_full_columns, ADMIN_SC_SQL},
    {"SHOW FULL FIELDS IN", sc_full_columns, ADMIN_SC_SQL},
    {"SHOW COLUMNS FROM", sc_columns, ADMIN_SC_SQL},
    {"SHOW COLUMNS IN", sc_columns, ADMIN_SC_SQL},
    {"SHOW FIELDS FROM", sc_columns, ADMIN_SC_SQL},
    {"SHOW FIELDS IN", sc_columns, ADMIN_SC_SQL},
    {"SHOW INDEX FROM", sc_index, ADMIN_SC_SQL},
    {"SHOW INDEX IN", sc_index, ADMIN_SC_SQL},
    {"SHOW INDEXES FROM", sc_index, ADMIN_SC_SQL},
    {"SHOW INDEXES IN", sc_index, ADMIN_SC_SQL},
    {"SHOW KEYS FROM", sc_index, ADMIN_SC_SQL},
    {"SHOW KEYS IN", sc_index, ADMIN_SC_SQL},
    {"SHOW CREATE TABLE", sc_show_create, ADMIN_SC_SQL},
    {"SHOW CREATE DATABASE", sc_show_create_db, ADMIN_SC_SQL},
    {"SHOW CREATE SCHEMA", sc_show_create_db, ADMIN_SC_SQL},
    {"SHOW STORAGE ENGINES", sc_engines, ADMIN_SC_SQL},
    {"SHOW ENGINES", sc_engines, ADMIN_SC_SQL},
    {"SHOW COLLATION", sc_collation, ADMIN_SC_SQL},
    {"SHOW CHARACTER SET", sc_charset, ADMIN_SC_SQL},
    {"SHOW CHARSET", sc_charset, ADMIN_SC_SQL},
    {"SHOW GRANTS", sc_grants, ADMIN_SC_RUNS},
    {"SHOW WARNINGS", sc_warnings, ADMIN_SC_SQL},
    {"SHOW ERRORS", sc_warnings, ADMIN_SC_SQL},
    {"DESCRIBE", sc_describe, ADMIN_SC_SQL},
    {"DESC", sc_describe, ADMIN_SC_SQL},
    {"KILL", sc_kill, ADMIN_SC_RUNS},
    {"SET", sc_ok, ADMIN_SC_RUNS},
    {"USE", sc_use, ADMIN_SC_RUNS},
    {"BEGIN", sc_ok, ADMIN_SC_RUNS},
    {"START TRANSACTION", sc_ok, ADMIN_SC_RUNS},
    {"COMMIT", sc_ok, ADMIN_SC_RUNS},
    {"ROLLBACK", sc_ok, ADMIN_SC_RUNS},
    {"LOCK TABLES", sc_ok, ADMIN_SC_RUNS},
    {"UNLOCK TABLES", sc_ok, ADMIN_SC_RUNS},
    {"PREPARE", sc_prepare, ADMIN_SC_SQL},
    {"EXECUTE", sc_prepare, ADMIN_SC_SQL},
    {"DEALLOCATE PREPARE", sc_prepare, ADMIN_SC_SQL},
    {"DROP PREPARE", sc_prepare, ADMIN_SC_SQL},
};

const struct admin_shortcut *admin_show_find(const char *s, const char **rest)
{
    for (size_t i = 0; i < ARRAY_SIZE(shortcuts); i++)
        if ((*rest = admin_lex_words(s, shortcuts[i].words)))
            return &shortcuts[i];
    return NULL;
}
