/* gtid.h - GTID positions as MariaDB and MySQL print them, and whether one server holds every
 * transaction another one holds. Pure functions: no I/O, no state. */
#ifndef GTID_H
#define GTID_H

#include <stddef.h>

/* Longest position kept (text, with its NUL); a longer one counts as unreadable. */
#define GTID_POS_MAX 1024

/* Which server family printed a position: the two formats and their rules differ. */
enum gtid_flavor {
    GTID_MARIADB, /* @@gtid_current_pos: "D-S-N,D-S-N", one entry per replication domain */
    GTID_MYSQL,   /* @@gtid_executed: "uuid:1-5:7-9,uuid2[:tag]:1-3", a set of transactions */
};

/* What comparing a master's position with a backup's found. */
enum gtid_verdict {
    GTID_COVERS,  /* the master holds every transaction the backup holds */
    GTID_LACKS,   /* the backup holds transactions the master lacks */
    GTID_INVALID, /* a position is not in the flavor's format */
};

/* Does MASTER hold everything BACKUP holds (both positions as the server printed them; an
 * empty string is a server with no transaction)?
 *
 * MariaDB: per replication domain, the master's highest sequence number must be at least the
 * backup's. A domain only the master has is fine (its own writes); a domain only the backup has
 * means the master lacks all of it.
 * MySQL: GTID_SUBSET(backup, master): every transaction of the backup is in the master's set.
 *
 * With GTID_LACKS, WHAT gets what is missing, to follow the backup's name ("has 0-2-1044,
 * master stops at 0-1-1040"); with GTID_INVALID, which side is malformed and where; with
 * GTID_COVERS, "". */
enum gtid_verdict gtid_compare(enum gtid_flavor flavor, const char *master, const char *backup,
                               char *what, size_t len);

/* Is POS well formed for FLAVOR? 0, or -1 with the reason in WHY. */
int gtid_check(enum gtid_flavor flavor, const char *pos, char *why, size_t len);

#endif
