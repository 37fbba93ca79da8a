/* SPDX-License-Identifier: MIT */
#ifndef CVMM_VIRTIO_GUEST_DMA_H
#define CVMM_VIRTIO_GUEST_DMA_H

/*
 * Device threads move payload between host file descriptors and guest
 * buffers the way a DMA engine does: the guest picks the buffers and may
 * hand the same bytes to two devices at once (or keep using them from a
 * vCPU, which ThreadSanitizer cannot see at all). What ends up there is the
 * guest's problem; cvmm never relies on data it wrote into, or read from,
 * a guest buffer a second time (descriptors are read once into locals).
 *
 * Under ThreadSanitizer the accesses between guest_dma_begin() and
 * guest_dma_end() are therefore not recorded (the runtime's dynamic
 * annotations, which also cover the syscall interceptors), so that a
 * hostile guest aliasing buffers across devices is not reported as a cvmm
 * race. Only these payload/descriptor copies are bracketed: ring indices
 * (atomics) and all of cvmm's own state stay checked. In other builds both
 * calls compile to nothing.
 */

#if defined(__SANITIZE_THREAD__)
#define CVMM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CVMM_TSAN 1
#endif
#endif

#ifdef CVMM_TSAN
#include <errno.h>

void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);

static inline void guest_dma_begin(void)
{
	AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
	AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
}

/* Keeps errno: callers look at the bracketed syscall's errno after this. */
static inline void guest_dma_end(void)
{
	int err = errno;
	AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
	AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
	errno = err;
}
#else
static inline void guest_dma_begin(void)
{
}

static inline void guest_dma_end(void)
{
}
#endif

#endif
