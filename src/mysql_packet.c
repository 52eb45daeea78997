/* mysql_packet.c - MySQL wire framing helpers. */
#include "mysql_packet.h"

#include <string.h>

size_t mysql_err_packet(uint8_t *buf, size_t len, uint8_t seq, uint16_t err, const char *sqlstate,
                        const char *msg)
{
    size_t mlen = strlen(msg);
    size_t payload = 1 + 2 + (sqlstate ? 6 : 0) + mlen;
    uint8_t *p = buf;

    if (payload > MYSQL_MAX_PAYLOAD || len < MYSQL_HEADER_LEN + payload)
        return 0;
    *p++ = (uint8_t)payload;
    *p++ = (uint8_t)(payload >> 8);
    *p++ = (uint8_t)(payload >> 16);
    *p++ = seq;
    *p++ = 0xff;
    *p++ = (uint8_t)err;
    *p++ = (uint8_t)(err >> 8);
    if (sqlstate) {
        *p++ = '#';
        memcpy(p, sqlstate, 5);
        p += 5;
    }
    memcpy(p, msg, mlen);
    return MYSQL_HEADER_LEN + payload;
}
