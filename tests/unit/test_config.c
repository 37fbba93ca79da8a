/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing: full valid command lines and defaults, every kind of
 * bad value (each must give -EINVAL and one line naming the option),
 * --help/--version short-circuits, repeated parses (getopt state reset),
 * the size parser, and the check of the files the options name.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define MAXARGS 32

/* argv built from a NULL-terminated list, in writable copies. */
struct args {
	int argc;
	char *argv[MAXARGS + 1];
};

static void args_build(struct args *a, va_list ap)
{
	a->argc = 0;
	a->argv[a->argc++] = strdup("cvmm");
	const char *s;
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(a->argc < MAXARGS);
		a->argv[a->argc++] = strdup(s);
	}
	a->argv[a->argc] = NULL;
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

/* Parses; err is poisoned first so a missing message shows. The args are
 * kept alive in *a so that pointers in cfg stay valid. */
static int vparse(struct args *a, struct vm_config *cfg, char *err,
		  size_t errlen, va_list ap)
{
	args_build(a, ap);
	memset(err, 'X', errlen);
	err[errlen - 1] = '\0';
	return config_parse(cfg, a->argc, a->argv, err, errlen);
}

static int parse(struct args *a, struct vm_config *cfg, char *err,
		 size_t errlen, ...)
{
	va_list ap;
	va_start(ap, errlen);
	int r = vparse(a, cfg, err, errlen, ap);
	va_end(ap);
	return r;
}

/* The parse must fail with -EINVAL and one line that contains `needle`. */
static void expect_error(const char *needle, ...)
{
	struct args a;
	struct vm_config cfg;
	char err[512];
	va_list ap;
	va_start(ap, needle);
	int r = vparse(&a, &cfg, err, sizeof(err), ap);
	va_end(ap);
	char cmd[1024] = "";
	for (int i = 1; i < a.argc; i++) {
		strncat(cmd, " '", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, a.argv[i], sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, "'", sizeof(cmd) - strlen(cmd) - 1);
	}
	if (r != -EINVAL)
		fail_msg("cvmm%s: returned %d, want -EINVAL", cmd, r);
	if (!strstr(err, needle))
		fail_msg("cvmm%s: message \"%s\" does not name \"%s\"", cmd, err, needle);
	if (strchr(err, '\n'))
		fail_msg("cvmm%s: message \"%s\" is not one line", cmd, err);
	if (err[0] == 'X' || strlen(err) < 8)
		fail_msg("cvmm%s: message \"%s\" not written", cmd, err);
	args_free(&a);
}

static void test_defaults(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	memset(&cfg, 0xa5, sizeof(cfg));
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "bzImage",
			       NULL), 0);
	assert_string_equal(cfg.kernel, "bzImage");
	assert_null(cfg.initramfs);
	assert_non_null(cfg.cmdline);
	assert_string_equal(cfg.cmdline, "");
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_false(cfg.mem_shared);
	assert_false(cfg.mem_hugepages);
	assert_int_equal(cfg.serial, OUTPUT_TTY);
	assert_null(cfg.serial_path);
	assert_int_equal(cfg.log_level, LOG_WARN);
	assert_false(cfg.debug_exit);
	assert_true(cfg.pit);
	assert_false(cfg.show_help);
	assert_false(cfg.show_version);
	args_free(&a);
}

static void test_full(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err),
			       "--kernel", "/boot/vmlinux",
			       "--initramfs", "/tmp/initrd.cpio",
			       "--cmdline", "console=ttyS0 root=/dev/vda",
			       "--cpus", "boot=4",
			       "--memory", "size=2G",
			       "--serial", "file=/tmp/serial.log",
			       "--log-level", "debug",
			       "--debug-exit", NULL), 0);
	assert_string_equal(cfg.kernel, "/boot/vmlinux");
	assert_string_equal(cfg.initramfs, "/tmp/initrd.cpio");
	assert_string_equal(cfg.cmdline, "console=ttyS0 root=/dev/vda");
	assert_int_equal(cfg.cpus, 4);
	assert_int_equal(cfg.mem_size, 2ULL << 30);
	assert_int_equal(cfg.serial, OUTPUT_FILE);
	assert_string_equal(cfg.serial_path, "/tmp/serial.log");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_true(cfg.debug_exit);
	assert_false(cfg.show_help);
	args_free(&a);

	/* "--opt=value" spelling, the other serial modes and log levels,
	 * extremes of the ranges, and the last repeat winning. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel=k",
			       "--cpus=boot=254", "--memory=size=16M",
			       "--serial=null", "--log-level=error", NULL), 0);
	assert_string_equal(cfg.kernel, "k");
	assert_int_equal(cfg.cpus, 254);
	assert_int_equal(cfg.mem_size, 16ULL << 20);
	assert_int_equal(cfg.serial, OUTPUT_NULL);
	assert_int_equal(cfg.log_level, LOG_ERROR);
	args_free(&a);

	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--cpus", "boot=1", "--memory", "size=1T",
			       "--serial", "off", "--log-level", "info",
			       "--cpus", "boot=3", "--memory", "size=4096M", NULL), 0);
	assert_int_equal(cfg.cpus, 3);
	assert_int_equal(cfg.mem_size, 4ULL << 30);
	assert_int_equal(cfg.serial, OUTPUT_OFF);
	assert_int_equal(cfg.log_level, LOG_INFO);
	args_free(&a);

	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--serial", "tty", "--log-level", "warn",
			       "--memory", "size=1T", "--cmdline", "", NULL), 0);
	assert_int_equal(cfg.serial, OUTPUT_TTY);
	assert_int_equal(cfg.log_level, LOG_WARN);
	assert_int_equal(cfg.mem_size, 1ULL << 40);
	assert_string_equal(cfg.cmdline, "");
	args_free(&a);

	/* Repeated keys inside one value: the last one counts. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--cpus", "boot=2,boot=6", "--memory",
			       "size=1G,size=64M", NULL), 0);
	assert_int_equal(cfg.cpus, 6);
	assert_int_equal(cfg.mem_size, 64ULL << 20);
	args_free(&a);

	/* A cmdline of exactly 65534 bytes is accepted. */
	char *longline = malloc(65535);
	assert_non_null(longline);
	memset(longline, 'a', 65534);
	longline[65534] = '\0';
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--cmdline", longline, NULL), 0);
	assert_int_equal(strlen(cfg.cmdline), 65534);
	args_free(&a);
	free(longline);
}

static void test_help_version(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	/* No --kernel needed. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--help", NULL), 0);
	assert_true(cfg.show_help);
	assert_false(cfg.show_version);
	assert_null(cfg.kernel);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "-h", NULL), 0);
	assert_true(cfg.show_help);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--version", NULL), 0);
	assert_true(cfg.show_version);
	assert_false(cfg.show_help);
	args_free(&a);
	/* With other valid options around. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--cpus", "boot=2",
			       "--version", "--memory", "size=1G", NULL), 0);
	assert_true(cfg.show_version);
	args_free(&a);
	/* The usage text mentions every option. */
	const char *u = config_usage();
	const char *opts[] = { "--kernel", "--initramfs", "--cmdline", "--cpus",
			       "--memory", "--serial", "--log-level", "--debug-exit",
			       "--help", "--version" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strstr(u, opts[i]))
			fail_msg("usage does not mention %s", opts[i]);
}

static void test_bad_general(void **state)
{
	(void)state;
	expect_error("--kernel", NULL);
	expect_error("--kernel", "--cpus", "boot=2", NULL);
	expect_error("--kernel", "--kernel", NULL);            /* no value at end */
	expect_error("--kernel", "--kernel=", NULL);           /* empty */
	expect_error("--kernel", "--kernel", "", NULL);
	expect_error("--initramfs", "--kernel", "k", "--initramfs", NULL);
	expect_error("--initramfs", "--kernel", "k", "--initramfs", "", NULL);
	expect_error("--cmdline", "--kernel", "k", "--cmdline", NULL);
	expect_error("--cpus", "--kernel", "k", "--cpus", NULL);
	expect_error("--memory", "--kernel", "k", "--memory", NULL);
	expect_error("--serial", "--kernel", "k", "--serial", NULL);
	expect_error("--log-level", "--kernel", "k", "--log-level", NULL);
	expect_error("--bogus", "--kernel", "k", "--bogus", NULL);
	expect_error("--bogus=1", "--kernel", "k", "--bogus=1", NULL);
	expect_error("vmlinux", "vmlinux", NULL);              /* positional */
	expect_error("extra", "--kernel", "k", "extra", NULL);
	expect_error("extra", "--kernel", "k", "--", "extra", NULL);
	/* A flag given a value. */
	expect_error("--debug-exit", "--kernel", "k", "--debug-exit=1", NULL);
	/* Longer than the boot protocol allows. */
	char *longline = malloc(65536);
	assert_non_null(longline);
	memset(longline, 'a', 65535);
	longline[65535] = '\0';
	expect_error("--cmdline", "--kernel", "k", "--cmdline", longline, NULL);
	free(longline);
	/* An abbreviation is reported under the option's full name. */
	expect_error("--memory", "--kernel", "k", "--mem", "size=0", NULL);
}

static void test_bad_short_option(void **state)
{
	(void)state;
	/* An unknown single-dash option must be named as such. */
	expect_error("-x", "--kernel", "k", "-x", NULL);
	expect_error("-q", "-q", NULL);
	expect_error("-Z", "--kernel", "k", "-Z", NULL);
	expect_error("-q", "-hq", NULL);
	/* Stopping inside a bundle of short options leaves no state behind
	 * for the next parse. */
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "-hq", NULL), -EINVAL);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k3", NULL), 0);
	assert_string_equal(cfg.kernel, "k3");
	assert_false(cfg.show_help);
	args_free(&a);
}

/* --virtio-transport pci|mmio[,cmdline=on|off]: pci unless asked. */
static void test_virtio_transport(void **state)
{
	(void)state;
	static const struct { const char *arg; bool mmio, cmdline; } ok[] = {
		{ "pci", false, false }, { "mmio", true, false },
		{ "type=mmio", true, false }, { "mmio,cmdline=on", true, true },
		{ "mmio,cmdline=off", true, false }, { "cmdline=on,mmio", true, true },
		{ "pci,cmdline=off", false, false }, { "mmio,pci", false, false },
	};
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", NULL), 0);
	assert_false(cfg.virtio_mmio);
	assert_false(cfg.virtio_mmio_cmdline);
	args_free(&a);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
				       "--virtio-transport", ok[i].arg, NULL), 0);
		if (cfg.virtio_mmio != ok[i].mmio || cfg.virtio_mmio_cmdline != ok[i].cmdline)
			fail_msg("--virtio-transport %s: mmio %d cmdline %d, want %d %d",
				 ok[i].arg, cfg.virtio_mmio, cfg.virtio_mmio_cmdline,
				 ok[i].mmio, ok[i].cmdline);
		args_free(&a);
	}
	static const char *const bad[] = {
		"", "usb", "PCI", "mmio,", ",mmio", "mmio,cmdline", "mmio,cmdline=",
		"mmio,cmdline=maybe", "mmio,irq=5", "=mmio", "type=", "type=virtio",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--virtio-transport", "--kernel", "k", "--virtio-transport",
			     bad[i], NULL);
	expect_error("--virtio-transport: missing value", "--kernel", "k",
		     "--virtio-transport", NULL);
	expect_error("--virtio-transport: 'usb': expected pci or mmio", "--kernel", "k",
		     "--virtio-transport", "usb", NULL);
	/* The command-line entries describe virtio-mmio windows: not for pci. */
	expect_error("--virtio-transport: cmdline=on needs mmio", "--kernel", "k",
		     "--virtio-transport", "pci,cmdline=on", NULL);
	expect_error("--virtio-transport: cmdline=on needs mmio", "--kernel", "k",
		     "--virtio-transport", "cmdline=on", NULL);
	expect_error("--virtio-transport: cmdline=on needs mmio", "--kernel", "k",
		     "--virtio-transport", "mmio,cmdline=on", "--virtio-transport", "pci",
		     NULL);
}

/* --platform pit=on|off: the in-kernel PIT, on unless asked otherwise. */
static void test_platform(void **state)
{
	(void)state;
	static const struct { const char *arg; bool pit; } ok[] = {
		{ "pit=off", false }, { "pit=on", true }, { "pit=false", false },
		{ "pit=true", true }, { "pit=on,pit=off", false },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct args a;
		struct vm_config cfg;
		char err[256];
		assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
				       "--platform", ok[i].arg, NULL), 0);
		if (cfg.pit != ok[i].pit)
			fail_msg("--platform %s: pit %d, want %d", ok[i].arg, cfg.pit,
				 ok[i].pit);
		args_free(&a);
	}
	/* The last one given wins, as for every option. */
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", "--platform",
			       "pit=off", "--platform", "pit=on", NULL), 0);
	assert_true(cfg.pit);
	args_free(&a);

	static const char *const bad[] = {
		"", "pit", "pit=", "pit=0", "pit=yes", "pit=off,", ",pit=off",
		"pic=off", "pit=off,hpet=on", "=off",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--platform", "--kernel", "k", "--platform", bad[i], NULL);
	expect_error("--platform: missing value", "--kernel", "k", "--platform", NULL);
	expect_error("--platform: unknown key 'hpet' (expected pit=on|off)", "--kernel",
		     "k", "--platform", "hpet=on", NULL);
	expect_error("--platform: pit=maybe: expected on or off", "--kernel", "k",
		     "--platform", "pit=maybe", NULL);
}

static void test_bad_cpus(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"boot=0", "boot=255", "boot=256", "boot=abc", "boot=", "",
		"boot=-1", "boot=+2", "boot= 2", "boot=2 ", "boot=2x", "boot=0x2",
		"boot=4294967297", "boot=99999999999999999999999",
		"count=2", "boot", "=2", "boot=2,boot=", "boot=2,", ",boot=2",
		"boot=2,,boot=3", "boot=2,max=4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--cpus", "--kernel", "k", "--cpus", bad[i], NULL);
}

static void test_bad_memory(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"size=0", "size=1K", "size=15M", "size=16777215", "size=2T",
		"size=1025G", "size=12345",
		"size=16777217",   /* >= 16M but not a multiple of 4K */
		"size=1048577K",   /* likewise */
		"size=1X", "size=-1", "size=", "size=M", "size=1.5G", "size=1G ",
		"size=99999999999999999999G", "size=18446744073709551616",
		"size=17179869184G", "size=16777216T",
		"", "1G", "sz=1G", "size=1G,", "size=1G,foo=2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--memory", "--kernel", "k", "--memory", bad[i], NULL);
}

/* --memory shared=on|off, hugepages=on|off beside size= (cloud-hypervisor's keys). */
static void test_memory_keys(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--memory", "size=64M,shared=on", NULL), 0);
	assert_int_equal(cfg.mem_size, 64ULL << 20);
	assert_true(cfg.mem_shared);
	assert_false(cfg.mem_hugepages);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--memory", "hugepages=on,shared=true,size=2G", NULL), 0);
	assert_int_equal(cfg.mem_size, 2ULL << 30);
	assert_true(cfg.mem_shared);
	assert_true(cfg.mem_hugepages);
	args_free(&a);
	/* Off again, and the size keeps its default without size=. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--memory", "shared=on,hugepages=on",
			       "--memory", "shared=off,hugepages=false", NULL), 0);
	assert_int_equal(cfg.mem_size, 512ULL << 20);
	assert_false(cfg.mem_shared);
	assert_false(cfg.mem_hugepages);
	args_free(&a);
	static const char *const bad[] = {
		"shared", "shared=", "shared=yes", "shared=1", "size=64M,shared=ON",
		"hugepages=maybe", "hugepages", "size=64M,hugepage=on", "prefault=on",
		"shared=on,", ",shared=on", "size=64M,shared=on,size=1K",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--memory", "--kernel", "k", "--memory", bad[i], NULL);
}

/* --user-device socket=PATH[,id=NAME], repeatable. */
static void test_user_device(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", NULL), 0);
	assert_int_equal(cfg.nuser_devices, 0);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--user-device", "socket=/run/edu.sock,id=edu0",
			       "--user-device=socket=/run/other.sock", NULL), 0);
	assert_int_equal(cfg.nuser_devices, 2);
	assert_string_equal(cfg.user_devices[0].socket, "/run/edu.sock");
	assert_string_equal(cfg.user_devices[0].id, "edu0");
	assert_string_equal(cfg.user_devices[1].socket, "/run/other.sock");
	assert_null(cfg.user_devices[1].id);
	args_free(&a);
	/* Eight fit. */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--user-device", "socket=/1", "--user-device", "socket=/2",
			       "--user-device", "socket=/3", "--user-device", "socket=/4",
			       "--user-device", "socket=/5", "--user-device", "socket=/6",
			       "--user-device", "socket=/7", "--user-device", "socket=/8", NULL), 0);
	assert_int_equal(cfg.nuser_devices, 8);
	args_free(&a);
	char longpath[120];
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "socket=/", 8);
	longpath[sizeof(longpath) - 1] = '\0';
	static const char *const bad[] = {
		"", "socket=", "id=x", "socket=/a,sock=/b", "socket=/a,id=",
		"socket=/a,id=abcdefghijklmnopqrstuvwxyz0123456", "socket=/a,", "/a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("--user-device", "--kernel", "k", "--user-device", bad[i], NULL);
	expect_error("longer than 107 bytes", "--kernel", "k", "--user-device", longpath, NULL);
	expect_error("--user-device: socket= is required", "--kernel", "k", "--user-device",
		     "id=e", NULL);
	expect_error("--user-device: socket /a given twice", "--kernel", "k", "--user-device",
		     "socket=/a", "--user-device", "socket=/a,id=b", NULL);
	expect_error("--user-device: id e given twice", "--kernel", "k", "--user-device",
		     "socket=/a,id=e", "--user-device", "socket=/b,id=e", NULL);
	expect_error("--user-device: at most 8 devices", "--kernel", "k",
		     "--user-device", "socket=/1", "--user-device", "socket=/2",
		     "--user-device", "socket=/3", "--user-device", "socket=/4",
		     "--user-device", "socket=/5", "--user-device", "socket=/6",
		     "--user-device", "socket=/7", "--user-device", "socket=/8",
		     "--user-device", "socket=/9", NULL);
}

/* The huge page check against /proc/meminfo's text. */
static void test_hugepages_fit(void **state)
{
	(void)state;
	char why[256];
	const char *two_free = "MemTotal:  100 kB\nHugePages_Total:     512\n"
			       "HugePages_Free:      300\nHugePages_Rsvd:      44\n"
			       "HugePages_Surp:        0\nHugepagesize:       2048 kB\n";
	/* 256 free and unreserved pages of 2 MiB: 512 MiB fits, 514 does not. */
	assert_int_equal(config_hugepages_fit(two_free, 512ULL << 20, why, sizeof(why)), 0);
	assert_int_equal(config_hugepages_fit(two_free, 514ULL << 20, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "257 huge pages of 2048 kB needed, 256 free"));
	assert_int_equal(config_hugepages_fit(two_free, (64ULL << 20) + 4096, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not a multiple of the 2048 kB huge page size"));
	const char *gig = "HugePages_Free: 2\nHugePages_Rsvd: 0\nHugepagesize: 1048576 kB\n";
	assert_int_equal(config_hugepages_fit(gig, 2ULL << 30, why, sizeof(why)), 0);
	assert_int_equal(config_hugepages_fit(gig, 512ULL << 20, why, sizeof(why)), -EINVAL);
	/* No huge pages at all (no hugetlb, or a text without the lines). */
	assert_int_equal(config_hugepages_fit("MemTotal: 1 kB\n", 64ULL << 20, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "no huge pages"));
	assert_int_equal(config_hugepages_fit("", 64ULL << 20, why, sizeof(why)), -EINVAL);
	assert_int_equal(config_hugepages_fit("Hugepagesize: x kB\nHugePages_Free: 9\n",
					      64ULL << 20, why, sizeof(why)), -EINVAL);
	/* More reserved than free (a racing reader): none available. */
	assert_int_equal(config_hugepages_fit("HugePages_Free: 1\nHugePages_Rsvd: 5\n"
					      "Hugepagesize: 2048 kB\n", 2ULL << 20, why,
					      sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "1 huge pages of 2048 kB needed, 0 free"));
}

static void test_bad_serial_loglevel(void **state)
{
	(void)state;
	static const char *const bad_serial[] = {
		"bogus", "file=", "", "TTY", "file", "stdio", "null,", "tty=1",
	};
	for (size_t i = 0; i < sizeof(bad_serial) / sizeof(bad_serial[0]); i++)
		expect_error("--serial", "--kernel", "k", "--serial", bad_serial[i], NULL);
	static const char *const bad_level[] = {
		"loud", "", "WARN", "warning", "3", "debug ",
	};
	for (size_t i = 0; i < sizeof(bad_level) / sizeof(bad_level[0]); i++)
		expect_error("--log-level", "--kernel", "k", "--log-level",
			     bad_level[i], NULL);
}

static void test_small_err_buffer(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[8];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--cpus", "boot=0", NULL),
			 -EINVAL);
	/* Truncated but terminated. */
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "--cpus:", 7);
	args_free(&a);
}

static void test_reparse(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	/* Same argv twice. */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k1",
				       "--cpus", "boot=2", NULL), 0);
		assert_string_equal(cfg.kernel, "k1");
		assert_int_equal(cfg.cpus, 2);
		args_free(&a);
	}
	/* A parse that stopped half-way on an error must not leak state into
	 * the next one (getopt position, nextchar in a bundle, values). */
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
			       "--cpus", "boot=0", "--memory", "size=1G", NULL),
			 -EINVAL);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--memory", "size=64M",
			       "--kernel", "k2", NULL), 0);
	assert_string_equal(cfg.kernel, "k2");
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.mem_size, 64ULL << 20);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", "-hh",
			       NULL), 0);
	assert_true(cfg.show_help);
	args_free(&a);
	/* Many times over, alternating good and bad. */
	for (int k = 0; k < 100; k++) {
		assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k",
				       "--log-level", k & 1 ? "info" : "loud", NULL),
				 k & 1 ? 0 : -EINVAL);
		args_free(&a);
	}
}

static void test_parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "4096", 4096 },
		{ "1K", 1ULL << 10 },
		{ "1k", 1ULL << 10 },
		{ "64K", 64ULL << 10 },
		{ "512M", 512ULL << 20 },
		{ "512m", 512ULL << 20 },
		{ "2G", 2ULL << 30 },
		{ "2g", 2ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "1t", 1ULL << 40 },
		{ "512MiB", 512ULL << 20 },
		{ "512MB", 512ULL << 20 },
		{ "512Mb", 512ULL << 20 },
		{ "4KiB", 4ULL << 10 },
		{ "1GiB", 1ULL << 30 },
		{ "1GB", 1ULL << 30 },
		{ "1TiB", 1ULL << 40 },
		{ "007M", 7ULL << 20 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ULL << 30 },
		{ "16777215T", 16777215ULL << 40 },
		{ "18014398509481983K", 18014398509481983ULL << 10 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 0x5a5a;
		int r = config_parse_size(good[i].s, &v);
		if (r != 0 || v != good[i].v)
			fail_msg("\"%s\": got %d, 0x%llx; want 0x%llx", good[i].s, r,
				 (unsigned long long)v, (unsigned long long)good[i].v);
	}
	static const char *const bad[] = {
		"", "K", "M", "-1", "+1", " 1", "1 ", "1.5G", "0x10", "1X", "1MM",
		"1KM", "1Mx", "1MiBx", "1MBi", "1Gi B", "1e3",
		"18446744073709551616",       /* > UINT64_MAX */
		"99999999999999999999G",      /* strtoull overflow */
		"17179869184G",               /* 2^34 G = 2^64 */
		"16777216T",                  /* 2^24 T = 2^64 */
		"18014398509481984K",         /* 2^54 K = 2^64 */
		"18446744073709551615K",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 0x5a5a;
		int r = config_parse_size(bad[i], &v);
		if (r != -EINVAL)
			fail_msg("\"%s\": got %d (0x%llx), want -EINVAL", bad[i], r,
				 (unsigned long long)v);
		assert_int_equal(v, 0x5a5a); /* untouched on error */
	}
	uint64_t v;
	assert_int_equal(config_parse_size(NULL, &v), -EINVAL);
}

/*
 * config_check_files: each file as the build opens it; refusals name the
 * option (command line) or the field (vm.create) and the file.
 */
/*
 * A FIFO named as console output or rng source is checked without being
 * opened: an open and close would connect to the reader waiting at the
 * other end and leave it with EOF (POLLHUP on its end once a writer came
 * and went).
 */
static void test_check_files_fifo(void **state)
{
	(void)state;
	char dir[] = "/tmp/cvmm-cfgfifo.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char k[64], fifo[64];
	snprintf(k, sizeof(k), "%s/k", dir);
	snprintf(fifo, sizeof(fifo), "%s/out.fifo", dir);
	FILE *f = fopen(k, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);

	struct vm_config cfg;
	char err[256];
	config_defaults(&cfg);
	cfg.kernel = k;
	cfg.console = OUTPUT_FILE;
	cfg.console_path = fifo;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), 0);
	struct pollfd p = { .fd = rd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0); /* no writer came and went */

	/* a FIFO is still no kernel, and permissions still count */
	cfg.kernel = fifo;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	close(rd);
	unlink(fifo);
	unlink(k);
	rmdir(dir);
}

static void test_check_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/cvmm-cfgfiles.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char k[64], ro[64], out[64];
	snprintf(k, sizeof(k), "%s/k", dir);
	snprintf(ro, sizeof(ro), "%s/ro.img", dir);
	snprintf(out, sizeof(out), "%s/serial.txt", dir);
	FILE *f = fopen(k, "w");
	assert_non_null(f);
	fclose(f);
	f = fopen(ro, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(ro, 0444), 0);

	struct vm_config cfg;
	char err[256];
	config_defaults(&cfg);
	cfg.kernel = k;
	cfg.rng.enabled = true; /* getrandom: no file */
	cfg.serial = OUTPUT_FILE;
	cfg.serial_path = out;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), 0);
	assert_int_equal(access(out, F_OK), 0); /* created, as the build would */

	cfg.initramfs = "/nonexistent/initrd";
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--initramfs /nonexistent/initrd: No such file or directory");
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'initramfs': /nonexistent/initrd: No such file or directory");
	cfg.initramfs = NULL;

	cfg.kernel = dir;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	char want[160];
	snprintf(want, sizeof(want), "--kernel %s: not a regular file", dir);
	assert_string_equal(err, want);
	cfg.kernel = k;

	/* Disks: read-write unless readonly (root may write anyway: only the
	 * readonly one is checked for success here). */
	cfg.ndisks = 2;
	cfg.disks[0] = (struct disk_config){ .path = ro, .readonly = true };
	cfg.disks[1] = (struct disk_config){ .path = "/nonexistent/d.img" };
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'disks[1].path': /nonexistent/d.img: No such file or directory");
	cfg.disks[1].path = dir;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "--disk path=%s: ", dir);
	assert_non_null(strstr(err, want));
	cfg.ndisks = 1;

	cfg.rng.src = dir;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "'rng.src': %s: Is a directory", dir);
	assert_string_equal(err, want);
	cfg.rng.src = "/dev/urandom";
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), 0);

	cfg.console = OUTPUT_FILE;
	cfg.console_path = "/nonexistent/dir/console.txt";
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "--console file=/nonexistent/dir/console.txt: No such file or directory");

	/* A user device's socket must be there and be a socket. */
	cfg.console = OUTPUT_OFF;
	cfg.nuser_devices = 1;
	cfg.user_devices[0] = (struct user_device_config){ .socket = "/nonexistent/edu.sock" };
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--user-device socket=/nonexistent/edu.sock: No such file or directory");
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "'user_devices[0].socket': /nonexistent/edu.sock: No such file or directory");
	cfg.user_devices[0].socket = k;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	char want_sock[128];
	snprintf(want_sock, sizeof(want_sock), "--user-device socket=%s: not a socket", k);
	assert_string_equal(err, want_sock);
	char sock[64];
	snprintf(sock, sizeof(sock), "%s/edu.sock", dir);
	int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cfg.user_devices[0].socket = sock;
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), 0);
	close(sfd);
	unlink(sock);
	cfg.nuser_devices = 0;

	/* hugepages=on: the host's /proc/meminfo decides; whatever it says,
	 * the answer is one line naming the option (or field), or 0. */
	cfg.console = OUTPUT_OFF;
	cfg.mem_hugepages = true;
	cfg.mem_size = 1ULL << 40; /* 1 TiB of huge pages: no test host has that */
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--memory hugepages=on: "));
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'memory.hugepages': "));
	assert_null(strchr(err, '\n'));

	unlink(k);
	unlink(ro);
	unlink(out);
	rmdir(dir);
}

/* --device path=PATH[,id=NAME]: repeatable, path required, checked as a
 * PCI function bound to vfio-pci by config_check_files. */
static void test_device(void **state)
{
	(void)state;
	struct args a;
	struct vm_config cfg;
	char err[256];
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", NULL), 0);
	assert_int_equal(cfg.ndevices, 0);
	args_free(&a);
	assert_int_equal(parse(&a, &cfg, err, sizeof(err), "--kernel", "k", "--device",
			       "path=/sys/bus/pci/devices/0000:01:00.0,id=nic0", "--device",
			       "id=gpu,path=/sys/bus/pci/devices/0000:02:00.0", "--device",
			       "path=/x", NULL), 0);
	assert_int_equal(cfg.ndevices, 3);
	assert_string_equal(cfg.devices[0].path, "/sys/bus/pci/devices/0000:01:00.0");
	assert_string_equal(cfg.devices[0].id, "nic0");
	assert_string_equal(cfg.devices[1].id, "gpu");
	assert_null(cfg.devices[2].id);
	args_free(&a);
	expect_error("--device: missing value", "--kernel", "k", "--device", NULL);
	expect_error("--device: path= is required", "--kernel", "k", "--device", "id=a", NULL);
	expect_error("--device: path= is empty", "--kernel", "k", "--device", "path=", NULL);
	expect_error("--device: unknown key 'bdf' (expected path, id)", "--kernel", "k",
		     "--device", "path=/x,bdf=1", NULL);
	expect_error("--device: id=: 1 to 32 characters", "--kernel", "k", "--device",
		     "path=/x,id=", NULL);
	expect_error("--device: /x given twice", "--kernel", "k", "--device", "path=/x",
		     "--device", "path=/x", NULL);
	expect_error("--device: id=a given twice", "--kernel", "k", "--device", "path=/x,id=a",
		     "--device", "path=/y,id=a", NULL);
	expect_error("--device: at most 8 devices", "--kernel", "k", "--device", "path=/1",
		     "--device", "path=/2", "--device", "path=/3", "--device", "path=/4",
		     "--device", "path=/5", "--device", "path=/6", "--device", "path=/7",
		     "--device", "path=/8", "--device", "path=/9", NULL);
	/* The path: probed (vfio/kernel.c), named with the option or field. */
	config_defaults(&cfg);
	cfg.ndevices = 1;
	cfg.devices[0].path = "/nonexistent/0000:01:00.0";
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_CLI, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--device path=/nonexistent/0000:01:00.0: No such file or directory");
	cfg.devices[0].path = "/tmp";
	assert_int_equal(config_check_files(&cfg, CONFIG_NAMES_JSON, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'devices[0].path': /tmp: not a PCI device"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_bad_general),
		cmocka_unit_test(test_platform),
		cmocka_unit_test(test_virtio_transport),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_bad_cpus),
		cmocka_unit_test(test_bad_memory),
		cmocka_unit_test(test_memory_keys),
		cmocka_unit_test(test_hugepages_fit),
		cmocka_unit_test(test_user_device),
		cmocka_unit_test(test_bad_serial_loglevel),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_parse_size),
		/* Last: currently trips an out-of-bounds read in config.c. */
		cmocka_unit_test(test_bad_short_option),
		cmocka_unit_test(test_check_files),
		cmocka_unit_test(test_check_files_fifo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
