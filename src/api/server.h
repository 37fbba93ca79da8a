/* SPDX-License-Identifier: MIT */
/*
 * The API server: HTTP/1.1 on a UNIX stream socket, served from the thread
 * that calls api_server_process() (the VM's control loop), with no thread
 * of its own and no blocking call:
 *
 *  - the listening socket, every client and a 1 s sweep timer sit in an
 *    epoll set of the server's own; that epoll fd (api_server_fd) goes into
 *    the control loop's set and api_server_process() handles whatever is
 *    ready, without waiting;
 *  - clients are non-blocking, each with an input buffer (one request at
 *    a time: headers up to HTTP_MAX_HEADER, a body up to API_MAX_BODY) and
 *    an output buffer that is written as the socket takes it (EPOLLOUT);
 *    while a response is still going out, no more of that client's input
 *    is read, so a client that never reads holds at most one response;
 *    requests a client pipelined (already buffered) are answered one
 *    after another as each answer goes out, without waiting for more input;
 *  - a client that stays silent in the middle of a request (or an idle
 *    keep-alive one) is closed after API_IDLE_TIMEOUT_MS; after a refused
 *    request (400, 413, ...) the server answers, shuts its side and
 *    discards what the client still sends for a short while (so that the
 *    client can read the answer), then closes;
 *  - file descriptors a client sends (SCM_RIGHTS, read with recvmsg) go
 *    with the request whose bytes they came with (the first one not yet
 *    complete when they arrived), at most API_MAX_FDS of them: the handler
 *    sees them in http_request.fds, and the server closes them after the
 *    answer, whatever it was (an endpoint that takes none leaves nothing
 *    open). More than API_MAX_FDS (or a truncated control message) and that
 *    request is refused with 400 without reaching its endpoint;
 *  - at most API_MAX_CLIENTS clients at once: when a further one comes,
 *    the client that has been quiet the longest is closed to make room
 *    (stalled clients cannot lock the others out).
 *
 * The socket is created with mode 0600. A stale socket file at the path
 * (nobody accepts on it) is replaced; a live one, or anything that is not
 * a socket, is an error. api_server_destroy() removes the socket file if it
 * is still the one this server created.
 */
#ifndef CVMM_API_SERVER_H
#define CVMM_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_BODY_TEXT "65536"
#define API_MAX_CLIENTS 32
#define API_IDLE_TIMEOUT_MS 30000
#define API_LINGER_MS 2000
#define API_MAX_FDS 8
#define API_MAX_FDS_TEXT "8"

/* What a handler answers. body is malloc'd (or NULL) and freed by the server. */
struct api_response {
	int status;
	char *body;
	size_t body_len;
	const char *content_type; /* default application/json when body_len > 0 */
	char extra_headers[128];  /* complete header lines (e.g. "Allow: GET\r\n") */
};

/* Called on the control loop thread for each complete, well-formed request. */
typedef void (*api_handler_fn)(void *opaque, const struct http_request *req,
			       struct api_response *resp);

struct api_server;

/* Binds and listens on `path`; 0 or -errno (logged). */
int api_server_create(struct api_server **out, const char *path,
		      api_handler_fn handler, void *opaque);
/* The fd to poll for input (EPOLLIN) in the caller's loop. */
int api_server_fd(const struct api_server *s);
/* Serves whatever is ready; never blocks. */
void api_server_process(struct api_server *s);
/*
 * Gives pending responses up to timeout_ms to go out (used on the way out,
 * so that the answer to a shutdown request reaches its client).
 */
void api_server_flush(struct api_server *s, unsigned timeout_ms);
/* Closes every client and the socket, removes the socket file. NULL ok. */
void api_server_destroy(struct api_server *s);

/* Test hook: the idle and linger timeouts (ms). */
void api_server_set_timeouts(struct api_server *s, unsigned idle_ms,
			     unsigned linger_ms);

#endif
