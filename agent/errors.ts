/** One config problem, located in its file. Line and column are 1-based. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  /** Dotted path to the field, e.g. `checks[2].warn`; empty for the document itself. */
  path: string;
  message: string;
}

/** Formats a problem the way compilers do: `file:line:col: path: message`. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** Formats a problem that does not stop the config loading: `file:line:col: warning: path: message`. */
export function formatWarning(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: warning: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** The config could not be loaded; carries every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[], options?: { cause?: unknown }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'ConfigError';
  }
}
