/* SPDX-License-Identifier: MIT */
/*
 * Host terminal handling: raw mode for an interactive serial console,
 * restoring it on every way out, and the Ctrl-A escape detector.
 */
#ifndef CVMM_TERM_H
#define CVMM_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Puts the tty `fd` into raw mode: no echo, no canonical input, no signal
 * keys (Ctrl-C/Ctrl-Z/Ctrl-\ reach the guest), no input translation or
 * XON/XOFF; output processing stays on (OPOST|ONLCR). The previous settings
 * are saved for term_restore(), which is also registered with atexit() the
 * first time. Returns 0 (also when `fd` is already raw through this module),
 * -ENOTTY when fd is not a terminal, -EBUSY when another fd is already raw,
 * or another -errno.
 */
int term_raw_enter(int fd);

/*
 * Restores the saved terminal settings, if any. Idempotent and
 * async-signal-safe: may be called from atexit, signal handlers and normal
 * exit paths, any number of times.
 */
void term_restore(void);

/*
 * Installs handlers for SIGSEGV, SIGBUS, SIGABRT, SIGILL and SIGFPE that
 * restore the terminal and then re-raise the signal with its default action
 * (so the process still dies with that signal / dumps core). 0 or -errno.
 */
int term_install_fatal_handlers(void);

/*
 * Console escape detector: Ctrl-A then 'x' (or 'X') means quit; Ctrl-A
 * Ctrl-A sends one literal Ctrl-A; Ctrl-A followed by any other byte drops
 * the Ctrl-A and passes that byte on. State carries across calls, so an
 * escape split over two reads works. Zero-initialise the struct.
 */
#define TERM_ESCAPE_CHAR 0x01 /* Ctrl-A */

struct term_escape {
	int state;
};

/*
 * Removes escape bytes from buf in place and returns the new length. Sets
 * *quit to true when Ctrl-A x was seen (false otherwise); bytes after the
 * quit sequence are still filtered and kept.
 */
size_t term_escape_filter(struct term_escape *e, uint8_t *buf, size_t len,
			  bool *quit);

#endif
