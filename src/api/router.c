/* SPDX-License-Identifier: MIT */
/* API routing and JSON replies; see router.h. */
#include "api/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_reply_json(struct api_response *resp, int status, cJSON *json)
{
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	if (!text) {
		text = strdup(json ? "[\"out of memory\"]" : "{}");
		if (json)
			status = 500;
	}
	free(resp->body);
	resp->status = status;
	resp->body = text;
	resp->body_len = text ? strlen(text) : 0;
	resp->content_type = "application/json";
}

void api_reply_no_content(struct api_response *resp)
{
	free(resp->body);
	resp->status = 204;
	resp->body = NULL;
	resp->body_len = 0;
	resp->content_type = NULL;
}

void api_reply_error(struct api_response *resp, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateArray();
	cJSON *m = o ? cJSON_CreateString(msg) : NULL;
	if (o && (!m || !cJSON_AddItemToArray(o, m))) {
		cJSON_Delete(m);
		cJSON_Delete(o);
		o = NULL;
	}
	if (!o) {
		free(resp->body);
		resp->status = status;
		resp->body = NULL;
		resp->body_len = 0;
		return;
	}
	api_reply_json(resp, status, o);
}

static bool only_space(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

void api_route_request(const struct api_route *routes, size_t nroutes, void *ctx,
		       const struct http_request *req, struct api_response *resp)
{
	size_t plen = strlen(API_PREFIX);
	const char *name = strncmp(req->path, API_PREFIX, plen) == 0 ?
			   req->path + plen : NULL;
	const struct api_route *hit = NULL;
	char allow[64] = "";
	size_t alen = 0;
	for (size_t i = 0; name && i < nroutes; i++) {
		if (strcmp(routes[i].name, name) != 0)
			continue;
		if (strcmp(routes[i].method, req->method) == 0)
			hit = &routes[i];
		int n = snprintf(allow + alen, sizeof(allow) - alen, "%s%s",
				 alen ? ", " : "", routes[i].method);
		if (n > 0 && (size_t)n < sizeof(allow) - alen)
			alen += (size_t)n;
	}
	if (!alen) {
		api_reply_error(resp, 404, "no such endpoint: %s", req->path);
		return;
	}
	if (!hit) {
		snprintf(resp->extra_headers, sizeof(resp->extra_headers),
			 "Allow: %s\r\n", allow);
		api_reply_error(resp, 405, "%s takes %s, not %s", name, allow,
				req->method);
		return;
	}
	cJSON *body = NULL;
	if (req->body_len && !only_space(req->body, req->body + req->body_len)) {
		const char *end = NULL;
		body = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, false);
		if (!body || !end || !only_space(end, req->body + req->body_len)) {
			cJSON_Delete(body);
			api_reply_error(resp, 400, "the request body is not valid JSON");
			return;
		}
	}
	hit->fn(ctx, req, body, resp);
	cJSON_Delete(body);
}
