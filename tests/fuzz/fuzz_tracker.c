/* fuzz_tracker.c - fuzz target for the MySQL packet tracker (mysql_track).
 *
 * Property checked besides "no crash": the packets reported do not depend on how the
 * stream is split into reads. The input is fed once whole and once cut at points taken
 * from its own first bytes; both runs must report the same packets and status flags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_packet.h"

#define MAX_SEEN 4096

/* A tracker that records what it reports. */
struct recorder {
    struct mysql_tracker t;
    int n;
    uint32_t seen[MAX_SEEN];
};

static void record(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err)
{
    struct recorder *r = (struct recorder *)t;

    if (r->n < MAX_SEEN)
        r->seen[r->n++] = (uint32_t)(first & 0x1ff) | (uint32_t)seq << 9 | (uint32_t)err << 17;
    /* Status flags read as an OK packet's after 0x00, as an EOF packet's after 0xfe. */
    if (first == 0x00)
        mysql_track_status(t, MYSQL_STATUS_OK);
    else if (first == 0xfe)
        mysql_track_status(t, MYSQL_STATUS_EOF);
}

/* A status found: recorded among the packets, marked apart from them. */
static void record_status(struct mysql_tracker *t, uint16_t status)
{
    struct recorder *r = (struct recorder *)t;

    if (r->n < MAX_SEEN)
        r->seen[r->n++] = 0x80000000u | status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct recorder whole, split;
    size_t off = 0, k = 0;

    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));
    whole.t.on_packet = record;
    split.t.on_packet = record;
    whole.t.on_status = record_status;
    split.t.on_status = record_status;
    mysql_track(&whole.t, data, size);
    while (off < size) {
        size_t cut = 1 + (size ? data[k++ % size] % 7 : 0);
        if (cut > size - off)
            cut = size - off;
        mysql_track(&split.t, data + off, cut);
        off += cut;
    }
    if (whole.n != split.n || memcmp(whole.seen, split.seen, sizeof(uint32_t) * (size_t)whole.n) ||
        whole.t.packets != split.t.packets ||
        mysql_track_at_boundary(&whole.t) != mysql_track_at_boundary(&split.t))
        abort();
    return 0;
}
