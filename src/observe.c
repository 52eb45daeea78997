/* observe.c - passive observation's stream follower: each session's MySQL conversation
 * followed both ways, bytes in and events out, with HAProxy's semantics for what counts.
 *
 * It reads bytes and says what they showed (observe_take, observe_server_gone): an error the
 * server alone is to blame for, or a normal answer. It never touches a server: the session
 * hands each event to server.c (server_traffic_error, server_traffic_ok), which counts the
 * run of errors against `error-limit` and applies `on-error`, with the rest of the health
 * policy.
 *
 * Threads: everything here works on one session's struct obs_stream, on the worker that owns
 * the session; there is no shared state.
 *
 * The one rule: an event counts against a server only when the server alone can have
 * caused it. A client controls what it sends, so anything that follows a client's own
 * misstep is the client's doing:
 *   - a client that half-closed, left a packet unfinished, or sent bytes the server never
 *     asked for (out of turn during the login, a wrong sequence id, anything after
 *     COM_QUIT) can no longer make the server guilty of going away;
 *   - a server that answered with an ERR packet and then closed has said why;
 *   - during the login the server may close on a client for many reasons (bad password,
 *     unknown plugin, garbage), so a server going away counts only once the login ended;
 *   - a stream rebound cannot read (TLS it passes through) gives no way to tell, so an
 *     established session of that kind never counts; only connects and greetings do.
 * What remains is the server's alone: it reset or closed a session whose client kept to
 * the protocol while that client waited for an answer (or in the middle of a packet), or
 * broke the sequence of packets itself. A session at rest may be closed or reset at any
 * time (wait_timeout resets on MariaDB): a client chooses that by idling.
 *
 * Following the stream reads only packet headers and first payload bytes (mysql_track),
 * both ways. Sequence ids follow the protocol: every packet of one exchange carries the
 * previous packet's id plus one, whichever side sent it (a command is 0, the answer
 * starts at 1; LOCAL INFILE contents, auth-switch replies, the parts of a 16 MiB packet
 * and multi-result sets all continue the count, wrapping after 255). A client may send
 * a new command at any time (pipelining), and the answer to a pipelined command starts
 * again at 1. Everything else the client sends must have been asked for: its handshake
 * response, a reply after an auth switch (0xfe) or auth-more-data (0x01) packet, or the
 * file after a LOCAL INFILE request (0xfb as an answer's first packet), which ends with
 * an empty packet.
 *
 * A login that negotiates compression goes on in compressed packets from the packet after the
 * server's OK, both ways: observe_compress.c opens them, and the packets inside are followed
 * exactly as in a plain stream.
 */
#include "observe.h"

#include <stdio.h>
#include <string.h>

#include "rebound.h"

/* Errors that say the server itself is in trouble. Anything else an application can
 * cause (1205 lock wait, 1213 deadlock, 1064 syntax, 1062 duplicate key, 1045 access
 * denied...) never counts. */
static const struct {
    uint16_t err;
    bool active_only; /* expected on a backup (read-only by design) */
    const char *what;
} unhealthy[] = {
    {1021, false, "disk full"},
    {1037, false, "out of memory"},
    {1038, false, "out of sort memory"},
    {1040, false, "too many connections"},
    {1041, false, "out of memory"},
    {1053, false, "server shutdown in progress"},
    {1129, false, "host blocked"},
    {1290, true, "server is read-only"},
    {1792, true, "read-only transaction"},
    {1836, true, "server in read-only mode"},
};

static const char *const event_names[OBS__COUNT] = {
    [OBS_CONNECT_FAILED] = "connect failed",         [OBS_CONNECT_TIMEOUT] = "connect timeout",
    [OBS_GREETING_TIMEOUT] = "no greeting",          [OBS_BAD_GREETING] = "bad greeting",
    [OBS_SERVER_RESET] = "connection reset",         [OBS_SERVER_ERROR] = "server error",
    [OBS_MID_RESPONSE] = "closed during a response", [OBS_MALFORMED] = "malformed stream",
};

/* Command bytes the stream follower needs to know. */
#define COM_QUIT                0x01
#define COM_CHANGE_USER         0x11
#define COM_STMT_SEND_LONG_DATA 0x18
#define COM_STMT_CLOSE          0x19
#define COM_FIELD_LIST          0x04
#define COM_STATISTICS          0x09
#define COM_BINLOG_DUMP         0x12
#define COM_STMT_PREPARE        0x16
#define COM_STMT_FETCH          0x1c
#define COM_BINLOG_DUMP_GTID    0x1e
#define CLIENT_SSL              0x0800u

/* Server status flags (OK and EOF packets) the follower reads. */
#define SERVER_STATUS_IN_TRANS          0x0001u
#define SERVER_MORE_RESULTS_EXISTS      0x0008u
#define SERVER_STATUS_CURSOR_EXISTS     0x0040u
#define SERVER_STATUS_IN_TRANS_READONLY 0x2000u

static const char *const state_names[OBS_STATE__COUNT] = {
    [OBS_STATE_UNREADABLE] = "unreadable",
    [OBS_STATE_LOGIN] = "login",
    [OBS_STATE_IDLE] = "idle",
    [OBS_STATE_IDLE_TRANS] = "idle in transaction",
    [OBS_STATE_COMMAND] = "command",
    [OBS_STATE_RESULT] = "result",
    [OBS_STATE_INFILE] = "local infile",
};

const char *observe_event_str(enum obs_event ev)
{
    return ev < OBS__COUNT ? event_names[ev] : "unknown";
}

const char *observe_unhealthy_errno(uint16_t err, bool active)
{
    for (size_t i = 0; i < sizeof(unhealthy) / sizeof(unhealthy[0]); i++)
        if (unhealthy[i].err == err && (active || !unhealthy[i].active_only))
            return unhealthy[i].what;
    return NULL;
}

/* ---- following the stream ---- */

/* Does the server answer command CMD? Not COM_QUIT, COM_STMT_SEND_LONG_DATA,
 * COM_STMT_CLOSE. */
static bool answered(int cmd)
{
    return cmd != COM_QUIT && cmd != COM_STMT_SEND_LONG_DATA && cmd != COM_STMT_CLOSE;
}

/* The status flags of the server's latest OK or EOF packet: whether a transaction is open
 * and whether more results follow. An ERR packet carries none, so a transaction stays as it
 * was: an error inside a transaction leaves it open (the server says otherwise on the next
 * OK, e.g. after a deadlock rolled it back). */
static void server_status(struct mysql_tracker *t, uint16_t status)
{
    struct obs_stream *st = container_of(t, struct obs_stream, srv);

    st->in_trans = status & SERVER_STATUS_IN_TRANS;
    st->trans_ro = status & SERVER_STATUS_IN_TRANS_READONLY;
    st->more = status & SERVER_MORE_RESULTS_EXISTS;
    /* A cursor opened: the rows come later, each batch the answer to a COM_STMT_FETCH. */
    if (status & SERVER_STATUS_CURSOR_EXISTS && st->answer == OBS_ANSWER_RESULT)
        st->answer = OBS_ANSWER_NONE;
}

/* How the answer to command CMD is laid out: rows alone (a cursor's fetch), not read
 * (prepared statement definitions, statistics, replication streams), or as any other. */
static enum obs_answer answer_kind(uint8_t cmd)
{
    switch (cmd) {
    case COM_STMT_FETCH:
        return OBS_ANSWER_RESULT;
    case COM_FIELD_LIST:
    case COM_STATISTICS:
    case COM_BINLOG_DUMP:
    case COM_STMT_PREPARE:
    case COM_BINLOG_DUMP_GTID:
        return OBS_ANSWER_OTHER;
    }
    return OBS_ANSWER_NONE;
}

/* Read the status flags of the packet whose first byte was 0xfe, LEN bytes long, that ends a
 * result set (or an answer): an EOF packet (5 bytes) or, with CLIENT_DEPRECATE_EOF, an OK
 * packet with the header 0xfe. */
static void terminator_status(struct obs_stream *st, uint32_t len)
{
    mysql_track_status(&st->srv, len == 5 ? MYSQL_STATUS_EOF : MYSQL_STATUS_OK);
}

/* A packet of the answer to a command that checked out as FIRST (STARTS: the answer's first),
 * LEN bytes long: follow the answer's layout far enough to find its status flags. Only an OK
 * packet or a result set's terminator carries them; a row may begin with 0x00 too, so inside
 * a result set only a 0xfe packet shorter than 16 MiB (a row beginning with 0xfe is longer)
 * is one. Without CLIENT_DEPRECATE_EOF an EOF packet ends the column definitions first. */
static void server_answer(struct obs_stream *st, int first, bool starts, uint32_t len)
{
    bool next_result = st->more;

    if (first == 0xff) { /* the answer ends, further statements are not run */
        st->more = false;
        st->answer = OBS_ANSWER_NONE;
        return;
    }
    if (first < 0 || st->answer == OBS_ANSWER_OTHER)
        return;
    if (st->answer == OBS_ANSWER_RESULT) {
        if (first != 0xfe || len >= MYSQL_MAX_PAYLOAD)
            return; /* a column definition or a row */
        if (len == 5 && !st->eof_seen)
            st->eof_seen = true; /* the end of the column definitions */
        else
            st->answer = OBS_ANSWER_NONE;
        terminator_status(st, len);
        return;
    }
    if (first == 0x00) {
        mysql_track_status(&st->srv, MYSQL_STATUS_OK);
    } else if (first == 0xfe && len < MYSQL_MAX_PAYLOAD) {
        terminator_status(st, len); /* COM_SET_OPTION's EOF */
    } else if (first == 0xfb) {
        /* LOCAL INFILE request: the client sends a file (for a statement after the first of
         * a multi-statement too) */
        if (starts || next_result)
            st->may = OBS_CLIENT_DATA;
    } else { /* a result set's column count */
        st->answer = OBS_ANSWER_RESULT;
        st->eof_seen = false;
    }
}

/* The answer to the oldest command queued begins: its layout is the one noted when the
 * command was sent. */
static void answer_starts(struct obs_stream *st)
{
    st->queued--;
    st->answer = st->kinds & 3;
    st->kinds >>= 2;
    st->more = false;
    st->eof_seen = true; /* a fetch's rows come without column definitions */
}

/* Has the server finished its answers, as far as their layout tells? Then a packet with
 * sequence id 1 can only begin the next one, even where the last answer's count wrapped
 * to 0 so that it also reads as its continuation. */
static bool answers_over(const struct obs_stream *st)
{
    return st->authed && !st->change_user && st->queued > 0 && st->answer == OBS_ANSWER_NONE &&
           !st->more && st->may == OBS_CLIENT_NOTHING;
}

/* What a server packet that checked out as FIRST means for what the client may do next. */
static void server_says(struct obs_stream *st, int first, bool starts, uint32_t len)
{
    if (!st->authed || st->change_user) {
        if (first == 0x00) { /* the login (or the change of user) succeeded */
            st->authed = true;
            st->change_user = false;
            st->may = OBS_CLIENT_NOTHING;
            st->answer = OBS_ANSWER_NONE;
            mysql_track_status(&st->srv, MYSQL_STATUS_OK);
        } else if (first == 0xff) {
            st->change_user = false;
            st->may = OBS_CLIENT_NOTHING;
        } else if (first == 0xfe || first == 0x01) { /* auth switch, auth more data */
            st->may = OBS_CLIENT_ONE;
        }
        return;
    }
    server_answer(st, first, starts, len);
}

/* The server broke its stream's framing: it is lost, one event per session, nothing judged
 * after. */
static void server_broke(struct obs_stream *st)
{
    st->event = OBS_MALFORMED;
    st->followed = false;
}

/* A server packet starts (or a 16 MiB one continues: FIRST is MYSQL_TRACK_CONT). */
static void server_packet(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err)
{
    struct obs_stream *st = container_of(t, struct obs_stream, srv);
    bool starts = false;

    if (!st->followed)
        return;
    /* The next packet of the exchange, or the first of the answer to a command sent
     * meanwhile (pipelined, or simply the next one). When both readings fit, the first
     * one is taken: at worst a later stray packet is let through, never a good one
     * refused. An ERR packet may come out of turn (a server closing an idle session
     * says why, some with sequence id 0): it is judged by its error number alone. */
    if (seq != st->seq) {
        if (first != MYSQL_TRACK_CONT && st->queued > 0 && (seq == 1 || seq == st->start_seq)) {
            starts = true;
        } else if (first != 0xff) {
            server_broke(st);
            return;
        }
    } else if (first != MYSQL_TRACK_CONT && (seq == 1 || seq == st->start_seq) &&
               answers_over(st)) {
        starts = true;
    }
    if (starts)
        answer_starts(st);
    st->seq = (uint8_t)(seq + 1);
    if (first == MYSQL_TRACK_CONT)
        return;
    st->last_err = first == 0xff;
    /* The packet's length: its first byte has passed (none for an empty packet or ERR). */
    server_says(st, first, starts, first == 0xff || first < 0 ? 0 : t->left + 1);
    if (first != 0xff) {
        st->answered = true;
        return;
    }
    if (observe_unhealthy_errno(err, st->active)) {
        st->event = OBS_SERVER_ERROR;
        st->err = err;
    }
}

/* The client sent something it had no business sending: it can no longer make the
 * server guilty of anything, and the stream is not judged further. */
static void client_fault(struct obs_stream *st)
{
    st->client_fault = true;
    st->followed = false;
}

/* A client packet the server asked for (a login or auth-switch reply, LOCAL INFILE
 * contents), or a part of one: it continues the exchange. */
static void client_reply(struct obs_stream *st, int first, uint8_t seq)
{
    if (seq != st->seq) {
        client_fault(st);
        return;
    }
    st->seq = (uint8_t)(seq + 1);
    st->in_command = false;
    st->awaiting = true;
    if (first == MYSQL_TRACK_CONT)
        return;
    if (st->may == OBS_CLIENT_ONE || first == -1) /* one reply, or the file's end */
        st->may = OBS_CLIENT_NOTHING;
}

/* A client packet starts (or continues a 16 MiB one). */
static void client_packet(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err)
{
    struct obs_stream *st = container_of(t, struct obs_stream, cli);
    (void)err;

    if (!st->followed)
        return;
    if (first == MYSQL_TRACK_CONT && st->in_command) {
        /* The rest of a 16 MiB command: its answer starts after the last part. */
        if (seq != st->start_seq) {
            client_fault(st);
            return;
        }
        st->start_seq = (uint8_t)(seq + 1);
        return;
    }
    if (first == MYSQL_TRACK_CONT || st->may == OBS_CLIENT_DATA ||
        (st->may == OBS_CLIENT_ONE && seq != 0)) {
        client_reply(st, first, seq);
        return;
    }
    /* Otherwise only a new command, once logged in, and nothing after COM_QUIT. */
    if (!st->authed || seq != 0 || first < 0 || st->quitting) {
        client_fault(st);
        return;
    }
    st->in_command = true;
    st->start_seq = 1;
    st->may = OBS_CLIENT_NOTHING;
    if (first == COM_QUIT) {
        st->quitting = true;
        return;
    }
    if (first == COM_CHANGE_USER)
        st->change_user = true;
    if (answered(first)) {
        st->awaiting = true;
        if (st->queued < 8)
            st->kinds |= (uint16_t)(answer_kind((uint8_t)first) << (2 * st->queued));
        if (st->queued < UINT8_MAX)
            st->queued++;
    }
}

void observe_stream_start(struct obs_stream *st, bool follow, bool active)
{
    memset(st, 0, sizeof(*st));
    st->srv.on_packet = server_packet;
    st->srv.on_status = server_status;
    st->cli.on_packet = client_packet;
    st->followed = follow;
    st->active = active;
    st->event = -1;
    st->seq = 1; /* the greeting was 0 */
    st->may = OBS_CLIENT_ONE;
}

void observe_client_tls(struct obs_stream *st)
{
    st->tls_terminated = true;
    st->seq = 2; /* the SSLRequest was 1 */
}

void observe_client_bytes(struct obs_stream *st, const uint8_t *p, size_t n)
{
    if (!st->followed)
        return;
    if (st->cli.packets == 0 && st->cli.hdr_have == 0 && st->cli.left == 0) {
        /* The handshake response: its capability flags (the first payload bytes) say
         * whether the stream goes on in TLS, which cannot be followed, or compressed. */
        uint32_t caps = n >= 8 ? mysql_get_u32(p + 4) : 0;
        if (!(caps & MYSQL_CLIENT_PROTOCOL_41))
            caps &= 0xffff; /* the old response has 2 bytes of flags */
        if (st->tls_terminated)
            caps &= ~CLIENT_SSL; /* rebound reads the TLS: the stream is plain to it */
        if (n < 8 || caps & CLIENT_SSL) {
            st->followed = false;
            return;
        }
        st->z.algo = (uint8_t)obs_compress_algo(caps);
    }
    /* The login is plain; a client compresses only once it has the server's OK, which the
     * follower has seen by then. */
    if (st->z.algo == OBS_Z_NONE || !st->authed) {
        mysql_track(&st->cli, p, n);
        return;
    }
    /* A broken compressed stream, or no memory to read it: not judged further. */
    if (obs_compress_client(&st->z, &st->cli, &st->srv, &st->followed, p, n) != OBS_Z_OK)
        client_fault(st);
    if (!st->followed)
        obs_compress_end(&st->z);
}

/* Server bytes of a session that negotiated compression. The login is plain up to the end of
 * the server's OK; every byte after is compressed packets. */
static void server_compressed(struct obs_stream *st, const uint8_t *p, size_t n)
{
    enum obs_zresult rc;
    size_t k;

    while (n > 0 && !st->z.srv_on && st->followed) {
        /* To the end of the packet, or a byte at a time between packets. */
        k = st->srv.left ? st->srv.left : 1;
        if (k > n)
            k = n;
        mysql_track(&st->srv, p, k);
        p += k;
        n -= k;
        st->z.srv_on = st->authed && mysql_track_at_boundary(&st->srv);
    }
    if (n == 0 || !st->followed)
        return;
    rc = obs_compress_server(&st->z, &st->srv, &st->cli, &st->followed, p, n);
    if (rc == OBS_Z_GARBAGE)
        server_broke(st);
    else if (rc == OBS_Z_NOMEM)
        st->followed = false; /* rebound's shortage, not the server's doing */
}

/* Does the stream from T, with its compressed framing D, stop between packets? */
static bool between_packets(const struct mysql_tracker *t, const struct obs_zdir *d)
{
    return mysql_track_at_boundary(t) && obs_zdir_between(d);
}

void observe_server_bytes(struct obs_stream *st, const uint8_t *p, size_t n)
{
    if (!st->followed)
        return;
    if (st->z.algo != OBS_Z_NONE)
        server_compressed(st, p, n);
    else
        mysql_track(&st->srv, p, n);
    /* A read that ends between packets ends the answer as far as anyone can tell. */
    if (st->followed && between_packets(&st->srv, &st->z.srv))
        st->awaiting = false;
    if (!st->followed)
        obs_compress_end(&st->z);
}

void observe_stream_end(struct obs_stream *st)
{
    obs_compress_end(&st->z);
}

enum obs_state observe_state(const struct obs_stream *st)
{
    if (!st->followed)
        return OBS_STATE_UNREADABLE;
    if (!st->authed || st->change_user)
        return OBS_STATE_LOGIN;
    if (st->may == OBS_CLIENT_DATA)
        return OBS_STATE_INFILE;
    if (st->queued > 0)
        return OBS_STATE_COMMAND;
    /* Mid-packet, or between packets of a result set or of a multi-statement's results. */
    if (st->awaiting || st->more || st->answer == OBS_ANSWER_RESULT)
        return OBS_STATE_RESULT;
    return st->in_trans ? OBS_STATE_IDLE_TRANS : OBS_STATE_IDLE;
}

const char *observe_state_str(enum obs_state state)
{
    return state < OBS_STATE__COUNT ? state_names[state] : "unknown";
}

int observe_in_transaction(const struct obs_stream *st)
{
    if (!st->followed || !st->authed)
        return -1;
    return st->in_trans;
}

enum obs_event observe_server_gone(const struct obs_stream *st, bool reset, bool client_eof)
{
    if (!st->followed || client_eof || st->quitting || !st->authed || st->last_err ||
        !between_packets(&st->cli, &st->z.cli))
        return OBS__COUNT;
    /* At rest a server may close, even with a reset (MariaDB's wait_timeout sets SO_LINGER
     * 0): a client can choose that by idling, so it says nothing. */
    if (!st->awaiting && between_packets(&st->srv, &st->z.srv))
        return OBS__COUNT;
    return reset ? OBS_SERVER_RESET : OBS_MID_RESPONSE;
}

bool observe_take(struct obs_stream *st, enum obs_event *ev, char *detail, size_t len)
{
    int seen = st->event;

    st->event = -1;
    if (!st->answered && seen < 0)
        return false;
    st->answered = false;
    *ev = seen < 0 ? OBS__COUNT : (enum obs_event)seen;
    if (seen < 0)
        return true;
    if (seen == OBS_SERVER_ERROR)
        snprintf(detail, len, "error %u, %s", st->err, observe_unhealthy_errno(st->err, true));
    else
        snprintf(detail, len, "%s", "unexpected packet in the server's stream");
    return true;
}
