import type { UpstreamServerIR } from '../../../compiler/ir.ts';
import type { Source } from './source.ts';

/** The servers written in the config: what they are is all they will be. */
export class StaticSource implements Source {
  private readonly list: readonly UpstreamServerIR[];

  constructor(list: readonly UpstreamServerIR[]) {
    this.list = list;
  }

  servers(): readonly UpstreamServerIR[] {
    return this.list;
  }

  watch(): () => void {
    return () => {};
  }
}
