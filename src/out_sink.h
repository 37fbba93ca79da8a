/* SPDX-License-Identifier: MIT */
/*
 * Guest output (UART transmit, virtio-console) on its way to a host fd,
 * without ever blocking the thread that writes it: a guest printing into a
 * pipe whose reader stopped reading must not hold a vCPU (with the UART
 * lock) or a device thread in write(), or SIGTERM and vm.shutdown would
 * never finish and the disks never be flushed.
 *
 * How the fd is written, chosen at create from what it is:
 *  - regular files and block devices: plain write() (they do not wait on a
 *    reader; O_NONBLOCK means nothing to them);
 *  - an fd whose open file description already has O_NONBLOCK: as is;
 *  - anything else (pipe, FIFO, tty, socket, character device): a private
 *    open file description of the same object, opened again through
 *    /proc/self/fd/N with O_NONBLOCK. O_NONBLOCK is NOT set on the fd we
 *    were given: stdout's description is shared with the shell and every
 *    other process that inherited it, which would all see EAGAIN from then
 *    on (and keep it after cvmm exits). Where the object cannot be opened
 *    again (a socket, no /proc), each write is preceded by poll(POLLOUT, 0)
 *    and is at most PIPE_BUF bytes, which a pipe or socket reporting
 *    POLLOUT takes without waiting unless another writer races for the
 *    same space (best effort, documented).
 *
 * What the fd does not take at once waits in a bounded buffer of
 * OUT_SINK_BUF_SIZE bytes, written out first by the next out_sink_write()
 * and by out_sink_drain() (the control loop calls it when out_sink_poll_fd()
 * becomes writable, registered edge-triggered). What does not fit is
 * dropped and counted (out_sink_dropped(); vm.counters shows it), with a
 * rate-limited warning; so are bytes the fd refuses (EPIPE, EIO...). The
 * caller should ignore SIGPIPE.
 *
 * Thread safety: every call takes the sink's mutex; the syscalls made under
 * it never block (regular files aside).
 */
#ifndef CVMM_OUT_SINK_H
#define CVMM_OUT_SINK_H

#include <stddef.h>
#include <stdint.h>

#define OUT_SINK_BUF_SIZE (64u * 1024)

struct out_sink;

/* fd: not owned (never closed). name: for messages ("serial"). 0 or -errno. */
int out_sink_create(struct out_sink **out, int fd, const char *name);
/* Never blocks. Returns the bytes taken (written or buffered); the rest
 * of len was dropped and counted. */
size_t out_sink_write(struct out_sink *s, const void *buf, size_t len);
/* Writes out what is buffered, as much as the fd takes now. */
void out_sink_drain(struct out_sink *s);
/* The fd to watch for EPOLLOUT (edge-triggered), or -1 when writes never
 * wait (regular files). */
int out_sink_poll_fd(const struct out_sink *s);
uint64_t out_sink_dropped(const struct out_sink *s);
/* Last try to write out the buffer (non-blocking), then frees. NULL is fine. */
void out_sink_destroy(struct out_sink *s);

#endif
