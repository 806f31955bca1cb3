import { MIN_PARTIAL } from '../../agent/secrets';

/** Every piece of `secret` of `min` characters or more (default MIN_PARTIAL) that `text` contains. */
export function secretPieces(text: string, secret: string, min = MIN_PARTIAL): string[] {
  const found: string[] = [];
  for (let i = 0; i + min <= secret.length; i++) {
    const piece = secret.slice(i, i + min);
    if (text.includes(piece)) found.push(piece);
  }
  return found;
}
