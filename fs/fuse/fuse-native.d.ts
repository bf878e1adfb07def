/**
 * The part of fuse-native (which ships no types) that fs/fuse uses. Callbacks follow its
 * convention: cb(errno) with 0 or a negative errno; read/write call cb(bytes or -errno).
 */
declare module 'fuse-native' {
  export interface FuseStat {
    mtime: Date;
    atime: Date;
    ctime: Date;
    nlink: number;
    size: number;
    mode: number;
    uid: number;
    gid: number;
    ino?: number;
  }
  export type Cb = (err: number) => void;
  export interface FuseOps {
    init?(cb: Cb): void;
    getattr?(path: string, cb: (err: number, stat?: FuseStat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[]) => void): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
    flush?(path: string, fd: number, cb: Cb): void;
    release?(path: string, fd: number, cb: Cb): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    utimens?(path: string, atime: number, mtime: number, cb: Cb): void;
    statfs?(path: string, cb: (err: number, st?: Record<string, number>) => void): void;
  }
  export interface FuseOptions {
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    autoUnmount?: boolean;
    fsname?: string;
    subtype?: string;
    timeout?: number | false | Record<string, number | false>;
    maxRead?: number;
  }
  export default class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }
}
