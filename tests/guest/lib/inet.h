/* SPDX-License-Identifier: MIT */
/*
 * Small helpers for test guests that speak Ethernet/IPv4 over virtio-net:
 * network byte order, ARP messages, the Internet checksum (RFC 1071), and parsing the
 * dotted-quad and MAC addresses given on the command line.
 */
#ifndef GUEST_INET_H
#define GUEST_INET_H

#include "runtime.h"

static inline void inet_put16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static inline u16 inet_get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

/* The 28 bytes of an Ethernet/IPv4 ARP message (op 1 request, 2 reply)
 * at a: sender sha/spa, target tha/tpa. */
void inet_arp(u8 *a, u16 op, const u8 sha[6], const u8 spa[4], const u8 tha[6],
	      const u8 tpa[4]);
/* The one's complement of the one's complement sum of p[0..len). */
u16 inet_csum(const u8 *p, u32 len);
/* "a.b.c.d" into out: true, or false for anything else. */
bool inet_parse_ip(const char *s, u8 out[4]);
/* "xx:xx:xx:xx:xx:xx" (hex digits, either case) into out. */
bool inet_parse_mac(const char *s, u8 out[6]);

#endif
