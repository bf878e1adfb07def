/**
 * The packet program types the net subsystem registers: socket_filter (1) and
 * sched_cls (3), with Linux's context access rules and BPF_PROG_TEST_RUN
 * (bpf_prog_test_run_skb in net/bpf/test_run.c):
 *
 * - data_in is an Ethernet frame of 14..3712 bytes (host-verified bounds), else EINVAL.
 *   The skb sits on lo (ifindex 1); pkt_type and protocol come from eth_type_trans.
 * - socket_filter runs with the Ethernet header pulled: LD_ABS offset 0 is the network
 *   header and skb->len is the frame length - 14; data_out comes back with the MAC
 *   header zeroed. sched_cls sees (and returns) the whole frame.
 * - ctx_in may set only mark, priority, ingress_ifindex, ifindex, cb[], tstamp,
 *   wire_len, gso_segs, gso_size and hwtstamp; anything else is EINVAL.
 * - retval is the low 32 bits of r0; duration is the mean wall-clock ns per run.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { BASE_HELPER_IDS } from '../../kernel/bpf/helpers/index.js';
import { BPF_PROG_TYPE } from '../../kernel/bpf/isa.js';
import { registerProgType } from '../../kernel/bpf/progtypes.js';
import { bpfProgRun } from '../../kernel/bpf/run.js';
import type { CtxField, ProgTypeDef, TestRunRequest, TestRunResult } from '../../kernel/bpf/types.js';
import { ETH_HLEN } from './frames.js';
import { SKB, SKB_FIELDS, SK_BUFF_SIZE, buildSkb, type SkbOptions } from './skb.js';

/** PAGE_SIZE - NET_SKB_PAD - SKB_DATA_ALIGN(sizeof(struct skb_shared_info)): 3712 on the host. */
export const TEST_RUN_MAX_DATA = 3712;
const LOOPBACK_IFINDEX = 1;
const GSO_LEGACY_MAX_SIZE = 65536;
const GSO_MAX_SEGS = 65535;

/** BPF_FUNC_perf_event_output (the skb variant), BPF_FUNC_skb_load_bytes. */
const SKB_HELPER_IDS = [25, 26];

const inRange = (f: CtxField, names: readonly string[]): boolean => names.some((n) => f.name === n || f.name.startsWith(`${n}[`));

/** sk_filter_is_valid_access: no packet pointers, no tc_classid/socket fields; writes only to cb[]. */
const SOCKET_FILTER_FIELDS: readonly CtxField[] = SKB_FIELDS.filter(
  (f) =>
    !inRange(f, [
      'tc_classid', 'data', 'data_meta', 'data_end', 'family', 'remote_ip4', 'local_ip4', 'remote_ip6', 'local_ip6',
      'remote_port', 'local_port', 'tstamp', 'wire_len', 'hwtstamp',
    ]),
).map((f) => (f.name.startsWith('cb[') ? { ...f, writable: true } : f));

/** tc_cls_act_is_valid_access: packet pointers readable; mark, tc_index, priority, cb, tc_classid, queue_mapping, tstamp writable. */
const SCHED_CLS_FIELDS: readonly CtxField[] = SKB_FIELDS.filter(
  (f) => !inRange(f, ['family', 'remote_ip4', 'local_ip4', 'remote_ip6', 'local_ip6', 'remote_port', 'local_port']),
).map((f) =>
  inRange(f, ['mark', 'tc_index', 'priority', 'cb', 'tc_classid', 'queue_mapping', 'tstamp']) ? { ...f, writable: true } : f,
);

function zero(ctx: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < Math.min(to, ctx.length); i++) if (ctx[i] !== 0) return false;
  return true;
}

/**
 * bpf_ctx_init + convert___skb_to_skb: the context userspace passed, zero-extended to
 * sizeof(struct __sk_buff), with only the fields test_run honours set.
 */
function ctxFromUser(ctxIn: Uint8Array | null): Uint8Array {
  const ctx = new Uint8Array(SK_BUFF_SIZE);
  if (!ctxIn) return ctx;
  if (!zero(ctxIn, SK_BUFF_SIZE, ctxIn.length)) throw new KernelError('E2BIG', 'ctx_in has non-zero bytes past struct __sk_buff');
  ctx.set(ctxIn.subarray(0, SK_BUFF_SIZE));
  const ranges: [number, number][] = [
    [0, SKB.mark],
    [SKB.mark + 4, SKB.priority],
    [SKB.ifindex + 4, SKB.cb],
    [SKB.cb + 20, SKB.tstamp],
    [SKB.gso_segs + 4, SKB.gso_size],
    [SKB.gso_size + 4, SKB.hwtstamp],
  ];
  for (const [from, to] of ranges) {
    if (!zero(ctx, from, to)) throw new KernelError('EINVAL', `ctx_in sets __sk_buff bytes ${from}..${to - 1}, which test_run does not take`);
  }
  return ctx;
}

function testRunSkb(req: TestRunRequest, l2: boolean): TestRunResult {
  const { kernel, prog } = req;
  const data = req.dataIn;
  if (!data || data.length < ETH_HLEN || data.length > TEST_RUN_MAX_DATA) {
    throw new KernelError('EINVAL', `test_run data must be ${ETH_HLEN}..${TEST_RUN_MAX_DATA} bytes`);
  }
  const ctx = ctxFromUser(req.ctxIn);
  const cdv = new DataView(ctx.buffer);
  const ifindex = cdv.getUint32(SKB.ifindex, true);
  if (ifindex > LOOPBACK_IFINDEX) throw new KernelError('ENODEV', `no network device ${ifindex}`);
  const frameLen = data.length;
  const len = l2 ? frameLen : frameLen - ETH_HLEN;
  const wireLen = cdv.getUint32(SKB.wire_len, true);
  if (wireLen !== 0 && (wireLen < len || wireLen > GSO_LEGACY_MAX_SIZE)) throw new KernelError('EINVAL', `bad wire_len ${wireLen}`);
  if (cdv.getUint32(SKB.gso_segs, true) > GSO_MAX_SEGS) throw new KernelError('EINVAL', 'bad gso_segs');
  const opts: SkbOptions = {
    macLen: ETH_HLEN,
    dataAt: l2 ? 'mac' : 'net',
    ifindex: LOOPBACK_IFINDEX,
    ingressIfindex: cdv.getUint32(SKB.ingress_ifindex, true),
    mark: cdv.getUint32(SKB.mark, true),
    priority: cdv.getUint32(SKB.priority, true),
    tstamp: cdv.getBigUint64(SKB.tstamp, true),
    cb: [0, 1, 2, 3, 4].map((i) => cdv.getUint32(SKB.cb + 4 * i, true)),
  };
  const skb = buildSkb(kernel, data, opts);
  try {
    const mdv = kernel.mem.dv;
    mdv.setUint32(skb.ctx + SKB.wire_len, wireLen || len, true);
    mdv.setUint32(skb.ctx + SKB.gso_segs, cdv.getUint32(SKB.gso_segs, true), true);
    mdv.setUint32(skb.ctx + SKB.gso_size, cdv.getUint32(SKB.gso_size, true), true);
    mdv.setBigUint64(skb.ctx + SKB.hwtstamp, cdv.getBigUint64(SKB.hwtstamp, true), true);
    const repeat = Math.max(1, req.repeat);
    let r0 = 0n;
    const start = process.hrtime.bigint();
    for (let i = 0; i < repeat; i++) {
      r0 = bpfProgRun(kernel, prog, skb.ctxAddr, { task: req.task, packet: skb.packet, data: skb });
    }
    const elapsed = process.hrtime.bigint() - start;
    // convert_skb_to___skb: the fields test_run reports back.
    const now = new DataView(skb.ctxBytes().buffer);
    for (const off of [SKB.mark, SKB.priority, SKB.ingress_ifindex, SKB.wire_len, SKB.gso_segs]) {
      cdv.setUint32(off, now.getUint32(off, true), true);
    }
    cdv.setUint32(SKB.ifindex, LOOPBACK_IFINDEX, true);
    for (let i = 0; i < 5; i++) cdv.setUint32(SKB.cb + 4 * i, now.getUint32(SKB.cb + 4 * i, true), true);
    cdv.setBigUint64(SKB.tstamp, now.getBigUint64(SKB.tstamp, true), true);
    cdv.setBigUint64(SKB.hwtstamp, now.getBigUint64(SKB.hwtstamp, true), true);
    const dataOut = skb.frameBytes();
    if (!l2) dataOut.fill(0, 0, ETH_HLEN);
    return {
      retval: Number(r0 & 0xffff_ffffn),
      durationNs: Number(elapsed / BigInt(repeat)),
      dataOut,
      ctxOut: ctx,
    };
  } finally {
    skb.free();
  }
}

export const socketFilterProgType: ProgTypeDef = {
  id: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER,
  name: 'socket_filter',
  ctxSize: SK_BUFF_SIZE,
  ctxFields: SOCKET_FILTER_FIELDS,
  allowedHelpers: new Set([...BASE_HELPER_IDS, ...SKB_HELPER_IDS]),
  allowsLdAbs: true,
  testRun: (req) => testRunSkb(req, false),
};

export const schedClsProgType: ProgTypeDef = {
  id: BPF_PROG_TYPE.BPF_PROG_TYPE_SCHED_CLS,
  name: 'sched_cls',
  ctxSize: SK_BUFF_SIZE,
  ctxFields: SCHED_CLS_FIELDS,
  allowedHelpers: new Set([...BASE_HELPER_IDS, ...SKB_HELPER_IDS]),
  allowsLdAbs: true,
  testRun: (req) => testRunSkb(req, true),
};

/** Boot step: the net subsystem's program types. */
export function registerNetProgTypes(kernel: Kernel): void {
  registerProgType(kernel, socketFilterProgType);
  registerProgType(kernel, schedClsProgType);
}
