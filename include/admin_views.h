/* admin_views.h - the router's live state as tables of the admin port's SQL (servers,
 * sessions, listeners, status, variables, health_log) and the writes they take. */
#ifndef ADMIN_VIEWS_H
#define ADMIN_VIEWS_H

#include "admin_vtab.h"

/* The tables, for admin_sql_open(). */
extern const struct admin_tables admin_views;

#endif
