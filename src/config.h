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

/* CVMM_VERSION: from the file VERSION, passed by the Makefile (-D). */
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
#define CVMM_MAX_DEVICES 8
#define CVMM_DEVICE_ID_MAX 32

/* --disk engine=: how requests reach the image (virtio/blk.h). */
enum disk_engine {
	DISK_ENGINE_AUTO,  /* io_uring when the kernel lets us, else sync */
	DISK_ENGINE_URING, /* io_uring or nothing (the disk fails to build) */
	DISK_ENGINE_SYNC,  /* preadv/pwritev on the device thread */
};

#define CVMM_MAX_DISK_QUEUES 8        /* num_queues= (VIRTIO_MAX_QUEUES) */
#define CVMM_DISK_QUEUE_SIZE 256      /* queue_size= default */
#define CVMM_MIN_DISK_QUEUE_SIZE 4
#define CVMM_MAX_DISK_QUEUE_SIZE 1024

struct disk_config {
	const char *path;
	const char *id; /* virtio-blk serial (GET_ID), default "disk<N>" */
	bool readonly;
	bool direct; /* O_DIRECT */
	unsigned num_queues; /* request queues; 0: 1 */
	unsigned queue_size; /* per queue, a power of two; 0: CVMM_DISK_QUEUE_SIZE */
	enum disk_engine engine;
	/* fixed_buffers=on: the io_uring engine registers guest RAM with its
	 * ring (pinned for the VM's life; virtio/blk_uring.h) */
	bool fixed_buffers;
	/* vhost_user=on: served by a vhost-user-blk backend at `socket`
	 * (path, readonly, direct and engine then do not apply; num_queues
	 * and queue_size do, queue_size 0: CVMM_VHOST_QUEUE_SIZE). */
	bool vhost_user;
	const char *socket;
};

/* vhost-user devices: queue sizes, and where a backend's socket path ends. */
#define CVMM_VHOST_QUEUE_SIZE 128
#define CVMM_VHOST_MAX_QUEUE_SIZE 1024
#define CVMM_VHOST_MAX_QUEUES 8 /* a virtio device's, VIRTIO_MAX_QUEUES */
#define CVMM_MAX_FS 4
#define CVMM_FS_TAG_MAX 36 /* struct virtio_fs_config's tag */

/* --fs: a virtio-fs device served by a vhost-user backend (virtiofsd). */
struct fs_config {
	const char *tag;     /* what the guest mounts (1-36 bytes) */
	const char *socket;
	unsigned num_queues; /* request queues; 0: 1 */
	unsigned queue_size; /* 0: CVMM_VHOST_QUEUE_SIZE */
	const char *id;      /* id=, else a default "_fs<N>" (config_list_end) */
};

struct net_config {
	const char *tap; /* interface name; NULL: cvmm creates one */
	const char *id;  /* id=, else a default "_net<N>" (config_list_end) */
	uint8_t mac[6];
	bool has_mac;    /* else a random locally administered MAC */
	bool has_ip;     /* configure the host side of the tap */
	bool has_mask;
	uint32_t ip;     /* network byte order */
	uint32_t mask;   /* network byte order */
	/* vm.add-net with a tap fd (SCM_RIGHTS): virtio-net on that open tap
	 * instead of tap= (owned by the vm.create configuration). */
	bool has_fd;
	int fd;
};

/* --device: a host PCI function passed through (kernel VFIO). */
struct device_config {
	const char *path; /* sysfs: /sys/bus/pci/devices/DDDD:BB:DD.F */
	const char *id;   /* its name in vm.info; NULL: "vfio DDDD:BB:DD.F" */
	bool no_mmap;     /* mmap=off: every BAR access trapped */
};

#define CVMM_MAX_USER_DEVICES 8

/* --user-device: a PCI device served by a vfio-user server. */
struct user_device_config {
	const char *socket; /* the server's UNIX socket */
	const char *id;     /* NULL: "user<N>" */
};

struct rng_config {
	bool enabled;
	const char *src; /* NULL: getrandom() */
	const char *id;  /* id=, else a default "_rng<N>" (config_list_end) */
};

/* --vsock cid=N,socket=PATH: virtio-vsock, hybrid UNIX-socket backend. */
struct vsock_config {
	bool enabled;
	uint32_t cid;       /* 3 .. 0xfffffffe */
	const char *socket; /* listened on; a guest connection to host port P: PATH_P */
	const char *id;     /* id=, else a default "_vsock<N>" (config_list_end) */
};

/* PATH_P must fit a sockaddr_un: PATH leaves room for "_4294967295". */
#define CVMM_VSOCK_PATH_MAX (107 - 11)

struct vm_config {
	const char *kernel; /* NULL only with api_socket: vm.create gives it */
	const char *initramfs;
	const char *cmdline;
	unsigned cpus;
	/* --cpus max=N (cloud-hypervisor's max_vcpus): the most vCPUs the VM
	 * may have; cvmm has no CPU hotplug, so only reported (vm.info) and
	 * checked (vm.resize). >= cpus; 0 when not given (= cpus). */
	unsigned max_vcpus;
	uint64_t mem_size;
	/* --memory hotplug_size=SIZE: reported by vm.info (Kata reads it as the
	 * limit of memory hotplug); cvmm adds no memory, vm.resize refuses. */
	uint64_t mem_hotplug_size;
	/* --memory shared=on: guest RAM is a memfd mapped MAP_SHARED, which
	 * device backends in other processes (vfio-user) map too. */
	bool mem_shared;
	bool mem_hugepages; /* --memory hugepages=on: MFD_HUGETLB */
	enum output_mode serial;
	const char *serial_path;
	enum output_mode console; /* virtio-console; OUTPUT_OFF when absent */
	const char *console_path;
	struct disk_config disks[CVMM_MAX_DISKS];
	unsigned ndisks;
	struct net_config nets[CVMM_MAX_NETS];
	unsigned nnets;
	struct fs_config fs[CVMM_MAX_FS];
	unsigned nfs;
	struct device_config devices[CVMM_MAX_DEVICES];
	unsigned ndevices;
	struct rng_config rng;
	struct vsock_config vsock;
	struct user_device_config user_devices[CVMM_MAX_USER_DEVICES];
	unsigned nuser_devices;
	enum log_level log_level;
	bool debug_exit;
	bool pit;                /* --platform pit=on|off: in-kernel i8254 PIT, default on */
	/* --virtio-transport pci|mmio[,cmdline=on]: every virtio device's. */
	bool virtio_mmio;
	bool virtio_mmio_cmdline; /* virtio_mmio.device= on the kernel command line */
	bool seccomp;            /* default on; --seccomp off for debugging */
	const char *api_socket;  /* --api-socket PATH, NULL when absent */
	const char *log_file;    /* --log-file PATH: the log goes there, not stderr */
	/* --restore: the VM comes from a snapshot (vm_restore), not from
	 * --kernel and the device options. */
	const char *restore_url;
	bool restore_prefault;   /* prefault=on: guest RAM read in at once */
	bool restore_resume;     /* resume=false: the VM starts Paused */
	bool show_help;
	bool show_version;
	/* The N of the next default device id ("_net<N>", cloud-hypervisor's
	 * style: one count over every kind). */
	unsigned next_id;
	/* Storage for values parsed out of key=value lists (compacted by
	 * config_compact_strings when entries leave). */
	char strings[8192];
	size_t strings_used;
};

/*
 * Parses argv into cfg: config_defaults, config_set for each option,
 * config_check. On error returns -EINVAL and writes one line naming the
 * option into err (no trailing newline).
 */
int config_parse(struct vm_config *cfg, int argc, char *const argv[],
		 char *err, size_t errlen);

/*
 * The options one at a time, for the command line and vm.create (which
 * builds a configuration from JSON without an argument vector) alike.
 * Each function validates what it is given and returns 0, or -EINVAL with
 * one line naming the option in err (no trailing newline).
 */
enum config_opt {
	OPT_KERNEL = 1, /* also getopt_long's values: none is '?' or 'h' */
	OPT_INITRAMFS,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_SERIAL,
	OPT_LOG_LEVEL,
	OPT_CONSOLE,
	OPT_DISK,
	OPT_NET,
	OPT_RNG,
	OPT_DEBUG_EXIT,
	OPT_SECCOMP,
	OPT_API_SOCKET,
	OPT_PLATFORM,
	OPT_VIRTIO_TRANSPORT,
	OPT_DEVICE,
	OPT_USER_DEVICE,
	OPT_VSOCK,
	OPT_FS,
	OPT_HELP,
	OPT_VERSION,
	OPT_LOG_FILE,
	OPT_VERBOSE,     /* -v: one log level more (cloud-hypervisor's spelling) */
	OPT_RESTORE,     /* --restore source_url=file:///DIR[,prefault=on][,resume=false] */
};

/* The defaults of every option. */
void config_defaults(struct vm_config *cfg);
/*
 * One option with its command-line value (NULL when none is given: the
 * flags, and --net/--rng without a list). Path values (kernel, initramfs,
 * cmdline, serial/console file=) are kept by pointer and must outlive cfg;
 * the values of key=value lists are copied into cfg.
 */
int config_set(struct vm_config *cfg, enum config_opt opt, const char *arg,
	       char *err, size_t errlen);
/*
 * A key=value-list option (OPT_CPUS, OPT_MEMORY, OPT_DISK, OPT_NET,
 * OPT_RNG, OPT_PLATFORM, OPT_DEVICE, OPT_VIRTIO_TRANSPORT: its bare first
 * word is the key "type", OPT_USER_DEVICE, OPT_VSOCK) given key by key:
 * begin, any number of keys, end (which adds the disk, net, device or user
 * device and checks that its keys go together).
 */
int config_list_begin(struct vm_config *cfg, enum config_opt opt, char *err,
		      size_t errlen);
int config_list_key(struct vm_config *cfg, enum config_opt opt, const char *key,
		    const char *val, char *err, size_t errlen);
int config_list_end(struct vm_config *cfg, enum config_opt opt, char *err,
		    size_t errlen);
/*
 * OPT_SERIAL or OPT_CONSOLE: mode "tty", "null", "off" or "file" (with a
 * path, kept by pointer); the command line's "file=PATH" is mode and path.
 */
int config_set_output(struct vm_config *cfg, enum config_opt opt, const char *mode,
		      const char *path, char *err, size_t errlen);
/* The checks across options, once every option is given. */
int config_check(const struct vm_config *cfg, char *err, size_t errlen);

/* How config_check_files names what it refuses. */
enum config_names {
	CONFIG_NAMES_CLI,  /* "--disk path=/x.img: No such file or directory" */
	CONFIG_NAMES_JSON, /* "'disks[0].path': /x.img: No such file or directory" */
};

/*
 * The files the configuration names, opened the way the VM build will
 * open them (kernel and initramfs read-only, regular files; disks
 * read-write unless readonly=on, regular files or block devices; the rng
 * source read-only, not a directory; serial/console files for appending,
 * created if missing; a passthrough device's sysfs path probed as the VM
 * build will use it: a PCI function bound to vfio-pci whose IOMMU group
 * is viable and can be opened, see vfio/kernel.h; a user device's socket
 * must be a socket cvmm may connect to; the vsock socket's folder must
 * exist and the path be free or a socket) and closed again, so that a file
 * or device that cannot be used is bad usage (exit status 2, HTTP 400), not
 * a failed VM. Likewise the host's huge pages for --memory hugepages=on
 * (/proc/meminfo: the size must be a multiple of the huge page size, and
 * that many must be free and not reserved). 0, or -EINVAL with one line
 * naming the option (or field) and the file in err.
 */
int config_check_files(const struct vm_config *cfg, enum config_names names,
		       char *err, size_t errlen);

/*
 * Whether `size` bytes of guest RAM fit the huge pages /proc/meminfo's
 * text describes (Hugepagesize, HugePages_Free less HugePages_Rsvd): 0,
 * or -EINVAL with why in `why` (no option name).
 */
int config_hugepages_fit(const char *meminfo, uint64_t size, char *why, size_t len);

/*
 * Drops from cfg->strings what no entry of cfg points to any more (the
 * strings of removed devices), moving the rest and their pointers: many
 * add/remove cycles (vm.add-*, vm.remove-device) do not fill it. Only the
 * configuration's own pointers move; nothing else may keep one.
 */
void config_compact_strings(struct vm_config *cfg);

/* A device's id and where cfg holds it: the member, by cloud-hypervisor's
 * VmConfig key ("disks", "net", "fs", "devices", "user_devices", "rng",
 * "vsock"), and the index in it (0 for rng and vsock). */
struct config_id {
	const char *id;
	const char *member;
	unsigned idx;
};

/* The device of cfg whose id is `id`: 0 (*where filled, where not NULL)
 * or -ENOENT. */
int config_find_id(const struct vm_config *cfg, const char *id, struct config_id *where);

/* Parses "512M", "2G", "65536", "64K": 0 or -EINVAL (also on overflow). */
int config_parse_size(const char *s, uint64_t *out);

const char *config_usage(void);

#endif
