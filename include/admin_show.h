/* admin_show.h - the statements of MySQL's that SQLite cannot parse (SHOW ..., DESCRIBE,
 * KILL, USE, SET, ...): which one a statement is, and its handler. Inside the admin SQL
 * engine only. */
#ifndef ADMIN_SHOW_H
#define ADMIN_SHOW_H

struct admin_exec;

/* How a shortcut answers, which decides how it is prepared (COM_STMT_PREPARE). */
enum admin_shortcut_kind {
    /* It answers by itself, or looks at live state first: it runs at each execution. */
    ADMIN_SC_RUNS,
    /* It only translates the statement to SQL (admin_sql_run(), admin_sql_run_built()) or
     * answers an error: the prepared statement is that SQL, with its ? parameters. */
    ADMIN_SC_SQL,
};

/* A statement with a fixed start and what answers it. REST is what follows the words. */
struct admin_shortcut {
    const char *words;
    void (*run)(struct admin_exec *x, const char *rest);
    enum admin_shortcut_kind kind;
};

/* The shortcut statement S (blanks and comments skipped) starts with, NULL if none; *REST
 * gets what follows its words. Longer word lists win where one starts another. */
const struct admin_shortcut *admin_show_find(const char *s, const char **rest);

#endif
