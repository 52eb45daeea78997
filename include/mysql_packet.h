/* mysql_packet.h - MySQL wire framing helpers shared by sessions, checks and admin. */
#ifndef MYSQL_PACKET_H
#define MYSQL_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define MYSQL_HEADER_LEN  4
#define MYSQL_MAX_PAYLOAD 0xffffffu

/* Build an ERR packet (header + payload) with sequence id SEQ into BUF. With
 * SQLSTATE NULL the pre-4.1 form is used, as a server does before the handshake.
 * Returns its length, or 0 if BUF is too small. */
size_t mysql_err_packet(uint8_t *buf, size_t len, uint8_t seq, uint16_t err, const char *sqlstate,
                        const char *msg);

/* Payload length of the packet whose header starts at P. */
static inline uint32_t mysql_payload_len(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

#endif
