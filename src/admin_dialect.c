/* admin_dialect.c - the MySQL dialect the admin port speaks on top of SQLite: the
 * information_schema database, DUAL, and the bits of MySQL syntax SQLite cannot parse.
 * MySQL's functions are admin_funcs.c's.
 *
 * information_schema is an attached in-memory database. Its content comes from views that read
 * SQLite's own catalog through the pragma table-valued functions (pragma_database_list,
 * pragma_table_list, pragma_table_info), so what it shows is what the router's virtual tables
 * declare, and a table or column added to admin_views.c appears there without another list
 * to keep. The views run once, at start, and each is then replaced by a table holding its rows:
 * no statement can change the schema afterwards, so the copy stays exact, and reading it
 * costs next to nothing, where the views took milliseconds of a step (admin_sql.h bounds a
 * step to ADMIN_SQL_SLICE_MS). The views describe themselves too, so the tables are listed
 * (as MySQL's are) as SYSTEM VIEWs. Every column compares without regard to case (COLLATE
 * NOCASE), as MySQL's information_schema does, so `IS_NULLABLE = 'yes'` and
 * `TABLE_NAME = 'SERVERS'` match.
 *
 * A server variable (@@version, @@session.autocommit, ...) is replaced by its value before
 * SQLite sees the statement, and named as MySQL names the column.
 *
 * DUAL is a TEMP view of one row: SQLite searches TEMP first, and TEMP objects never appear
 * in information_schema.
 *
 * Thread: rb_loop (the control thread) only, like admin_sql.c. */
#include "admin_dialect.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_lex.h"
#include "admin_sql.h"
#include "log.h"
#include "rebound.h"

/* ---- information_schema ---- */

/* The MySQL name of the SQLite schema in column "schema" of pragma_table_list T. */
#define DB_OF_T "(CASE t.schema WHEN 'main' THEN '" ADMIN_DB "' ELSE t.schema END) COLLATE NOCASE"

/* The tables and views of both databases, without SQLite's own (sqlite_schema). */
#define CATALOG_TABLES                                                                             \
    "pragma_table_list AS t WHERE t.schema IN ('main', '" ADMIN_INFO_DB "') "                      \
    "AND substr(t.name, 1, 7) <> 'sqlite_'"

/* Their columns, as c (pragma_table_info), with the MySQL type of each in m. A column of a
 * view has no declared type: it reads as text. */
#define CATALOG_COLUMNS                                                                            \
    "pragma_table_list AS t, pragma_table_info(t.name, t.schema) AS c, types AS m "                \
    "WHERE t.schema IN ('main', '" ADMIN_INFO_DB "') AND substr(t.name, 1, 7) <> 'sqlite_' "       \
    "AND m.decl = (CASE upper(c.type) WHEN 'INTEGER' THEN 'INTEGER' WHEN 'REAL' THEN 'REAL' "      \
    "ELSE 'TEXT' END)"

/* SQLite's declared types as MySQL column types: name, lengths, precision, scale, charset. */
#define TYPES_CTE                                                                                  \
    "WITH types(decl, data_type, char_len, num_prec, num_scale, charset, coll) AS (VALUES "        \
    "('INTEGER', 'bigint', NULL, 19, 0, NULL, NULL), "                                             \
    "('REAL', 'double', NULL, 22, NULL, NULL, NULL), "                                             \
    "('TEXT', 'text', 65535, NULL, NULL, 'utf8mb4', 'utf8mb4_general_ci')) "

/* One view of information_schema: its name and its SELECT. */
struct info_view {
    const char *name;
    const char *select;
};

static const struct info_view info_views[] = {
    {"SCHEMATA",
     "SELECT 'def' AS CATALOG_NAME, (CASE d.name WHEN 'main' THEN '" ADMIN_DB
     "' ELSE d.name END) COLLATE NOCASE AS SCHEMA_NAME, 'utf8mb4' AS DEFAULT_CHARACTER_SET_NAME, "
     "'utf8mb4_general_ci' AS DEFAULT_COLLATION_NAME, NULL AS SQL_PATH, 'NO' AS "
     "DEFAULT_ENCRYPTION FROM pragma_database_list AS d WHERE d.name <> 'temp'"},
    {"TABLES",
     "SELECT 'def' AS TABLE_CATALOG, " DB_OF_T " AS TABLE_SCHEMA, t.name COLLATE NOCASE AS "
     "TABLE_NAME, (CASE t.type WHEN 'view' THEN 'SYSTEM VIEW' ELSE 'BASE TABLE' END) COLLATE "
     "NOCASE AS TABLE_TYPE, (CASE t.type WHEN 'view' THEN NULL ELSE 'rebound' END) AS ENGINE, "
     "10 AS VERSION, 'Fixed' AS ROW_FORMAT, NULL AS TABLE_ROWS, 0 AS AVG_ROW_LENGTH, 0 AS "
     "DATA_LENGTH, 0 AS MAX_DATA_LENGTH, 0 AS INDEX_LENGTH, 0 AS DATA_FREE, NULL AS "
     "AUTO_INCREMENT, NULL AS CREATE_TIME, NULL AS UPDATE_TIME, NULL AS CHECK_TIME, "
     "'utf8mb4_general_ci' AS TABLE_COLLATION, NULL AS CHECKSUM, '' AS CREATE_OPTIONS, '' AS "
     "TABLE_COMMENT FROM " CATALOG_TABLES},
    {"COLUMNS",
     TYPES_CTE "SELECT 'def' AS TABLE_CATALOG, " DB_OF_T " AS TABLE_SCHEMA, t.name COLLATE "
               "NOCASE AS TABLE_NAME, c.name COLLATE NOCASE AS COLUMN_NAME, c.cid + 1 AS "
               "ORDINAL_POSITION, c.dflt_value AS COLUMN_DEFAULT, (CASE WHEN c.\"notnull\" OR "
               "c.pk THEN 'NO' ELSE 'YES' END) COLLATE NOCASE AS IS_NULLABLE, m.data_type "
               "COLLATE NOCASE AS DATA_TYPE, m.char_len AS CHARACTER_MAXIMUM_LENGTH, m.char_len "
               "AS CHARACTER_OCTET_LENGTH, m.num_prec AS NUMERIC_PRECISION, m.num_scale AS "
               "NUMERIC_SCALE, NULL AS DATETIME_PRECISION, m.charset AS CHARACTER_SET_NAME, "
               "m.coll AS COLLATION_NAME, m.data_type COLLATE NOCASE AS COLUMN_TYPE, (CASE "
               "WHEN c.pk THEN 'PRI' ELSE '' END) COLLATE NOCASE AS COLUMN_KEY, '' AS EXTRA, "
               "'select' AS PRIVILEGES, '' AS COLUMN_COMMENT, '' AS GENERATION_EXPRESSION, "
               "NULL AS SRS_ID FROM " CATALOG_COLUMNS},
    /* The only keys are the primary keys the virtual tables declare. */
    {"STATISTICS",
     TYPES_CTE "SELECT 'def' AS TABLE_CATALOG, " DB_OF_T " AS TABLE_SCHEMA, t.name COLLATE "
               "NOCASE AS TABLE_NAME, 0 AS NON_UNIQUE, " DB_OF_T " AS INDEX_SCHEMA, 'PRIMARY' "
               "COLLATE NOCASE AS INDEX_NAME, c.pk AS SEQ_IN_INDEX, c.name COLLATE NOCASE AS "
               "COLUMN_NAME, 'A' AS COLLATION, NULL AS CARDINALITY, NULL AS SUB_PART, NULL AS "
               "PACKED, '' AS NULLABLE, 'BTREE' AS INDEX_TYPE, '' AS COMMENT, '' AS "
               "INDEX_COMMENT, 'YES' AS IS_VISIBLE, NULL AS EXPRESSION FROM " CATALOG_COLUMNS
               " AND c.pk > 0"},
    {"KEY_COLUMN_USAGE", TYPES_CTE
     "SELECT 'def' AS CONSTRAINT_CATALOG, " DB_OF_T " AS CONSTRAINT_SCHEMA, "
     "'PRIMARY' COLLATE NOCASE AS CONSTRAINT_NAME, 'def' AS TABLE_CATALOG, " DB_OF_T
     " AS TABLE_SCHEMA, t.name COLLATE NOCASE AS TABLE_NAME, c.name COLLATE NOCASE "
     "AS COLUMN_NAME, c.pk AS ORDINAL_POSITION, NULL AS "
     "POSITION_IN_UNIQUE_CONSTRAINT, NULL AS REFERENCED_TABLE_SCHEMA, NULL AS "
     "REFERENCED_TABLE_NAME, NULL AS REFERENCED_COLUMN_NAME FROM " CATALOG_COLUMNS " AND c.pk > 0"},
    {"TABLE_CONSTRAINTS",
     TYPES_CTE "SELECT 'def' AS CONSTRAINT_CATALOG, " DB_OF_T " AS CONSTRAINT_SCHEMA, "
               "'PRIMARY' COLLATE NOCASE AS CONSTRAINT_NAME, " DB_OF_T " AS TABLE_SCHEMA, "
               "t.name COLLATE NOCASE AS TABLE_NAME, 'PRIMARY KEY' COLLATE NOCASE AS "
               "CONSTRAINT_TYPE, 'YES' AS ENFORCED FROM " CATALOG_COLUMNS " AND c.pk = 1"},
    /* Neither database has views of its own (information_schema's are SYSTEM VIEWs),
     * stored routines, their parameters or triggers: these answer with no row. */
    {"VIEWS",
     "SELECT 'def' AS TABLE_CATALOG, " DB_OF_T " AS TABLE_SCHEMA, t.name COLLATE NOCASE AS "
     "TABLE_NAME, '' AS VIEW_DEFINITION, 'NONE' AS CHECK_OPTION, 'NO' AS IS_UPDATABLE, '' AS "
     "DEFINER, 'INVOKER' AS SECURITY_TYPE, 'utf8mb4' AS CHARACTER_SET_CLIENT, "
     "'utf8mb4_general_ci' AS COLLATION_CONNECTION FROM pragma_table_list AS t WHERE t.schema "
     "= 'main' AND t.type = 'view'"},
    {"ROUTINES",
     "SELECT '' AS SPECIFIC_NAME, 'def' AS ROUTINE_CATALOG, '' AS ROUTINE_SCHEMA, '' AS "
     "ROUTINE_NAME, '' AS ROUTINE_TYPE, '' AS DATA_TYPE, NULL AS CHARACTER_MAXIMUM_LENGTH, NULL "
     "AS CHARACTER_OCTET_LENGTH, NULL AS NUMERIC_PRECISION, NULL AS NUMERIC_SCALE, NULL AS "
     "DATETIME_PRECISION, NULL AS CHARACTER_SET_NAME, NULL AS COLLATION_NAME, NULL AS "
     "DTD_IDENTIFIER, 'SQL' AS ROUTINE_BODY, NULL AS ROUTINE_DEFINITION, NULL AS EXTERNAL_NAME, "
     "NULL AS EXTERNAL_LANGUAGE, 'SQL' AS PARAMETER_STYLE, 'NO' AS IS_DETERMINISTIC, '' AS "
     "SQL_DATA_ACCESS, NULL AS SQL_PATH, '' AS SECURITY_TYPE, NULL AS CREATED, NULL AS "
     "LAST_ALTERED, '' AS SQL_MODE, '' AS ROUTINE_COMMENT, '' AS DEFINER, '' AS "
     "CHARACTER_SET_CLIENT, '' AS COLLATION_CONNECTION, '' AS DATABASE_COLLATION WHERE 0"},
    {"PARAMETERS",
     "SELECT 'def' AS SPECIFIC_CATALOG, '' AS SPECIFIC_SCHEMA, '' AS SPECIFIC_NAME, 0 AS "
     "ORDINAL_POSITION, NULL AS PARAMETER_MODE, NULL AS PARAMETER_NAME, '' AS DATA_TYPE, NULL AS "
     "CHARACTER_MAXIMUM_LENGTH, NULL AS CHARACTER_OCTET_LENGTH, NULL AS NUMERIC_PRECISION, NULL "
     "AS NUMERIC_SCALE, NULL AS DATETIME_PRECISION, NULL AS CHARACTER_SET_NAME, NULL AS "
     "COLLATION_NAME, '' AS DTD_IDENTIFIER, '' AS ROUTINE_TYPE WHERE 0"},
    {"TRIGGERS",
     "SELECT 'def' AS TRIGGER_CATALOG, '' AS TRIGGER_SCHEMA, '' AS TRIGGER_NAME, '' AS "
     "EVENT_MANIPULATION, 'def' AS EVENT_OBJECT_CATALOG, '' AS EVENT_OBJECT_SCHEMA, '' AS "
     "EVENT_OBJECT_TABLE, 0 AS ACTION_ORDER, NULL AS ACTION_CONDITION, '' AS ACTION_STATEMENT, "
     "'ROW' AS ACTION_ORIENTATION, '' AS ACTION_TIMING, NULL AS ACTION_REFERENCE_OLD_TABLE, NULL "
     "AS ACTION_REFERENCE_NEW_TABLE, 'OLD' AS ACTION_REFERENCE_OLD_ROW, 'NEW' AS "
     "ACTION_REFERENCE_NEW_ROW, NULL AS CREATED, '' AS SQL_MODE, '' AS DEFINER, '' AS "
     "CHARACTER_SET_CLIENT, '' AS COLLATION_CONNECTION, '' AS DATABASE_COLLATION WHERE 0"},
    /* No tablespace or partition either: the tables live in memory. */
    {"PARTITIONS",
     "SELECT 'def' AS TABLE_CATALOG, NULL AS TABLE_SCHEMA, NULL AS TABLE_NAME, NULL AS "
     "PARTITION_NAME, NULL AS SUBPARTITION_NAME, NULL AS PARTITION_ORDINAL_POSITION, NULL AS "
     "SUBPARTITION_ORDINAL_POSITION, NULL AS PARTITION_METHOD, NULL AS SUBPARTITION_METHOD, "
     "NULL AS PARTITION_EXPRESSION, NULL AS SUBPARTITION_EXPRESSION, NULL AS "
     "PARTITION_DESCRIPTION, NULL AS TABLE_ROWS, NULL AS AVG_ROW_LENGTH, NULL AS DATA_LENGTH, "
     "NULL AS MAX_DATA_LENGTH, NULL AS INDEX_LENGTH, NULL AS DATA_FREE, NULL AS CREATE_TIME, "
     "NULL AS UPDATE_TIME, NULL AS CHECK_TIME, NULL AS CHECKSUM, NULL AS PARTITION_COMMENT, NULL "
     "AS NODEGROUP, NULL AS TABLESPACE_NAME WHERE 0"},
    {"FILES",
     "SELECT NULL AS FILE_ID, NULL AS FILE_NAME, NULL AS FILE_TYPE, NULL AS TABLESPACE_NAME, "
     "NULL AS TABLE_CATALOG, NULL AS TABLE_SCHEMA, NULL AS TABLE_NAME, NULL AS "
     "LOGFILE_GROUP_NAME, NULL AS LOGFILE_GROUP_NUMBER, NULL AS ENGINE, NULL AS FULLTEXT_KEYS, "
     "NULL AS DELETED_ROWS, NULL AS UPDATE_COUNT, NULL AS FREE_EXTENTS, NULL AS TOTAL_EXTENTS, "
     "NULL AS EXTENT_SIZE, NULL AS INITIAL_SIZE, NULL AS MAXIMUM_SIZE, NULL AS "
     "AUTOEXTEND_SIZE, NULL AS CREATION_TIME, NULL AS LAST_UPDATE_TIME, NULL AS "
     "LAST_ACCESS_TIME, NULL AS RECOVER_TIME, NULL AS TRANSACTION_COUNTER, NULL AS VERSION, NULL "
     "AS ROW_FORMAT, NULL AS TABLE_ROWS, NULL AS AVG_ROW_LENGTH, NULL AS DATA_LENGTH, NULL AS "
     "MAX_DATA_LENGTH, NULL AS INDEX_LENGTH, NULL AS DATA_FREE, NULL AS CREATE_TIME, NULL AS "
     "UPDATE_TIME, NULL AS CHECK_TIME, NULL AS CHECKSUM, NULL AS STATUS, NULL AS EXTRA WHERE 0"},
    /* What the port itself is: one engine, one character set and its collation (those the
     * greeting and @@character_set_* / @@collation_* announce). */
    {"ENGINES",
     "SELECT 'rebound' COLLATE NOCASE AS ENGINE, 'DEFAULT' AS SUPPORT, 'The router''s live "
     "state: a snapshot per scan; UPDATE servers.admin_state and DELETE FROM sessions write "
     "through' AS COMMENT, 'NO' AS TRANSACTIONS, 'NO' AS XA, 'NO' AS SAVEPOINTS"},
    {"CHARACTER_SETS",
     "SELECT 'utf8mb4' COLLATE NOCASE AS CHARACTER_SET_NAME, 'utf8mb4_general_ci' AS "
     "DEFAULT_COLLATE_NAME, 'UTF-8 Unicode' AS DESCRIPTION, 4 AS MAXLEN"},
    {"COLLATIONS",
     "SELECT 'utf8mb4_general_ci' COLLATE NOCASE AS COLLATION_NAME, 'utf8mb4' COLLATE NOCASE AS "
     "CHARACTER_SET_NAME, 45 AS ID, 'Yes' AS IS_DEFAULT, 'Yes' AS IS_COMPILED, 1 AS SORTLEN, "
     "'PAD SPACE' AS PAD_ATTRIBUTE"},
};

bool admin_dialect_table(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(info_views); i++)
        if (!strcasecmp(name, info_views[i].name))
            return true;
    return false;
}

const char *admin_dialect_database(const char *name, size_t len)
{
    if ((len == strlen(ADMIN_DB) && !strncasecmp(name, ADMIN_DB, len)) ||
        (len == 4 && !strncasecmp(name, "main", 4)))
        return ADMIN_DB;
    if (len == strlen(ADMIN_INFO_DB) && !strncasecmp(name, ADMIN_INFO_DB, len))
        return ADMIN_INFO_DB;
    return NULL;
}

const char *admin_dialect_schema(const char *db)
{
    const char *name = admin_dialect_database(db, strlen(db));

    if (!name)
        return NULL;
    return !strcmp(name, ADMIN_DB) ? "main" : ADMIN_INFO_DB;
}

/* Run SQL built with sqlite3_mprintf (NULL: out of memory); the error is logged. */
static int exec_built(sqlite3 *db, char *sql)
{
    char *err = NULL;
    int rc = sql ? sqlite3_exec(db, sql, NULL, NULL, &err) : SQLITE_NOMEM;

    if (rc != SQLITE_OK)
        log_err("admin: cannot build information_schema: %s", err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Replace view NAME of information_schema by a table of the rows in temp.NAME: the same
 * columns, each comparing without regard to case. */
static int materialize(sqlite3 *db, const char *name)
{
    sqlite3_str *cols = sqlite3_str_new(db);
    sqlite3_stmt *st = NULL;
    char *list;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1, 'temp') ORDER BY cid", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        sqlite3_free(sqlite3_str_finish(cols));
        return exec_built(db, NULL);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        sqlite3_str_appendf(cols, "%s\"%w\" COLLATE NOCASE", sqlite3_str_length(cols) ? ", " : "",
                            (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    list = sqlite3_str_finish(cols);
    rc = exec_built(db, list ? sqlite3_mprintf("DROP VIEW " ADMIN_INFO_DB ".\"%w\";"
                                               "CREATE TABLE " ADMIN_INFO_DB ".\"%w\" (%s);"
                                               "INSERT INTO " ADMIN_INFO_DB ".\"%w\" SELECT * "
                                               "FROM temp.\"%w\";"
                                               "DROP TABLE temp.\"%w\"",
                                               name, name, list, name, name, name)
                             : NULL);
    sqlite3_free(list);
    return rc;
}

int admin_dialect_open(sqlite3 *db)
{
    size_t i;
    int rc = 0;

    /* The views read pragma functions, which SQLite allows in a view of a trusted schema
     * only: trusted while they run, not afterwards. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 1, NULL);
    rc = exec_built(db, sqlite3_mprintf("ATTACH ':memory:' AS " ADMIN_INFO_DB ";"
                                        "CREATE TEMP VIEW dual AS SELECT 'X' AS DUMMY"));
    for (i = 0; rc == 0 && i < ARRAY_SIZE(info_views); i++)
        rc = exec_built(db, sqlite3_mprintf("CREATE VIEW " ADMIN_INFO_DB ".%s AS %s",
                                            info_views[i].name, info_views[i].select));
    /* Every view's rows first, while all are views, then the tables in their place. */
    for (i = 0; rc == 0 && i < ARRAY_SIZE(info_views); i++)
        rc = exec_built(db,
                        sqlite3_mprintf("CREATE TEMP TABLE \"%w\" AS SELECT * FROM " ADMIN_INFO_DB
                                        ".\"%w\"",
                                        info_views[i].name, info_views[i].name));
    for (i = 0; rc == 0 && i < ARRAY_SIZE(info_views); i++)
        rc = materialize(db, info_views[i].name);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    return rc < 0 ? -1 : 0;
}

/* ---- syntax ---- */

void admin_dialect_open_comments(char *sql)
{
    char *p = sql, *end;
    long version;

    while (*p) {
        if (p[0] != '/' || p[1] != '*' || p[2] != '!') {
            p += admin_lex_token(p);
            continue;
        }
        end = p + 3;
        version = isdigit((unsigned char)*end) ? strtol(end, &end, 10) : 0;
        if (version > ADMIN_VERSION_ID) { /* newer than us: a comment */
            p += admin_lex_token(p);
            continue;
        }
        memset(p, ' ', (size_t)(end - p));
        p = end;
        /* The text runs up to the first star-slash outside quotes. */
        while (*p && (p[0] != '*' || p[1] != '/'))
            p += admin_lex_token(p);
        if (*p)
            memset(p, ' ', 2);
    }
}

/* Is the word at S (N bytes) WORD, in any case? */
static bool is_word(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && !strncasecmp(s, word, n);
}

#define CONVERT_MAX_NESTED 16 /* CONVERTs inside CONVERTs rewritten; deeper ones are not */

/* MySQL's SELECT modifiers that change nothing here: dropped after SELECT. */
static const char *const select_modifiers[] = {
    "SQL_NO_CACHE",     "SQL_CACHE",      "SQL_CALC_FOUND_ROWS", "HIGH_PRIORITY",
    "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT",
};

static bool is_modifier(const char *s, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(select_modifiers); i++)
        if (is_word(s, n, select_modifiers[i]))
            return true;
    return false;
}

char *admin_dialect_rewrite(sqlite3 *db, const char *sql)
{
    sqlite3_str *out = sqlite3_str_new(db);
    int depth = 0, open[CONVERT_MAX_NESTED], nopen = 0; /* depths inside each CONVERT( */
    const char *p = sql;
    bool after_select = false; /* only blanks, comments and modifiers since SELECT */

    while (*p) {
        size_t n = isalpha((unsigned char)*p) || *p == '_' ? admin_lex_word(p) : 0;
        const char *paren = p + n;

        while (n && isspace((unsigned char)*paren))
            paren++;
        if (n && after_select && is_modifier(p, n)) {
            p += n;
            continue;
        }
        if (n || !(isspace((unsigned char)*p) || (strchr("/-#", *p) && admin_lex_token(p) > 1)))
            after_select = n && is_word(p, n, "SELECT");
        if (n && *paren == '(' && is_word(p, n, "CONVERT") && nopen < CONVERT_MAX_NESTED) {
            sqlite3_str_appendall(out, "CAST(");
            open[nopen++] = ++depth;
            p = paren + 1;
        } else if (n && nopen && depth == open[nopen - 1] && is_word(p, n, "USING")) {
            sqlite3_str_appendall(out, " AS TEXT"); /* and the character set goes */
            p += n;
            while (isspace((unsigned char)*p))
                p++;
            p += *p == '\'' || *p == '"' || *p == '`' ? admin_lex_token(p) : admin_lex_word(p);
        } else if (n) {
            sqlite3_str_append(out, p, (int)n);
            p += n;
        } else if (*p == ',' && nopen && depth == open[nopen - 1]) {
            sqlite3_str_appendall(out, " AS ");
            p++;
        } else {
            n = admin_lex_token(p);
            if (*p == '(')
                depth++;
            if (*p == ')' && nopen && depth == open[nopen - 1])
                nopen--;
            if (*p == ')')
                depth--;
            sqlite3_str_append(out, p, (int)n);
            p += n;
        }
    }
    return sqlite3_str_finish(out);
}

/* ---- @@variables: replaced by their values before SQLite sees the statement ---- */

/* A server variable clients read on connect, and its value. */
struct sysvar {
    const char *name;
    const char *value; /* SQL literal */
};

static const struct sysvar sysvars[] = {
    {"version", "'" ADMIN_SERVER_VERSION "'"},
    {"version_comment", "'rebound admin port'"},
    {"version_compile_os", "'Linux'"},
    {"version_compile_machine", "'x86_64'"},
    {"max_allowed_packet", "65536"},
    {"net_buffer_length", "16384"},
    {"character_set_client", "'utf8mb4'"},
    {"character_set_connection", "'utf8mb4'"},
    {"character_set_results", "'utf8mb4'"},
    {"character_set_server", "'utf8mb4'"},
    {"character_set_database", "'utf8mb4'"},
    {"character_set_system", "'utf8mb3'"},
    {"collation_connection", "'utf8mb4_general_ci'"},
    {"collation_server", "'utf8mb4_general_ci'"},
    {"collation_database", "'utf8mb4_general_ci'"},
    {"autocommit", "1"},
    {"sql_mode", "''"},
    {"time_zone", "'SYSTEM'"},
    {"system_time_zone", "'UTC'"},
    {"tx_isolation", "'REPEATABLE-READ'"},
    {"transaction_isolation", "'REPEATABLE-READ'"},
    {"tx_read_only", "0"},
    {"transaction_read_only", "0"},
    {"read_only", "0"},
    {"auto_increment_increment", "1"},
    {"interactive_timeout", "28800"},
    {"wait_timeout", "28800"},
    {"net_write_timeout", "60"},
    {"lower_case_table_names", "0"},
    {"license", "'GPL'"},
    {"init_connect", "''"},
    {"performance_schema", "0"},
    {"query_cache_size", "0"},
    {"query_cache_type", "'OFF'"},
    {"have_ssl", "'YES'"},
    {"hostname", "'rebound'"},
    {"server_id", "0"},
    {"max_execution_time", "0"},
    {"sql_select_limit", "18446744073709551615"},
    {"session_track_gtids", "'OFF'"},
    {"default_storage_engine", "'rebound'"},
    {"storage_engine", "'rebound'"},
};

/* The value of the variable NAME (N bytes, any case), as an SQL literal: NULL if none. */
static const char *sysvar(const char *name, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(sysvars); i++)
        if (strlen(sysvars[i].name) == n && !strncasecmp(sysvars[i].name, name, n))
            return sysvars[i].value;
    return "NULL";
}

/* Copy SQL, replacing each @@[session.|global.|local.]name outside quotes by its value;
 * in the select list (outside parentheses, before FROM/WHERE/...) also name the column
 * "@@name" unless an AS follows, as MySQL does. */
static char *rewrite_sysvars(sqlite3 *db, const char *sql)
{
    sqlite3_str *out = sqlite3_str_new(db);
    const char *p = sql;
    int depth = 0;
    bool in_list = true;

    while (*p) {
        if (*p == '\'' || *p == '"' || *p == '`') {
            size_t n = admin_lex_token(p);
            sqlite3_str_append(out, p, (int)n);
            p += n;
            continue;
        }
        if (isalpha((unsigned char)*p)) {
            size_t n = admin_lex_word(p);
            static const char *const ends[] = {"FROM",  "WHERE", "GROUP",
                                               "ORDER", "LIMIT", "HAVING"};
            for (size_t i = 0; depth == 0 && i < ARRAY_SIZE(ends); i++)
                if (strlen(ends[i]) == n && !strncasecmp(p, ends[i], n))
                    in_list = false;
            sqlite3_str_append(out, p, (int)n);
            p += n;
            continue;
        }
        if (p[0] != '@' || p[1] != '@') {
            depth += (*p == '(') - (*p == ')');
            sqlite3_str_appendchar(out, 1, *p++);
            continue;
        }
        const char *start = p;
        p += 2;
        for (size_t i = 0; i < 3; i++) {
            static const char *const scopes[] = {"session.", "global.", "local."};
            if (!strncasecmp(p, scopes[i], strlen(scopes[i])))
                p += strlen(scopes[i]);
        }
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        sqlite3_str_appendall(out, sysvar(p, n));
        p += n;
        if (in_list && depth == 0 && !admin_lex_words(admin_lex_space(p), "AS"))
            sqlite3_str_appendf(out, " AS \"%.*w\"", (int)(p - start), start);
    }
    return sqlite3_str_finish(out);
}

char *admin_dialect_to_sqlite(sqlite3 *db, const char *sql)
{
    char *converted = admin_dialect_rewrite(db, sql), *out;

    if (!converted || !strstr(converted, "@@"))
        return converted;
    out = rewrite_sysvars(db, converted);
    sqlite3_free(converted);
    return out;
}
