/* SPDX-License-Identifier: MIT */
/*
 * Byte offsets in struct boot_params (the zero page) and in the bzImage
 * setup header, from the Linux x86 boot protocol (boot.rst, zero-page.rst).
 * Shared by the guest runtime and the host tool mkbzimage (which checks them
 * against the host's <asm/bootparam.h>).
 */
#ifndef GUEST_BOOTPARAM_H
#define GUEST_BOOTPARAM_H

/* struct boot_params */
#define BP_ACPI_RSDP_ADDR 0x070 /* u64 */
#define BP_EXT_RAMDISK_IMAGE 0x0c0 /* u32 */
#define BP_EXT_RAMDISK_SIZE 0x0c4 /* u32 */
#define BP_EXT_CMD_LINE_PTR 0x0c8 /* u32 */
#define BP_E820_ENTRIES 0x1e8 /* u8 */
#define BP_HDR 0x1f1 /* struct setup_header */
#define BP_E820_TABLE 0x2d0 /* 128 x {u64 addr, u64 size, u32 type} */
#define BP_E820_ENTRY_SIZE 20
#define BP_E820_MAX 128
#define BP_SIZE 4096

/* struct setup_header, as offsets from the start of the image/zero page */
#define HDR_SETUP_SECTS 0x1f1 /* u8 */
#define HDR_ROOT_FLAGS 0x1f2 /* u16 */
#define HDR_SYSSIZE 0x1f4 /* u32 */
#define HDR_RAM_SIZE 0x1f8 /* u16 */
#define HDR_VID_MODE 0x1fa /* u16 */
#define HDR_ROOT_DEV 0x1fc /* u16 */
#define HDR_BOOT_FLAG 0x1fe /* u16: 0xaa55 */
#define HDR_JUMP 0x200 /* u16 */
#define HDR_HEADER 0x202 /* u32: "HdrS" */
#define HDR_VERSION 0x206 /* u16 */
#define HDR_REALMODE_SWTCH 0x208 /* u32 */
#define HDR_START_SYS_SEG 0x20c /* u16 */
#define HDR_KERNEL_VERSION 0x20e /* u16 */
#define HDR_TYPE_OF_LOADER 0x210 /* u8 */
#define HDR_LOADFLAGS 0x211 /* u8 */
#define HDR_SETUP_MOVE_SIZE 0x212 /* u16 */
#define HDR_CODE32_START 0x214 /* u32 */
#define HDR_RAMDISK_IMAGE 0x218 /* u32 */
#define HDR_RAMDISK_SIZE 0x21c /* u32 */
#define HDR_BOOTSECT_KLUDGE 0x220 /* u32 */
#define HDR_HEAP_END_PTR 0x224 /* u16 */
#define HDR_EXT_LOADER_VER 0x226 /* u8 */
#define HDR_EXT_LOADER_TYPE 0x227 /* u8 */
#define HDR_CMD_LINE_PTR 0x228 /* u32 */
#define HDR_INITRD_ADDR_MAX 0x22c /* u32 */
#define HDR_KERNEL_ALIGNMENT 0x230 /* u32 */
#define HDR_RELOCATABLE_KERNEL 0x234 /* u8 */
#define HDR_MIN_ALIGNMENT 0x235 /* u8 */
#define HDR_XLOADFLAGS 0x236 /* u16 */
#define HDR_CMDLINE_SIZE 0x238 /* u32 */
#define HDR_HARDWARE_SUBARCH 0x23c /* u32 */
#define HDR_HARDWARE_SUBARCH_DATA 0x240 /* u64 */
#define HDR_PAYLOAD_OFFSET 0x248 /* u32 */
#define HDR_PAYLOAD_LENGTH 0x24c /* u32 */
#define HDR_SETUP_DATA 0x250 /* u64 */
#define HDR_PREF_ADDRESS 0x258 /* u64 */
#define HDR_INIT_SIZE 0x260 /* u32 */
#define HDR_HANDOVER_OFFSET 0x264 /* u32 */
#define HDR_KERNEL_INFO_OFFSET 0x268 /* u32 */
#define HDR_END 0x26c

#define HDR_MAGIC 0x53726448 /* "HdrS" little-endian */
#define BOOT_FLAG_MAGIC 0xaa55
#define HDR_LOADED_HIGH 0x01
#define HDR_XLF_KERNEL_64 0x0001

/* struct hvm_start_info (PVH) */
#define HVM_START_MAGIC 0x336ec578
#define HVM_MAGIC 0
#define HVM_VERSION 4
#define HVM_FLAGS 8
#define HVM_NR_MODULES 12
#define HVM_MODLIST_PADDR 16
#define HVM_CMDLINE_PADDR 24
#define HVM_RSDP_PADDR 32
#define HVM_MEMMAP_PADDR 40
#define HVM_MEMMAP_ENTRIES 48
#define HVM_MOD_SIZE 32 /* {u64 paddr, size, cmdline_paddr, reserved} */
#define HVM_MEMMAP_ENTRY_SIZE 24 /* {u64 addr, size; u32 type, reserved} */

#endif
