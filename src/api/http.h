/* SPDX-License-Identifier: MIT */
/*
 * The small part of HTTP/1.1 (RFC 9110/9112) the API socket speaks: one
 * request parsed out of a byte buffer (request line, headers, a body sized
 * by Content-Length), one response formatted into a growable buffer.
 *
 * Parsing is incremental in the simplest way: the caller keeps appending
 * what the socket delivered and calls http_parse_request() again; it says
 * "need more" until a whole request (headers and body) is there. Requests
 * the server cannot or will not take are refused with the status to send:
 *
 *   400  malformed request line or header, bad or conflicting Content-Length
 *   413  Content-Length above the body limit (known from the headers alone)
 *   414  request target longer than HTTP_MAX_TARGET
 *   431  header section longer than HTTP_MAX_HEADER
 *   501  any Transfer-Encoding (chunked bodies are not supported)
 *   505  a protocol version other than HTTP/1.0 and HTTP/1.1
 *
 * Lines may end in CRLF or a bare LF. HTTP/1.1 connections are persistent
 * unless "Connection: close"; HTTP/1.0 ones only with "keep-alive".
 */
#ifndef CVMM_API_HTTP_H
#define CVMM_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER 8192 /* request line + headers + blank line */
#define HTTP_MAX_TARGET 256
#define HTTP_MAX_METHOD 16

struct http_request {
	char method[HTTP_MAX_METHOD]; /* as sent: methods are case-sensitive */
	char path[HTTP_MAX_TARGET];   /* the target without "?query" */
	int minor;                    /* HTTP/1.<minor> */
	bool keep_alive;
	size_t content_length;
	const char *body; /* into the caller's buffer; NULL when empty */
	size_t body_len;
	/* File descriptors that came with the request (SCM_RIGHTS on the API
	 * socket; set by the server, not the parser). They belong to this
	 * request only: the server closes them once it is answered, so an
	 * endpoint that keeps one dup()s it. */
	const int *fds;
	unsigned nfds;
};

/*
 * What a connection remembers between calls while a request trickles in,
 * so that a client sending one byte at a time costs linear work: how far
 * the search for the end of the headers got, and once the headers are
 * complete, how long they are and how many bytes the whole request takes.
 * Zero-initialised (or http_parser_reset) before each request.
 */
struct http_parser {
	size_t scan;
	size_t hdr_len;
	size_t total;
};

static inline void http_parser_reset(struct http_parser *p)
{
	p->scan = p->hdr_len = p->total = 0;
}

/*
 * Parses one request from buf[0, len) (the bytes received so far, from
 * the start of the request). Returns 0 with *req filled and *consumed the
 * bytes it took (headers + body), -EAGAIN when more bytes are needed, or
 * -EPROTO with *status the HTTP status to answer (see above); the
 * connection should then be closed after that answer. p must be reset
 * after each complete or refused request.
 */
int http_parse_request(struct http_parser *p, const char *buf, size_t len,
		       size_t max_body, struct http_request *req,
		       size_t *consumed, int *status);

/* "OK", "Not Found", ...; "Unknown" for a status it does not know. */
const char *http_reason(int status);

/* A growable byte buffer (responses). */
struct http_buf {
	char *data;
	size_t len;
	size_t cap;
};

void http_buf_free(struct http_buf *b);
/* 0 or -ENOMEM. */
int http_buf_append(struct http_buf *b, const void *p, size_t n);

/*
 * Appends a whole response: status line, Content-Type (when body_len > 0
 * or content_type is given), Content-Length, Connection, the optional
 * extra header lines (each ending in CRLF), then the body.
 */
int http_format_response(struct http_buf *out, int status,
			 const char *content_type, const char *body,
			 size_t body_len, bool keep_alive, const char *extra_headers);

#endif
