import type { Converter } from './types.ts';

/** Converters for @vladmandic/human's TFJS graph models (owned by the human-models work). */
export const humanConverters: readonly Converter[] = [];
