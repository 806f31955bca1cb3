/**
 * Which mounts hold data worth watching: the disk check and the diagnostic snapshot both read
 * /proc/self/mountinfo and must agree on what a real filesystem is, so the rules live here,
 * in the plugin contract, rather than in either of them.
 */

/**
 * Filesystem types that hold no user data: kernel interfaces, RAM-backed scratch,
 * container layers and read-only images that are full by design. node_exporter's default
 * list plus tmpfs, ramfs and nfsd, and the FUSE helpers that report a size of zero.
 */
export const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set([
  'autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs', 'fusectl',
  'hugetlbfs', 'iso9660', 'mqueue', 'nsfs', 'overlay', 'proc', 'procfs', 'pstore', 'rpc_pipefs', 'securityfs',
  'selinuxfs', 'squashfs', 'erofs', 'sysfs', 'tracefs', 'tmpfs', 'ramfs', 'nfsd',
  'fuse.lxcfs', 'fuse.gvfsd-fuse', 'fuse.portal',
]);

/** Mount points under these hold kernel interfaces, secrets or container internals, never a disk to watch. */
export const SKIPPED_PREFIXES: readonly string[] = ['/proc', '/sys', '/dev', '/run/credentials', '/var/lib/docker', '/var/lib/containers/storage'];

/** Whether `mountPoint` is one of {@link SKIPPED_PREFIXES} or lies under one. */
export function isSkippedMountPoint(mountPoint: string): boolean {
  return SKIPPED_PREFIXES.some((p) => mountPoint === p || mountPoint.startsWith(`${p}/`));
}

/** One line of /proc/self/mountinfo, the fields we use. */
export interface MountEntry {
  /** `major:minor` of the filesystem; bind mounts of one filesystem share it. */
  device: string;
  mountPoint: string;
  fsType: string;
}

/**
 * Parses /proc/self/mountinfo: `id parent major:minor root mountpoint options [optional…] - fstype source superoptions`.
 * Paths escape space, tab, newline and backslash as octal (`\040`).
 */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-', 6);
    if (parts.length < 10 || sep < 0 || sep + 1 >= parts.length) continue;
    out.push({ device: parts[2], mountPoint: unescapeOctal(parts[4]), fsType: parts[sep + 1] });
  }
  return out;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
