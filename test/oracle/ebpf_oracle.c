/*
 * ebpf_oracle: asks the host kernel what an eBPF program returns, for the differential
 * tests (test/kernel/bpf/oracle-diff.test.ts). Compiled with gcc at test time by
 * test/helpers/oracle.ts; needs bpf(2) (root, or unprivileged BPF enabled).
 *
 *   ebpf_oracle            reads lines "PROGHEX [DATAHEX]" from stdin and prints one JSON
 *                          line per program:
 *                          {"loaded":true,"errno":0,"retval":42}
 *                          {"loaded":false,"errno":13,"retval":null,"log":"..."}
 *
 * The program is loaded as BPF_PROG_TYPE_SOCKET_FILTER (license GPL) and run once with
 * BPF_PROG_TEST_RUN on the data (default: a 64-byte frame of zeros); retval is the low 32
 * bits of r0, as the kernel reports it.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char log_buf[65536];

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char)b;
	}
	return (int)(n / 2);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void run_one(char *line)
{
	static unsigned char prog[8 * 1000000];
	static unsigned char data[65536];
	char *prog_hex = strtok(line, " \t\r\n");
	char *data_hex = strtok(NULL, " \t\r\n");
	if (!prog_hex) {
		printf("{\"loaded\":false,\"errno\":%d,\"retval\":null,\"log\":\"empty line\"}\n", EINVAL);
		return;
	}
	size_t plen = strlen(prog_hex);
	if (plen % 16 != 0 || plen / 2 > sizeof(prog) || unhex(prog_hex, plen, prog) < 0) {
		printf("{\"loaded\":false,\"errno\":%d,\"retval\":null,\"log\":\"bad program hex\"}\n", EINVAL);
		return;
	}
	int dlen = 64;
	memset(data, 0, sizeof(data));
	if (data_hex) {
		size_t n = strlen(data_hex);
		if (n % 2 != 0 || n / 2 > sizeof(data) || (dlen = unhex(data_hex, n, data)) < 0) {
			printf("{\"loaded\":false,\"errno\":%d,\"retval\":null,\"log\":\"bad data hex\"}\n", EINVAL);
			return;
		}
	}

	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = (uint32_t)(plen / 16);
	attr.license = (uint64_t)(uintptr_t)"GPL";
	attr.log_buf = (uint64_t)(uintptr_t)log_buf;
	attr.log_size = sizeof(log_buf);
	attr.log_level = 1;
	log_buf[0] = 0;
	int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0) {
		int err = errno;
		printf("{\"loaded\":false,\"errno\":%d,\"retval\":null,\"log\":", err);
		json_string(log_buf);
		printf("}\n");
		return;
	}

	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = (uint32_t)fd;
	attr.test.data_in = (uint64_t)(uintptr_t)data;
	attr.test.data_size_in = (uint32_t)dlen;
	attr.test.repeat = 1;
	if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) {
		printf("{\"loaded\":true,\"errno\":%d,\"retval\":null}\n", errno);
	} else {
		printf("{\"loaded\":true,\"errno\":0,\"retval\":%u}\n", attr.test.retval);
	}
	close(fd);
}

int main(void)
{
	static char line[20000000];
	while (fgets(line, sizeof(line), stdin)) {
		run_one(line);
		fflush(stdout);
	}
	return 0;
}
