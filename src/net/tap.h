/* SPDX-License-Identifier: MIT */
/*
 * A TAP interface as the backend of a virtio-net device.
 *
 * The tap is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, non-blocking,
 * with a 12-byte vnet header (struct virtio_net_hdr_v1) in front of every
 * frame in both directions, and with every offload off (TUNSETOFFLOAD 0):
 * the kernel then only hands us fully checksummed, non-GSO frames.
 */
#ifndef CVMM_NET_TAP_H
#define CVMM_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of vnet header in front of each frame on the tap fd. */
#define TAP_VNET_HDR_LEN 12

struct tap {
	int fd;                 /* -1 when closed */
	char name[IFNAMSIZ];    /* the interface's name, as the kernel set it */
};

/*
 * Opens (or creates) tap `name`; NULL or "" lets the kernel choose a
 * "cvmm-tap%d" name. With has_ip, gives the host side address ip/mask
 * (network byte order) and brings the link up. Returns 0 or -errno, with
 * the reason logged. On failure *t is left closed (fd -1).
 */
int tap_open(struct tap *t, const char *name, bool has_ip, uint32_t ip,
	     uint32_t mask);

/*
 * Takes a copy (dup) of `fd`, an open tap another process attached (Kata
 * passes it with vm.add-net): it must be a tap with IFF_VNET_HDR and
 * IFF_NO_PI; it is set up as tap_open's (header size, offloads off,
 * non-blocking; the file description is shared with its owner). 0 or
 * -errno, logged; on failure *t is left closed.
 */
int tap_adopt(struct tap *t, int fd);

/*
 * Whether fd is a tap tap_adopt takes (before it is kept for later): 0, or
 * -EINVAL with why in `why`; no log line (the caller reports it).
 */
int tap_check_fd(int fd, char *why, size_t len);

/* The interface's MTU (SIOCGIFMTU): > 0, or -errno. */
int tap_get_mtu(const struct tap *t);

/* Closes the fd (a tap cvmm created then disappears). Idempotent. */
void tap_close(struct tap *t);

#endif
