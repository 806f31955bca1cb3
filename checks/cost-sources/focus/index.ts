/**
 * `source.type: focus`: FinOps FOCUS cost-and-usage exports. (Being written: the stream parser
 * and per-file cache land in the next commit.)
 */
import type { FocusSourceSpec } from '../index';
import type { CostSource } from '../types';

export function focusSource(spec: FocusSourceSpec): CostSource {
  return {
    type: 'focus',
    async daily() {
      throw new Error(`focus source ${spec.path}: not implemented yet`);
    },
  };
}
