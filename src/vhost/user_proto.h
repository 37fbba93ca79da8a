/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire format (front-end side), written from QEMU's
 * docs/interop/vhost-user.rst: a 12-byte header (request, flags, payload
 * size; native byte order), then the payload; file descriptors travel as
 * SCM_RIGHTS with the message's first byte. The vring payloads are the
 * kernel's vhost structures (<linux/vhost_types.h>); the memory table's
 * regions carry an mmap offset where the kernel's have padding.
 */
#ifndef CVMM_VHOST_USER_PROTO_H
#define CVMM_VHOST_USER_PROTO_H

#include <linux/vhost_types.h>
#include <stdint.h>

/* Front-end requests (the ones cvmm sends, and their neighbours). */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
};

/* Header flags. */
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* A virtio feature bit of the backend's: it speaks GET/SET_PROTOCOL_FEATURES
 * (and its rings start disabled: SET_VRING_ENABLE). Never the guest's. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_MTU 4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CONFIG 9

/* SET_VRING_KICK/CALL payload: the ring index, and this bit for "no fd". */
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD (1u << 8)

/* SET_CONFIG flags: a write by the driver (not a migration). */
#define VHOST_USER_CONFIG_FRONTEND 0u

/* The most regions SET_MEM_TABLE may carry (without CONFIGURE_MEM_SLOTS). */
#define VHOST_USER_MAX_REGIONS 8
/* The largest device configuration space GET/SET_CONFIG carry. */
#define VHOST_USER_MAX_CONFIG 256u

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes after the header */
} __attribute__((packed));

/* One region of guest memory: the same 32 bytes as the kernel's struct
 * vhost_memory_region, with the region's offset in its fd last. */
struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /* where cvmm has it mapped */
	uint64_t mmap_offset;    /* where it starts in the fd */
};
_Static_assert(sizeof(struct vhost_user_region) == sizeof(struct vhost_memory_region),
	       "vhost-user region layout");

struct vhost_user_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

/* GET_CONFIG / SET_CONFIG: this, then `size` bytes of configuration. */
struct vhost_user_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

#endif
