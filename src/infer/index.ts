/**
 * Public surface of src/infer. Per-model classes (blazeface.ts, ssd.ts, tinyface.ts, agegender.ts,
 * faceres.ts) are deliberately not re-exported: the analyzer imports each only when it is chosen,
 * and importing this module must not load them all.
 */
export {
  AGE_GENDER_NAMES,
  ANALYZER_DEFAULTS,
  DETECTOR_NAMES,
  createFaceAnalyzer,
  mergeDetections,
  parseTiles,
  tileGrid,
  type AgeGenderName,
  type AnalyzeOptions,
  type DetectorName,
  type FaceAnalyzer,
  type FaceAnalyzerOptions,
  type Tile,
  type TileOptions,
} from './analyzer.ts';
export { annotationSvg, faceLabel, writeAnnotatedImage, type AnnotatedFace } from './annotate.ts';
export { DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageDecodeError, encodeImage, formatForPath, loadImage, type LoadImageOptions, type OutputFormat } from './decode.ts';
export { cropAndResize, resizeBilinear, type NormalizedBoxYxyx, type RawImage, type ResizeOptions } from './image.ts';
export { MODELS_DIR, loadModel, readModelInfo, type LoadedModel, type ModelInfo } from './models.ts';
export { nonMaxSuppression, type ScoredBox } from './nms.ts';
export { createSession, type LoadedSession, type SessionOptions } from './session.ts';
export type { AgeGenderEstimator, DetectOptions, FaceDescriber, FaceDetector, RgbImage } from './types.ts';
