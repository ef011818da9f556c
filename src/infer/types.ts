import type { BoxXyxy, FaceAttributes, FaceDetection } from '../shared/messages.ts';
import type { RawImage } from './image.ts';

/** An RGB24 image (3 channels, 0..255), e.g. a decoded file or a {@link Frame}. */
export type RgbImage = RawImage<Uint8Array>;

/** Per-call detection options. */
export interface DetectOptions {
  /** Minimum score, 0..1; default is the detector's measured default. */
  readonly minScore?: number;
}

/** A face detector over RGB images of any size; boxes come back in source pixels. */
export interface FaceDetector {
  /** Model name, e.g. `blazeface`. */
  readonly name: string;
  /** Side of the square model input, px (blazeface 256): how much of a frame one run sees at full detail. */
  readonly inputSize: number;
  detect(image: RgbImage, options?: DetectOptions): Promise<FaceDetection[]>;
}

/** Estimates age and gender from the face inside `box` (source pixels) of `image`. */
export interface AgeGenderEstimator {
  readonly name: string;
  estimate(image: RgbImage, box: BoxXyxy): Promise<FaceAttributes>;
}

/** Computes an L2-normalised face descriptor for the face inside `box`. */
export interface FaceDescriber {
  readonly name: string;
  /** Descriptor length, e.g. 1024 for faceres. */
  readonly size: number;
  describe(image: RgbImage, box: BoxXyxy): Promise<Float32Array>;
}
