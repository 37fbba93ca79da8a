#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
A replay of Kata Containers' start/stop sequence with its "clh" driver
against cvmm, with the JSON bodies Kata's generated cloud-hypervisor client
sends (whole VmConfig with the client's defaults), and a few hostile clients:

  tests/kata-replay.py CVMM KERNEL TMPDIR

What Kata does, in its order: start `cvmm --api-socket PATH -v`, GET
vmm.ping every 10 ms until it answers; PUT vm.create; GET vm.info (Created);
PUT vm.add-net on a connection of its own with the tap fd in SCM_RIGHTS;
PUT vm.boot; GET vm.info (Running; config.cpus, config.memory,
memory_actual_size); PUT vm.resize to the vCPUs it has; GET vmm.ping; PUT
vmm.shutdown, and the process must be gone within 3 s. Everything but
add-net goes over one keep-alive connection, as Go's HTTP transport does.
Every status and every field Kata reads is checked. Prints "ok NAME" or
"FAIL NAME: why" per check; exits 1 if any failed. Needs root (a tap).
"""
import array
import fcntl
import json
import re
import os
import socket
import struct
import subprocess
import sys
import time

CVMM, KERNEL, TMP = sys.argv[1:4]
SOCK = os.path.join(TMP, "clh-api.sock")
VSOCK = os.path.join(TMP, "clh.sock")
failed = 0


def check(name, cond, why=""):
    global failed
    if cond:
        print(f"ok kata-{name}")
    else:
        failed += 1
        print(f"FAIL kata-{name}: {why}")
    return cond


class Conn:
    """One HTTP/1.1 keep-alive connection on the API socket."""

    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(SOCK)
        self.buf = b""

    def send(self, method, ep, body=None, fds=(), raw=None):
        data = b"" if body is None else (body if isinstance(body, bytes)
                                         else json.dumps(body).encode())
        req = raw if raw is not None else (
            f"{method} /api/v1/{ep} HTTP/1.1\r\nHost: localhost\r\n"
            "Accept: application/json\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            self.s.sendmsg([req], anc)
        else:
            self.s.sendall(req)
        return self.response()

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None, None, {}
            self.buf += d
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, v in
                (l.split(":", 1) for l in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(rest) < n:
            d = self.s.recv(65536)
            if not d:
                break
            rest += d
        self.buf = rest[n:]
        body = rest[:n]
        return status, (json.loads(body) if body else None), hdrs


def tap_fd():
    """A tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), as Kata opens its taps."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", b"cvmmkata%d", 0x0002 | 0x1000 | 0x4000)
    fcntl.ioctl(fd, 0x400454ca, ifr)  # TUNSETIFF
    return fd


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# The generated Go client's constructors fill these defaults in.
vm_config = {
    "payload": {"kernel": KERNEL, "cmdline": "panic=1 no_timer_check noreplace-smp quiet"},
    "cpus": {"boot_vcpus": 1, "max_vcpus": 4, "kvm_hyperv": False,
             "topology": {"threads_per_core": 1, "cores_per_die": 4,
                          "dies_per_package": 1, "packages": 1}},
    "memory": {"size": 268435456, "hotplug_size": 2147483648, "mergeable": False,
               "hotplug_method": "Acpi", "shared": True, "hugepages": False,
               "prefault": False, "thp": True},
    "rng": {"src": "/dev/urandom", "iommu": False},
    "serial": {"mode": "Off", "iommu": False},
    "console": {"mode": "Off", "iommu": False},
    "vsock": {"cid": 3, "socket": VSOCK, "iommu": False},
    "iommu": False, "watchdog": False, "pvpanic": False, "landlock_enable": False,
}
net_config = {"ip": "192.168.249.1", "mask": "255.255.255.0", "mac": "52:54:00:6b:61:74",
              "iommu": False, "num_queues": 2, "queue_size": 256, "vhost_user": False,
              "vhost_mode": "Client", "offload_tso": True, "offload_ufo": True,
              "offload_csum": True}

proc = subprocess.Popen([CVMM, "--api-socket", SOCK, "-v"], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(TMP, "kata-cvmm.err"), "w"))
pid = proc.pid
try:
    # vmm.ping every 10 ms until it answers (a fresh dial while refused).
    c = None
    t0 = time.time()
    while time.time() - t0 < 10 and c is None:
        try:
            c = Conn()
        except OSError:
            time.sleep(0.01)
    st, ping, _ = c.send("GET", "vmm.ping") if c else (None, None, {})
    check("ping-up", st == 200 and ping.get("version"), f"status {st} {ping}")
    main_sock = c.s

    st, b, h = c.send("GET", "vm.info")
    check("info-before-create-404", st == 404 and isinstance(b, list), f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.create", vm_config)
    check("create-204", st == 204, f"{st} {b}")
    st, info, _ = c.send("GET", "vm.info")
    check("info-created", st == 200 and info["state"] == "Created", f"{st} {info}")

    # vm.add-net with the tap fd, on a connection of its own (as Kata).
    tfd = tap_fd()
    n = Conn()
    st, b, _ = n.send("PUT", "vm.add-net", net_config, fds=[tfd])
    check("add-net-fd-204", st == 204, f"{st} {b}")
    st, b, _ = n.send("PUT", "vm.add-net", net_config, fds=[tfd, tfd])
    check("add-net-two-fds-400", st == 400 and "one" in b[0], f"{st} {b}")
    r, w = os.pipe()
    st, b, _ = n.send("PUT", "vm.add-net", net_config, fds=[r])
    os.close(r)
    os.close(w)
    check("add-net-not-a-tap-400", st == 400 and "not a tap" in b[0], f"{st} {b}")
    n.s.close()
    os.close(tfd)

    # Cold adds before boot join the configuration.
    disk = os.path.join(TMP, "kata-disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    st, b, _ = c.send("PUT", "vm.add-disk", {"path": disk, "readonly": True,
                                              "direct": False, "iommu": False,
                                              "num_queues": 1, "queue_size": 128,
                                              "vhost_user": False})
    check("add-disk-204", st == 204, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.add-fs", {"tag": "kataShared", "socket": "/x.sock",
                                            "num_queues": 1, "queue_size": 1024})
    check("add-fs-400", st == 400 and "fs" in b[0], f"{st} {b}")

    st, b, _ = c.send("PUT", "vm.boot")
    check("boot-204", st == 204, f"{st} {b}")
    state = None
    t0 = time.time()
    while time.time() - t0 < 5 and state != "Running":
        st, info, _ = c.send("GET", "vm.info")
        state = info and info.get("state")
    cfg = info["config"]
    check("info-running", state == "Running", f"{state}")
    check("info-kata-fields",
          cfg["cpus"]["boot_vcpus"] == 1 and cfg["cpus"]["max_vcpus"] == 4 and
          cfg["memory"]["size"] == 268435456 and
          cfg["memory"]["hotplug_size"] == 2147483648 and
          info["memory_actual_size"] == 268435456 and
          isinstance(info.get("device_tree"), dict),
          json.dumps(info)[:400])
    types = [d["type"] for d in info.get("devices", [])]
    check("info-devices", "virtio-net" in types and "virtio-blk" in types and
          "virtio-vsock" in types and "virtio-rng" in types and
          cfg["net"][0]["mac"] == net_config["mac"], f"{types} {cfg.get('net')}")

    names = set()
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/comm") as f:
            names.add(f.read().strip())
    check("vcpu-thread-names", "vcpu0" in names, f"{sorted(names)}")

    st, b, _ = c.send("PUT", "vm.resize", {"desired_vcpus": 1})
    check("resize-same-204", st == 204, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize", {"desired_vcpus": 2})
    check("resize-more-501", st == 501 and "hotplug" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize", {"desired_vcpus": 9})
    check("resize-over-max-400", st == 400, f"{st} {b}")
    st, ping, _ = c.send("GET", "vmm.ping")
    check("ping-response", st == 200 and ping["pid"] == pid and
          isinstance(ping["features"], list) and "build_version" in ping, f"{ping}")
    # Hotplug on the running VM (the test guest has no ACPI: nothing ejects).
    hp = os.path.join(TMP, "kata-hp.img")
    with open(hp, "wb") as f:
        f.truncate(1 << 20)
    st, b, _ = c.send("PUT", "vm.add-disk", {"path": hp, "id": "hp0"})
    check("add-disk-booted-200", st == 200 and isinstance(b, dict) and b.get("id") == "hp0" and
          re.fullmatch(r"0000:00:[01][0-9a-f]\.0", b.get("bdf", "")) is not None, f"{st} {b}")
    hp_bdf = b.get("bdf") if isinstance(b, dict) else None
    st, info, _ = c.send("GET", "vm.info")
    check("hotplug-in-info", st == 200 and any(d.get("id") == "hp0" for d in info["config"]["disks"])
          and any(d.get("bdf") == hp_bdf and d.get("type") == "virtio-blk"
                  for d in info.get("devices", [])), json.dumps(info)[:300])
    st, b, _ = c.send("PUT", "vm.add-disk", {"path": hp, "id": "hp1", "bogus": 1})
    check("add-disk-booted-bad-400", st == 400 and "bogus" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize-disk", {"disk": "hp0", "desired_size": 2 << 20})
    check("resize-disk-204", st == 204 and os.path.getsize(hp) == 2 << 20,
          f"{st} {b} size {os.path.getsize(hp)}")
    st, b, _ = c.send("PUT", "vm.resize-disk", {"disk": "hp0", "desired_size": 1 << 20})
    check("resize-disk-shrink-500", st == 500 and "grows" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize-disk", {"disk": "hp0", "desired_size": (2 << 20) + 1})
    check("resize-disk-unaligned-500", st == 500, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize-disk", {"disk": "nope", "desired_size": 2 << 20})
    check("resize-disk-unknown-500", st == 500 and "nope" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resize-disk", {"disk": "hp0"})
    check("resize-disk-bad-400", st == 400, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.remove-device", {"id": "nope"})
    check("remove-unknown-500", st == 500 and "nope" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.remove-device", {})
    check("remove-no-id-400", st == 400, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.remove-device", {"id": "hp0"})
    check("remove-device-204", st == 204, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.snapshot", {"destination_url": "file:///tmp"})
    check("snapshot-running-500", st == 500 and "pause" in b[0], f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.pause")
    check("pause-204", st == 204, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.snapshot", {"destination_url": "file:///tmp/cvmm-kata-snap-never"})
    check("snapshot-after-hotplug-400", st == 400 and "hot-plugged" in b[0] and
          not os.path.exists("/tmp/cvmm-kata-snap-never"), f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.resume")
    check("resume-204", st == 204, f"{st} {b}")
    st, b, _ = c.send("PUT", "vm.coredump", {"destination_url": "file:///tmp/core"})
    check("coredump-501", st == 501 and isinstance(b, list), f"{st} {b}")

    # Hostile clients: fds where none are taken are closed, too many refused.
    before = nfds(pid)
    h = Conn()
    r, w = os.pipe()
    st, b, _ = h.send("GET", "vmm.ping", fds=[r, w, r])
    st2, b2, _ = h.send("GET", "vm.info", fds=[r] * 9)
    os.close(r)
    os.close(w)
    after = nfds(pid)
    check("fds-closed", st == 200 and after == before + 1, f"ping {st}, fds {before} -> {after} "
          "(+1: this connection)")
    check("fds-too-many-400", st2 == 400 and "file descriptors" in b2[0], f"{st2} {b2}")
    st, b, _ = h.send("GET", "vm.nope")
    check("unknown-404", st == 404, f"{st}")
    deep = b"[" * 2000 + b"]" * 2000
    st, b, _ = h.send("PUT", "vm.resize", deep)
    check("deep-json-400", st == 400, f"{st}")
    h.s.close()
    big = Conn()
    st, b, _ = big.send("PUT", "vm.create", {"payload": {"kernel": "x" * 70000}})
    check("huge-413", st == 413, f"{st}")
    big.s.close()

    check("keep-alive", c.s is main_sock and c.s.fileno() >= 0, "connection replaced")
    st, b, _ = c.send("PUT", "vmm.shutdown")
    t0 = time.time()
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        pass
    check("vmm-shutdown", st == 204 and proc.returncode == 0,
          f"{st}, exit {proc.returncode} after {time.time() - t0:.2f} s")
except Exception as e:  # a broken answer is a failure, not a crash
    check("replay", False, repr(e))
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
print(f"kata: {failed} failed")
sys.exit(1 if failed else 0)
