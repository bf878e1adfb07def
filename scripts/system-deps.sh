#!/usr/bin/env bash
# Installs the Debian packages bpfkern uses when they are missing: libfuse2 (FUSE mounts),
# gcc (the host-kernel oracle helper the differential tests compile) and libseccomp-dev
# (the libseccomp oracle of the seccomp profile compiler's differential test). Never fatal:
# without them the in-process kernel still works and the tests that need them skip.
set -u
need=()
ldconfig -p 2>/dev/null | grep -q 'libfuse.so.2' || need+=(libfuse2)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v fusermount >/dev/null 2>&1 || need+=(fuse)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
[ -e /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "bpfkern: missing system packages: ${need[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "bpfkern: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "bpfkern: could not install ${need[*]}" >&2
exit 0
