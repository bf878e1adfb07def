/**
 * The syscall ABI's constants: the AUDIT_ARCH_* values seccomp_data.arch carries and where
 * the mini-OS's "syscall instruction" sits per arch. This module imports nothing, on
 * purpose: syscall.ts, syscall-table.ts, signal.ts and process.ts import each other, and
 * constants that module bodies use while they evaluate (syscall-table.ts builds its tables
 * with them) must not depend on which of those modules a program happens to import first.
 * syscall.ts re-exports everything here.
 */

/** include/uapi/linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** EM_386 | __AUDIT_ARCH_LE: the i386 `int $0x80` entry (and x86_64's compat entry). */
export const AUDIT_ARCH_I386 = 0x40000003;
/** EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;

/** x32 syscall numbers carry this bit (arch/x86/include/uapi/asm/unistd.h). */
export const X32_SYSCALL_BIT = 0x40000000;

/** Where the mini-OS's "syscall instruction" sits, per arch (deterministic, user-looking). */
export const SYSCALL_IP: Readonly<Record<number, bigint>> = {
  [AUDIT_ARCH_X86_64]: 0x401a2bn,
  [AUDIT_ARCH_I386]: 0x8049a2bn,
  [AUDIT_ARCH_AARCH64]: 0x400a2cn,
};

/**
 * SYSCALL_WORK_* (include/linux/thread_info.h): bits in Task.syscallWork saying which
 * entry work a task needs. An entry hook registered with a bit runs only for tasks that
 * have it, so a task nobody filters or traces pays nothing for the hook.
 */
export const SYSCALL_WORK_SECCOMP = 1 << 0;
