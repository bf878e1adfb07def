/**
 * The kernel's printed form of eBPF: Linux kernel/bpf/disasm.c `print_bpf_insn`, as the
 * verifier log and `bpftool prog dump xlated` show it (`r0 = *(u32 *)(r1 +0)`,
 * `if w1 s< w2 goto pc-1`, `call bpf_map_lookup_elem#1`, `r1 = map[id:3]`).
 *
 * Who calls this: the verifier (log lines `N: (b7) r0 = 1`), bpftool (`dumpXlated`), tests.
 * The LLVM/conformance syntax (`mov %r0, 1`) is asm.ts.
 *
 * The text is API: every format below is one of disasm.c's format strings, checked on a
 * Linux 6.18 host (test/kernel/bpf/disasm.test.ts). Like the kernel, the printer never
 * fails: an encoding it does not know prints as `BUG_...` or as its class name.
 */
import {
  BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_DIV, BPF_DW, BPF_END, BPF_EXIT,
  BPF_FETCH, BPF_IMM, BPF_JA, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_MEM, BPF_MEMSX,
  BPF_MOD, BPF_MOV, BPF_NEG, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE, BPF_ST, BPF_STX, BPF_TO_BE, BPF_X, BPF_XCHG, BPF_ABS, BPF_IND,
  type Insn, cls, encodeInsns, isLdImm64, ldImm64Value,
} from './isa.js';

/**
 * Helper names by enum bpf_func_id value (include/uapi/linux/bpf.h, __BPF_FUNC_MAPPER;
 * the list is frozen at 211, new kernel functions are kfuncs). The kernel prints them
 * with a `bpf_` prefix even for helpers the program type may not call.
 */
const FUNC_ID_STR: readonly string[] = [
  'unspec', 'map_lookup_elem', 'map_update_elem', 'map_delete_elem', 'probe_read',
  'ktime_get_ns', 'trace_printk', 'get_prandom_u32', 'get_smp_processor_id', 'skb_store_bytes',
  'l3_csum_replace', 'l4_csum_replace', 'tail_call', 'clone_redirect', 'get_current_pid_tgid',
  'get_current_uid_gid', 'get_current_comm', 'get_cgroup_classid', 'skb_vlan_push',
  'skb_vlan_pop', 'skb_get_tunnel_key', 'skb_set_tunnel_key', 'perf_event_read', 'redirect',
  'get_route_realm', 'perf_event_output', 'skb_load_bytes', 'get_stackid', 'csum_diff',
  'skb_get_tunnel_opt', 'skb_set_tunnel_opt', 'skb_change_proto', 'skb_change_type',
  'skb_under_cgroup', 'get_hash_recalc', 'get_current_task', 'probe_write_user',
  'current_task_under_cgroup', 'skb_change_tail', 'skb_pull_data', 'csum_update',
  'set_hash_invalid', 'get_numa_node_id', 'skb_change_head', 'xdp_adjust_head',
  'probe_read_str', 'get_socket_cookie', 'get_socket_uid', 'set_hash', 'setsockopt',
  'skb_adjust_room', 'redirect_map', 'sk_redirect_map', 'sock_map_update', 'xdp_adjust_meta',
  'perf_event_read_value', 'perf_prog_read_value', 'getsockopt', 'override_return',
  'sock_ops_cb_flags_set', 'msg_redirect_map', 'msg_apply_bytes', 'msg_cork_bytes',
  'msg_pull_data', 'bind', 'xdp_adjust_tail', 'skb_get_xfrm_state', 'get_stack',
  'skb_load_bytes_relative', 'fib_lookup', 'sock_hash_update', 'msg_redirect_hash',
  'sk_redirect_hash', 'lwt_push_encap', 'lwt_seg6_store_bytes', 'lwt_seg6_adjust_srh',
  'lwt_seg6_action', 'rc_repeat', 'rc_keydown', 'skb_cgroup_id', 'get_current_cgroup_id',
  'get_local_storage', 'sk_select_reuseport', 'skb_ancestor_cgroup_id', 'sk_lookup_tcp',
  'sk_lookup_udp', 'sk_release', 'map_push_elem', 'map_pop_elem', 'map_peek_elem',
  'msg_push_data', 'msg_pop_data', 'rc_pointer_rel', 'spin_lock', 'spin_unlock', 'sk_fullsock',
  'tcp_sock', 'skb_ecn_set_ce', 'get_listener_sock', 'skc_lookup_tcp', 'tcp_check_syncookie',
  'sysctl_get_name', 'sysctl_get_current_value', 'sysctl_get_new_value',
  'sysctl_set_new_value', 'strtol', 'strtoul', 'sk_storage_get', 'sk_storage_delete',
  'send_signal', 'tcp_gen_syncookie', 'skb_output', 'probe_read_user', 'probe_read_kernel',
  'probe_read_user_str', 'probe_read_kernel_str', 'tcp_send_ack', 'send_signal_thread',
  'jiffies64', 'read_branch_records', 'get_ns_current_pid_tgid', 'xdp_output',
  'get_netns_cookie', 'get_current_ancestor_cgroup_id', 'sk_assign', 'ktime_get_boot_ns',
  'seq_printf', 'seq_write', 'sk_cgroup_id', 'sk_ancestor_cgroup_id', 'ringbuf_output',
  'ringbuf_reserve', 'ringbuf_submit', 'ringbuf_discard', 'ringbuf_query', 'csum_level',
  'skc_to_tcp6_sock', 'skc_to_tcp_sock', 'skc_to_tcp_timewait_sock', 'skc_to_tcp_request_sock',
  'skc_to_udp6_sock', 'get_task_stack', 'load_hdr_opt', 'store_hdr_opt', 'reserve_hdr_opt',
  'inode_storage_get', 'inode_storage_delete', 'd_path', 'copy_from_user', 'snprintf_btf',
  'seq_printf_btf', 'skb_cgroup_classid', 'redirect_neigh', 'per_cpu_ptr', 'this_cpu_ptr',
  'redirect_peer', 'task_storage_get', 'task_storage_delete', 'get_current_task_btf',
  'bprm_opts_set', 'ktime_get_coarse_ns', 'ima_inode_hash', 'sock_from_file', 'check_mtu',
  'for_each_map_elem', 'snprintf', 'sys_bpf', 'btf_find_by_name_kind', 'sys_close',
  'timer_init', 'timer_set_callback', 'timer_start', 'timer_cancel', 'get_func_ip',
  'get_attach_cookie', 'task_pt_regs', 'get_branch_snapshot', 'trace_vprintk',
  'skc_to_unix_sock', 'kallsyms_lookup_name', 'find_vma', 'loop', 'strncmp', 'get_func_arg',
  'get_func_ret', 'get_func_arg_cnt', 'get_retval', 'set_retval', 'xdp_get_buff_len',
  'xdp_load_bytes', 'xdp_store_bytes', 'copy_from_user_task', 'skb_set_tstamp',
  'ima_file_hash', 'kptr_xchg', 'map_lookup_percpu_elem', 'skc_to_mptcp_sock',
  'dynptr_from_mem', 'ringbuf_reserve_dynptr', 'ringbuf_submit_dynptr',
  'ringbuf_discard_dynptr', 'dynptr_read', 'dynptr_write', 'dynptr_data',
  'tcp_raw_gen_syncookie_ipv4', 'tcp_raw_gen_syncookie_ipv6', 'tcp_raw_check_syncookie_ipv4',
  'tcp_raw_check_syncookie_ipv6', 'ktime_get_tai_ns', 'user_ringbuf_drain', 'cgrp_storage_get',
  'cgrp_storage_delete',
];

/** `bpf_<name>` for a helper id, or `unknown` (disasm.c func_id_name). */
export function funcIdName(id: number): string {
  const name = FUNC_ID_STR[id];
  return name === undefined ? 'unknown' : `bpf_${name}`;
}

/** Printer callbacks (struct bpf_insn_cbs minus cb_print): how names are resolved. */
export interface DisasmOptions {
  /**
   * Names a call the helper table does not (cb_call): kfuncs, ids past the table, and
   * every bpf-to-bpf call (the text after `call pc`). Return undefined for the default.
   */
  callName?: (insn: Insn) => string | undefined;
  /**
   * Prints the value of an LD_IMM64 (cb_imm), e.g. bpftool's `map[id:3]`. Return
   * undefined for the default `0x%llx`.
   */
  imm64?: (insn: Insn, next: Insn, value: bigint) => string | undefined;
  /**
   * Whether map pointers may be shown (the kernel's allow_ptr_leaks, true for root);
   * false prints pseudo map loads as 0x0. Default true.
   */
  allowPtrLeaks?: boolean;
}

const ALU_STRING: Record<number, string> = {
  0x00: '+=', 0x10: '-=', 0x20: '*=', 0x30: '/=', 0x40: '|=', 0x50: '&=', 0x60: '<<=',
  0x70: '>>=', 0x80: 'neg', 0x90: '%=', 0xa0: '^=', 0xb0: '=', 0xc0: 's>>=', 0xd0: 'endian',
};
const ALU_SIGN_STRING: Record<number, string> = { [BPF_DIV]: 's/=', [BPF_MOD]: 's%=' };
const MOVSX_STRING: Record<number, string> = { 8: '(s8)', 16: '(s16)', 32: '(s32)' };
const ATOMIC_ALU_STRING: Record<number, string> = { 0x00: 'add', 0x50: 'and', 0x40: 'or', 0xa0: 'xor' };
const LDST_STRING: Record<number, string> = { 0x00: 'u32', 0x08: 'u16', 0x10: 'u8', 0x18: 'u64' };
const LDSX_STRING: Record<number, string> = { 0x00: 's32', 0x08: 's16', 0x10: 's8' };
const JMP_STRING: Record<number, string> = {
  0x00: 'jmp', 0x10: '==', 0x20: '>', 0xa0: '<', 0x30: '>=', 0xb0: '<=', 0x40: '&', 0x50: '!=',
  0x60: 's>', 0xc0: 's<', 0x70: 's>=', 0xd0: 's<=', 0x80: 'call', 0x90: 'exit',
};
const CLASS_STRING = ['ld', 'ldx', 'st', 'stx', 'alu', 'jmp', 'jmp32', 'alu64'] as const;

/** Kernel-internal encodings disasm.c knows (not UAPI). */
const BPF_ADDR_SPACE_CAST = 1;
const BPF_ADDR_PERCPU = -1;
const BPF_NOSPEC = 0xc0;
const BPF_JCOND = 0xe0;
const BPF_MAY_GOTO = 0;
const BPF_LOAD_ACQ = 0x100;
const BPF_STORE_REL = 0x110;

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
/** printf's `%+d`. */
const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);
/** printf's `%u` of a u16 and `%x` of a u32. */
const u32hex = (n: number): string => (n >>> 0).toString(16);

function callName(i: Insn, opts: DisasmOptions): string {
  if (i.src !== BPF_PSEUDO_CALL && i.src !== BPF_PSEUDO_KFUNC_CALL) {
    const name = FUNC_ID_STR[i.imm];
    if (i.src === 0 && name !== undefined) return `bpf_${name}`;
  }
  const named = opts.callName?.(i);
  if (named !== undefined) return named;
  if (i.src === BPF_PSEUDO_CALL) return signed(i.imm);
  if (i.src === BPF_PSEUDO_KFUNC_CALL) return 'kernel-function';
  return 'unknown';
}

function formatAlu(i: Insn): string {
  const c = cls(i.code);
  const op = i.code & 0xf0;
  const r = c === BPF_ALU ? 'w' : 'r';
  const code = `(${hex2(i.code)})`;
  if (op === BPF_END) {
    if (c === BPF_ALU64) return `${code} r${i.dst} = bswap${i.imm} r${i.dst}`;
    return `${code} r${i.dst} = ${(i.code & 0x08) === BPF_TO_BE ? 'be' : 'le'}${i.imm} r${i.dst}`;
  }
  if (op === BPF_NEG) return `${code} ${r}${i.dst} = -${r}${i.dst}`;
  const movX = i.code === (BPF_ALU64 | BPF_MOV | BPF_X);
  if (movX && i.off === BPF_ADDR_SPACE_CAST) {
    return `${code} r${i.dst} = addr_space_cast(r${i.src}, ${i.imm >>> 16}, ${i.imm & 0xffff})`;
  }
  if (movX && i.off === BPF_ADDR_PERCPU) return `${code} r${i.dst} = &(void __percpu *)(r${i.src})`;
  const sdivSmod = (op === BPF_DIV || op === BPF_MOD) && i.off === 1;
  const opText = (sdivSmod ? ALU_SIGN_STRING[op] : ALU_STRING[op]) ?? '';
  if ((i.code & 0x08) === BPF_X) {
    const movsx = op === BPF_MOV ? MOVSX_STRING[i.off] ?? '' : '';
    return `${code} ${r}${i.dst} ${opText} ${movsx}${r}${i.src}`;
  }
  return `${code} ${r}${i.dst} ${opText} ${i.imm}`;
}

function formatStx(i: Insn): string {
  const code = `(${hex2(i.code)})`;
  const size = LDST_STRING[i.code & 0x18] ?? '';
  const mode = i.code & 0xe0;
  const addr = `(r${i.dst} ${signed(i.off)})`;
  if (mode === BPF_MEM) return `${code} *(${size} *)${addr} = r${i.src}`;
  if (mode === BPF_ATOMIC) {
    const bits = (i.code & 0x18) === BPF_DW ? '64' : '';
    // Only the four ALU ops, with or without BPF_FETCH, print in the ALU forms.
    const aluOp = i.imm & ~BPF_FETCH;
    if (ATOMIC_ALU_STRING[aluOp] !== undefined) {
      if ((i.imm & BPF_FETCH) === 0) return `${code} lock *(${size} *)${addr} ${ALU_STRING[aluOp] ?? ''} r${i.src}`;
      return `${code} r${i.src} = atomic${bits}_fetch_${ATOMIC_ALU_STRING[aluOp] ?? ''}((${size} *)${addr}, r${i.src})`;
    }
    if (i.imm === BPF_CMPXCHG) return `${code} r0 = atomic${bits}_cmpxchg((${size} *)${addr}, r0, r${i.src})`;
    if (i.imm === BPF_XCHG) return `${code} r${i.src} = atomic${bits}_xchg((${size} *)${addr}, r${i.src})`;
    if (i.imm === BPF_LOAD_ACQ) return `${code} r${i.dst} = load_acquire((${size} *)(r${i.src} ${signed(i.off)}))`;
    if (i.imm === BPF_STORE_REL) return `${code} store_release((${size} *)${addr}, r${i.src})`;
  }
  return `BUG_${hex2(i.code)}`;
}

function formatLd(insns: readonly Insn[], index: number, opts: DisasmOptions): string {
  const i = insns[index] as Insn;
  const code = `(${hex2(i.code)})`;
  const size = LDST_STRING[i.code & 0x18] ?? '';
  const mode = i.code & 0xe0;
  if (mode === BPF_ABS) return `${code} r0 = *(${size} *)skb[${i.imm}]`;
  if (mode === BPF_IND) return `${code} r0 = *(${size} *)skb[r${i.src} + ${i.imm}]`;
  if (mode === BPF_IMM && (i.code & 0x18) === BPF_DW) {
    // The kernel checks that the second slot exists before it prints; a truncated pair
    // (only possible when printing unchecked input) reads its upper half as 0.
    const next = insns[index + 1] ?? { code: 0, dst: 0, src: 0, off: 0, imm: 0 };
    let value = ldImm64Value(i, next);
    const isPtr = ([BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX,
      BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_BTF_ID] as number[]).includes(i.src);
    if (isPtr && opts.allowPtrLeaks === false) value = 0n;
    const text = opts.imm64?.(i, next, value) ?? `0x${value.toString(16)}`;
    return `${code} r${i.dst} = ${text}`;
  }
  return `BUG_ld_${hex2(i.code)}`;
}

function formatJmp(i: Insn, opts: DisasmOptions): string {
  const c = cls(i.code);
  const code = `(${hex2(i.code)})`;
  const op = i.code & 0xf0;
  if (op === BPF_CALL) {
    if (i.src === BPF_PSEUDO_CALL) return `${code} call pc${callName(i, opts)}`;
    return `${code} call ${callName(i, opts)}#${i.imm}`;
  }
  if (i.code === (BPF_JMP | BPF_JA)) return `${code} goto pc${signed(i.off)}`;
  if (i.code === (BPF_JMP | BPF_JCOND) && i.src === BPF_MAY_GOTO) return `${code} may_goto pc${signed(i.off)}`;
  if (i.code === (BPF_JMP32 | BPF_JA)) return `${code} gotol pc${signed(i.imm)}`;
  if (i.code === (BPF_JMP | BPF_EXIT)) return `${code} exit`;
  const r = c === BPF_JMP32 ? 'w' : 'r';
  const opText = JMP_STRING[op] ?? '';
  if ((i.code & 0x08) === BPF_X) return `${code} if ${r}${i.dst} ${opText} ${r}${i.src} goto pc${signed(i.off)}`;
  return `${code} if ${r}${i.dst} ${opText} 0x${u32hex(i.imm)} goto pc${signed(i.off)}`;
}

/**
 * One instruction as print_bpf_insn prints it, without the index or newline:
 * `(61) r0 = *(u32 *)(r1 +0)`. For LD_IMM64 the next slot supplies the upper half.
 */
export function formatInsn(insns: readonly Insn[], index: number, opts: DisasmOptions = {}): string {
  const i = insns[index];
  if (!i) throw new RangeError(`no instruction at ${index}`);
  const c = cls(i.code);
  const code = `(${hex2(i.code)})`;
  switch (c) {
    case BPF_ALU:
    case BPF_ALU64:
      return formatAlu(i);
    case BPF_STX:
      return formatStx(i);
    case BPF_ST: {
      const mode = i.code & 0xe0;
      if (mode === BPF_MEM) return `${code} *(${LDST_STRING[i.code & 0x18] ?? ''} *)(r${i.dst} ${signed(i.off)}) = ${i.imm}`;
      if (mode === BPF_NOSPEC) return `${code} nospec`;
      return `BUG_st_${hex2(i.code)}`;
    }
    case BPF_LDX: {
      const mode = i.code & 0xe0;
      if (mode !== BPF_MEM && mode !== BPF_MEMSX) return `BUG_ldx_${hex2(i.code)}`;
      const size = (mode === BPF_MEM ? LDST_STRING : LDSX_STRING)[i.code & 0x18] ?? '';
      return `${code} r${i.dst} = *(${size} *)(r${i.src} ${signed(i.off)})`;
    }
    case BPF_LD:
      return formatLd(insns, index, opts);
    case BPF_JMP:
    case BPF_JMP32:
      return formatJmp(i, opts);
    default:
      return `${code} ${CLASS_STRING[c] ?? ''}`;
  }
}

/**
 * bpftool's cb_imm (print_imm): a program prepared for dumping carries the map id in
 * imm and src_reg says what it is (kernel bpf_insn_prepare_dump).
 */
export function bpftoolImm64(i: Insn, next: Insn, value: bigint): string {
  if (i.src === BPF_PSEUDO_MAP_FD) return `map[id:${i.imm >>> 0}]`;
  if (i.src === BPF_PSEUDO_MAP_VALUE) return `map[id:${i.imm >>> 0}][0]+${next.imm >>> 0}`;
  if (i.src === BPF_PSEUDO_FUNC) return `subprog[${signed(i.imm)}]`;
  return `0x${value.toString(16)}`;
}

export interface DumpOptions extends DisasmOptions {
  /** Names helpers the built-in table does not know, by id (e.g. from FuncProto.name, no bpf_ prefix). */
  helperName?: (id: number) => string | undefined;
  /**
   * Resolves a map pointer left in an LD_IMM64 (src_reg 0) to its map id and the offset
   * into its value (`value: true` prints `map[id:N][0]+off`).
   */
  mapOf?: (address: bigint) => { id: number; off: number; value: boolean } | undefined;
  /** `bpftool prog dump xlated opcodes`: the raw bytes under each line. */
  opcodes?: boolean;
}

/**
 * The listing `bpftool prog dump xlated` prints: `% 4d: ` then print_bpf_insn, one line
 * per instruction; the second slot of an LD_IMM64 gets no line of its own.
 */
export function dumpXlated(insns: readonly Insn[], opts: DumpOptions = {}): string {
  const { helperName, mapOf } = opts;
  const printOpts: DisasmOptions = {
    ...opts,
    callName: (i) => {
      const fromOpts = opts.callName?.(i);
      if (fromOpts !== undefined) return fromOpts;
      if (i.src === 0) {
        const name = helperName?.(i.imm);
        if (name !== undefined) return `bpf_${name}`;
      }
      return undefined;
    },
    imm64: (i, next, value) => {
      const fromOpts = opts.imm64?.(i, next, value);
      if (fromOpts !== undefined) return fromOpts;
      if (i.src === 0 && mapOf) {
        const m = mapOf(value);
        if (m) return m.value ? `map[id:${m.id}][0]+${m.off}` : `map[id:${m.id}]`;
      }
      return bpftoolImm64(i, next, value);
    },
  };
  let out = '';
  for (let n = 0; n < insns.length; n++) {
    const i = insns[n] as Insn;
    out += `${String(n).padStart(4)}: ${formatInsn(insns, n, printOpts)}\n`;
    const wide = isLdImm64(i) && n + 1 < insns.length;
    if (opts.opcodes) {
      const bytes = encodeInsns(wide ? insns.slice(n, n + 2) : [i]);
      const words = [bytes.subarray(0, 8), ...(wide ? [bytes.subarray(8)] : [])];
      out += `       ${words.map((w) => Array.from(w, hex2).join(' ')).join(' ')}\n`;
    }
    if (wide) n++;
  }
  return out;
}
