/* session_int.h - what session.c shares with session_tls.c, the TLS steps of a login: the
 * relay's plumbing. Only those two files include it. */
#ifndef SESSION_INT_H
#define SESSION_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "conn.h"
#include "session.h"

/* Bytes the destination did not accept yet; also a login packet being read (session->held). */
struct pending {
    size_t len, off;
    char data[];
};

/* session.c: */
/* Arm W on C's descriptor for the event C waits for (EV_READ or EV_WRITE, crossed by TLS). */
void session_watch(struct session *s, ev_io *w, const struct conn *c);
/* Read F's source again, bytes TLS holds already decrypted included. */
void session_resume_reading(struct session *s, struct flow *f);
/* Pass the N bytes in the worker's scratch buffer on to DST; -1 if S was closed (WHAT). */
int session_pass_on(struct session *s, struct flow *f, struct conn *dst, size_t n,
                    const char *what);
/* Send the client an ERR packet (SEQ, CODE, SQLSTATE or NULL, MSG) and close S. */
void session_refuse_with(struct session *s, uint8_t seq, uint16_t code, const char *sqlstate,
                         const char *msg);
/* S's server works on its login until it answers: one of its connect slots. */
void session_take_slot(struct session *s);
/* The relay's read callbacks, client to server and server to client. */
void session_up_read_cb(struct ev_loop *loop, ev_io *w, int revents);
void session_down_read_cb(struct ev_loop *loop, ev_io *w, int revents);

/* session_tls.c: */
/* Does rebound take part in S's TLS (its listener terminates, or its server gets TLS from
 * rebound whatever the client does)? */
bool session_tls_in_play(const struct session *s);
/* The client's side until its login response is through, when rebound takes part in TLS. */
void session_tls_login_read_cb(struct ev_loop *loop, ev_io *w, int revents);

#endif
