/**
 * The one errno table of bpfkern: Linux's names, numbers (asm-generic/errno*.h, x86_64) and
 * strerror texts. Every kernel entry point fails by throwing a KernelError that names one of
 * these; only the syscall layer, the FUSE adapter and the CLI turn it into a number or text.
 */
export const ERRNO = {
  EPERM: { no: 1, text: 'Operation not permitted' },
  ENOENT: { no: 2, text: 'No such file or directory' },
  ESRCH: { no: 3, text: 'No such process' },
  EINTR: { no: 4, text: 'Interrupted system call' },
  EIO: { no: 5, text: 'Input/output error' },
  ENXIO: { no: 6, text: 'No such device or address' },
  E2BIG: { no: 7, text: 'Argument list too long' },
  ENOEXEC: { no: 8, text: 'Exec format error' },
  EBADF: { no: 9, text: 'Bad file descriptor' },
  ECHILD: { no: 10, text: 'No child processes' },
  EAGAIN: { no: 11, text: 'Resource temporarily unavailable' },
  ENOMEM: { no: 12, text: 'Cannot allocate memory' },
  EACCES: { no: 13, text: 'Permission denied' },
  EFAULT: { no: 14, text: 'Bad address' },
  EBUSY: { no: 16, text: 'Device or resource busy' },
  EEXIST: { no: 17, text: 'File exists' },
  EXDEV: { no: 18, text: 'Invalid cross-device link' },
  ENODEV: { no: 19, text: 'No such device' },
  ENOTDIR: { no: 20, text: 'Not a directory' },
  EISDIR: { no: 21, text: 'Is a directory' },
  EINVAL: { no: 22, text: 'Invalid argument' },
  ENFILE: { no: 23, text: 'Too many open files in system' },
  EMFILE: { no: 24, text: 'Too many open files' },
  ENOTTY: { no: 25, text: 'Inappropriate ioctl for device' },
  EFBIG: { no: 27, text: 'File too large' },
  ENOSPC: { no: 28, text: 'No space left on device' },
  ESPIPE: { no: 29, text: 'Illegal seek' },
  EROFS: { no: 30, text: 'Read-only file system' },
  EPIPE: { no: 32, text: 'Broken pipe' },
  EDOM: { no: 33, text: 'Numerical argument out of domain' },
  ERANGE: { no: 34, text: 'Numerical result out of range' },
  EDEADLK: { no: 35, text: 'Resource deadlock avoided' },
  ENAMETOOLONG: { no: 36, text: 'File name too long' },
  ENOSYS: { no: 38, text: 'Function not implemented' },
  ENOTEMPTY: { no: 39, text: 'Directory not empty' },
  ELOOP: { no: 40, text: 'Too many levels of symbolic links' },
  ENOMSG: { no: 42, text: 'No message of desired type' },
  ENODATA: { no: 61, text: 'No data available' },
  ENOLINK: { no: 67, text: 'Link has been severed' },
  EPROTO: { no: 71, text: 'Protocol error' },
  EBADMSG: { no: 74, text: 'Bad message' },
  EOVERFLOW: { no: 75, text: 'Value too large for defined data type' },
  EBADFD: { no: 77, text: 'File descriptor in bad state' },
  ENOTSOCK: { no: 88, text: 'Socket operation on non-socket' },
  EDESTADDRREQ: { no: 89, text: 'Destination address required' },
  EMSGSIZE: { no: 90, text: 'Message too long' },
  EPROTOTYPE: { no: 91, text: 'Protocol wrong type for socket' },
  ENOPROTOOPT: { no: 92, text: 'Protocol not available' },
  EPROTONOSUPPORT: { no: 93, text: 'Protocol not supported' },
  ESOCKTNOSUPPORT: { no: 94, text: 'Socket type not supported' },
  EOPNOTSUPP: { no: 95, text: 'Operation not supported' },
  EAFNOSUPPORT: { no: 97, text: 'Address family not supported by protocol' },
  EADDRINUSE: { no: 98, text: 'Address already in use' },
  EADDRNOTAVAIL: { no: 99, text: 'Cannot assign requested address' },
  ENETDOWN: { no: 100, text: 'Network is down' },
  ENETUNREACH: { no: 101, text: 'Network is unreachable' },
  ECONNABORTED: { no: 103, text: 'Software caused connection abort' },
  ECONNRESET: { no: 104, text: 'Connection reset by peer' },
  ENOBUFS: { no: 105, text: 'No buffer space available' },
  EISCONN: { no: 106, text: 'Transport endpoint is already connected' },
  ENOTCONN: { no: 107, text: 'Transport endpoint is not connected' },
  ETIMEDOUT: { no: 110, text: 'Connection timed out' },
  ECONNREFUSED: { no: 111, text: 'Connection refused' },
  EALREADY: { no: 114, text: 'Operation already in progress' },
  EINPROGRESS: { no: 115, text: 'Operation now in progress' },
  ECANCELED: { no: 125, text: 'Operation canceled' },
  ENOTSUPP: { no: 524, text: 'Unknown error 524' },
} as const;

export type ErrnoName = keyof typeof ERRNO;

/** The number of an errno name, as a syscall returns it negated. */
export function errnoNumber(name: ErrnoName): number {
  return ERRNO[name].no;
}

export function errnoText(name: ErrnoName): string {
  return ERRNO[name].text;
}

const BY_NUMBER = new Map<number, ErrnoName>(
  (Object.keys(ERRNO) as ErrnoName[]).map((name) => [ERRNO[name].no, name]),
);

/** The errno name for a number, or undefined for numbers Linux does not define here. */
export function errnoName(no: number): ErrnoName | undefined {
  return BY_NUMBER.get(no);
}

/**
 * The one way kernel code fails. `detail` is the human message (a verifier line, a parse
 * error); the errno decides what userspace sees.
 */
export class KernelError extends Error {
  constructor(
    readonly errno: ErrnoName,
    readonly detail: string,
  ) {
    super(`${errno}: ${detail}`);
    this.name = 'KernelError';
  }
}

export function isKernelError(e: unknown): e is KernelError {
  return e instanceof KernelError;
}

/** Exhaustiveness check for switches over closed unions (opcode classes, map types...). */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${String(value)}`);
}
