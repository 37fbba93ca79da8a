/* SPDX-License-Identifier: MIT */
/* A kernel VFIO device's interrupts from /proc/interrupts; see host_irqs.h. */
#include "vfio/host_irqs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILE (64u << 20)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s[0..n) starts with the literal lit; *used gets its length. */
static bool starts(const char *s, size_t n, const char *lit, size_t *used)
{
	size_t l = strlen(lit);
	if (n < l || memcmp(s, lit, l) != 0)
		return false;
	*used = l;
	return true;
}

/*
 * The handler name at s[0..n) (up to the line's end): vfio-pci's for bdf?
 * Returns its kind (VFIO_PCI_*_IRQ_INDEX) or -1.
 */
static int vfio_name(const char *s, size_t n, const char *bdf)
{
	size_t u, i;
	int kind;
	if (starts(s, n, "vfio-intx(", &u)) {
		kind = VFIO_PCI_INTX_IRQ_INDEX;
		i = u;
	} else {
		if (starts(s, n, "vfio-msix[", &u))
			kind = VFIO_PCI_MSIX_IRQ_INDEX;
		else if (starts(s, n, "vfio-msi[", &u))
			kind = VFIO_PCI_MSI_IRQ_INDEX;
		else
			return -1;
		i = u;
		size_t d = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == d || !starts(s + i, n - i, "](", &u))
			return -1;
		i += u;
	}
	size_t bl = strlen(bdf);
	if (n - i < bl + 1 || memcmp(s + i, bdf, bl) != 0 || s[i + bl] != ')')
		return -1;
	i += bl + 1;
	/* The name ends there: the line's end or the next handler's ", ". */
	if (i == n || (n - i >= 2 && s[i] == ',' && s[i + 1] == ' '))
		return kind;
	return -1;
}

/* One line (no newline): "N: counts... chip hwirq trigger  name[, name]". */
static void parse_line(const char *s, size_t n, const char *bdf, struct vfio_host_irqs *out)
{
	size_t i = 0;
	while (i < n && s[i] == ' ')
		i++;
	size_t d = i;
	while (i < n && is_digit(s[i]))
		i++;
	if (i == d || i == n || s[i] != ':')
		return; /* the CPU header, NMI:, LOC:, ERR: ... */
	i++;
	uint64_t sum = 0;
	for (;;) {
		size_t j = i;
		while (j < n && s[j] == ' ')
			j++;
		size_t k = j;
		uint64_t v = 0;
		bool big = false;
		while (k < n && is_digit(s[k])) {
			if (v > (UINT64_MAX - 9) / 10)
				big = true;
			else
				v = v * 10 + (uint64_t)(s[k] - '0');
			k++;
		}
		if (k == j || (k < n && s[k] != ' '))
			break; /* past the counts: the chip's name */
		sum = big || sum > UINT64_MAX - v ? UINT64_MAX : sum + v;
		i = k;
	}
	/* The handlers: the first after two spaces, the others after ", ". */
	bool shared = false, ours[VFIO_HOST_IRQ_KINDS] = { false };
	for (size_t p = i; p + 2 <= n; p++) {
		bool first = s[p] == ' ' && s[p + 1] == ' ' && p + 2 < n && s[p + 2] != ' ';
		bool next = s[p] == ',' && s[p + 1] == ' ';
		if (next)
			shared = true;
		if (!first && !next)
			continue;
		int kind = vfio_name(s + p + 2, n - p - 2, bdf);
		if (kind >= 0)
			ours[kind] = true;
	}
	for (int kind = 0; kind < VFIO_HOST_IRQ_KINDS; kind++) {
		if (!ours[kind])
			continue;
		out->count[kind] = out->count[kind] > UINT64_MAX - sum ? UINT64_MAX :
				   out->count[kind] + sum;
		out->vectors[kind]++;
		if (kind == VFIO_PCI_INTX_IRQ_INDEX && shared)
			out->intx_shared = true;
	}
}

void vfio_host_irqs_parse(const char *text, size_t len, const char *bdf,
			  struct vfio_host_irqs *out)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		parse_line(text + start, i - start, bdf, out);
		start = i + 1;
	}
}

int vfio_host_irqs_read(int fd, const char *bdf, struct vfio_host_irqs *out)
{
	memset(out, 0, sizeof(*out));
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	for (;;) {
		if (len == cap) {
			char *nb = cap >= MAX_FILE ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				ret = cap >= MAX_FILE ? -EFBIG : -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!ret)
		vfio_host_irqs_parse(buf, len, bdf, out);
	free(buf);
	return ret;
}
