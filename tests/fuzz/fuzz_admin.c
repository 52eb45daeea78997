/* fuzz_admin.c - libFuzzer target for the admin port's protocol handler: bytes in, bytes out,
 * no socket. The first input byte picks where the bytes land: before login (handshake, auth
 * switch, SSL request) or, already logged in, as commands (COM_QUERY text goes through the
 * shortcut table and SQLite with its limits; COM_STMT_* packets through the prepared statements
 * and their binary parameters: corpus/admin/prepared_statements is a session of them). Builds
 * with every src/ file but main.c, e.g.
 *   clang -fsanitize=fuzzer,address -Iinclude $(pkg-config --cflags libmariadb) \
 *       tests/fuzz/fuzz_admin.c src/[!m]*.c src/mysql_packet.c -lev -lssl -lcrypto \
 *       -lmariadb -lsqlite3 -lm */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin.h"
#include "conf.h"
#include "rebound.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *conf;

/* The router's admin side, once per process: accounts from a small config, no sockets. */
static int init_once(void)
{
    char err[256];

    if (conf)
        return 0;
    rb_loop = ev_default_loop(0);
    conf = conf_parse("global\n admin 127.0.0.1:1 user admin password fuzz-password-1\n"
                      " admin-ro user ro password fuzz-password-2\n"
                      " admin-ssl crt /nonexistent key /nonexistent\n"
                      "listen rw\n bind 127.0.0.1:2\n server a 127.0.0.1:3\n",
                      "fuzz", err, sizeof(err));
    if (!conf || admin_init(conf) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_proto ap;
    size_t off = 1;

    if (size < 1 || init_once() < 0)
        return 0;
    if (admin_proto_init(&ap, 1, "127.0.0.1:1", data[0] & 2) < 0) {
        admin_proto_fini(&ap);
        return 0;
    }
    if (data[0] & 1) { /* skip the login: commands */
        ap.phase = AP_COMMAND;
        ap.client.readonly = data[0] & 4;
        snprintf(ap.client.user, sizeof(ap.client.user), "admin");
    }
    /* Feed in chunks whose sizes come from the input, as a socket would split them. */
    while (off < size) {
        size_t n = 1 + data[off - 1] % 64;
        if (n > size - off)
            n = size - off;
        if (admin_proto_input(&ap, data + off, n) < 0)
            break;
        if (ap.want_tls)
            admin_proto_tls_started(&ap);
        mysql_wbuf_truncate(&ap.out, 0); /* sent */
        off += n;
    }
    admin_proto_fini(&ap);
    return 0;
}
