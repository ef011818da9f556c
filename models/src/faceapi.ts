import type { Converter } from './types.ts';

/** Converters for @vladmandic/face-api's weight-map models (owned by the face-api-models work). */
export const faceApiConverters: readonly Converter[] = [];
