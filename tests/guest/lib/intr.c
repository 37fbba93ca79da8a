/* SPDX-License-Identifier: MIT */
/* IDT, trap dispatch, 8259 PIC (disabled), LAPIC, IOAPIC and PIT. */
#include "runtime.h"

struct idt_gate {
	u16 off0;
	u16 sel;
	u8 ist;
	u8 attr;
	u16 off1;
	u32 off2;
	u32 zero;
} __packed;

struct desc_ptr {
	u16 limit;
	u64 base;
} __packed;

extern char vector_stubs[];
static struct idt_gate idt[256] __aligned(16);
static irq_handler_t handlers[256];
volatile u32 spurious_count;
static volatile u32 unexpected_count;

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_init(void)
{
	for (int v = 0; v < 256; v++) {
		u64 a = (u64)vector_stubs + 16 * v;
		idt[v] = (struct idt_gate){
			.off0 = (u16)a, .sel = SEL_CODE64, .ist = 0, .attr = 0x8e,
			.off1 = (u16)(a >> 16), .off2 = (u32)(a >> 32), .zero = 0,
		};
	}
}

void idt_load(void)
{
	struct desc_ptr p = { sizeof(idt) - 1, (u64)idt };
	__asm__ __volatile__("lidt %0" ::"m"(p));
}

void set_irq_handler(u8 vector, irq_handler_t h)
{
	handlers[vector] = h;
}

void trap_dispatch(struct trap_frame *tf);
void trap_dispatch(struct trap_frame *tf)
{
	u64 v = tf->vector;

	if (v < 32 && handlers[v]) {
		handlers[v](tf); /* a test expecting this exception */
		return;
	}
	if (v < 32) {
		fail(64 + (int)v,
		     "unexpected exception %lu (%s) error %lx at rip %lx (cs %lx rflags %lx rsp %lx) cr2 %lx on apic id %u",
		     v, exc_names[v] ? exc_names[v] : "?", tf->error, tf->rip, tf->cs,
		     tf->rflags, tf->rsp, read_cr2(), lapic_id());
	}
	if (v == VEC_SPURIOUS) {
		spurious_count++;
		return;
	}
	if (handlers[v])
		handlers[v](tf);
	else if (unexpected_count++ < 4)
		printf("warning: unexpected interrupt vector 0x%lx\n", v);
	lapic_eoi();
}

/* ---- 8259 PIC: remapped out of the exception range, fully masked ---- */
void pic_disable(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

/* ---- LAPIC ---- */
void lapic_init(void)
{
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	lapic_write(LAPIC_LVT_LINT0, 0x10000);
	lapic_write(LAPIC_LVT_ERROR, 0x10000);
	lapic_write(LAPIC_ESR, 0);
}

int lapic_send_ipi(u32 apic_id, u32 icr_lo)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	for (u32 i = 0; i < 100000; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & (1u << 12)))
			return 0;
	return -1;
}

/* ---- IOAPIC ---- */
u32 ioapic_read(u32 reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(u32 reg, u32 v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

u32 ioapic_max_pins(void)
{
	return ((ioapic_read(1) >> 16) & 0xff) + 1;
}

void ioapic_init(void)
{
	u32 n = ioapic_max_pins();
	for (u32 pin = 0; pin < n && pin < 64; pin++) {
		ioapic_write(0x10 + 2 * pin, 0x10000);
		ioapic_write(0x11 + 2 * pin, 0);
	}
}

void ioapic_route(u32 pin, u8 vector, u32 dest, bool level)
{
	ioapic_write(0x11 + 2 * pin, dest << 24);
	ioapic_write(0x10 + 2 * pin, vector | (level ? 1u << 15 : 0));
}

void ioapic_mask(u32 pin, bool masked)
{
	u32 lo = ioapic_read(0x10 + 2 * pin);
	ioapic_write(0x10 + 2 * pin, masked ? lo | 0x10000 : lo & ~0x10000u);
}

/* ---- PIT ---- */
void pit_start(u32 hz)
{
	u32 div = PIT_HZ / hz;
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
	outb(0x40, (u8)div);
	outb(0x40, (u8)(div >> 8));
}

void pit_stop(void)
{
	outb(0x43, 0x30); /* channel 0, mode 0, no reload */
	outb(0x40, 0);
	outb(0x40, 0);
}

/* ---- spinlock ---- */
void spin_lock(struct spinlock *l)
{
	while (atomic_xchg(&l->v, 1))
		while (READ_ONCE(l->v))
			cpu_relax();
}

void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}
