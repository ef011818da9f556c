/**
 * Ingest stage: ffmpeg -> raw RGB24 frames, with reconnect, watchdog and credential scrubbing.
 * Other stages use only what is exported here.
 */
export { openSource } from './source.ts';
export type { FrameSource, SourceCounters, SourceDeps, SourceError, SourceOptions, SourceState, SourceStatus } from './source.ts';
export { probeFfmpeg, FfmpegNotFoundError } from './binary.ts';
export type { FfmpegFlavour, FfmpegInfo, FfmpegOrigin, ProbeOptions } from './binary.ts';
export { IngestError } from './errors.ts';
export type { IngestErrorCode } from './errors.ts';
export { parseSourceUrl, SourceUrlError, PROTOCOL_WHITELIST } from './source-url.ts';
export type { ParsedSource, SourceKind } from './source-url.ts';
