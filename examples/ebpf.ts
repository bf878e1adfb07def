// eBPF: create a map and load a program with bpf(2), run it with BPF_PROG_TEST_RUN, read the map.
import {
  BPF_MAP_TYPE, BPF_PROG_TYPE, BPF_PSEUDO_MAP_FD, assemble, bootKernel, bpfMapCreate, bpfMapLookup,
  bpfObjGetInfoByFd, bpfProgLoad, bpfProgTestRun, isLdImm64, spawn,
} from '../index.js';

export async function main(): Promise<number> {
  const kernel = bootKernel({ seed: 1 });
  const loader = spawn(kernel, { comm: 'loader' }, async (p) => {
    // An array map with one u64 slot: bytes seen so far.
    const map = await bpfMapCreate(p, { type: BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'bytes' });

    // A socket filter (bpf_conformance/LLVM assembly) that adds skb->len to slot 0 and keeps the packet.
    const insns = assemble(`
      mov %r6, %r1            # r6 = ctx (struct __sk_buff *)
      ldxw %r7, [%r6+0]       # r7 = skb->len
      stw [%r10-4], 0         # key = 0 on the stack
      lddw %r1, 0             # r1 = &map (relocated below)
      mov %r2, %r10
      add %r2, -4
      call 1                  # bpf_map_lookup_elem(&map, &key)
      jeq %r0, 0, +1
      lock add [%r0+0], %r7   # __sync_fetch_and_add(value, len)
      mov %r0, %r7            # keep the whole packet
      exit`);
    // What libbpf does before BPF_PROG_LOAD: point the LD_IMM64 at the map's fd.
    const ld = insns.findIndex(isLdImm64);
    insns[ld] = { ...insns[ld]!, src: BPF_PSEUDO_MAP_FD, imm: map };

    const { fd, log } = await bpfProgLoad(p, { type: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER, insns, name: 'count_bytes', logLevel: 1 });
    console.log(log.trim().split('\n').at(-1));

    // Three runs on a 64-byte frame; as in Linux, a socket filter sees it without its
    // 14-byte Ethernet header, so skb->len is 50.
    const run = await bpfProgTestRun(p, fd, { data: new Uint8Array(64), repeat: 3 });
    console.log(`retval ${run.retval}`);

    const value = await bpfMapLookup(p, map, new Uint8Array(4), 8);
    const total = Buffer.from(value!).readBigUInt64LE();
    console.log(`bytes seen ${total}`);
    // The same map as bpftool shows it, through the kernel's files.
    const { id } = await bpfObjGetInfoByFd(p, map);
    console.log(kernel.fs.readFileSync(`/sys/kernel/debug/bpfkern/maps/${id}/dump`, 'utf8').trimEnd());
    return 0;
  });
  return loader.exited;
}
