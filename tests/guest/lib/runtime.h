/* SPDX-License-Identifier: MIT */
/*
 * cvmm test-guest runtime: a freestanding x86-64 environment for tiny test
 * guests. Images boot either through the Linux 64-bit boot protocol (bzImage)
 * or the PVH entry point (ELF note); both end up in guest_start(), which fills
 * a struct boot_info and calls the test's test_main().
 *
 * Exit convention: guest_exit(0) on success, a distinct code >= 3 on each kind
 * of failure (1 and 2 are cvmm's own: triple fault / bad command line).
 */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long s64;
typedef unsigned long size_t;
typedef unsigned long uintptr_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
#define __noreturn __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- guest memory map facts (must agree with src/arch/x86/layout.h) ---- */
#define LAPIC_BASE 0xfee00000UL
#define IOAPIC_BASE 0xfec00000UL
#define AP_TRAMPOLINE_ADDR 0x10000UL /* free page below 1 MiB; SIPI vector 0x10 */
#define DEBUG_EXIT_PORT 0xf4
#define COM1 0x3f8

/* GDT selectors of the runtime's own GDT (lib/head.S). */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18

#define MAX_CPUS 16

/* ---- port and MMIO access ---- */
static inline void outb(u16 port, u8 v) { __asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ __volatile__("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u64 a) { return *(volatile u16 *)a; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline u64 mmio_read64(u64 a) { return *(volatile u64 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline void mmio_write64(u64 a, u64 v) { *(volatile u64 *)a = v; }

/* ---- CPU helpers ---- */
static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }
static inline void cli(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void sti(void) { __asm__ __volatile__("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ __volatile__("hlt" ::: "memory"); }
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ __volatile__("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 read_cr2(void) { u64 v; __asm__ __volatile__("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ __volatile__("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(u64 v) { __asm__ __volatile__("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline u64 read_rflags(void) { u64 v; __asm__ __volatile__("pushfq; popq %0" : "=r"(v)); return v; }
/* A full memory barrier without mfence (which the emulator may lack). */
static inline void mb(void) { __asm__ __volatile__("lock orq $0, (%%rsp)" ::: "memory", "cc"); }

/* Atomics (lock-prefixed read-modify-write instructions only). */
static inline u32 atomic_inc_return(volatile u32 *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline u32 atomic_xchg(volatile u32 *p, u32 v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

struct spinlock { volatile u32 v; };
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);

/* ---- libc-lite (lib/string.c) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
char *strchr(const char *s, int c);
int strncmp(const char *a, const char *b, size_t n);

/* ---- serial console and printf (lib/serial.c, lib/printf.c) ---- */
void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);
bool serial_rx_ready(void);
u8 serial_getc_raw(void);
int vsnprintf(char *buf, size_t size, const char *fmt, __builtin_va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
void printf(const char *fmt, ...) __printf(1, 2);
void puts(const char *s); /* adds a newline */

/* ---- exit ---- */
void guest_exit(int code) __noreturn;
/* Prints "FAIL: <msg>" and exits with code (>= 3). */
void fail(int code, const char *fmt, ...) __printf(2, 3) __noreturn;
#define CHECK(code, cond, ...) do { if (!(cond)) fail((code), __VA_ARGS__); } while (0)

/* ---- boot information (lib/boot.c) ---- */
enum boot_protocol { BOOT_LINUX64 = 1, BOOT_PVH = 2 };

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_NVS 4
#define E820_UNUSABLE 5
#define E820_MAX 128

struct mem_region {
	u64 addr;
	u64 size;
	u32 type;
};

struct boot_info {
	enum boot_protocol protocol;
	u64 raw_addr;		/* zero page or hvm_start_info */
	const char *cmdline;	/* NUL-terminated, "" when none */
	u64 cmdline_addr;
	u32 nr_e820;
	struct mem_region e820[E820_MAX];
	u64 initrd_addr;
	u64 initrd_size;
	u64 rsdp_addr;		/* 0 when the boot protocol gave none */
	u32 pvh_flags;
	u32 pvh_nr_modules;
};

extern struct boot_info boot_info;
const char *boot_protocol_name(enum boot_protocol p);
const char *e820_type_name(u32 type);
void print_e820(const struct boot_info *bi);

/* Command line: value of `key=...` (copied into buf, NUL-terminated); false if absent. */
bool cmdline_get(const char *cmdline, const char *key, char *buf, size_t len);
/* Parses decimal or 0x-hex with an optional K/M/G suffix. */
bool parse_u64(const char *s, u64 *out);
bool cmdline_get_u64(const char *cmdline, const char *key, u64 *out);

/* The test's entry point; return 0 for PASS (the runtime prints PASS). */
int test_main(struct boot_info *bi);
/* Each test defines its name (printed in the banner). */
extern const char test_name[];

/* ---- paging (lib/mm.c) ---- */
void paging_init(void);
/* Identity-maps [addr, addr+size) with 2 MiB pages (addr may be above 4 GiB). */
int map_identity(u64 addr, u64 size);
extern u64 kernel_cr3;

/* ---- time (lib/time.c) ---- */
extern u64 tsc_khz;
void tsc_init(void);
u64 ms_to_tsc(u64 ms);
void mdelay(u64 ms);
void udelay(u64 us);

/* ---- interrupts (lib/intr.c, lib/vectors.S) ---- */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};
/* Handlers for vectors >= 32 get an LAPIC EOI after they return; a handler
 * for an exception vector (< 32) replaces the fatal report (it may change
 * tf->rip to resume elsewhere). */
typedef void (*irq_handler_t)(struct trap_frame *tf);
void idt_init(void);
void idt_load(void);
void set_irq_handler(u8 vector, irq_handler_t h);
extern volatile u32 spurious_count;

/* Vectors the runtime uses. */
#define VEC_IRQ_BASE 0x30 /* IOAPIC pin n -> vector 0x30 + n */
#define VEC_LAPIC_TIMER 0xe0
#define VEC_SPURIOUS 0xff

/* PIC: remap to 0x20/0x28 and mask everything. */
void pic_disable(void);

/* LAPIC */
#define LAPIC_ID 0x20
#define LAPIC_VER 0x30
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
static inline u32 lapic_read(u32 reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(u32 reg, u32 v) { mmio_write32(LAPIC_BASE + reg, v); }
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
static inline u32 lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
void lapic_init(void);
int lapic_send_ipi(u32 apic_id, u32 icr_lo);

/* IOAPIC */
u32 ioapic_read(u32 reg);
void ioapic_write(u32 reg, u32 v);
u32 ioapic_max_pins(void);
void ioapic_init(void); /* masks every pin */
/* Routes pin to vector, edge/active-high, fixed delivery to APIC id dest. */
void ioapic_route(u32 pin, u8 vector, u32 dest, bool level);
void ioapic_mask(u32 pin, bool masked);

/* PIT channel 0 periodic at hz (mode 2). */
void pit_start(u32 hz);
void pit_stop(void);
#define PIT_HZ 1193182

/* ---- ACPI / MP table (lib/acpi.c) ---- */
struct madt_info {
	u32 nr_cpus;		/* enabled Processor Local APIC entries */
	u32 apic_ids[MAX_CPUS];
	u32 nr_ioapics;
	u64 ioapic_addr;
	u32 ioapic_gsi_base;
	u64 lapic_addr;
	u32 nr_overrides;
};
/* 0 on success, else a negative reason (and prints why). */
int acpi_find_rsdp(const struct boot_info *bi, u64 *rsdp_out);
const void *acpi_find_table(u64 rsdp, const char sig[4]);
int acpi_parse_madt(const struct boot_info *bi, struct madt_info *mi);
bool acpi_checksum_ok(const void *p, size_t len);
/* Intel MP table: number of processor entries, or -1 when not found. */
int mptable_count_cpus(void);

/*
 * AML, scanned without an interpreter (lib/acpi.c): enough to find a
 * Device by its _HID and decode its _CRS resource template.
 */
/* The DSDT (through the FADT; signature, length and checksum checked):
 * its AML in [*aml, *aml_end). 0, or -1 (and prints why). */
int acpi_find_dsdt(u64 rsdp, const u8 **aml, const u8 **aml_end);
/* Where needle (n bytes) first occurs in [from, to), or NULL. */
const u8 *mem_find(const u8 *from, const u8 *to, const void *needle, u32 n);
/* PkgLength at p (at most `room` bytes): the value, its size in *n; 0 if bad. */
u32 aml_pkglen(const u8 *p, u32 room, u32 *n);
/* The integer object at p: value and its size in *n, or false. */
bool aml_int(const u8 *p, const u8 *end, u32 *v, u32 *n);
/* The innermost Device whose extent holds `at`: its body after the
 * PkgLength in [*start, *end). */
bool aml_enclosing_device(const u8 *aml, const u8 *aml_end, const u8 *at, const u8 **start,
			  const u8 **end);
/* The Device's Name (_CRS, Buffer) in [dev, dev_end): the descriptors in
 * [*res, *res_end). NULL, or why not. */
const char *aml_crs(const u8 *dev, const u8 *dev_end, const u8 **res, const u8 **res_end);
/* The next resource descriptor at *d (before end): its tag (a large one's
 * full byte, a small one's with the length bits cleared), body and length;
 * *d moves past it. 1, 0 at the end tag or end, -1 when malformed. */
int aml_res_next(const u8 **d, const u8 *end, u8 *tag, const u8 **body, u32 *len);
#define AML_RES_END_TAG 0x78
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_EXT_INTERRUPT 0x89

/* ---- SMP (lib/smp.c) ---- */
extern volatile u32 cpus_online; /* BSP included */
/* Starts every AP listed; returns how many checked in (BSP included). */
u32 smp_boot_aps(const struct madt_info *mi);

/* ---- checksums (lib/util.c) ---- */
/* POSIX cksum(1) CRC: same value `cksum FILE` prints. */
u32 posix_cksum(const void *data, u64 len);

#endif
