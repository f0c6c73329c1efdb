/*
 * relay: one SMTP transaction to the relay host with libetpan's SMTP
 * client (mailsmtp): connect, EHLO (HELO when EHLO is refused; the
 * machine's name when it has a dot, else the address literal of our end
 * of the connection), MAIL FROM,
 * one RCPT per recipient, DATA. Blocking, with a timeout per command: run
 * it on the sender's worker thread, never on an event loop.
 *
 * Each recipient gets an outcome from the relay's replies:
 *   - 2xx to RCPT and to the end of DATA: sent;
 *   - 5xx to MAIL, RCPT, DATA or the end of DATA: failed (permanent);
 *   - 4xx anywhere, no connection, a lost connection or a timeout, or a
 *     greeting or EHLO that is not 2xx: retry.
 * The reply kept per recipient is the relay's ("550 5.1.1 ..."), or what
 * went wrong ("connect to 127.0.0.1:25: connection refused").
 */
#ifndef CAPMAIL_OUTBOUND_RELAY_H
#define CAPMAIL_OUTBOUND_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RELAY_HOST_MAX 256
#define RELAY_REPLY_MAX 512

enum relay_outcome { RELAY_SENT, RELAY_RETRY, RELAY_FAILED };

struct relay_result {
	enum relay_outcome outcome;
	int code;			/* the SMTP reply code; 0 when none */
	char reply[RELAY_REPLY_MAX];	/* one line */
};

/* "host:port", "[v6addr]:port" or "host" (port 25) into host/port.
 * 0 or CM_EINVAL. */
int relay_parse(const char *spec, char *host, size_t hostsz,
    uint16_t *port_r);

/* Send data (len bytes, CRLF lines; dot-stuffed here) from mail_from
 * ("" = <>) to rcpts[0..n); res[0..n) get the outcomes. */
void relay_send(const char *host, uint16_t port, time_t timeout,
    const char *mail_from, char *const *rcpts, size_t n,
    const char *data, size_t len, struct relay_result *res);

#endif
