/**
 * voxgrad/imaging: what any 3-D segmentation work needs besides the engine (MONAI's ground): NIfTI and LA/HDF5
 * IO, the BraTS and synthetic sources, augmentation and two-stream sampling, exact distance transforms and DTC's
 * `compute_sdf`, sliding-window inference, medpy-exact metrics, reports, plots, overlay figures and the HTML report.
 */
export * from './imaging/volume.js';
export * from './imaging/io/nifti.js';
export { LASource, readLAFile, isLARoot, LA_CASE_DIR, LA_CASE_FILE, type LAOptions } from './imaging/io/la.js';
export * from './imaging/io/brats.js';
export * from './imaging/io/synthetic.js';
export * from './imaging/data/augment.js';
export * from './imaging/data/sampler.js';
export { Rng, hashSeed, type RngState } from './imaging/random.js';
export { edt, edtSquared, computeSdf, innerBoundary, distanceToSet, chamferDistanceToSet, type ChamferMetric } from './imaging/edt.js';
export {
  slidingWindow, slidingWindow as slidingWindowInference, windowStarts, windowGrid, gaussianImportanceMap, labelFromProbability,
  predictLabel, type BlendMode, type SlidingWindowOptions, type MultiChannelOptions, type MultiChannelVolume, type SlidingWindowImage, type LabelOptions,
  type WindowGrid, type WindowPredictor,
} from './imaging/sliding-window.js';
export * from './imaging/metrics.js';
export * from './imaging/report/report.js';
export { linePlot, type Series, type PlotOptions } from './imaging/report/plot.js';
export {
  overlayMontage, writeOverlayFigures, encodeRgbPng, caseVolumes, intensityWindow, windowImage, extractSlice, SLICE_AXES,
  type CaseVolumes, type MontageOptions, type SliceAxis,
} from './imaging/report/figures.js';
export { buildHtmlReport, writeHtmlReport, DEFAULT_HTML_BUDGET, type HtmlReportInput } from './imaging/report/html-report.js';
export { Progress, progress, formatDuration, type ProgressOptions } from './imaging/progress.js';
export {
  Compose, Lambda, type LambdaOptions, type LambdaVolume, type Transform, type SampleTransform, type Composed, type ComposeStep, type NestedCompose, type AnyVolume, type FloatImage,
  type SpatialVolume, type SpatialSize,
} from './imaging/transforms.js';
// what the built-in transforms are written with, for a user's own (MONAI's MapTransform): checked readers, the sample copy
export {
  keyList, readVolume, readImage, readChannels, readSameShape, readSameSpatialShape, joinChannels, withVolumes, requireRng, checkProb, type Channels,
} from './imaging/transforms.js';
export {
  NormalizeIntensity, ScaleIntensity, ScaleIntensityRange, ScaleIntensityRangePercentiles, RandGaussianNoise, RandScaleIntensity, RandShiftIntensity,
  type NormalizeIntensityOptions, type ScaleIntensityOptions, type ScaleIntensityRangeOptions, type ScaleIntensityRangePercentilesOptions, type RandGaussianNoiseOptions,
  type RandScaleIntensityOptions, type RandShiftIntensityOptions,
} from './imaging/transforms-intensity.js';
export {
  GaussianSmooth, RandGaussianSmooth, GaussianSharpen, RandGaussianSharpen, AdjustContrast, RandAdjustContrast, RandHistogramShift, RandBiasField,
  ThresholdIntensity, ClipIntensityPercentiles, ShiftIntensity, MaskIntensity, gaussianKernel1d, gaussianFilter,
  type GaussianApprox, type GaussianSmoothOptions, type RandGaussianSmoothOptions, type GaussianSharpenOptions, type RandGaussianSharpenOptions,
  type AdjustContrastOptions, type RandAdjustContrastOptions, type RandHistogramShiftOptions, type RandBiasFieldOptions, type ThresholdIntensityOptions,
  type ClipIntensityPercentilesOptions, type ShiftIntensityOptions, type MaskIntensityOptions,
} from './imaging/transforms-intensity.js';
export {
  GibbsNoise, RandGibbsNoise, KSpaceSpikeNoise, RandKSpaceSpikeNoise, RandRicianNoise, RandCoarseDropout, RandCoarseShuffle, HistogramNormalize, MedianSmooth,
  SavitzkyGolaySmooth, StdShiftIntensity, RandStdShiftIntensity, ScaleIntensityFixedMean, RandScaleIntensityFixedMean, ForegroundMask, savitzkyGolayCoefficients, thresholdOtsu,
  type GibbsNoiseOptions, type RandGibbsNoiseOptions, type SpikeLocation, type KSpaceSpikeNoiseOptions, type RandKSpaceSpikeNoiseOptions,
  type RandRicianNoiseOptions, type RandCoarseOptions, type RandCoarseDropoutOptions, type HistogramNormalizeOptions, type MedianSmoothOptions,
  type SavitzkyGolayPadMode, type SavitzkyGolaySmoothOptions, type StdShiftIntensityOptions, type RandStdShiftIntensityOptions,
  type ScaleIntensityFixedMeanOptions, type RandScaleIntensityFixedMeanOptions,
  type ForegroundThreshold, type ForegroundThresholds, type ForegroundMaskOptions,
} from './imaging/transforms-intensity-extra.js';
export { fft, ifft, fftn, ifftn, fftshift, ifftshift, type ComplexArray } from './imaging/fft.js';
export {
  CropForeground, SpatialPad, CenterSpatialCrop, ResizeWithPadOrCrop, RandSpatialCrop, RandCropByPosNegLabel, Flip, RandFlip, Rotate90, RandRotate90, Resize, Spacing,
  generateSpatialBoundingBox, cropOrPad,
  type BoundingBoxOptions, type CropForegroundOptions, type SpatialPadOptions, type CenterSpatialCropOptions, type ResizeWithPadOrCropOptions, type RandSpatialCropOptions,
  type RandCropByPosNegLabelOptions, type FlipOptions, type Rotate90Options, type RandRotate90Options, type InterpolationMode, type ResizeMode, type ResizeOptions,
  type SpacingOptions,
  Orientation, affineOrientation, orientationCodes, readAffine, matmul4, type Matrix4, DivisiblePad, BorderPad, RandSpatialCropSamples, RandCropByLabelClasses,
  type OrientationOptions, type PadMode, type DivisiblePadOptions, type BorderPadOptions, type RandSpatialCropSamplesOptions, type RandCropByLabelClassesOptions,
} from './imaging/transforms-spatial.js';
export {
  transformsKey, type TransformRecord, type InverseOptions, type InvertibleTransform,
} from './imaging/transforms.js';
export { Invert, type InvertOptions, type Invertible } from './imaging/transforms-invert.js';
export {
  Rotate, RandRotate, type RotateOptions, type RandRotateOptions,
  Affine, RandAffine, Zoom, RandZoom, Rand3DElastic, affineMatrix, createRotate, createShear, createTranslate, createScale, gridSample,
  type AffineOptions, type AffineParams, type RandAffineOptions, type RandAffineRanges, type RandRange, type GridResampleOptions, type GridSampleMode,
  type GridSamplePadMode, type ZoomOptions, type RandZoomOptions, type Rand3DElasticOptions,
} from './imaging/transforms-affine.js';
export {
  Activations, AsDiscrete, KeepLargestConnectedComponent, type ActivationsOptions, type AsDiscreteOptions, type KeepLargestConnectedComponentOptions,
} from './imaging/transforms-post.js';
export {
  FillHoles, RemoveSmallObjects, LabelFilter, LabelToContour,
  type FillHolesOptions, type RemoveSmallObjectsOptions, type LabelFilterOptions, type LabelToContourOptions,
} from './imaging/transforms-post.js';
export {
  ConvertToMultiChannelBasedOnBratsClasses, BRATS_REGIONS, type ConvertToMultiChannelBasedOnBratsClassesOptions,
} from './imaging/transforms-brats.js';
export {
  DiceMetric, HausdorffDistanceMetric, SurfaceDistanceMetric, type HausdorffDistanceOptions, type MetricClassOptions, type MetricReduction,
  MetricBuffer, doMetricReduction, type Reduced, type Aggregated, type ReductionOptions,
} from './imaging/metric-classes.js';
export {
  ConfusionMatrixMetric, MeanIoU, GeneralizedDiceScore, SurfaceDiceMetric, getConfusionMatrix, computeConfusionMatrixMetric,
  checkConfusionMatrixMetricName, type ConfusionMatrix, type ConfusionNotNans,
  type ConfusionMatrixMetricOptions, type GeneralizedDiceWeight, type SurfaceDiceMetricOptions,
} from './imaging/metric-classes-more.js';
export {
  RegressionMetric, MSEMetric, MAEMetric, RMSEMetric, PSNRMetric, SSIMMetric,
} from './imaging/metrics-regression.js';
export {
  hausdorffDTLoss, logHausdorffDTLoss, hausdorffDistanceField, HausdorffDTLoss, LogHausdorffDTLoss, type HausdorffDTLossOptions,
} from './imaging/losses-hausdorff.js';
export {
  computeRocAuc, ROCAUCMetric, type RocAucAverage, type RocAucInput, type RocAucResult, type RocAucWarn, type ROCAUCMetricOptions,
} from './imaging/metrics-classification.js';
export {
  Dataset, CacheDataset, DataLoader, ThreadDataLoader, listDataCollate, decollateBatch, partitionDataset, isRandomTransform, copySample,
  type DatasetTransform, type CacheDatasetOptions, type CollateOptions, type CollatedValue, type Batch, type DataLoaderOptions,
  type ThreadDataLoaderOptions, type DecollateOptions, type Decollated, type DecollatedValue, type PartitionDatasetOptions,
} from './imaging/dataset.js';
export {
  PersistentDataset, encodeStoredSample, decodeStoredSample, type PersistentDatasetOptions,
} from './imaging/dataset-persistent.js';
export {
  LoadImage, EnsureChannelFirst, affineToSpacing, type LoadImageOptions, type LoadImageDtype, type EnsureChannelFirstOptions,
} from './imaging/transforms-io.js';
export {
  OneOf, SomeOf, RandomOrder, type OneOfOptions, type SomeOfOptions,
} from './imaging/transforms-compose.js';
export {
  CopyItems, ConcatItems, DeleteItems, SelectItems, SplitDim, SqueezeDim, CastToType, Identity, RandLambda, DataStats, SaveImage, castVolumeData,
  type CopyItemsOptions, type ConcatItemsOptions, type DeleteItemsOptions, type SelectItemsOptions, type SplitDimOptions, type SqueezeDimOptions,
  type CastToTypeOptions, type IdentityOptions, type RandLambdaOptions, type DataStatsOptions, type SaveImageOptions, type VolumeDtype,
} from './imaging/transforms-utility.js';
