/* SPDX-License-Identifier: MIT */
#include "term.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

/*
 * The one piece of process-wide mutable state outside log.c, and on
 * purpose: term_restore() must work from atexit() and from fatal-signal
 * handlers, neither of which can be handed a context pointer. So the saved
 * termios and its fd live here. `fd` is the publication flag: -1 means
 * "nothing saved"; it is stored only after `saved` is complete (seq_cst
 * atomic store), and lock-free atomics are safe to read in a signal handler.
 * Only the thread that sets the terminal up writes this (before the vCPU
 * threads start).
 */
static struct {
	struct termios saved;
	_Atomic int fd;
	bool atexit_registered;
} term_state = { .fd = -1 };

void term_restore(void)
{
	int fd = atomic_load(&term_state.fd);
	if (fd < 0)
		return;
	/* Restore first, then clear: a signal arriving in between just
	 * restores once more, which is harmless. tcsetattr is
	 * async-signal-safe; TCSANOW never waits for output to drain. */
	tcsetattr(fd, TCSANOW, &term_state.saved);
	atomic_store(&term_state.fd, -1);
}

int term_raw_enter(int fd)
{
	int cur = atomic_load(&term_state.fd);
	if (cur >= 0)
		return cur == fd ? 0 : -EBUSY;
	if (!isatty(fd))
		return -ENOTTY;

	struct termios old, raw;
	if (tcgetattr(fd, &old) < 0)
		return -errno;

	if (!term_state.atexit_registered) {
		if (atexit(term_restore) != 0)
			return -ENOMEM;
		term_state.atexit_registered = true;
	}

	raw = old;
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
				   IGNCR | ICRNL | IXON | IXOFF);
	raw.c_oflag |= OPOST | ONLCR;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;

	term_state.saved = old;
	atomic_store(&term_state.fd, fd);
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		int err = errno;
		atomic_store(&term_state.fd, -1);
		return -err;
	}
	return 0;
}

static void fatal_signal_handler(int sig)
{
	term_restore();
	/* SA_RESETHAND already put back the default action and SA_NODEFER
	 * leaves the signal unblocked, so this terminates the process now. */
	raise(sig);
}

int term_install_fatal_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal_handler;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL) < 0) {
			int err = errno;
			log_error("term: sigaction(%d): %s", sigs[i],
				  strerror(err));
			return -err;
		}
	}
	return 0;
}

enum { ESC_NORMAL = 0, ESC_SEEN = 1 };

size_t term_escape_filter(struct term_escape *e, uint8_t *buf, size_t len,
			  bool *quit)
{
	size_t out = 0;
	bool q = false;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];
		if (e->state == ESC_NORMAL) {
			if (b == TERM_ESCAPE_CHAR)
				e->state = ESC_SEEN;
			else
				buf[out++] = b;
			continue;
		}
		e->state = ESC_NORMAL;
		if (b == 'x' || b == 'X')
			q = true;
		else
			buf[out++] = b; /* Ctrl-A itself, or any other key */
	}
	if (quit)
		*quit = q;
	return out;
}
