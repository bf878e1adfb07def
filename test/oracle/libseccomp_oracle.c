// libseccomp as an oracle for bpfkern's profile compiler (subsystems/seccomp/profile.ts):
// reads an already resolved OCI seccomp profile (includes/excludes decided by the caller) as
// lines on stdin, builds the filter with libseccomp's public API the way runc does
// (libcontainer/seccomp/seccomp_linux.go: NewFilter(default), AddArch for each listed arch,
// optimize 2 for long rule lists, no_new_privs off, one rule per name: skipped when its action
// is the default's or libseccomp does not know the name, conditions on one argument repeated
// split into one rule each), and prints the classic program seccomp_export_bpf writes.
//
// Input, one directive per line (numbers in decimal or 0x hex):
//   default ACTION            the default action (a u32 SECCOMP_RET_* value, as libseccomp's)
//   badarch ACTION            SCMP_FLTATR_ACT_BADARCH (optional; libseccomp's own default otherwise)
//   optimize N                SCMP_FLTATR_CTL_OPTIMIZE (optional)
//   arch NAME                 x86_64 | x86 | x32 | aarch64 | arm ... (seccomp_arch_resolve_name)
//   rule ACTION NAME N [ARG OP VALUE VALUETWO]*N   OP: EQ NE LT LE GT GE MASKED_EQ
//   resolve NAME              print `nr ARCH NAME NUMBER` for every listed arch (-1: unknown)
// Output: `nr ...` lines, `skip NAME why` for rules runc would drop, `error LINE rc` for
// rules libseccomp refused, then `bpf COUNT` and COUNT lines `code jt jf k`.
// Build: gcc -O2 libseccomp_oracle.c -lseccomp
#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>

#define MAX_ARCHES 8

static scmp_filter_ctx ctx;
static uint32_t def_action;
static int have_default;
static uint32_t arches[MAX_ARCHES];
static char arch_names[MAX_ARCHES][32];
static int n_arches;

static void die(const char *what, int rc) {
  fprintf(stderr, "libseccomp_oracle: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
  exit(2);
}

static int parse_op(const char *s, enum scmp_compare *op) {
  static const struct { const char *n; enum scmp_compare op; } ops[] = {
    {"EQ", SCMP_CMP_EQ}, {"NE", SCMP_CMP_NE}, {"LT", SCMP_CMP_LT}, {"LE", SCMP_CMP_LE},
    {"GT", SCMP_CMP_GT}, {"GE", SCMP_CMP_GE}, {"MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    if (strcmp(s, ops[i].n) == 0) { *op = ops[i].op; return 0; }
  }
  return -1;
}

static void ensure_ctx(void) {
  if (ctx) return;
  if (!have_default) die("rule before `default`", EINVAL);
  ctx = seccomp_init(def_action);
  if (!ctx) die("seccomp_init", EINVAL);
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) die("SCMP_FLTATR_CTL_NNP", rc);
}

static void add_rule(int line, char *rest) {
  char *save = NULL;
  char *act_s = strtok_r(rest, " \t\n", &save);
  char *name = strtok_r(NULL, " \t\n", &save);
  char *cnt_s = strtok_r(NULL, " \t\n", &save);
  if (!act_s || !name || !cnt_s) die("bad rule line", EINVAL);
  uint32_t act = (uint32_t)strtoul(act_s, NULL, 0);
  unsigned cnt = (unsigned)strtoul(cnt_s, NULL, 0);
  if (cnt > 6) die("too many conditions", EINVAL);
  struct scmp_arg_cmp args[6];
  unsigned per_arg[6] = {0};
  for (unsigned i = 0; i < cnt; i++) {
    char *a = strtok_r(NULL, " \t\n", &save);
    char *o = strtok_r(NULL, " \t\n", &save);
    char *v = strtok_r(NULL, " \t\n", &save);
    char *v2 = strtok_r(NULL, " \t\n", &save);
    if (!a || !o || !v || !v2) die("bad condition", EINVAL);
    memset(&args[i], 0, sizeof args[i]);
    args[i].arg = (unsigned)strtoul(a, NULL, 0);
    if (args[i].arg > 5) die("bad argument index", EINVAL);
    if (parse_op(o, &args[i].op) < 0) die("bad operator", EINVAL);
    args[i].datum_a = strtoull(v, NULL, 0);
    args[i].datum_b = strtoull(v2, NULL, 0);
    per_arg[args[i].arg]++;
  }
  ensure_ctx();
  if (act == def_action) { // runc: "This rule is redundant, silently skip it"
    printf("skip %s default-action\n", name);
    return;
  }
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) { // runc: unknown to libseccomp, ignored
    printf("skip %s unknown\n", name);
    return;
  }
  int split = 0;
  for (int i = 0; i < 6; i++) if (per_arg[i] > 1) split = 1;
  int rc = 0;
  if (!split) {
    rc = seccomp_rule_add_array(ctx, act, nr, cnt, cnt ? args : NULL);
  } else { // runc: two conditions on one argument -> one rule per condition
    for (unsigned i = 0; i < cnt && rc == 0; i++) rc = seccomp_rule_add_array(ctx, act, nr, 1, &args[i]);
  }
  if (rc < 0) printf("error %d %d %s\n", line, rc, name);
}

int main(void) {
  char buf[4096];
  int line = 0;
  while (fgets(buf, sizeof buf, stdin)) {
    line++;
    char *save = NULL;
    char *cmd = strtok_r(buf, " \t\n", &save);
    if (!cmd || cmd[0] == '#') continue;
    char *rest = save;
    if (strcmp(cmd, "default") == 0) {
      char *v = strtok_r(NULL, " \t\n", &save);
      if (!v || ctx) die("bad default", EINVAL);
      def_action = (uint32_t)strtoul(v, NULL, 0);
      have_default = 1;
    } else if (strcmp(cmd, "badarch") == 0) {
      char *v = strtok_r(NULL, " \t\n", &save);
      ensure_ctx();
      int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, (uint32_t)strtoul(v ? v : "0", NULL, 0));
      if (rc < 0) die("SCMP_FLTATR_ACT_BADARCH", rc);
    } else if (strcmp(cmd, "optimize") == 0) {
      char *v = strtok_r(NULL, " \t\n", &save);
      ensure_ctx();
      int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)strtoul(v ? v : "1", NULL, 0));
      if (rc < 0) die("SCMP_FLTATR_CTL_OPTIMIZE", rc);
    } else if (strcmp(cmd, "arch") == 0) {
      char *v = strtok_r(NULL, " \t\n", &save);
      if (!v) die("bad arch line", EINVAL);
      uint32_t a = seccomp_arch_resolve_name(v);
      if (a == 0) die(v, EINVAL);
      ensure_ctx();
      // seccomp_init added the native arch; adding it again is EEXIST, as libseccomp-golang's
      // AddArch (which checks seccomp_arch_exist first) tolerates.
      if (seccomp_arch_exist(ctx, a) == -EEXIST) {
        int rc = seccomp_arch_add(ctx, a);
        if (rc < 0) die("seccomp_arch_add", rc);
      }
      if (n_arches < MAX_ARCHES) {
        arches[n_arches] = a;
        snprintf(arch_names[n_arches], sizeof arch_names[0], "%s", v);
        n_arches++;
      }
    } else if (strcmp(cmd, "rule") == 0) {
      add_rule(line, rest);
    } else if (strcmp(cmd, "resolve") == 0) {
      char *name = strtok_r(NULL, " \t\n", &save);
      if (!name) die("bad resolve line", EINVAL);
      for (int i = 0; i < n_arches; i++) {
        int nr = seccomp_syscall_resolve_name_arch(arches[i], name);
        printf("nr %s %s %d\n", arch_names[i], name, nr == __NR_SCMP_ERROR ? -1 : nr);
      }
    } else {
      die(cmd, EINVAL);
    }
  }
  ensure_ctx();
  fflush(stdout);
  // seccomp_export_bpf writes struct sock_filter[] to a file descriptor: a pipe to ourselves
  // would block on large programs, so go through a temporary file.
  FILE *tmp = tmpfile();
  if (!tmp) die("tmpfile", errno);
  int rc = seccomp_export_bpf(ctx, fileno(tmp));
  if (rc < 0) die("seccomp_export_bpf", rc);
  long size = lseek(fileno(tmp), 0, SEEK_END);
  if (size < 0 || size % sizeof(struct sock_filter)) die("export size", EIO);
  lseek(fileno(tmp), 0, SEEK_SET);
  size_t n = (size_t)size / sizeof(struct sock_filter);
  struct sock_filter *prog = malloc(size ? (size_t)size : 1);
  if (!prog || read(fileno(tmp), prog, (size_t)size) != size) die("read back", EIO);
  printf("bpf %zu\n", n);
  for (size_t i = 0; i < n; i++) printf("%u %u %u %u\n", prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
  seccomp_release(ctx);
  return 0;
}
