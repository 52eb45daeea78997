/* fuzz_observe.c - fuzz target for the stream follower (observe.c): both directions of a
 * session, as chunks.
 *
 * The input is a list of chunks, each a control byte (bit 7: from the server, else from the
 * client; bit 6: wrap the chunk in a compressed packet; bits 0-5: length - 1) and that many
 * bytes. A wrapped chunk's first byte is the compressed sequence id, the rest what the
 * compressed packet holds, compressed here as the session negotiated (zlib, or zstd), so that
 * compressed sessions are reached beyond their headers. Besides "no crash", what the follower
 * knows must not depend on how the bytes are split into reads: the chunks are fed once whole
 * and once each cut in two (but for the client's first bytes, read whole as they come), and
 * both runs must agree on the session's state, transaction and events. Only `awaiting`, which
 * is the end of a read by design, may differ. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "observe.h"

/* Room for a compressed packet made from one chunk (64 bytes at most). */
#define WRAP_MAX 256

/* A compressed packet into OUT (WRAP_MAX bytes) from the N bytes at P (N > 0): P[0] its
 * compressed sequence id, the rest its contents, compressed with ST's algorithm. Returns its
 * length. */
static size_t wrap(const struct obs_stream *st, const uint8_t *p, size_t n, uint8_t *out)
{
    uint8_t *dst = out + OBS_Z_HEADER_LEN;
    size_t room = WRAP_MAX - OBS_Z_HEADER_LEN, len = n - 1, clen;
    uLongf zlen = room;

    if (st->z.algo == OBS_Z_ZSTD) {
        clen = ZSTD_compress(dst, room, p + 1, len, 1);
        if (ZSTD_isError(clen))
            abort();
    } else {
        if (compress2(dst, &zlen, p + 1, len, 6) != Z_OK)
            abort();
        clen = zlen;
    }
    out[0] = (uint8_t)clen;
    out[1] = (uint8_t)(clen >> 8);
    out[2] = 0;
    out[3] = p[0];
    out[4] = (uint8_t)len;
    out[5] = 0;
    out[6] = 0;
    return OBS_Z_HEADER_LEN + clen;
}

/* Feed the N bytes at P to ST from the server or the client, in two reads when CUT > 0. */
static void feed(struct obs_stream *st, bool from_server, const uint8_t *p, size_t n, size_t cut)
{
    if (cut == 0 || cut >= n) {
        if (from_server)
            observe_server_bytes(st, p, n);
        else
            observe_client_bytes(st, p, n);
        return;
    }
    feed(st, from_server, p, cut, 0);
    feed(st, from_server, p + cut, n - cut, 0);
}

/* Feed DATA's chunks into ST, each cut at its middle when SPLIT. */
static void run(struct obs_stream *st, const uint8_t *data, size_t size, bool split)
{
    size_t off = 0;

    observe_stream_start(st, true, true);
    while (off < size) {
        bool from_server = data[off] & 0x80, wrapped = data[off] & 0x40;
        size_t len = (size_t)(data[off] & 0x3f) + 1;
        /* The client's bytes before its first packet is whole: one read, as they come. */
        bool hello = !from_server && st->cli.packets == 0;
        uint8_t z[WRAP_MAX];
        const uint8_t *p = data + off + 1;
        size_t n;

        off++;
        if (len > size - off)
            len = size - off;
        n = len;
        if (wrapped && len > 0) {
            n = wrap(st, p, len, z);
            p = z;
        }
        feed(st, from_server, p, n, split && !hello ? n / 2 : 0);
        off += len;
        int in_trans = observe_in_transaction(st);
        if (observe_state(st) >= OBS_STATE__COUNT || in_trans < -1 || in_trans > 1)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct obs_stream whole, split;

    run(&whole, data, size, false);
    run(&split, data, size, true);
    observe_stream_end(&whole);
    observe_stream_end(&split);
    if (whole.followed != split.followed || whole.authed != split.authed ||
        whole.in_trans != split.in_trans || whole.more != split.more ||
        whole.answer != split.answer || whole.queued != split.queued || whole.may != split.may ||
        whole.event != split.event ||
        observe_in_transaction(&whole) != observe_in_transaction(&split))
        abort();
    return 0;
}
