/**
 * Lays rows of cells out in aligned columns, the one table layout of the CLI: every column but
 * the last is padded to its widest cell, columns are `gap` apart (two spaces), and each line
 * starts with `indent`. The last column is left as it is, so a long message does not pad the
 * lines before it.
 */
export function formatColumns(rows: readonly (readonly string[])[], opts: { gap?: string; indent?: string } = {}): string {
  const { gap = '  ', indent = '' } = opts;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join(gap)).join('\n');
}
