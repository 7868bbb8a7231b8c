/**
 * voxgrad/dbisl: the DBiSL method (task transforms, the four semi-supervised components, the dual-task V-Net),
 * its configuration and presets, the trainer and evaluation.
 */
export * from './transform.js';
export * from './losses.js';
export * from './model.js';
export * from './config.js';
export { makeSource, createModel, tuneConvolutions } from './setup.js';
export { train, type TrainOptions, type TrainResult, type LogEntry } from './trainer.js';
export { evaluateModel, evaluateCheckpoint, writeEvaluationFigures, type EvaluateOptions, type EvaluationResult } from './evaluate.js';
