/* observe_compress.c - the compressed protocol, read for the stream follower.
 *
 * Once a login that asked for compression ends (with the server's OK to the handshake
 * response), everything either side sends is compressed packets: a 7-byte header (payload
 * length, compressed sequence id, length before compression, 0 when the payload is stored as
 * is) and a payload holding MySQL packets or pieces of them: a compressed packet may carry
 * many, and a MySQL packet may span several compressed packets. A compressed payload is one
 * zlib stream, or one zstd frame when the login negotiated zstd alone. The session relays the
 * bytes as they came; this file only reads them and hands the MySQL packets inside to the
 * direction's tracker, so that observe.c follows a compressed session as a plain one.
 *
 * Memory: between compressed packets a direction holds nothing. Inside a compressed payload it
 * holds a decompressor and a 16 KiB output buffer (struct obs_zbuf), freed at the packet's
 * end: whatever length a packet states (up to 16 MiB), its bytes stream through that buffer as
 * they arrive, read after read. The decompressor keeps its window: 32 KiB for zlib, the
 * frame's own for zstd (bounded: ZSTD_WINDOW_LOG_MAX).
 *
 * Sequence ids: MySQL's and MariaDB's readers check only the compressed packets' ids, which
 * follow the plain protocol's rule (0 for a command, then +1 whichever side sends). A side
 * numbers the MySQL packets inside from its count of compressed packets read: the first packet
 * of its turn carries the id of the compressed packet it starts in, the next ones +1 each.
 * Where the other side's turn took fewer or more compressed packets than MySQL packets, the
 * ids inside drift from the plain numbering that observe.c checks. So at the start of each
 * turn (the other side spoke since, or the compressed ids start afresh) the tracker's
 * seq_skew takes that drift off, and observe.c sees the plain numbering. A client's new
 * command (compressed id 0) starts at 0 either way.
 *
 * Threads: one session's state, on the worker that owns the session.
 */
#define ZLIB_CONST
#include "observe_compress.h"

#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CLIENT_COMPRESS                   0x00000020u
#define CLIENT_ZSTD_COMPRESSION_ALGORITHM 0x04000000u
#define ZBUF_OUT                          16384
/* The most a zstd frame's window may take (8 MiB; level 3, the default, uses 2 MiB at most).
 * zstd needs the window to decode; a frame that asks for more is rebound's limit, not a fault
 * of the server's. */
#define ZSTD_WINDOW_LOG_MAX 23

/* The decompressor of one compressed payload, and where its bytes land a piece at a time. */
struct obs_zbuf {
    z_stream z;       /* zlib */
    ZSTD_DStream *zs; /* zstd (NULL for zlib) */
    bool done;        /* the stream (frame) ended */
    uint8_t out[ZBUF_OUT];
};

enum obs_zalgo obs_compress_algo(uint32_t caps)
{
    /* With both flags zlib is used (MySQL's protocol documentation, "Compression"). */
    if (caps & CLIENT_COMPRESS)
        return OBS_Z_ZLIB;
    if (caps & CLIENT_ZSTD_COMPRESSION_ALGORITHM)
        return OBS_Z_ZSTD;
    return OBS_Z_NONE;
}

static void zbuf_free(struct obs_zdir *d)
{
    struct obs_zbuf *b = d->buf;

    if (!b)
        return;
    if (b->zs)
        ZSTD_freeDStream(b->zs);
    else
        inflateEnd(&b->z);
    free(b);
    d->buf = NULL;
}

/* A compressed payload begins in D: its decompressor. -1 if out of memory. */
static int zbuf_open(struct obs_zdir *d, uint8_t algo)
{
    struct obs_zbuf *b = calloc(1, sizeof(*b));

    if (!b)
        return -1;
    if (algo == OBS_Z_ZSTD) {
        b->zs = ZSTD_createDStream();
        if (!b->zs ||
            ZSTD_isError(ZSTD_DCtx_setParameter(b->zs, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
            ZSTD_freeDStream(b->zs);
            free(b);
            return -1;
        }
    } else if (inflateInit(&b->z) != Z_OK) {
        free(b);
        return -1;
    }
    d->buf = b;
    return 0;
}

/* N decompressed bytes at P: to tracker T. -1 if they pass the length the header stated. */
static int deliver(struct obs_zdir *d, struct mysql_tracker *t, const uint8_t *p, size_t n)
{
    if (n > d->ulen - d->out)
        return -1;
    d->out += (uint32_t)n;
    mysql_track(t, p, n);
    return 0;
}

/* N bytes of a zlib payload: inflated into the buffer and handed on, a buffer at a time. */
static enum obs_zresult inflate_piece(struct obs_zdir *d, struct mysql_tracker *t, const bool *live,
                                      const uint8_t *p, size_t n)
{
    struct obs_zbuf *b = d->buf;
    z_stream *z = &b->z;
    int rc;

    z->next_in = p;
    z->avail_in = (uInt)n;
    do {
        z->next_out = b->out;
        z->avail_out = ZBUF_OUT;
        rc = inflate(z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            b->done = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR) /* Z_BUF_ERROR: no progress, wants input */
            return OBS_Z_GARBAGE;
        if (deliver(d, t, b->out, ZBUF_OUT - z->avail_out) < 0)
            return OBS_Z_GARBAGE;
    } while (!b->done && (z->avail_in > 0 || z->avail_out == 0) && *live);
    /* Bytes after the stream's end are no part of it. */
    return b->done && z->avail_in > 0 ? OBS_Z_GARBAGE : OBS_Z_OK;
}

/* What a zstd error RC means: a window too large to hold, or no memory for it, is rebound's
 * limit; anything else is a broken frame. */
static enum obs_zresult zstd_error(size_t rc)
{
    ZSTD_ErrorCode code = ZSTD_getErrorCode(rc);

    if (code == ZSTD_error_frameParameter_windowTooLarge || code == ZSTD_error_memory_allocation)
        return OBS_Z_NOMEM;
    return OBS_Z_GARBAGE;
}

/* N bytes of a zstd payload, as inflate_piece. */
static enum obs_zresult zstd_piece(struct obs_zdir *d, struct mysql_tracker *t, const bool *live,
                                   const uint8_t *p, size_t n)
{
    struct obs_zbuf *b = d->buf;
    ZSTD_inBuffer in = {p, n, 0};
    ZSTD_outBuffer out;
    size_t rc;

    do {
        out = (ZSTD_outBuffer){b->out, ZBUF_OUT, 0};
        rc = ZSTD_decompressStream(b->zs, &out, &in);
        if (ZSTD_isError(rc))
            return zstd_error(rc);
        if (deliver(d, t, b->out, out.pos) < 0)
            return OBS_Z_GARBAGE;
        b->done = rc == 0; /* the frame is decoded and flushed */
    } while (!b->done && (in.pos < in.size || out.pos == out.size) && *live);
    return b->done && in.pos < in.size ? OBS_Z_GARBAGE : OBS_Z_OK;
}

/* A compressed packet with id CSEQ begins in direction D (the other is OTHER): at the start of
 * a turn, T's seq_skew becomes the drift of the ids inside (see the top of the file), O being
 * the other direction's tracker. A CLIENT's compressed id 0 starts a new command. */
static void renumber(struct obs_zdir *d, struct obs_zdir *other, bool client, uint8_t cseq,
                     struct mysql_tracker *t, const struct mysql_tracker *o)
{
    bool fresh = !d->started || d->turn || cseq != (uint8_t)(d->cseq + 1);

    if (fresh && mysql_track_at_boundary(t))
        t->seq_skew = client && cseq == 0 ? 0 : (uint8_t)(cseq - o->seq - 1);
    d->cseq = cseq;
    d->started = true;
    d->turn = false;
    other->turn = true;
}

/* D's header is whole: the compressed packet begins. */
static enum obs_zresult packet_begins(struct obs_zdir *d, uint8_t algo)
{
    d->left = mysql_payload_len(d->hdr);
    d->ulen = mysql_payload_len(d->hdr + 4);
    d->out = 0;
    if (d->left == 0) /* an empty packet can hold nothing */
        return d->ulen ? OBS_Z_GARBAGE : OBS_Z_OK;
    if (d->ulen && zbuf_open(d, algo) < 0)
        return OBS_Z_NOMEM;
    return OBS_Z_OK;
}

/* D's compressed packet ended: its payload must have held a whole stream of the stated
 * length. The decompressor goes. */
static enum obs_zresult packet_ends(struct obs_zdir *d)
{
    bool whole = !d->buf || (d->buf->done && d->out == d->ulen);

    zbuf_free(d);
    return whole ? OBS_Z_OK : OBS_Z_GARBAGE;
}

/* N payload bytes at P of D's current compressed packet: stored ones go to T as they are. */
static enum obs_zresult payload(struct obs_zdir *d, struct mysql_tracker *t, const bool *live,
                                const uint8_t *p, size_t n)
{
    if (!d->buf) {
        mysql_track(t, p, n);
        return OBS_Z_OK;
    }
    if (d->buf->zs)
        return zstd_piece(d, t, live, p, n);
    return inflate_piece(d, t, live, p, n);
}

/* N bytes at P of direction D (tracker T; the other direction OTHER, its tracker O). */
static enum obs_zresult feed(struct obs_compress *c, struct obs_zdir *d, struct obs_zdir *other,
                             bool client, struct mysql_tracker *t, const struct mysql_tracker *o,
                             const bool *live, const uint8_t *p, size_t n)
{
    enum obs_zresult rc = OBS_Z_OK;
    size_t k;

    while (n > 0 && *live && rc == OBS_Z_OK) {
        if (d->left == 0) { /* between payloads: the next header */
            d->hdr[d->hdr_have++] = *p++;
            n--;
            if (d->hdr_have < OBS_Z_HEADER_LEN)
                continue;
            d->hdr_have = 0;
            renumber(d, other, client, d->hdr[3], t, o);
            rc = packet_begins(d, c->algo);
            continue;
        }
        k = n < d->left ? n : d->left;
        rc = payload(d, t, live, p, k);
        p += k;
        n -= k;
        d->left -= (uint32_t)k;
        if (rc == OBS_Z_OK && d->left == 0)
            rc = packet_ends(d);
    }
    if (rc != OBS_Z_OK)
        zbuf_free(d);
    return rc;
}

enum obs_zresult obs_compress_server(struct obs_compress *c, struct mysql_tracker *srv,
                                     const struct mysql_tracker *cli, const bool *live,
                                     const uint8_t *p, size_t n)
{
    return feed(c, &c->srv, &c->cli, false, srv, cli, live, p, n);
}

enum obs_zresult obs_compress_client(struct obs_compress *c, struct mysql_tracker *cli,
                                     const struct mysql_tracker *srv, const bool *live,
                                     const uint8_t *p, size_t n)
{
    return feed(c, &c->cli, &c->srv, true, cli, srv, live, p, n);
}

void obs_compress_end(struct obs_compress *c)
{
    zbuf_free(&c->srv);
    zbuf_free(&c->cli);
}
