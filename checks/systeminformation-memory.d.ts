// systeminformation's memory part on its own: the package's index loads every subsystem
// (about 7 MB of memory), and keepwatch needs only this one.
declare module 'systeminformation/lib/memory' {
  import type { Systeminformation } from 'systeminformation';
  export function mem(): Promise<Systeminformation.MemData>;
}
