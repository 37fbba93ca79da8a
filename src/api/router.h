/* SPDX-License-Identifier: MIT */
/*
 * Request routing for the API: endpoints are "/api/v1/<name>", each name
 * served by one method. The router answers what is wrong with a request
 * before any endpoint sees it, in this order:
 *
 *   404  the path is not an endpoint
 *   405  the endpoint exists but not with this method ("Allow" says which)
 *   400  a body that is not one JSON value (whitespace around it is fine;
 *        an empty body is no body)
 *
 * and otherwise calls the endpoint with the request and its parsed body
 * (NULL when none). Every answer but a 204 has a JSON body; errors have
 * cloud-hypervisor's shape, a JSON array of strings: ["what went wrong"].
 */
#ifndef CVMM_API_ROUTER_H
#define CVMM_API_ROUTER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "api/http.h"
#include "api/server.h"

#define API_PREFIX "/api/v1/"

struct api_route {
	const char *name;   /* e.g. "vm.info" */
	const char *method; /* "GET" or "PUT" */
	void (*fn)(void *ctx, const struct http_request *req, const cJSON *body,
		   struct api_response *resp);
};

void api_route_request(const struct api_route *routes, size_t nroutes, void *ctx,
		       const struct http_request *req, struct api_response *resp);

/* resp = status with `json` as its body (consumed; NULL gives "{}"). */
void api_reply_json(struct api_response *resp, int status, cJSON *json);
/* resp = 204 No Content: no body at all. */
void api_reply_no_content(struct api_response *resp);
/* resp = status with [message] (cloud-hypervisor's error shape). */
void api_reply_error(struct api_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
