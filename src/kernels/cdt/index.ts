import { defineKernel } from '../family.js';
import * as cpu from './cpu.js';
import * as webgpu from './webgpu.js';

/** DBiSL's log-domain convolutional distance transform and its gradient; its signed, normalised map (T_s2r) and that one's gradient. */
export const cdtFamily = defineKernel({
  name: 'cdt',
  cpu: { cdt: cpu.cdt, cdtBackward: cpu.cdtBackward, cdtSigned: cpu.cdtSigned, cdtSignedBackward: cpu.cdtSignedBackward },
  webgpu: { cdt: webgpu.cdt, cdtBackward: webgpu.cdtBackward, cdtSigned: webgpu.cdtSigned, cdtSignedBackward: webgpu.cdtSignedBackward },
  benchmarks: webgpu.benchmarks,
});
