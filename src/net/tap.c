/* SPDX-License-Identifier: MIT */
#include "net/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

_Static_assert(sizeof(struct virtio_net_hdr_v1) == TAP_VNET_HDR_LEN,
	       "vnet header size");

static void set_sin(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = addr,
	};
	memcpy(sa, &sin, sizeof(sin));
}

/* Host side address, netmask and IFF_UP through an AF_INET socket. */
static int tap_configure(const struct tap *t, uint32_t ip, uint32_t mask)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		int err = errno;
		log_error("tap %s: cannot open a socket to configure it: %s",
			  t->name, strerror(err));
		return -err;
	}
	struct ifreq ifr;
	const char *what;
	int ret = 0;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->name);
	set_sin(&ifr.ifr_addr, ip);
	what = "cannot set the address";
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		goto fail;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->name);
	set_sin(&ifr.ifr_netmask, mask);
	what = "cannot set the netmask";
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->name);
	what = "cannot read the interface flags";
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	what = "cannot bring the interface up";
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(s);
	return 0;
fail:
	ret = -errno;
	{
		char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ip, a, sizeof(a));
		inet_ntop(AF_INET, &mask, m, sizeof(m));
		log_error("tap %s: %s (%s/%s): %s", t->name, what, a, m,
			  strerror(-ret));
	}
	close(s);
	return ret;
}

int tap_open(struct tap *t, const char *name, bool has_ip, uint32_t ip,
	     uint32_t mask)
{
	t->fd = -1;
	t->name[0] = '\0';
	if (name && strlen(name) >= IFNAMSIZ) {
		log_error("tap %s: name longer than %d characters", name,
			  IFNAMSIZ - 1);
		return -EINVAL;
	}
	const char *want = name && *name ? name : "cvmm-tap%d";

	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("cannot open /dev/net/tun: %s", strerror(err));
		return -err;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", want);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;
		log_error("tap %s: cannot attach (TUNSETIFF): %s%s", want,
			  strerror(err),
			  err == EPERM ? " (needs CAP_NET_ADMIN, or a tap "
					 "owned by this user)"
				       : "");
		close(fd);
		return -err;
	}
	snprintf(t->name, IFNAMSIZ, "%s", ifr.ifr_name);

	int ret;
	int hdr = TAP_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		ret = -errno;
		log_error("tap %s: cannot set the vnet header size: %s",
			  t->name, strerror(-ret));
		goto fail;
	}
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		ret = -errno;
		log_error("tap %s: cannot turn offloads off: %s", t->name,
			  strerror(-ret));
		goto fail;
	}
	t->fd = fd;
	if (has_ip) {
		ret = tap_configure(t, ip, mask);
		if (ret < 0)
			goto fail;
	}
	log_debug("tap %s: open (fd %d)", t->name, fd);
	return 0;
fail:
	close(fd);
	t->fd = -1;
	return ret;
}

/* Header size and offloads, as every tap of cvmm's has them. */
static int tap_setup(struct tap *t, int fd)
{
	int hdr = TAP_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int err = errno;
		log_error("tap %s: cannot set the vnet header size: %s", t->name, strerror(err));
		return -err;
	}
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		int err = errno;
		log_error("tap %s: cannot turn offloads off: %s", t->name, strerror(err));
		return -err;
	}
	return 0;
}

int tap_check_fd(int fd, char *why, size_t len)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		snprintf(why, len, "not a tap (TUNGETIFF: %s)", strerror(errno));
		return -EINVAL;
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
	    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
		snprintf(why, len, "tap %.*s: needs IFF_TAP, IFF_NO_PI and IFF_VNET_HDR",
			 IFNAMSIZ, ifr.ifr_name);
		return -EINVAL;
	}
	return 0;
}

int tap_adopt(struct tap *t, int fd)
{
	t->fd = -1;
	snprintf(t->name, IFNAMSIZ, "fd%d", fd);
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0) {
		int err = errno;
		log_error("tap fd %d: %s", fd, strerror(err));
		return -err;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int ret = 0;
	if (ioctl(nfd, TUNGETIFF, &ifr) < 0) {
		ret = -errno;
		log_error("tap fd %d: not a tap (TUNGETIFF): %s", fd, strerror(-ret));
	} else if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
		   (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
		ret = -EINVAL;
		log_error("tap fd %d (%.*s): needs IFF_TAP, IFF_NO_PI and IFF_VNET_HDR", fd,
			  IFNAMSIZ, ifr.ifr_name);
	}
	if (!ret) {
		snprintf(t->name, IFNAMSIZ, "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
		ret = tap_setup(t, nfd);
	}
	if (!ret) {
		int fl = fcntl(nfd, F_GETFL);
		if (fl < 0 || fcntl(nfd, F_SETFL, fl | O_NONBLOCK) < 0) {
			ret = -errno;
			log_error("tap %s: cannot make it non-blocking: %s", t->name, strerror(-ret));
		}
	}
	if (ret) {
		close(nfd);
		return ret;
	}
	t->fd = nfd;
	log_debug("tap %s: adopted (fd %d)", t->name, nfd);
	return 0;
}

int tap_get_mtu(const struct tap *t)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->name);
	int ret = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
	close(s);
	if (ret == 0)
		ret = -EINVAL;
	return ret;
}

void tap_close(struct tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
