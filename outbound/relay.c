/*
 * relay: one SMTP transaction with libetpan's mailsmtp. See relay.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "errors.h"
#include "relay.h"

int relay_parse(const char *spec, char *host, size_t hostsz,
    uint16_t *port_r)
{
	const char *h = spec, *colon, *end;
	size_t hlen;
	long port = 25;

	if (spec == NULL || *spec == '\0')
		return CM_EINVAL;
	if (*spec == '[') {
		if ((end = strchr(spec, ']')) == NULL)
			return CM_EINVAL;
		h = spec + 1;
		hlen = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return CM_EINVAL;
	} else {
		colon = strrchr(spec, ':');
		if (colon != NULL && strchr(spec, ':') != colon)
			return CM_EINVAL;	/* bare IPv6: use [addr]:port */
		hlen = colon != NULL ? (size_t)(colon - spec) :
		    strlen(spec);
	}
	if (colon != NULL) {
		char *e;

		errno = 0;
		port = strtol(colon + 1, &e, 10);
		if (colon[1] == '\0' || *e != '\0' || errno != 0 ||
		    port < 1 || port > 65535)
			return CM_EINVAL;
	}
	if (hlen == 0 || hlen >= hostsz)
		return CM_EINVAL;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
			return CM_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port_r = (uint16_t)port;
	return 0;
}

/* 1 when gethostname() gives a name with a dot (what libetpan sends in
 * EHLO), else 0. */
static int fqdn_host(void)
{
	char h[256];

	if (gethostname(h, sizeof h) != 0)
		return 0;
	h[sizeof h - 1] = '\0';
	return strchr(h, '.') != NULL && h[strlen(h) - 1] != '.';
}

/* The relay's last reply as one printable line "CODE text". */
static void reply_of(mailsmtp *smtp, struct relay_result *r)
{
	const char *t = smtp->response != NULL ? smtp->response : "";
	size_t j = 0;
	int n;

	r->code = smtp->response_code;
	n = snprintf(r->reply, sizeof r->reply, "%d ", r->code);
	j = n > 0 && (size_t)n < sizeof r->reply ? (size_t)n : 0;
	for (; *t != '\0' && j + 1 < sizeof r->reply; t++) {
		unsigned char c = (unsigned char)*t;

		if (c == '\r' || c == '\n') {
			if (j > 0 && r->reply[j - 1] != ' ')
				r->reply[j++] = ' ';
			continue;
		}
		r->reply[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	while (j > 0 && r->reply[j - 1] == ' ')
		j--;
	r->reply[j] = '\0';
}

/* The outcome of a command that returned rc: from the reply's class, or
 * retry when there was no reply (connection lost, timeout). */
static enum relay_outcome judge(mailsmtp *smtp, int rc,
    struct relay_result *r, const char *what)
{
	if (rc != MAILSMTP_NO_ERROR && smtp->response_code == 0) {
		r->code = 0;
		snprintf(r->reply, sizeof r->reply, "%s: %s", what,
		    mailsmtp_strerror(rc));
		return RELAY_RETRY;
	}
	reply_of(smtp, r);
	if (r->code >= 200 && r->code < 400 && rc == MAILSMTP_NO_ERROR)
		return RELAY_SENT;
	if (r->code >= 500 && r->code < 600)
		return RELAY_FAILED;
	return RELAY_RETRY;
}

/* Every recipient still open gets the outcome and reply of r. */
static void set_all(struct relay_result *res, size_t n, const int *open,
    const struct relay_result *r)
{
	for (size_t i = 0; i < n; i++)
		if (open == NULL || open[i])
			res[i] = *r;
}

void relay_send(const char *host, uint16_t port, time_t timeout,
    const char *mail_from, char *const *rcpts, size_t n,
    const char *data, size_t len, struct relay_result *res)
{
	struct relay_result r;
	mailsmtp *smtp;
	int *accepted = NULL;
	size_t naccepted = 0;
	int rc, useip;

	memset(&r, 0, sizeof r);
	r.outcome = RELAY_RETRY;
	if ((accepted = calloc(n + 1, sizeof *accepted)) == NULL ||
	    (smtp = mailsmtp_new(0, NULL)) == NULL) {
		snprintf(r.reply, sizeof r.reply, "out of memory");
		set_all(res, n, NULL, &r);
		free(accepted);
		return;
	}
	mailsmtp_set_timeout(smtp, timeout);

	smtp->response_code = 0;
	rc = mailsmtp_socket_connect(smtp, host, port);
	if (rc != MAILSMTP_NO_ERROR) {
		char what[RELAY_HOST_MAX + 32];

		snprintf(what, sizeof what, "connect to %s:%u", host,
		    (unsigned)port);
		judge(smtp, rc, &r, what);
		r.outcome = RELAY_RETRY;	/* whatever the greeting */
		set_all(res, n, NULL, &r);
		goto out;
	}
	/* libetpan greets with gethostname(); a name without a dot is no
	 * valid EHLO argument (strict relays refuse it): then the address
	 * literal of our end of the connection, "[192.0.2.1]" */
	useip = fqdn_host() ? 0 : 1;
	smtp->response_code = 0;
	rc = mailesmtp_ehlo_with_ip(smtp, useip);
	if (rc == MAILSMTP_ERROR_NOT_IMPLEMENTED) {
		smtp->response_code = 0;
		rc = mailsmtp_helo_with_ip(smtp, useip);
	}
	if (judge(smtp, rc, &r, "EHLO") != RELAY_SENT) {
		r.outcome = RELAY_RETRY;
		set_all(res, n, NULL, &r);
		goto quit;
	}
	smtp->response_code = 0;
	rc = mailsmtp_mail(smtp, mail_from);
	r.outcome = judge(smtp, rc, &r, "MAIL FROM");
	if (r.outcome != RELAY_SENT) {
		set_all(res, n, NULL, &r);
		goto quit;
	}
	for (size_t i = 0; i < n; i++) {
		smtp->response_code = 0;
		rc = mailsmtp_rcpt(smtp, rcpts[i]);
		res[i].outcome = judge(smtp, rc, &res[i], "RCPT TO");
		if (res[i].outcome == RELAY_SENT) {
			accepted[i] = 1;
			naccepted++;
		} else if (res[i].code == 0) {
			/* connection gone: the rest wait too */
			for (size_t k = i + 1; k < n; k++)
				res[k] = res[i];
			goto out;
		}
	}
	if (naccepted == 0)
		goto quit;
	smtp->response_code = 0;
	rc = mailsmtp_data(smtp);
	r.outcome = judge(smtp, rc, &r, "DATA");
	if (r.outcome != RELAY_SENT) {
		set_all(res, n, accepted, &r);
		goto quit;
	}
	/* libetpan ends the data with "\r\n.\r\n" whatever it ends with:
	 * hand it the message without its last line end, or the relay
	 * would get one CRLF more than was stored */
	if (len >= 2 && data[len - 2] == '\r' && data[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && data[len - 1] == '\n')
		len -= 1;
	smtp->response_code = 0;
	rc = mailsmtp_data_message(smtp, data, len);
	r.outcome = judge(smtp, rc, &r, "end of DATA");
	set_all(res, n, accepted, &r);
quit:
	mailsmtp_quit(smtp);
out:
	mailsmtp_free(smtp);
	free(accepted);
}
