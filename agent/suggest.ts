/** Damerau-Levenshtein distance (optimal string alignment) between two words. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d[i] = [i];
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** Longest word, and most candidates, worth a suggestion: typos are in names, not in pasted blobs. */
const MAX_WORD = 64;
const MAX_CANDIDATES = 2000;

/**
 * The candidate closest to `word` (case-insensitive), when it is close enough to be a likely
 * typo. Bounded: no suggestion for a long word or among thousands of candidates (ten thousand
 * unknown dependencies among ten thousand checks would otherwise take minutes to report).
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > MAX_WORD) return undefined;
  const size = (candidates as { size?: number }).size ?? (candidates as { length?: number }).length;
  if (size !== undefined && size > MAX_CANDIDATES) return undefined;
  const list: string[] = [];
  for (const c of candidates) {
    if (list.length === MAX_CANDIDATES) return undefined;
    list.push(c);
  }
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of list) {
    // The distance is at least the difference in length: skip what cannot be near.
    if (Math.abs(c.length - w.length) > limit) continue;
    const dist = editDistance(w, c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** `; did you mean "x"?` when there is a near candidate, else the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const n = nearest(word, candidates);
  return n === undefined ? '' : `; did you mean "${n}"?`;
}
