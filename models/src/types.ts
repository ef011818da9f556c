/** What a converter produces for one model, and the manifest written beside each ONNX file. */

/** A source weight file inside an npm package, with its sha256. */
export interface SourceFile {
  /** Path relative to the package root, e.g. `models/blazeface.bin`. */
  readonly path: string;
  readonly sha256: string;
}

/** Input tensor description. All crowdlens models take raw RGB 0..255 and normalise inside the graph. */
export interface InputSpec {
  readonly name: string;
  /** e.g. [1, 256, 256, 3]; a string marks a symbolic dimension. */
  readonly shape: readonly (number | string)[];
  readonly layout: 'NHWC';
  readonly dtype: 'float32';
  /** What the caller feeds, e.g. "RGB 0..255, resized with TF bilinear (align_corners=false)". */
  readonly feed: string;
  /** What the graph does to it first, e.g. "x/127.5-1". */
  readonly normalization: string;
}

export interface OutputSpec {
  readonly name: string;
  readonly shape: readonly (number | string)[];
  /** What the values mean and how to decode them. */
  readonly meaning: string;
}

export interface ModelManifest {
  /** Model name used in config and file names, e.g. `blazeface`. */
  readonly name: string;
  readonly task: 'face-detection' | 'age-gender' | 'face-description';
  readonly source: {
    readonly package: string;
    readonly version: string;
    /** Licence the package states (package.json `license`). */
    readonly license: string;
    readonly files: readonly SourceFile[];
  };
  readonly input: InputSpec;
  readonly outputs: readonly OutputSpec[];
  /** Free text: architecture origin, preprocessing quirks. */
  readonly notes: string;
}

/** The converter's output for one model: its graph bytes and manifest (sha256 of the ONNX is added by convert.ts). */
export interface ConvertedModel {
  readonly manifest: ModelManifest;
  readonly onnx: Uint8Array;
}

/** A converter for one model; `packageRoot` resolves files inside the source npm package. */
export interface Converter {
  readonly name: string;
  convert(): Promise<ConvertedModel>;
}
