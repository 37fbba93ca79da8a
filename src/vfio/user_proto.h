/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user wire format (QEMU's docs/interop/vfio-user.rst, "Protocol
 * Specification"): what <linux/vfio.h> does not already define. Messages
 * are a 16-byte header and a payload, in the host's byte order, on a UNIX
 * stream socket; file descriptors travel as SCM_RIGHTS with a message.
 * The payloads of DEVICE_GET_INFO, DEVICE_GET_REGION_INFO (and its
 * capabilities), DEVICE_GET_IRQ_INFO and DEVICE_SET_IRQS are the
 * structures of <linux/vfio.h>.
 */
#ifndef CVMM_VFIO_USER_PROTO_H
#define CVMM_VFIO_USER_PROTO_H

#include <stdint.h>

enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
};

struct vfio_user_hdr {
	uint16_t id;     /* the sender's; echoed in the reply */
	uint16_t cmd;    /* enum vfio_user_command, also in the reply */
	uint32_t size;   /* of the whole message, this header included */
	uint32_t flags;  /* VFIO_USER_F_* */
	uint32_t error;  /* an errno, in a reply with VFIO_USER_F_ERROR */
};

#define VFIO_USER_F_TYPE_MASK 0xfu
#define VFIO_USER_F_TYPE_COMMAND 0x0u
#define VFIO_USER_F_TYPE_REPLY 0x1u
#define VFIO_USER_F_NO_REPLY (1u << 4)
#define VFIO_USER_F_ERROR (1u << 5)

/* The protocol version both sides speak (libvfio-user's and QEMU's). */
#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

/* VERSION, request and reply: then optional JSON, NUL-terminated:
 * {"capabilities": {"max_msg_fds": N, "max_data_xfer_size": N, ...}}. */
struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
};

/* Defaults of the capabilities a peer leaves out. */
#define VFIO_USER_DEFAULT_MAX_FDS 1u
#define VFIO_USER_DEFAULT_MAX_XFER (1u << 20)

/* DMA_MAP request (no reply payload); the memory fd, if any, with it. */
struct vfio_user_dma_map {
	uint32_t argsz;  /* 32 */
	uint32_t flags;  /* VFIO_USER_F_DMA_REGION_* */
	uint64_t offset; /* into the fd; 0 without one */
	uint64_t addr;   /* the DMA (guest-physical) address */
	uint64_t size;
};

#define VFIO_USER_F_DMA_REGION_READ (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)

/* DMA_UNMAP request and reply. */
struct vfio_user_dma_unmap {
	uint32_t argsz;  /* the reply's size: 24 */
	uint32_t flags;  /* 0 */
	uint64_t addr;
	uint64_t size;
};

/* REGION_READ/REGION_WRITE: request and reply (data: read reply, write
 * request). */
struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
};

/* DMA_READ/DMA_WRITE, server to client: request and reply (data: read
 * reply, write request). */
struct vfio_user_dma_access {
	uint64_t addr;
	uint64_t count;
};

#endif
