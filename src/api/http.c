/* SPDX-License-Identifier: MIT */
/* HTTP/1.x request parsing and response formatting; see http.h. */
#include "api/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* tchar (RFC 9110, 5.6.2): the characters of a token. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * Finds the end of the header section (the byte after the empty line) in
 * buf[0, len), starting the search at p->scan. 0 when not there yet.
 */
static size_t find_header_end(struct http_parser *p, const char *buf, size_t len)
{
	size_t i = p->scan;
	for (; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		/* A line ends at i; the next one is empty if it is "\n" or "\r\n". */
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
		if (i + 2 >= len)
			break; /* cannot tell yet: look at this '\n' again */
	}
	p->scan = i;
	return 0;
}

/* Next line of [*pos, end): its start and length without CR LF. */
static bool next_line(const char *buf, size_t end, size_t *pos, const char **line,
		      size_t *n)
{
	if (*pos >= end)
		return false;
	const char *s = buf + *pos;
	const char *nl = memchr(s, '\n', end - *pos);
	size_t l = nl ? (size_t)(nl - s) : end - *pos;
	*pos += l + (nl ? 1 : 0);
	if (l && s[l - 1] == '\r')
		l--;
	*line = s;
	*n = l;
	return true;
}

static int refuse(int *status, int code)
{
	*status = code;
	return -EPROTO;
}

static int parse_request_line(const char *line, size_t n, struct http_request *req,
			      int *status)
{
	const char *sp1 = memchr(line, ' ', n);
	if (!sp1 || sp1 == line)
		return refuse(status, 400);
	size_t mlen = (size_t)(sp1 - line);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(line[i]))
			return refuse(status, 400);
	if (mlen >= sizeof(req->method))
		return refuse(status, 501);
	memcpy(req->method, line, mlen);
	req->method[mlen] = '\0';

	const char *target = sp1 + 1;
	const char *end = line + n;
	const char *sp2 = memchr(target, ' ', (size_t)(end - target));
	if (!sp2 || sp2 == target)
		return refuse(status, 400);
	size_t tlen = (size_t)(sp2 - target);
	if (target[0] != '/')
		return refuse(status, 400);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= 0x20 || c >= 0x7f)
			return refuse(status, 400);
	}
	if (tlen >= sizeof(req->path))
		return refuse(status, 414);
	size_t plen = 0;
	while (plen < tlen && target[plen] != '?' && target[plen] != '#')
		plen++;
	memcpy(req->path, target, plen);
	req->path[plen] = '\0';

	const char *ver = sp2 + 1;
	size_t vlen = (size_t)(end - ver);
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' ||
	    ver[5] < '0' || ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
		return refuse(status, 400);
	if (ver[5] != '1')
		return refuse(status, 505);
	req->minor = ver[7] - '0';
	req->keep_alive = req->minor >= 1;
	return 0;
}

/* Connection: a comma-separated list of tokens. */
static void parse_connection(const char *v, size_t n, struct http_request *req)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		size_t l = i - s;
		if (l == 5 && strncasecmp(v + s, "close", 5) == 0)
			req->keep_alive = false;
		else if (l == 10 && strncasecmp(v + s, "keep-alive", 10) == 0)
			req->keep_alive = true;
	}
}

static int parse_content_length(const char *v, size_t n, size_t *out)
{
	if (n == 0 || n > 18)
		return -EINVAL;
	size_t val = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		val = val * 10 + (size_t)(v[i] - '0');
	}
	*out = val;
	return 0;
}

/* Parses the header section buf[0, hdr_len) into req. */
static int parse_headers(const char *buf, size_t hdr_len, size_t max_body,
			 struct http_request *req, int *status)
{
	size_t pos = 0;
	const char *line;
	size_t n;
	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	do {
		if (!next_line(buf, hdr_len, &pos, &line, &n))
			return refuse(status, 400);
	} while (n == 0);
	int ret = parse_request_line(line, n, req, status);
	if (ret)
		return ret;

	bool have_length = false;
	while (next_line(buf, hdr_len, &pos, &line, &n) && n > 0) {
		/* No obsolete line folding, no whitespace before the colon. */
		if (line[0] == ' ' || line[0] == '\t')
			return refuse(status, 400);
		const char *colon = memchr(line, ':', n);
		if (!colon || colon == line)
			return refuse(status, 400);
		size_t nlen = (size_t)(colon - line);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar(line[i]))
				return refuse(status, 400);
		const char *v = colon + 1;
		size_t vlen = n - nlen - 1;
		while (vlen && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)v[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return refuse(status, 400);
		}
		if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			size_t cl;
			if (parse_content_length(v, vlen, &cl))
				return refuse(status, 400);
			if (have_length && cl != req->content_length)
				return refuse(status, 400);
			have_length = true;
			req->content_length = cl;
		} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			return refuse(status, 501);
		} else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
			parse_connection(v, vlen, req);
		}
	}
	if (req->content_length > max_body)
		return refuse(status, 413);
	return 0;
}

int http_parse_request(struct http_parser *p, const char *buf, size_t len,
		       size_t max_body, struct http_request *req,
		       size_t *consumed, int *status)
{
	*consumed = 0;
	*status = 0;
	if (p->total) {
		/* Headers already checked: only waiting for the body. */
		if (len < p->total)
			return -EAGAIN;
	} else {
		size_t limit = len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER;
		size_t end = find_header_end(p, buf, limit);
		if (!end) {
			if (len >= HTTP_MAX_HEADER)
				return refuse(status, 431);
			return -EAGAIN;
		}
		p->hdr_len = end;
	}
	memset(req, 0, sizeof(*req));
	int ret = parse_headers(buf, p->hdr_len, max_body, req, status);
	if (ret)
		return ret;
	p->total = p->hdr_len + req->content_length;
	if (len < p->total)
		return -EAGAIN;
	if (req->content_length) {
		req->body = buf + p->hdr_len;
		req->body_len = req->content_length;
	}
	*consumed = p->total;
	return 0;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 411: return "Length Required";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void http_buf_free(struct http_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int http_buf_append(struct http_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n) {
			if (cap > ((size_t)-1) / 2)
				return -ENOMEM;
			cap *= 2;
		}
		char *d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int http_format_response(struct http_buf *out, int status,
			 const char *content_type, const char *body,
			 size_t body_len, bool keep_alive, const char *extra_headers)
{
	char head[512], clen[48] = "";
	/* 204 carries no body and so no Content-Length (RFC 9110, 8.6). */
	if (status == 204)
		body_len = 0;
	else
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", body_len);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Server: cvmm\r\n"
			 "%s%s%s"
			 "%s"
			 "Connection: %s\r\n",
			 status, http_reason(status),
			 content_type ? "Content-Type: " : "",
			 content_type ? content_type : "",
			 content_type ? "\r\n" : "",
			 clen, keep_alive ? "keep-alive" : "close");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	int ret = http_buf_append(out, head, (size_t)n);
	if (!ret && extra_headers)
		ret = http_buf_append(out, extra_headers, strlen(extra_headers));
	ret = ret ?: http_buf_append(out, "\r\n", 2);
	ret = ret ?: http_buf_append(out, body, body_len);
	return ret;
}
