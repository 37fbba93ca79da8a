/* SPDX-License-Identifier: MIT */
#include "inet.h"

u16 inet_csum(const u8 *p, u32 len)
{
	u32 s = 0;
	for (u32 i = 0; i + 1 < len; i += 2)
		s += (u32)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (u32)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

bool inet_parse_ip(const char *s, u8 out[4])
{
	for (int i = 0; i < 4; i++) {
		u32 v = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (u32)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (i < 3 && *s++ != '.'))
			return false;
		out[i] = (u8)v;
	}
	return *s == 0;
}

bool inet_parse_mac(const char *s, u8 out[6])
{
	for (int i = 0; i < 6; i++) {
		u32 v = 0;
		for (int k = 0; k < 2; k++) {
			char c = *s++;
			u32 d = c >= '0' && c <= '9' ? (u32)(c - '0') :
				c >= 'a' && c <= 'f' ? (u32)(c - 'a' + 10) :
				c >= 'A' && c <= 'F' ? (u32)(c - 'A' + 10) : 99;
			if (d > 15)
				return false;
			v = v * 16 + d;
		}
		out[i] = (u8)v;
		if (i < 5 && *s++ != ':')
			return false;
	}
	return *s == 0;
}

void inet_arp(u8 *a, u16 op, const u8 sha[6], const u8 spa[4], const u8 tha[6],
	      const u8 tpa[4])
{
	inet_put16(a + 0, 1);      /* Ethernet */
	inet_put16(a + 2, 0x0800); /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	inet_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, spa, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
}
