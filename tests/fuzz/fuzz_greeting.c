/* fuzz_greeting.c - fuzz target for what rebound reads from a server before and after the
 * login: the greeting parser (mysql_greeting_parse) and the stream follower (observe.c).
 *
 * Properties checked besides "no crash": no shorter prefix of a complete greeting (OK or ERR)
 * is judged OK, a BAD one always says why; and the follower, fed the input split into client
 * and server reads by its own bytes, only ever reports events of the stream and judges a
 * server going away as a reset, a close during a response, or nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_packet.h"
#include "observe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct obs_stream st;
    const char *why = NULL;
    uint16_t err = 0;
    enum mysql_greeting_kind k = mysql_greeting_parse(data, size, &err, &why);
    size_t off = 0;

    if (k == MYSQL_GREETING_OK || k == MYSQL_GREETING_ERR) {
        for (size_t cut = 0; cut < size; cut++)
            if (mysql_greeting_parse(data, cut, &err, &why) == MYSQL_GREETING_OK)
                abort();
    }
    if (k == MYSQL_GREETING_BAD && !why)
        abort();
    /* The rest drives the follower: each chunk's first byte says which side and how long. */
    observe_stream_start(&st, true, size & 1);
    while (off < size) {
        uint8_t ctl = data[off++];
        size_t n = ctl & 0x3f;
        if (n > size - off)
            n = size - off;
        if (ctl & 0x80)
            observe_client_bytes(&st, data + off, n);
        else
            observe_server_bytes(&st, data + off, n);
        if (st.event >= OBS__COUNT)
            abort();
        st.event = -1;
        off += n;
        enum obs_event gone = observe_server_gone(&st, ctl & 0x40, false);
        if (gone != OBS__COUNT && gone != OBS_SERVER_RESET && gone != OBS_MID_RESPONSE)
            abort();
    }
    return 0;
}
