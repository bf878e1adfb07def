// seccomp: an unprivileged task sets no_new_privs, installs a classic filter with seccomp(2);
// getpid then fails with the filter's errno and kill() kills the task with SIGSYS.
import {
  PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SIG, SyscallError, bootKernel, errnoName, getpid, getuid, kill,
  parseClassic, prctl, seccomp, spawn, userCred,
} from '../index.js';

// bpf_asm text; tcpdump -d/-dd/-ddd listings are accepted too.
const filter = parseClassic(`
  ld [4]                  ; seccomp_data.arch
  jne #0xc000003e, bad    ; not AUDIT_ARCH_X86_64: kill
  ld [0]                  ; seccomp_data.nr
  jeq #39, eperm          ; getpid
  jeq #62, bad            ; kill
  ret #0x7fff0000         ; SECCOMP_RET_ALLOW
  eperm: ret #0x50001     ; SECCOMP_RET_ERRNO | EPERM
  bad: ret #0x80000000    ; SECCOMP_RET_KILL_PROCESS
`);

export async function main(): Promise<number> {
  const kernel = bootKernel({ seed: 1 });
  const fprog = { len: filter.length, filter }; // struct sock_fprog

  const app = spawn(kernel, { comm: 'app', cred: userCred(1000) }, async (p) => {
    const errno = (e: unknown): string => (e instanceof SyscallError ? `${errnoName(e.errno)}` : String(e));
    try {
      await seccomp(p, SECCOMP_SET_MODE_FILTER, 0, fprog);
    } catch (e) {
      console.log(`seccomp without no_new_privs: ${errno(e)}`);
    }
    await prctl(p, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    await seccomp(p, SECCOMP_SET_MODE_FILTER, 0, fprog);
    const status = kernel.fs.readFileSync(`/proc/${p.task.pid}/status`, 'utf8');
    console.log(status.split('\n').filter((l) => /^(NoNewPrivs|Seccomp|Seccomp_filters):/.test(l)).join('\n'));

    console.log(`getuid: ${await getuid(p)}`);
    try {
      await getpid(p);
    } catch (e) {
      console.log(`getpid: ${errno(e)}`);
    }
    await kill(p, p.task.pid, 0); // SECCOMP_RET_KILL_PROCESS: never returns
    console.log('not reached');
  });

  const status = await app.exited; // the wait(2) status
  console.log(`wait status ${status}: killed by signal ${status & 0x7f} (SIGSYS is ${SIG.SIGSYS})`);
  return status;
}
