/* fuzz_gtid.c - libFuzzer target for the GTID guard's parser and comparison: whatever a server
 * sends as its position must give a verdict (covers, lacks or invalid) and a terminated text,
 * never a crash. The first input byte picks the flavor (even: MariaDB, odd: MySQL); the rest is
 * the master's position, a NUL byte, then the backup's. Builds with src/gtid.c alone, e.g.
 *   clang -fsanitize=fuzzer,address -Iinclude tests/fuzz/fuzz_gtid.c src/gtid.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gtid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum gtid_flavor flavor;
    char *master, *backup, what[200];
    enum gtid_verdict v;

    if (size == 0)
        return 0;
    flavor = data[0] & 1 ? GTID_MYSQL : GTID_MARIADB;
    if (!(master = calloc(1, size + 1)))
        return 0;
    memcpy(master, data + 1, size - 1);
    backup = master + strlen(master);
    if ((size_t)(backup - master) < size - 1)
        backup++; /* past the NUL that ends the master's position */
    memset(what, 'x', sizeof(what));
    v = gtid_compare(flavor, master, backup, what, sizeof(what));
    if ((v != GTID_COVERS && v != GTID_LACKS && v != GTID_INVALID) ||
        !memchr(what, '\0', sizeof(what)))
        abort();
    if (v == GTID_COVERS && gtid_compare(flavor, master, master, what, sizeof(what)) != GTID_COVERS)
        abort(); /* a valid position covers itself */
    (void)gtid_check(flavor, backup, what, sizeof(what));
    free(master);
    return 0;
}
