/** Largest config file read (4 MiB: some 25,000 checks written out in block style). */
export const CONFIG_MAX_BYTES = 4 * 1024 * 1024;

/** Largest file a `${file:/path}` reference reads: a secret, a token or a certificate, not a data set. */
export const FILE_REF_MAX_BYTES = 1024 * 1024;

// The bounded readers live with the checks, which read files named in the config too.
export { FileReadError, readTextFile, readTextFileSync } from '../../checks/types';
