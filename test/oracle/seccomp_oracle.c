/*
 * seccomp_oracle: what the host kernel's seccomp does with classic filters, as seen from
 * the thread that makes the syscall.
 *
 *   seccomp_oracle                     stdin: one case per line, one JSON line out per case
 *   seccomp_oracle --probe             {"seccomp":true,"i386":true} (what the host supports)
 *   seccomp_oracle --bench N [PROG]    times N getpid() calls (after installing PROG):
 *                                      {"ns_per_call":123.4}
 *
 * A case line is   PROGS;SYSCALL   where PROGS is zero or more programs separated by '|',
 * each in tcpdump -ddd form ("N,code jt jf k,code jt jf k,..."), installed in order (the
 * first is the oldest filter), and SYSCALL is "[i386:]NR ARG..." (numbers in decimal or
 * 0x hex, up to 64 bits; "self" is the pid of the process making the call).
 *
 * How one case is observed. The oracle forks a child C with a small shared memory block.
 * C starts a worker thread W and stays unfiltered itself. W sets no_new_privs, installs
 * the filters on itself only (seccomp(2) without TSYNC) and makes the raw syscall
 * (`syscall`, or `int $0x80` for i386). From then on W makes no syscall at all: it writes
 * what happened into the shared block and spins, because any syscall it made (even
 * rt_sigreturn or the thread's own exit) would be judged by the filters too. A SIGSYS
 * handler on W records si_code/si_errno/si_syscall/si_arch for TRAP and spins as well.
 * C's main thread waits for W's answer (or for W to vanish: KILL_THREAD kills only W) and
 * ends the process; the oracle then reads the block. KILL_PROCESS kills C with SIGSYS.
 *
 * Output, one of:
 *   {"kind":"ret","ret":R}                  the syscall returned R (raw: -errno on failure)
 *   {"kind":"trap","si_code":1,"si_errno":E,"si_syscall":N,"si_arch":A}
 *   {"kind":"kill_thread"}                   W died, C lived
 *   {"kind":"kill_process","signal":31}      C died by that signal
 *   {"kind":"install_failed","filter":I,"errno":E}       seccomp(2) refused filter I
 *   {"kind":"install_failed","filter":I,"how":"trap|kill_thread|kill_process"}
 *                                            an older filter stopped the install of filter I
 *   {"kind":"error","message":"..."}         bad input or the host refused the setup
 *
 * What cannot be seen this way: LOG and ALLOW both run the call (only the audit log
 * differs), TRACE's data needs a tracer (without one the call fails with ENOSYS, as does
 * USER_NOTIF without a listener), and the value a TRAP'd syscall would return after the
 * handler. Only side-effect-free calls are meant to be made: callers choose them (getpid,
 * getppid, gettid with any arguments, uname(NULL), close(-1), kill(self, 0)...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_PROGS 8
#define MAX_INSNS 4096
#define LINE_MAX_LEN (1 << 20)

struct prog {
	unsigned short len;
	struct sock_filter insns[MAX_INSNS];
};

struct test_case {
	int nprogs;
	struct prog progs[MAX_PROGS];
	int i386;
	long nr;
	int nargs;
	uint64_t args[6];
	int self_arg[6];
};

/* Written by the worker thread (and its SIGSYS handler), read by C and the oracle. */
struct shared {
	volatile int done;
	volatile int installing; /* index of the filter being installed, -1 after */
	volatile int install_errno;
	volatile int trapped;
	volatile int trap_code, trap_errno, trap_syscall;
	volatile unsigned int trap_arch;
	volatile long result;
};

static struct shared *sh;
static struct test_case tc;

/* ---- the raw syscall ------------------------------------------------------------ */

static long raw_syscall64(long nr, const uint64_t *a) {
	register long r10 __asm__("r10") = (long)a[3];
	register long r8 __asm__("r8") = (long)a[4];
	register long r9 __asm__("r9") = (long)a[5];
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* int $0x80 from a 64-bit process: the i386 entry, 32-bit registers, i386 numbers. */
static long raw_syscall32(long nr, const uint64_t *a) {
	long ret;
	/*
	 * The compat entry hands seccomp the registers' full 64 bits, and GCC leaves the upper
	 * half of a 32-bit asm operand undefined: zero-extend explicitly, as a real i386
	 * process's registers are.
	 */
	uint64_t b = (uint32_t)a[0], c = (uint32_t)a[1], d = (uint32_t)a[2];
	uint64_t si = (uint32_t)a[3], di = (uint32_t)a[4];
	register uint64_t bp __asm__("r12") = (uint32_t)a[5];
	__asm__ volatile("push %%rbp\n\t"
			 "mov %%r12, %%rbp\n\t"
			 "int $0x80\n\t"
			 "pop %%rbp"
			 : "=a"(ret)
			 : "a"(nr), "b"(b), "c"(c), "d"(d), "S"(si), "D"(di), "r"(bp)
			 : "memory", "r8", "r9", "r10", "r11");
	/* The i386 entry returns a 32-bit value: sign-extend it. */
	return (long)(int)ret;
}

/* ---- the worker thread ------------------------------------------------------------ */

static void spin(void) {
	for (;;)
		__asm__ volatile("pause" ::: "memory");
}

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	sh->trap_code = si->si_code;
	sh->trap_errno = si->si_errno;
	sh->trap_syscall = si->si_syscall;
	sh->trap_arch = si->si_arch;
	sh->trapped = 1;
	__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
	spin(); /* returning would need rt_sigreturn, which the filters judge too */
}

static void *worker(void *arg) {
	(void)arg;
	pid_t self = getpid();
	uint64_t a[6];
	for (int i = 0; i < 6; i++)
		a[i] = tc.self_arg[i] ? (uint64_t)self : tc.args[i];
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		sh->install_errno = errno;
		sh->installing = -2;
		__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
		spin();
	}
	for (int i = 0; i < tc.nprogs; i++) {
		struct sock_fprog fp = {.len = tc.progs[i].len, .filter = tc.progs[i].insns};
		uint64_t sa[6] = {SECCOMP_SET_MODE_FILTER, 0, (uint64_t)(uintptr_t)&fp, 0, 0, 0};
		sh->installing = i;
		long r = raw_syscall64(SYS_seccomp, sa);
		if (r != 0) {
			sh->install_errno = (int)-r;
			__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
			spin();
		}
	}
	sh->installing = -1;
	long r = tc.i386 ? raw_syscall32(tc.nr, a) : raw_syscall64(tc.nr, a);
	sh->result = r;
	__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
	spin();
	return NULL;
}

/* C: start W, wait for its answer or its death, end the process (W spins until then). */
static int child_main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	pthread_t w;
	if (pthread_create(&w, NULL, worker, NULL) != 0)
		return 3;
	struct timespec pause_ts = {0, 20000};
	for (int i = 0; i < 100000; i++) { /* 2 s at most */
		if (__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST))
			_exit(0);
		if (pthread_tryjoin_np(w, NULL) == 0)
			_exit(__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST) ? 0 : 2); /* 2: W died */
		nanosleep(&pause_ts, NULL);
	}
	_exit(4);
}

/* ---- input ------------------------------------------------------------------------ */

static int parse_u64(const char *s, char **end, uint64_t *out) {
	while (*s == ' ' || *s == '\t')
		s++;
	errno = 0;
	if (*s == '-') {
		long long v = strtoll(s, end, 0);
		*out = (uint64_t)v;
	} else {
		*out = strtoull(s, end, 0);
	}
	return *end == s || errno != 0 ? -1 : 0;
}

static int parse_prog(char *text, struct prog *p) {
	char *end;
	uint64_t n;
	if (parse_u64(text, &end, &n) < 0 || n == 0 || n > MAX_INSNS)
		return -1;
	p->len = (unsigned short)n;
	char *s = end;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t code, jt, jf, k;
		if (*s != ',')
			return -1;
		s++;
		if (parse_u64(s, &end, &code) < 0) return -1;
		s = end;
		if (parse_u64(s, &end, &jt) < 0) return -1;
		s = end;
		if (parse_u64(s, &end, &jf) < 0) return -1;
		s = end;
		if (parse_u64(s, &end, &k) < 0) return -1;
		s = end;
		p->insns[i] = (struct sock_filter){(unsigned short)code, (unsigned char)jt, (unsigned char)jf, (unsigned int)k};
	}
	while (*s == ' ' || *s == ',' || *s == '\n')
		s++;
	return *s == 0 ? 0 : -1;
}

static int parse_case(char *line, struct test_case *t) {
	memset(t, 0, sizeof *t);
	char *semi = strrchr(line, ';');
	if (!semi)
		return -1;
	*semi = 0;
	char *sc = semi + 1;
	char *save = NULL;
	for (char *p = strtok_r(line, "|", &save); p; p = strtok_r(NULL, "|", &save)) {
		while (*p == ' ')
			p++;
		if (*p == 0)
			continue;
		if (t->nprogs == MAX_PROGS || parse_prog(p, &t->progs[t->nprogs]) < 0)
			return -1;
		t->nprogs++;
	}
	while (*sc == ' ')
		sc++;
	if (strncmp(sc, "i386:", 5) == 0) {
		t->i386 = 1;
		sc += 5;
	}
	char *end;
	uint64_t nr;
	if (parse_u64(sc, &end, &nr) < 0)
		return -1;
	t->nr = (long)nr;
	sc = end;
	for (;;) {
		while (*sc == ' ' || *sc == '\t' || *sc == '\n')
			sc++;
		if (*sc == 0)
			break;
		if (t->nargs == 6)
			return -1;
		if (strncmp(sc, "self", 4) == 0) {
			t->self_arg[t->nargs++] = 1;
			sc += 4;
			continue;
		}
		if (parse_u64(sc, &end, &t->args[t->nargs]) < 0)
			return -1;
		t->nargs++;
		sc = end;
	}
	return 0;
}

/* ---- one case ----------------------------------------------------------------------- */

static void run_case(char *out, size_t n) {
	memset((void *)sh, 0, sizeof *sh);
	sh->installing = -1;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(out, n, "{\"kind\":\"error\",\"message\":\"fork: %s\"}", strerror(errno));
		return;
	}
	if (pid == 0)
		_exit(child_main());
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int installing = sh->installing;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		if (installing >= 0 && !sh->done)
			snprintf(out, n, "{\"kind\":\"install_failed\",\"filter\":%d,\"how\":\"kill_process\",\"signal\":%d}", installing, sig);
		else
			snprintf(out, n, "{\"kind\":\"kill_process\",\"signal\":%d}", sig);
		return;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (code == 2) {
		if (installing >= 0)
			snprintf(out, n, "{\"kind\":\"install_failed\",\"filter\":%d,\"how\":\"kill_thread\"}", installing);
		else
			snprintf(out, n, "{\"kind\":\"kill_thread\"}");
		return;
	}
	if (code != 0) {
		snprintf(out, n, "{\"kind\":\"error\",\"message\":\"child exit %d\"}", code);
		return;
	}
	if (installing == -2) {
		snprintf(out, n, "{\"kind\":\"error\",\"message\":\"PR_SET_NO_NEW_PRIVS: errno %d\"}", sh->install_errno);
		return;
	}
	if (sh->trapped) {
		if (installing >= 0)
			snprintf(out, n, "{\"kind\":\"install_failed\",\"filter\":%d,\"how\":\"trap\"}", installing);
		else
			snprintf(out, n, "{\"kind\":\"trap\",\"si_code\":%d,\"si_errno\":%d,\"si_syscall\":%d,\"si_arch\":%u}",
			       sh->trap_code, sh->trap_errno, sh->trap_syscall, sh->trap_arch);
		return;
	}
	if (installing >= 0) {
		snprintf(out, n, "{\"kind\":\"install_failed\",\"filter\":%d,\"errno\":%d}", installing, sh->install_errno);
		return;
	}
	snprintf(out, n, "{\"kind\":\"ret\",\"ret\":%ld}", sh->result);
}

/* ---- --probe and --bench ------------------------------------------------------------ */

static void probe(void) {
	/* seccomp: an allow-all filter installs and getpid runs; i386: the same through int $0x80. */
	char out[512];
	memset(&tc, 0, sizeof tc);
	tc.nprogs = 1;
	tc.progs[0].len = 1;
	tc.progs[0].insns[0] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	tc.nr = SYS_getpid;
	run_case(out, sizeof out);
	int ok = strstr(out, "\"kind\":\"ret\"") != NULL && strstr(out, "\"ret\":-") == NULL;
	tc.i386 = 1;
	tc.nr = 20; /* i386 getpid */
	run_case(out, sizeof out);
	int i386 = strstr(out, "\"kind\":\"ret\"") != NULL && strstr(out, "\"ret\":-") == NULL;
	printf("{\"seccomp\":%s,\"i386\":%s}\n", ok ? "true" : "false", i386 ? "true" : "false");
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall, so no filter run */
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int bench(long n, const char *prog_text) {
	if (prog_text && *prog_text) {
		static struct prog p;
		char *copy = strdup(prog_text);
		if (!copy || parse_prog(copy, &p) < 0) {
			fprintf(stderr, "seccomp_oracle: bad program\n");
			return 2;
		}
		struct sock_fprog fp = {.len = p.len, .filter = p.insns};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0) {
			printf("{\"error\":\"install: %s\"}\n", strerror(errno));
			return 1;
		}
	}
	uint64_t none[6] = {0};
	for (long i = 0; i < n / 10 + 1000; i++)
		raw_syscall64(SYS_getpid, none);
	double best = 1e18;
	for (int round = 0; round < 5; round++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++)
			raw_syscall64(SYS_getpid, none);
		double per = (now_ns() - t0) / (double)n;
		if (per < best)
			best = per;
	}
	printf("{\"ns_per_call\":%.1f}\n", best);
	return 0;
}

int main(int argc, char **argv) {
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core); /* KILL_PROCESS would dump core */
	if (argc >= 3 && strcmp(argv[1], "--bench") == 0)
		return bench(atol(argv[2]), argc >= 4 ? argv[3] : NULL);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "--probe") == 0) {
		probe();
		return 0;
	}
	static char line[LINE_MAX_LEN];
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (len == 0)
			continue;
		char out[512];
		if (parse_case(line, &tc) < 0)
			snprintf(out, sizeof out, "{\"kind\":\"error\",\"message\":\"bad case line\"}");
		else
			run_case(out, sizeof out);
		printf("%s\n", out);
		fflush(stdout);
	}
	return 0;
}
