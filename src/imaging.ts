/**
 * voxgrad/imaging: what any 3-D segmentation work needs besides the engine (MONAI's ground): NIfTI and LA/HDF5
 * IO, the BraTS and synthetic sources, augmentation and two-stream sampling, exact distance transforms and DTC's
 * `compute_sdf`, sliding-window inference, medpy-exact metrics, reports, plots, overlay figures and the HTML report.
 */
export * from './dbisl/data/volume.js';
export * from './dbisl/data/nifti.js';
export { LASource, readLAFile, isLARoot, LA_CASE_DIR, LA_CASE_FILE, type LAOptions } from './dbisl/data/la.js';
export * from './dbisl/data/brats.js';
export * from './dbisl/data/synthetic.js';
export * from './dbisl/data/augment.js';
export * from './dbisl/data/sampler.js';
export { Rng, hashSeed, type RngState } from './dbisl/data/random.js';
export { edt, edtSquared, computeSdf, innerBoundary, distanceToSet } from './dbisl/data/edt.js';
export {
  slidingWindow, slidingWindow as slidingWindowInference, windowStarts, windowGrid, labelFromProbability, predictLabel,
  type SlidingWindowOptions, type LabelOptions, type WindowGrid, type WindowPredictor,
} from './dbisl/sliding-window.js';
export * from './dbisl/metrics.js';
export * from './dbisl/report.js';
export { linePlot, type Series, type PlotOptions } from './dbisl/plot.js';
export {
  overlayMontage, writeOverlayFigures, encodeRgbPng, caseVolumes, intensityWindow, windowImage, extractSlice, SLICE_AXES,
  type CaseVolumes, type MontageOptions, type SliceAxis,
} from './dbisl/figures.js';
export { buildHtmlReport, writeHtmlReport, DEFAULT_HTML_BUDGET, type HtmlReportInput } from './dbisl/html-report.js';
export { Progress, progress, formatDuration, type ProgressOptions } from './dbisl/progress.js';
