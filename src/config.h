/* SPDX-License-Identifier: MIT */
/*
 * The VM configuration, parsed from the command line (cloud-hypervisor
 * style: `--opt key=value,key=value`). Parsing validates every value; the
 * builder can trust what it gets.
 */
#ifndef CVMM_CONFIG_H
#define CVMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CVMM_VERSION "0.1.0"
#define CVMM_MAX_CPUS 254
#define CVMM_MIN_MEM (16ULL << 20)
#define CVMM_MAX_MEM (1ULL << 40)

enum output_mode {
	OUTPUT_TTY,  /* stdout, and stdin is forwarded to the guest */
	OUTPUT_FILE, /* append to a file */
	OUTPUT_NULL, /* device present, output discarded */
	OUTPUT_OFF,  /* device absent */
};

#define CVMM_MAX_DISKS 8
#define CVMM_MAX_NETS 4

struct disk_config {
	const char *path;
	const char *id; /* virtio-blk serial (GET_ID), default "disk<N>" */
	bool readonly;
	bool direct; /* O_DIRECT */
};

struct net_config {
	const char *tap; /* interface name; NULL: cvmm creates one */
	uint8_t mac[6];
	bool has_mac;    /* else a random locally administered MAC */
	bool has_ip;     /* configure the host side of the tap */
	bool has_mask;
	uint32_t ip;     /* network byte order */
	uint32_t mask;   /* network byte order */
};

struct rng_config {
	bool enabled;
	const char *src; /* NULL: getrandom() */
};

struct vm_config {
	const char *kernel; /* NULL only with api_socket: vm.create gives it */
	const char *initramfs;
	const char *cmdline;
	unsigned cpus;
	uint64_t mem_size;
	enum output_mode serial;
	const char *serial_path;
	enum output_mode console; /* virtio-console; OUTPUT_OFF when absent */
	const char *console_path;
	struct disk_config disks[CVMM_MAX_DISKS];
	unsigned ndisks;
	struct net_config nets[CVMM_MAX_NETS];
	unsigned nnets;
	struct rng_config rng;
	enum log_level log_level;
	bool debug_exit;
	bool seccomp;            /* default on; --seccomp off for debugging */
	const char *api_socket;  /* --api-socket PATH, NULL when absent */
	bool show_help;
	bool show_version;
	/* Storage for values parsed out of key=value lists. */
	char strings[8192];
	size_t strings_used;
};

/*
 * Parses argv into cfg. On error returns -EINVAL and writes one line naming
 * the option into err (no trailing newline).
 */
int config_parse(struct vm_config *cfg, int argc, char *const argv[],
		 char *err, size_t errlen);

/* Parses "512M", "2G", "65536", "64K": 0 or -EINVAL (also on overflow). */
int config_parse_size(const char *s, uint64_t *out);

const char *config_usage(void);

#endif
