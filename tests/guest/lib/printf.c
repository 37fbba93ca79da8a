/* SPDX-License-Identifier: MIT */
/*
 * printf-lite: %s %c %d %i %u %x %X %p %%, with l/ll/z length modifiers,
 * '0' and '-' flags and a field width. printf() output goes to the serial
 * port under a lock that the owning CPU may take again (so a fault while
 * printing can still be reported).
 */
#include "runtime.h"

struct sink {
	char *buf;	/* NULL: serial */
	size_t size;
	size_t pos;
};

static void put(struct sink *s, char c)
{
	if (s->buf) {
		if (s->pos + 1 < s->size)
			s->buf[s->pos] = c;
	} else {
		serial_putc(c);
	}
	s->pos++;
}

static void put_num(struct sink *s, u64 v, unsigned base, bool neg, int width,
		    bool zero, bool left, bool upper)
{
	char tmp[24];
	int n = 0;
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	int len = n + (neg ? 1 : 0);
	if (!left && !zero)
		for (; width > len; width--)
			put(s, ' ');
	if (neg)
		put(s, '-');
	if (!left && zero)
		for (; width > len; width--)
			put(s, '0');
	while (n)
		put(s, tmp[--n]);
	if (left)
		for (; width > len; width--)
			put(s, ' ');
}

static void format(struct sink *s, const char *fmt, __builtin_va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		fmt++;
		bool zero = false, left = false;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int lng = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 v = lng ? __builtin_va_arg(ap, s64) : __builtin_va_arg(ap, int);
			put_num(s, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, zero, left, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			u64 v = lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, unsigned);
			put_num(s, v, *fmt == 'u' ? 10 : 16, false, width, zero, left, *fmt == 'X');
			break;
		}
		case 'p':
			put(s, '0');
			put(s, 'x');
			put_num(s, (u64)__builtin_va_arg(ap, void *), 16, false, width, zero, left, false);
			break;
		case 'c':
			put(s, (char)__builtin_va_arg(ap, int));
			break;
		case 's': {
			const char *str = __builtin_va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			int len = (int)strlen(str);
			if (!left)
				for (; width > len; width--)
					put(s, ' ');
			while (*str)
				put(s, *str++);
			if (left)
				for (; width > len; width--)
					put(s, ' ');
			break;
		}
		case '%':
			put(s, '%');
			break;
		case 0:
			return;
		default:
			put(s, '%');
			put(s, *fmt);
			break;
		}
	}
}

int vsnprintf(char *buf, size_t size, const char *fmt, __builtin_va_list ap)
{
	struct sink s = { buf, size, 0 };
	format(&s, fmt, ap);
	if (size)
		buf[s.pos < size ? s.pos : size - 1] = 0;
	return (int)s.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	__builtin_va_end(ap);
	return n;
}

/* Console lock: owner is APIC id + 1; the owner may re-enter. */
static volatile u32 console_owner;
static u32 console_depth;

static void console_lock(void)
{
	u32 me = lapic_id() + 1;
	if (READ_ONCE(console_owner) == me) {
		console_depth++;
		return;
	}
	while (!__atomic_compare_exchange_n(&console_owner, &(u32){ 0 }, me, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		cpu_relax();
	console_depth = 1;
}

static void console_unlock(void)
{
	if (--console_depth == 0)
		__atomic_store_n(&console_owner, 0, __ATOMIC_RELEASE);
}

static void vprint(const char *fmt, __builtin_va_list ap)
{
	struct sink s = { NULL, 0, 0 };
	console_lock();
	format(&s, fmt, ap);
	console_unlock();
}

void printf(const char *fmt, ...)
{
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	vprint(fmt, ap);
	__builtin_va_end(ap);
}

void puts(const char *str)
{
	printf("%s\n", str);
}

void fail(int code, const char *fmt, ...)
{
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	console_lock();
	printf("FAIL: ");
	vprint(fmt, ap);
	printf(" (exit code %d)\n", code);
	console_unlock();
	__builtin_va_end(ap);
	guest_exit(code);
}
