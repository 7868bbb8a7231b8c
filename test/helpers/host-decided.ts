import type { Optimizer } from '../../src/models/index.js';

/** `opt` without stepUnlessFoundInf: GradScaler reads the found-inf flag back and steps it on the host's decision */
export function hostDecided(opt: Optimizer): Optimizer {
  return {
    get lr() { return opt.lr; },
    set lr(value: number) { opt.lr = value; },
    params: opt.params,
    paramGroups: opt.paramGroups,
    scaleLr: (factor) => opt.scaleLr(factor),
    step: () => opt.step(),
    zeroGrad: () => opt.zeroGrad(),
    stateDict: () => opt.stateDict(),
    loadStateDict: (state) => opt.loadStateDict(state),
    dispose: () => opt.dispose(),
  };
}
