/* SPDX-License-Identifier: MIT */
/*
 * vm.create bodies (api/vm_create.c): every field in each of its forms
 * gives the configuration the command line would, refusals carry the
 * command line's own message, the process-wide settings come from the
 * command line cvmm was started with.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/vm_create.h"

static struct vm_config cli = {
	.api_socket = "/run/cvmm.sock",
	.seccomp = false,
	.log_level = LOG_DEBUG,
};

/* Parses text; on success returns the config (free() it). */
static struct vm_create_config *parse(const char *text, int want, const char *want_err)
{
	cJSON *body = cJSON_Parse(text);
	assert_non_null(body);
	struct vm_create_config *c = NULL;
	char err[512] = "";
	int r = vm_create_config_parse(body, &cli, &c, err, sizeof(err));
	cJSON_Delete(body);
	if (r != want)
		fail_msg("%s: %d (%s), want %d", text, r, err, want);
	if (want_err)
		assert_string_equal(err, want_err);
	return c;
}

static void test_full(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(
		"{\"kernel\": \"/k\", \"initramfs\": \"/i\", \"cmdline\": \"console=ttyS0 a=b,c\","
		" \"cpus\": {\"boot\": 3}, \"memory\": {\"size\": \"256M\"},"
		" \"serial\": {\"mode\": \"file\", \"file\": \"/tmp/s\"}, \"console\": \"null\","
		" \"disks\": [{\"path\": \"/d0\", \"readonly\": true, \"id\": \"root\"},"
		"             \"path=/d1,direct=on\"],"
		" \"nets\": [{\"tap\": \"tap7\", \"mac\": \"52:54:00:00:00:01\"}],"
		" \"rng\": {\"src\": \"/dev/urandom\"}, \"platform\": {\"pit\": false},"
		" \"debug_exit\": true}",
		0, NULL);
	const struct vm_config *cfg = &c->cfg;
	assert_string_equal(cfg->kernel, "/k");
	assert_string_equal(cfg->initramfs, "/i");
	assert_string_equal(cfg->cmdline, "console=ttyS0 a=b,c");
	assert_int_equal(cfg->cpus, 3);
	assert_int_equal(cfg->mem_size, 256ULL << 20);
	assert_int_equal(cfg->serial, OUTPUT_FILE);
	assert_string_equal(cfg->serial_path, "/tmp/s");
	assert_int_equal(cfg->console, OUTPUT_NULL);
	assert_int_equal(cfg->ndisks, 2);
	assert_string_equal(cfg->disks[0].path, "/d0");
	assert_true(cfg->disks[0].readonly);
	assert_string_equal(cfg->disks[0].id, "root");
	assert_string_equal(cfg->disks[1].path, "/d1");
	assert_true(cfg->disks[1].direct);
	assert_int_equal(cfg->nnets, 1);
	assert_string_equal(cfg->nets[0].tap, "tap7");
	assert_true(cfg->nets[0].has_mac);
	assert_int_equal(cfg->nets[0].mac[5], 1);
	assert_true(cfg->rng.enabled);
	assert_string_equal(cfg->rng.src, "/dev/urandom");
	assert_false(cfg->pit);
	assert_true(cfg->debug_exit);
	/* From the command line, not the body. */
	assert_string_equal(cfg->api_socket, "/run/cvmm.sock");
	assert_false(cfg->seccomp);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	free(c);
}

static void test_short_forms(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(
		"{\"kernel\": \"/k\", \"cpus\": 2, \"memory\": 67108864, \"rng\": true}", 0, NULL);
	assert_int_equal(c->cfg.cpus, 2);
	assert_int_equal(c->cfg.mem_size, 64ULL << 20);
	assert_true(c->cfg.rng.enabled);
	assert_null(c->cfg.rng.src);
	assert_int_equal(c->cfg.serial, OUTPUT_TTY); /* the command line's default */
	assert_true(c->cfg.pit);                     /* likewise */
	free(c);
	c = parse("{\"kernel\": \"/k\", \"cpus\": \"boot=4\", \"memory\": \"1G\","
		  " \"rng\": null, \"debug_exit\": false, \"disks\": []}", 0, NULL);
	assert_int_equal(c->cfg.cpus, 4);
	assert_int_equal(c->cfg.mem_size, 1ULL << 30);
	assert_false(c->cfg.rng.enabled);
	assert_false(c->cfg.debug_exit);
	free(c);
	/* memory: {size, shared, hugepages} (cloud-hypervisor's names). */
	c = parse("{\"kernel\": \"/k\", \"memory\": {\"size\": 268435456, \"shared\": true,"
		  " \"hugepages\": false}}", 0, NULL);
	assert_int_equal(c->cfg.mem_size, 256ULL << 20);
	assert_true(c->cfg.mem_shared);
	assert_false(c->cfg.mem_hugepages);
	free(c);
	c = parse("{\"kernel\": \"/k\", \"memory\": \"size=2G,shared=on,hugepages=on\"}", 0, NULL);
	assert_int_equal(c->cfg.mem_size, 2ULL << 30);
	assert_true(c->cfg.mem_shared);
	assert_true(c->cfg.mem_hugepages);
	free(c);
	parse("{\"kernel\": \"/k\", \"memory\": {\"size\": \"64M\", \"shared\": 2}}", -EINVAL,
	      "--memory: shared=2: expected on or off");
	/* user_devices: [{socket, id}] (cloud-hypervisor's name), or strings. */
	c = parse("{\"kernel\": \"/k\", \"user_devices\": [{\"socket\": \"/run/edu.sock\","
		  " \"id\": \"edu0\"}, \"socket=/run/b.sock\"]}", 0, NULL);
	assert_int_equal(c->cfg.nuser_devices, 2);
	assert_string_equal(c->cfg.user_devices[0].socket, "/run/edu.sock");
	assert_string_equal(c->cfg.user_devices[0].id, "edu0");
	assert_string_equal(c->cfg.user_devices[1].socket, "/run/b.sock");
	assert_null(c->cfg.user_devices[1].id);
	free(c);
	parse("{\"kernel\": \"/k\", \"user_devices\": [{\"id\": \"x\"}]}", -EINVAL,
	      "--user-device: socket= is required");
	parse("{\"kernel\": \"/k\", \"user_devices\": {\"socket\": \"/s\"}}", -EINVAL,
	      "vm.create: 'user_devices': expected an array");
	parse("{\"kernel\": \"/k\", \"user_devices\": [{\"socket\": \"/s\", \"bus\": 1}]}",
	      -EINVAL, "--user-device: unknown key 'bus' (expected socket, id)");
	/* vsock: {cid, socket} (cloud-hypervisor's names), a string, or null. */
	c = parse("{\"kernel\": \"/k\", \"vsock\": {\"cid\": 3, \"socket\": \"/run/v.sock\"}}",
		  0, NULL);
	assert_true(c->cfg.vsock.enabled);
	assert_int_equal(c->cfg.vsock.cid, 3);
	assert_string_equal(c->cfg.vsock.socket, "/run/v.sock");
	free(c);
	c = parse("{\"kernel\": \"/k\", \"vsock\": \"cid=4294967294,socket=/v\"}", 0, NULL);
	assert_int_equal(c->cfg.vsock.cid, 4294967294u);
	free(c);
	c = parse("{\"kernel\": \"/k\", \"vsock\": null}", 0, NULL);
	assert_false(c->cfg.vsock.enabled);
	free(c);
	parse("{\"kernel\": \"/k\", \"vsock\": {\"cid\": 2, \"socket\": \"/v\"}}", -EINVAL,
	      "--vsock: cid=2: expected 3-4294967294");
	parse("{\"kernel\": \"/k\", \"vsock\": {\"cid\": 5}}", -EINVAL,
	      "--vsock: socket= is required");
	parse("{\"kernel\": \"/k\", \"vsock\": [1]}", -EINVAL,
	      "vm.create: 'vsock': expected a string or an object");
	c = parse("{\"kernel\": \"/k\", \"platform\": \"pit=off\"}", 0, NULL);
	assert_false(c->cfg.pit);
	free(c);
	c = parse("{\"kernel\": \"/k\", \"platform\": {\"pit\": \"on\"}}", 0, NULL);
	assert_true(c->cfg.pit);
	free(c);
}

static void test_refusals(void **state)
{
	(void)state;
	parse("{}", -EINVAL, "--kernel: required (see --help)");
	parse("[]", -EINVAL, "vm.create: the body must be a JSON object");
	parse("{\"kernel\": 1}", -EINVAL, "vm.create: 'kernel': expected a string");
	parse("{\"kernel\": \"/k\", \"seccomp\": \"off\"}", -EINVAL,
	      "vm.create: unknown field 'seccomp'");
	parse("{\"kernel\": \"/k\", \"cpus\": 300}", -EINVAL, "--cpus: boot=300: expected 1-254");
	parse("{\"kernel\": \"/k\", \"cpus\": 1.5}", -EINVAL,
	      "vm.create: 'cpus': expected a string, a whole number or an object");
	parse("{\"kernel\": \"/k\", \"memory\": {\"size\": \"lots\"}}", -EINVAL, NULL);
	parse("{\"kernel\": \"/k\", \"disks\": {\"path\": \"/d\"}}", -EINVAL,
	      "vm.create: 'disks': expected an array");
	parse("{\"kernel\": \"/k\", \"disks\": [{\"readonly\": true}]}", -EINVAL,
	      "--disk: path= is required");
	parse("{\"kernel\": \"/k\", \"disks\": [\"path=/a\", \"path=/a\"]}", -EINVAL,
	      "--disk: /a given twice");
	parse("{\"kernel\": \"/k\", \"serial\": 3}", -EINVAL, NULL);
	parse("{\"kernel\": \"/k\", \"serial\": \"tty\", \"console\": {\"mode\": \"tty\"}}",
	      -EINVAL, NULL);
	parse("{\"kernel\": \"/k\", \"debug_exit\": 1}", -EINVAL,
	      "vm.create: 'debug_exit': expected a boolean");
	parse("{\"kernel\": \"/k\", \"platform\": {\"pit\": 0}}", -EINVAL,
	      "--platform: pit=0: expected on or off");
	parse("{\"kernel\": \"/k\", \"platform\": {\"hpet\": true}}", -EINVAL,
	      "--platform: unknown key 'hpet' (expected pit=on|off)");
	parse("{\"kernel\": \"/k\", \"platform\": false}", -EINVAL,
	      "vm.create: 'platform': expected a string or an object");
	parse("{\"kernel\": \"/k\", \"disks\": [[1]]}", -EINVAL,
	      "vm.create: 'disks[0]': expected a string or an object");
}

/*
 * Values are values: a string that looks like an option is never taken as
 * one, and a value inside an object cannot add keys with a ','.
 */
static void test_no_option_injection(void **state)
{
	(void)state;
	/* Was accepted (as --help) with no kernel at all. */
	assert_null(parse("{\"nets\": [\"--help\"]}", -EINVAL,
			  "--net: expected key=value, got '--help'"));
	/* Was a second disk. */
	assert_null(parse("{\"kernel\": \"/k\", \"nets\": [\"--disk=path=/etc/passwd\"]}",
			  -EINVAL,
			  "--net: unknown key '--disk' (expected tap, mac, ip, mask, id)"));
	assert_null(parse("{\"kernel\": \"/k\", \"rng\": \"--disk=path=/etc/passwd\"}",
			  -EINVAL,
			  "--rng: unknown key '--disk' (expected src=PATH, id)"));
	assert_null(parse("{\"kernel\": \"/k\", \"rng\": \"--help\"}", -EINVAL,
			  "--rng: expected key=value, got '--help'"));
	struct vm_create_config *c = parse(
		"{\"kernel\": \"--help\", \"cmdline\": \"--debug-exit\","
		" \"initramfs\": \"--disk=path=/etc/passwd\"}", 0, NULL);
	assert_string_equal(c->cfg.kernel, "--help");
	assert_string_equal(c->cfg.cmdline, "--debug-exit");
	assert_string_equal(c->cfg.initramfs, "--disk=path=/etc/passwd");
	assert_false(c->cfg.show_help);
	assert_false(c->cfg.debug_exit);
	assert_int_equal(c->cfg.ndisks, 0);
	free(c);
	parse("{\"kernel\": \"/k\", \"disks\": [{\"path\": \"/a,readonly=on,id=x\"}],"
	      " \"nets\": [{\"tap\": \"t0,mac=52:54:00:00:00:01\"}]}", -EINVAL,
	      "--net: tap=t0,mac=52:54:00:00:00:01: 1 to 15 characters");
	c = parse("{\"kernel\": \"/k\", \"disks\": [{\"path\": \"/a,readonly=on,id=x\"}]}",
		  0, NULL);
	assert_int_equal(c->cfg.ndisks, 1);
	assert_string_equal(c->cfg.disks[0].path, "/a,readonly=on,id=x");
	assert_false(c->cfg.disks[0].readonly);
	assert_null(c->cfg.disks[0].id);
	free(c);
	/* Wrong types are refused by field. */
	parse("{\"kernel\": \"/k\", \"cmdline\": [\"--help\"]}", -EINVAL,
	      "vm.create: 'cmdline': expected a string");
	parse("{\"kernel\": \"/k\", \"serial\": {\"mode\": 1}}", -EINVAL, NULL);
	parse("{\"kernel\": \"/k\", \"disks\": [{\"path\": [\"/d\"]}]}", -EINVAL,
	      "vm.create: 'disks[0].path': expected a string, a boolean or a whole number");
}

static void test_devices(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(
		"{\"kernel\": \"/k\", \"devices\": [{\"path\": \"/sys/bus/pci/devices/0000:01:00.0\","
		" \"id\": \"nic0\"}, \"path=/sys/bus/pci/devices/0000:02:00.0\"]}", 0, NULL);
	assert_int_equal(c->cfg.ndevices, 2);
	assert_string_equal(c->cfg.devices[0].path, "/sys/bus/pci/devices/0000:01:00.0");
	assert_string_equal(c->cfg.devices[0].id, "nic0");
	assert_string_equal(c->cfg.devices[1].path, "/sys/bus/pci/devices/0000:02:00.0");
	assert_null(c->cfg.devices[1].id);
	free(c);
	parse("{\"kernel\": \"/k\", \"devices\": [{\"id\": \"x\"}]}", -EINVAL,
	      "--device: path= is required");
	parse("{\"kernel\": \"/k\", \"devices\": {\"path\": \"/x\"}}", -EINVAL,
	      "vm.create: 'devices': expected an array");
	parse("{\"kernel\": \"/k\", \"devices\": [{\"path\": \"/x\", \"rom\": true}]}", -EINVAL,
	      "--device: unknown key 'rom' (expected path, id, mmap)");
	parse("{\"kernel\": \"/k\", \"devices\": [\"path=/x\", {\"path\": \"/x\"}]}", -EINVAL,
	      "--device: /x given twice");
}

/* A body as Kata's clh driver sends it through the generated Go client. */
static const char kata_body[] =
	"{\"payload\": {\"kernel\": \"/k\", \"cmdline\": \"console=hvc0 quiet\","
	"  \"initramfs\": \"/i\"},"
	" \"cpus\": {\"boot_vcpus\": 1, \"max_vcpus\": 4, \"kvm_hyperv\": false,"
	"  \"topology\": {\"threads_per_core\": 1, \"cores_per_die\": 4,"
	"   \"dies_per_package\": 1, \"packages\": 1}},"
	" \"memory\": {\"size\": 2147483648, \"hotplug_size\": 8589934592,"
	"  \"mergeable\": false, \"hotplug_method\": \"Acpi\", \"shared\": true,"
	"  \"hugepages\": false, \"prefault\": false, \"thp\": true},"
	" \"rng\": {\"src\": \"/dev/urandom\", \"iommu\": false},"
	" \"serial\": {\"mode\": \"Off\", \"iommu\": false},"
	" \"console\": {\"mode\": \"Off\", \"iommu\": false},"
	" \"disks\": [{\"path\": \"/img\", \"readonly\": true, \"direct\": false,"
	"  \"iommu\": false, \"num_queues\": 1, \"queue_size\": 128,"
	"  \"vhost_user\": false, \"image_type\": \"Raw\"}],"
	" \"vsock\": {\"cid\": 3, \"socket\": \"/run/kata/clh.sock\", \"iommu\": false},"
	" \"platform\": {\"num_pci_segments\": 1},"
	" \"iommu\": false, \"watchdog\": false, \"pvpanic\": false,"
	" \"landlock_enable\": false}";

static void test_cloud_hypervisor(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(kata_body, 0, NULL);
	const struct vm_config *cfg = &c->cfg;
	assert_string_equal(cfg->kernel, "/k");
	assert_string_equal(cfg->initramfs, "/i");
	assert_string_equal(cfg->cmdline, "console=hvc0 quiet");
	assert_int_equal(cfg->cpus, 1);
	assert_int_equal(cfg->max_vcpus, 4);
	assert_int_equal(cfg->mem_size, 2ULL << 30);
	assert_int_equal(cfg->mem_hotplug_size, 8ULL << 30);
	assert_true(cfg->mem_shared);
	assert_int_equal(cfg->serial, OUTPUT_OFF);
	assert_int_equal(cfg->console, OUTPUT_OFF);
	assert_true(cfg->disks[0].readonly);
	assert_string_equal(cfg->rng.src, "/dev/urandom");
	assert_int_equal(cfg->vsock.cid, 3);
	vm_create_config_free(c);
	/* NetConfig with the generated client's defaults (ip, mask too). */
	c = parse("{\"payload\": {\"kernel\": \"/k\"}, \"net\": [{\"mac\": \"52:54:00:00:00:02\","
		  " \"ip\": \"192.168.249.1\", \"mask\": \"255.255.255.0\", \"iommu\": false,"
		  " \"num_queues\": 2, \"queue_size\": 256, \"vhost_user\": false,"
		  " \"vhost_mode\": \"Client\", \"offload_tso\": true, \"offload_ufo\": true,"
		  " \"offload_csum\": true}], \"serial\": {\"mode\": \"File\", \"file\": \"/s\"}}",
		  0, NULL);
	assert_int_equal(c->cfg.nnets, 1);
	assert_false(c->cfg.nets[0].has_ip);
	assert_false(c->cfg.nets[0].has_mask);
	assert_int_equal(c->cfg.serial, OUTPUT_FILE);
	vm_create_config_free(c);
	/* A real address keeps its /24 mask (vm.info's config of --net
	 * ip=10.77.1.1,mask=255.255.255.0, as a snapshot holds it). */
	c = parse("{\"payload\": {\"kernel\": \"/k\"}, \"net\": [{\"tap\": \"t0\","
		  " \"ip\": \"10.77.1.1\", \"mask\": \"255.255.255.0\"}]}", 0, NULL);
	assert_true(c->cfg.nets[0].has_ip);
	assert_true(c->cfg.nets[0].has_mask);
	vm_create_config_free(c);
	/* The default address alone, or the default mask alone: not given. */
	c = parse("{\"payload\": {\"kernel\": \"/k\"}, \"net\": [{\"tap\": \"t0\","
		  " \"mask\": \"255.255.255.0\"}]}", 0, NULL);
	assert_false(c->cfg.nets[0].has_mask);
	vm_create_config_free(c);
	/* What cvmm cannot do: 400 naming the field. */
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\","
	      " \"iommu\": true}]}", -EINVAL,
	      "vm.create: 'disks[0].iommu': true: not supported by cvmm (only false)");
	/* Cloud-hypervisor's multiqueue keys are cvmm's too (io_uring engine). */
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\","
	      " \"num_queues\": 9}]}", -EINVAL, NULL);
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/d\","
	      " \"image_type\": \"Qcow2\"}]}", -EINVAL,
	      "vm.create: 'disks[0].image_type': \"Qcow2\": not supported by cvmm (cvmm reads raw images only)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"iommu\": true}", -EINVAL,
	      "vm.create: 'iommu': true: not supported by cvmm (only false)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"pmem\": [{\"file\": \"/img\"}]}", -EINVAL,
	      "vm.create: 'pmem': [{\"file\":\"/img\"}]: not supported by cvmm (cvmm has no virtio-pmem (give the image as a disk))");
	parse("{\"payload\": {\"kernel\": \"/k\", \"firmware\": \"/fw\"}}", -EINVAL,
	      "vm.create: 'payload.firmware': not supported by cvmm (it boots payload.kernel)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"serial\": {\"mode\": \"Pty\"}}", -EINVAL,
	      "vm.create: 'serial.mode': Pty: not supported by cvmm (Off, Tty, File or Null)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"cpus\": {\"boot_vcpus\": 2,"
	      " \"max_vcpus\": 2, \"topology\": {\"threads_per_core\": 2, \"cores_per_die\": 1}}}",
	      -EINVAL,
	      "vm.create: 'cpus.topology.threads_per_core': not supported by cvmm (one package, one die, one thread per core)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"cpus\": {\"boot_vcpus\": 2,"
	      " \"max_vcpus\": 4, \"topology\": {\"cores_per_die\": 2}}}", -EINVAL,
	      "vm.create: 'cpus.topology': 2 cores for 4 vCPUs (max_vcpus)");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"cpus\": {\"boot_vcpus\": 4,"
	      " \"max_vcpus\": 2}}", -EINVAL, "--cpus: max=2 is below boot=4");
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"platform\": {\"num_pci_segments\": 2}}",
	      -EINVAL, "vm.create: 'platform.num_pci_segments': 2: not supported by cvmm (only 1)");
}

/* Deeply nested and huge bodies are refused as values, not crashes. */
static void test_hostile_bodies(void **state)
{
	(void)state;
	char deep[4096] = "{\"payload\": {\"kernel\": \"/k\"}, \"memory\": {\"zones\": ";
	size_t n = strlen(deep);
	for (int i = 0; i < 900; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	cJSON *b = cJSON_Parse(deep); /* cJSON's nesting limit refuses it */
	assert_null(b);
	parse("{\"payload\": {\"kernel\": \"/k\"}, \"memory\": {\"size\": 1073741824,"
	      " \"zones\": [[[[[[[[[[1]]]]]]]]]]}}", -EINVAL,
	      "vm.create: 'memory.zones': [[[[[[[[[[1]]]]]]]]]]: not supported by cvmm (only [])");
}

/* vhost-user: fs: [{tag, socket, num_queues, queue_size}] and disks with
 * vhost_user/socket, cloud-hypervisor's names; the command line's checks. */
/* Default ids in cloud-hypervisor's style, given ids, find and remove. */
static void test_ids(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(
		"{\"kernel\": \"/k\", \"net\": [{\"tap\": \"t0\"}, {\"tap\": \"t1\", \"id\": \"_net3\"}],"
		" \"vsock\": {\"cid\": 3, \"socket\": \"/tmp/v\"}, \"rng\": {\"src\": \"/dev/urandom\"},"
		" \"disks\": [{\"path\": \"/d\", \"id\": \"d\"}]}", 0, NULL);
	const struct vm_config *cfg = &c->cfg;
	assert_string_equal(cfg->nets[0].id, "_net0");
	assert_string_equal(cfg->nets[1].id, "_net3");
	assert_string_equal(cfg->vsock.id, "_vsock1");
	assert_string_equal(cfg->rng.id, "_rng2");
	const char *member = NULL;
	unsigned idx = 9;
	assert_int_equal(vm_create_config_find_id(c, "_net3", &member, &idx), 0);
	assert_string_equal(member, "net");
	assert_int_equal(idx, 1);
	assert_int_equal(vm_create_config_find_id(c, "_vsock1", &member, &idx), 0);
	assert_string_equal(member, "vsock");
	assert_int_equal(vm_create_config_find_id(c, "_rng2", &member, &idx), 0);
	assert_string_equal(member, "rng");
	assert_int_equal(vm_create_config_find_id(c, "_fs9", &member, &idx), -ENOENT);
	/* The first net goes; the rest keeps its strings. */
	assert_int_equal(vm_create_config_find_id(c, "_net0", &member, &idx), 0);
	assert_int_equal(vm_create_config_remove(c, member, idx), 0);
	assert_int_equal(cfg->nnets, 1);
	assert_string_equal(cfg->nets[0].tap, "t1");
	assert_string_equal(cfg->nets[0].id, "_net3");
	assert_string_equal(cfg->vsock.socket, "/tmp/v");
	assert_string_equal(cfg->disks[0].path, "/d");
	assert_string_equal(cfg->disks[0].id, "d");
	assert_int_equal(vm_create_config_find_id(c, "_vsock1", &member, &idx), 0);
	assert_int_equal(vm_create_config_remove(c, member, idx), 0);
	assert_false(cfg->vsock.enabled);
	assert_int_equal(vm_create_config_find_id(c, "d", &member, &idx), 0);
	assert_int_equal(vm_create_config_remove(c, member, idx), 0);
	assert_int_equal(cfg->ndisks, 0);
	/* A default id skips the ids in use (no files to check: no kernel). */
	c->cfg.kernel = NULL;
	c->cfg.next_id = 3;
	cJSON *net = cJSON_Parse("{\"tap\": \"t2\"}");
	char err[256] = "";
	assert_int_equal(vm_create_config_add(c, "net", net, NULL, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg->nets[1].id, "_net4");
	cJSON_Delete(net);
	/* Two devices with one id: refused. */
	parse("{\"kernel\": \"/k\", \"net\": [{\"id\": \"x\"}], \"rng\": {\"id\": \"x\"}}",
	      -EINVAL, "id x: given to two devices");
	parse("{\"kernel\": \"/k\", \"net\": [{\"id\": \"\"}]}", -EINVAL,
	      "--net: id=: 1 to 32 characters");
	free(c);
}

/*
 * Many vm.add-disk / vm.remove-device cycles before boot: the removed
 * entries' strings are given back (they filled the store after ~250).
 */
static void test_add_remove_cycles(void **state)
{
	(void)state;
	char img[] = "/tmp/cvmm-test-vm-create-XXXXXX";
	int fd = mkstemp(img);
	assert_true(fd >= 0);
	close(fd);
	char first[128];
	snprintf(first, sizeof(first), "{\"kernel\": \"%s\", \"net\": [{\"tap\": \"keep0\"}]}",
		 img);
	struct vm_create_config *c = parse(first, 0, NULL);
	size_t used0 = c->cfg.strings_used;
	for (unsigned i = 0; i < 500; i++) {
		char body[256], id[32], err[256] = "";
		snprintf(id, sizeof(id), "disk-%u", i);
		snprintf(body, sizeof(body), "{\"path\": \"%s\", \"id\": \"%s\"}", img, id);
		cJSON *d = cJSON_Parse(body);
		int r = vm_create_config_add(c, "disks", d, NULL, 0, err, sizeof(err));
		cJSON_Delete(d);
		if (r)
			fail_msg("cycle %u: add: %d (%s)", i, r, err);
		const char *member;
		unsigned idx;
		assert_int_equal(vm_create_config_find_id(c, id, &member, &idx), 0);
		assert_int_equal(vm_create_config_remove(c, member, idx), 0);
		assert_int_equal(c->cfg.ndisks, 0);
	}
	assert_int_equal(c->cfg.strings_used, used0);
	assert_string_equal(c->cfg.nets[0].tap, "keep0");
	assert_string_equal(c->cfg.nets[0].id, "_net0");
	vm_create_config_free(c);
	unlink(img);
}

static void test_vhost_user(void **state)
{
	(void)state;
	struct vm_create_config *c = parse(
		"{\"kernel\": \"/k\", \"memory\": {\"size\": \"256M\", \"shared\": true},"
		" \"fs\": [{\"tag\": \"myfs\", \"socket\": \"/run/fs.sock\", \"num_queues\": 2,"
		" \"queue_size\": 256}, \"tag=b,socket=/run/b.sock\"],"
		" \"disks\": [{\"vhost_user\": true, \"socket\": \"/run/vub.sock\","
		" \"num_queues\": 4}, {\"path\": \"/img\"}]}", 0, NULL);
	assert_int_equal(c->cfg.nfs, 2);
	assert_string_equal(c->cfg.fs[0].tag, "myfs");
	assert_string_equal(c->cfg.fs[0].socket, "/run/fs.sock");
	assert_int_equal(c->cfg.fs[0].num_queues, 2);
	assert_int_equal(c->cfg.fs[0].queue_size, 256);
	assert_string_equal(c->cfg.fs[1].tag, "b");
	assert_int_equal(c->cfg.fs[1].num_queues, 0); /* the default: 1 */
	assert_int_equal(c->cfg.ndisks, 2);
	assert_true(c->cfg.disks[0].vhost_user);
	assert_string_equal(c->cfg.disks[0].socket, "/run/vub.sock");
	assert_null(c->cfg.disks[0].path);
	assert_int_equal(c->cfg.disks[0].num_queues, 4);
	assert_false(c->cfg.disks[1].vhost_user);
	free(c);
	parse("{\"kernel\": \"/k\", \"fs\": [{\"tag\": \"t\", \"socket\": \"/s\"}]}", -EINVAL,
	      "--fs tag=t: vhost-user devices need --memory shared=on (the backend maps guest RAM)");
	parse("{\"kernel\": \"/k\", \"disks\": [{\"vhost_user\": true, \"socket\": \"/s\"}]}",
	      -EINVAL,
	      "--disk socket=/s: vhost-user devices need --memory shared=on (the backend maps guest RAM)");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\", \"fs\": [{\"tag\": \"t\"}]}",
	      -EINVAL, "--fs: socket= is required");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"fs\": [{\"tag\": \"0123456789012345678901234567890123456\", \"socket\": \"/s\"}]}",
	      -EINVAL, "--fs: tag=0123456789012345678901234567890123456: 1 to 36 bytes");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"disks\": [{\"vhost_user\": true}]}", -EINVAL,
	      "--disk: vhost_user=on needs socket=PATH");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"disks\": [{\"vhost_user\": true, \"socket\": \"/s\", \"path\": \"/x\"}]}",
	      -EINVAL,
	      "--disk: vhost_user=on takes no path, readonly, direct, engine or fixed_buffers (the backend has the image)");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"disks\": [{\"vhost_user\": true, \"socket\": \"/s\", \"queue_size\": 100}]}",
	      -EINVAL, "--disk: queue_size=100: expected a power of two, 4-1024");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"fs\": [{\"tag\": \"t\", \"socket\": \"/s\", \"num_queues\": 8}]}",
	      -EINVAL, "--fs: num_queues=8: expected 1-7");
	parse("{\"kernel\": \"/k\", \"memory\": \"size=64M,shared=on\","
	      " \"fs\": [\"tag=a,socket=/s\", \"tag=a,socket=/t\"]}",
	      -EINVAL, "--fs: tag a given twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_short_forms),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_no_option_injection),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_cloud_hypervisor),
		cmocka_unit_test(test_hostile_bodies),
		cmocka_unit_test(test_vhost_user),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_add_remove_cycles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
