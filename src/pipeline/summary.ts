import { writeFile } from 'node:fs/promises';
import { redactText } from '../shared/redact.ts';
import type { PipelineResult, PersonSummary } from './standalone.ts';

/** The `--summary` file: written once at the end of a run (also after Ctrl-C). */
export interface RunSummary {
  /** Frames processed. */
  readonly frames: number;
  /** Unique persons since start (a returning person counts once). */
  readonly uniquePersons: number;
  /**
   * Unique persons with an estimate by `"<age bucket>/<gender>"`, counted by their fused distributions
   * (soft counts, 3 decimals; see DemographicsSnapshot.byAgeGender); only non-zero cells.
   */
  readonly demographics: Readonly<Record<string, number>>;
  /** 90% interval [low, high] of each cell of `demographics`, people. */
  readonly demographicsInterval: Readonly<Record<string, readonly [number, number]>>;
  /** Unique persons with no estimate (never seen well enough): in no cell. */
  readonly withoutEstimate: number;
  /** Persons with an estimate by gender label; `unknown` is the abstention share. */
  readonly byGenderLabel: { readonly female: number; readonly male: number; readonly unknown: number };
  readonly persons: readonly PersonSummary[];
  /** Why the run stopped: `end` of the source, `aborted` (signal), `maxFrames`, or `error` (see `error`). */
  readonly stopped: PipelineResult['reason'] | 'error';
  /** Only when `stopped` is `error`: the failure's message, credentials masked. */
  readonly error?: string;
  /** Frames the ingest queue dropped because inference was slower than the source. */
  readonly droppedFrames: number;
}

/**
 * Builds the summary from a finished run, or from what a failed run processed (`error`: the failure,
 * reported masked with `stopped: "error"`).
 */
export function buildSummary(result: PipelineResult, error?: unknown): RunSummary {
  const demographics: Record<string, number> = {};
  const demographicsInterval: Record<string, readonly [number, number]> = {};
  for (const [key, n] of Object.entries(result.snapshot.byAgeGender)) {
    if (!(n > 0)) continue;
    demographics[key] = n;
    const iv = result.snapshot.byAgeGenderInterval[key as keyof typeof result.snapshot.byAgeGenderInterval];
    if (iv) demographicsInterval[key] = iv;
  }
  return {
    frames: result.stats.frames,
    uniquePersons: result.snapshot.unique.sinceStart,
    demographics,
    demographicsInterval,
    withoutEstimate: result.snapshot.withoutEstimate,
    byGenderLabel: result.snapshot.byGenderLabel,
    persons: result.persons,
    stopped: error === undefined ? result.reason : 'error',
    ...(error === undefined ? {} : { error: redactText(error instanceof Error ? error.message : String(error)) }),
    droppedFrames: result.stats.droppedFrames,
  };
}

/** Writes the summary as pretty JSON. */
export async function writeSummary(file: string, summary: RunSummary): Promise<void> {
  await writeFile(file, `${JSON.stringify(summary, null, 1)}\n`);
}
