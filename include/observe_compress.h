/* observe_compress.h - the compressed protocol's framing, read for the stream follower: each
 * direction's compressed packets opened, their MySQL packets handed to that direction's
 * tracker (observe.c follows them as in a plain stream). */
#ifndef OBSERVE_COMPRESS_H
#define OBSERVE_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mysql_packet.h"

#define OBS_Z_HEADER_LEN 7 /* compressed length (3), compressed sequence id (1), length (3) */

/* The compression a login negotiated. */
enum obs_zalgo {
    OBS_Z_NONE,
    OBS_Z_ZLIB, /* CLIENT_COMPRESS: one zlib stream per compressed packet */
    OBS_Z_ZSTD, /* CLIENT_ZSTD_COMPRESSION_ALGORITHM alone: one zstd frame per packet */
};

struct obs_zbuf;

/* One direction's compressed framing. Between compressed packets it holds no memory; inside
 * one whose payload is compressed, BUF holds the decompressor and a small output buffer. */
struct obs_zdir {
    struct obs_zbuf *buf; /* the decompressor, while inside a compressed payload */
    uint32_t left;        /* payload bytes of the current compressed packet still to come */
    uint32_t ulen;        /* its length before compression (0: stored as is) */
    uint32_t out;         /* bytes it decompressed to so far */
    uint8_t hdr[OBS_Z_HEADER_LEN];
    uint8_t hdr_have; /* header bytes seen of the next compressed packet */
    uint8_t cseq;     /* compressed sequence id of the latest compressed packet */
    bool started;     /* a compressed packet was seen in this direction */
    bool turn;        /* the other side sent a compressed packet since this side's latest */
};

/* Both directions of one session, once the login negotiated compression. Embedded in the
 * session's struct obs_stream. */
struct obs_compress {
    struct obs_zdir srv, cli;
    uint8_t algo; /* enum obs_zalgo, from the handshake response (set by observe.c) */
    bool srv_on;  /* the server's login ended: its bytes are compressed packets (observe.c) */
};

/* The compression the handshake response's capability flags CAPS ask for. */
enum obs_zalgo obs_compress_algo(uint32_t caps);

/* What a feed of compressed packets came to. */
enum obs_zresult {
    OBS_Z_OK,
    OBS_Z_GARBAGE, /* not compressed packets of the negotiated kind: a bad stream, a length
                    * that does not match what the payload holds */
    OBS_Z_NOMEM,   /* no memory for a decompressor (or its window): the stream cannot be
                    * followed, which is no fault of the sender's */
};

/* Bytes from the server / the client, once they are compressed packets: the MySQL packets they
 * hold go to SRV / CLI (mysql_track), with the other direction's tracker to give their sequence
 * ids their due (see observe_compress.c). Feeding stops once *LIVE turns false. After anything
 * but OBS_Z_OK the caller drops the stream (obs_compress_end). */
enum obs_zresult obs_compress_server(struct obs_compress *c, struct mysql_tracker *srv,
                                     const struct mysql_tracker *cli, const bool *live,
                                     const uint8_t *p, size_t n);
enum obs_zresult obs_compress_client(struct obs_compress *c, struct mysql_tracker *cli,
                                     const struct mysql_tracker *srv, const bool *live,
                                     const uint8_t *p, size_t n);

/* Does direction D stop between compressed packets? */
static inline bool obs_zdir_between(const struct obs_zdir *d)
{
    return d->hdr_have == 0 && d->left == 0;
}

/* Free whatever C holds (the stream is no longer followed, or the session ends). */
void obs_compress_end(struct obs_compress *c);

#endif
