/**
 * Importing this module declares every event bpfkern knows (Linux's include/trace/events/).
 * Per-syscall events are declared by declareSyscallEvents() for the syscalls that exist.
 */
export * from './signal.js';
export * from './sched.js';
export * from './raw_syscalls.js';
export * from './syscalls.js';
export * from './net.js';
export * from './skb.js';
export * from './bpf_trace.js';
