/* SPDX-License-Identifier: MIT */
/*
 * The API's HTTP layer without a socket: request parsing (whole, byte by
 * byte, pipelined, every refusal with its status), response formatting,
 * and the router (404, 405 with Allow, 400 for a body that is not JSON,
 * dispatch with the parsed body).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/http.h"
#include "api/router.h"

#define MAXB 1000

/*
 * Parses text in one go: the return code, status and request. The bytes
 * go in an exact-size heap copy (no NUL after them), so that a sanitizer
 * build catches any read past the received data. req->body points into
 * the copy, which is kept until the next call.
 */
static int parse(const char *text, struct http_request *req, size_t *used, int *status)
{
	static char *copy;
	free(copy);
	size_t n = strlen(text);
	copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, text, n);
	struct http_parser p = { 0 };
	return http_parse_request(&p, copy, n, MAXB, req, used, status);
}

static void expect_refused(const char *text, int want)
{
	struct http_request req;
	size_t used;
	int status;
	int ret = parse(text, &req, &used, &status);
	if (ret != -EPROTO || status != want)
		fail_msg("[%s]: ret %d status %d, want status %d", text, ret, status, want);
}

static void test_simple_get(void **state)
{
	(void)state;
	const char *t = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_request req;
	size_t used;
	int status;
	assert_int_equal(parse(t, &req, &used, &status), 0);
	assert_int_equal(used, strlen(t));
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/api/v1/vmm.ping");
	assert_int_equal(req.minor, 1);
	assert_true(req.keep_alive);
	assert_null(req.body);
	assert_int_equal(req.body_len, 0);
}

static void test_body_query_connection(void **state)
{
	(void)state;
	const char *t = "PUT /api/v1/vm.pause?verbose=1#frag HTTP/1.1\n"
			"content-length:  7 \n"
			"Connection: Keep-Alive, close\n"
			"\n"
			"{\"a\":1}EXTRA";
	struct http_request req;
	size_t used;
	int status;
	assert_int_equal(parse(t, &req, &used, &status), 0);
	assert_string_equal(req.path, "/api/v1/vm.pause");
	assert_int_equal(req.body_len, 7);
	assert_memory_equal(req.body, "{\"a\":1}", 7);
	assert_int_equal(used, strlen(t) - 5);
	assert_false(req.keep_alive);

	const char *t10 = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(parse(t10, &req, &used, &status), 0);
	assert_false(req.keep_alive);
	const char *t10k = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	assert_int_equal(parse(t10k, &req, &used, &status), 0);
	assert_true(req.keep_alive);
}

/* Fed one byte at a time: "need more" until the very last byte. */
static void test_byte_by_byte(void **state)
{
	(void)state;
	const char *t = "PUT /api/v1/vm.resume HTTP/1.1\r\nHost: x\r\n"
			"Content-Length: 2\r\n\r\n{}";
	size_t n = strlen(t);
	struct http_parser p = { 0 };
	struct http_request req;
	size_t used;
	int status;
	for (size_t i = 1; i < n; i++)
		assert_int_equal(http_parse_request(&p, t, i, MAXB, &req, &used, &status),
				 -EAGAIN);
	assert_int_equal(http_parse_request(&p, t, n, MAXB, &req, &used, &status), 0);
	assert_int_equal(used, n);
	assert_int_equal(req.body_len, 2);
}

static void test_pipelined(void **state)
{
	(void)state;
	const char *t = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	struct http_parser p = { 0 };
	struct http_request req;
	size_t used;
	int status;
	assert_int_equal(http_parse_request(&p, t, strlen(t), MAXB, &req, &used, &status), 0);
	assert_string_equal(req.path, "/a");
	http_parser_reset(&p);
	assert_int_equal(http_parse_request(&p, t + used, strlen(t) - used, MAXB, &req,
					    &used, &status), 0);
	assert_string_equal(req.path, "/b");
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("GARBAGE\r\n\r\n", 400);
	expect_refused("GET /\r\n\r\n", 400);
	expect_refused("GET  / HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET relative HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1 \r\n\r\n", 400);
	expect_refused("G(T / HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET / HTTX/1.1\r\n\r\n", 400);
	expect_refused("GET / HTTP/2.0\r\n\r\n", 505);
	expect_refused("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nX: a\001b\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413);
	expect_refused("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
	expect_refused("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", 501);

	/* The same Content-Length twice is fine. */
	struct http_request req;
	size_t used;
	int status;
	assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: 1\r\n"
			       "Content-Length: 1\r\n\r\nx", &req, &used, &status), 0);
	/* Body limit: exactly the maximum is accepted. */
	char big[64];
	snprintf(big, sizeof(big), "PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", MAXB);
	assert_int_equal(parse(big, &req, &used, &status), -EAGAIN);
}

static void test_long_target_and_headers(void **state)
{
	(void)state;
	char *t = malloc(HTTP_MAX_HEADER + 100);
	assert_non_null(t);
	int n = sprintf(t, "GET /");
	memset(t + n, 'a', HTTP_MAX_TARGET);
	sprintf(t + n + HTTP_MAX_TARGET, " HTTP/1.1\r\n\r\n");
	expect_refused(t, 414);

	/* Headers that never end: 431 once HTTP_MAX_HEADER bytes came. */
	n = sprintf(t, "GET / HTTP/1.1\r\nX: ");
	memset(t + n, 'b', HTTP_MAX_HEADER + 50 - (size_t)n);
	t[HTTP_MAX_HEADER + 50] = '\0';
	struct http_parser p = { 0 };
	struct http_request req;
	size_t used;
	int status;
	assert_int_equal(http_parse_request(&p, t, HTTP_MAX_HEADER - 1, MAXB, &req, &used,
					    &status), -EAGAIN);
	assert_int_equal(http_parse_request(&p, t, HTTP_MAX_HEADER + 50, MAXB, &req, &used,
					    &status), -EPROTO);
	assert_int_equal(status, 431);
	free(t);
}

static void test_format(void **state)
{
	(void)state;
	struct http_buf b = { 0 };
	assert_int_equal(http_format_response(&b, 405, "application/json", "{}", 2, true,
					      "Allow: GET\r\n"), 0);
	assert_int_equal(http_buf_append(&b, "", 1), 0);
	assert_non_null(strstr(b.data, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(b.data, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(b.data, "Content-Length: 2\r\n"));
	assert_non_null(strstr(b.data, "Connection: keep-alive\r\n"));
	assert_non_null(strstr(b.data, "Allow: GET\r\n\r\n{}"));
	http_buf_free(&b);

	assert_int_equal(http_format_response(&b, 204, NULL, NULL, 0, false, NULL), 0);
	assert_int_equal(http_buf_append(&b, "", 1), 0);
	assert_null(strstr(b.data, "Content-Type"));
	assert_null(strstr(b.data, "Content-Length")); /* none on a 204 */
	assert_non_null(strstr(b.data, "Connection: close\r\n\r\n"));
	http_buf_free(&b);
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(429), "Too Many Requests");
	assert_string_equal(http_reason(299), "Unknown");
}

/* ---- router ---- */

struct seen {
	int calls;
	char body[64];
};

static void ep_get(void *ctx, const struct http_request *req, const cJSON *body,
		   struct api_response *resp)
{
	(void)req;
	struct seen *s = ctx;
	s->calls++;
	s->body[0] = '\0';
	if (body) {
		char *t = cJSON_PrintUnformatted(body);
		snprintf(s->body, sizeof(s->body), "%s", t);
		free(t);
	}
	api_reply_json(resp, 200, cJSON_CreateObject());
}

static const struct api_route routes[] = {
	{ "a.get", "GET", ep_get },
	{ "a.put", "PUT", ep_get },
};

static int route(struct seen *s, const char *method, const char *path, const char *body,
		 struct api_response *r)
{
	struct http_request req = { 0 };
	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.path, sizeof(req.path), "%s", path);
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	memset(r, 0, sizeof(*r));
	api_route_request(routes, 2, s, &req, r);
	return r->status;
}

static void test_router(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct api_response r;

	assert_int_equal(route(&s, "GET", "/api/v1/a.get", NULL, &r), 200);
	assert_int_equal(s.calls, 1);
	assert_string_equal(r.body, "{}");
	free(r.body);

	assert_int_equal(route(&s, "GET", "/api/v1/nope", NULL, &r), 404);
	assert_string_equal(r.body, "[\"no such endpoint: /api/v1/nope\"]");
	free(r.body);
	assert_int_equal(route(&s, "GET", "/a.get", NULL, &r), 404);
	free(r.body);
	assert_int_equal(route(&s, "GET", "/api/v1/a.get/x", NULL, &r), 404);
	free(r.body);

	assert_int_equal(route(&s, "PUT", "/api/v1/a.get", NULL, &r), 405);
	assert_string_equal(r.extra_headers, "Allow: GET\r\n");
	free(r.body);
	assert_int_equal(route(&s, "get", "/api/v1/a.get", NULL, &r), 405);
	free(r.body);

	/* 405 wins over a bad body; 404 over both. */
	assert_int_equal(route(&s, "GET", "/api/v1/a.put", "{", &r), 405);
	free(r.body);
	assert_int_equal(route(&s, "GET", "/api/v1/zz", "{", &r), 404);
	free(r.body);

	assert_int_equal(s.calls, 1);
	const char *bad[] = { "{", "{\"a\":}", "[1,2", "nul", "{} {}", "1 2", "\"x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (route(&s, "PUT", "/api/v1/a.put", bad[i], &r) != 400)
			fail_msg("body [%s] gave %d", bad[i], r.status);
		free(r.body);
	}
	assert_int_equal(s.calls, 1);

	assert_int_equal(route(&s, "PUT", "/api/v1/a.put", " {\"k\": [1, true]}\r\n", &r), 200);
	assert_string_equal(s.body, "{\"k\":[1,true]}");
	free(r.body);
	assert_int_equal(route(&s, "PUT", "/api/v1/a.put", "  \n", &r), 200);
	assert_string_equal(s.body, "");
	free(r.body);
	assert_int_equal(s.calls, 3);
}

static void test_reply_error(void **state)
{
	(void)state;
	struct api_response r = { 0 };
	api_reply_error(&r, 409, "state is \"%s\"", "Paused");
	assert_int_equal(r.status, 409);
	assert_string_equal(r.body, "[\"state is \\\"Paused\\\"\"]");
	assert_int_equal(r.body_len, strlen(r.body));
	free(r.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_body_query_connection),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_long_target_and_headers),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_reply_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
