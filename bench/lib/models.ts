/**
 * Loads the per-model classes directly, so the benchmarks can time and score each model alone.
 * Modules are imported only when asked for. Each model module exposes either a `createX(session)`
 * factory or a class with `static create({ session })`; both are accepted.
 */
import type { SessionOptions } from '../../src/infer/session.ts';
import type { AgeGenderEstimator, FaceDescriber, FaceDetector } from '../../src/infer/types.ts';
import type { AgeGenderName, DetectorName } from '../../src/infer/analyzer.ts';

type Module = Record<string, unknown>;

async function make<T>(what: string, mod: Module, factory: string, cls: string, session: SessionOptions, extra: Record<string, unknown> = {}): Promise<T> {
  const f = mod[factory];
  if (typeof f === 'function') return (await (f as (s: SessionOptions, o?: unknown) => Promise<T>)(session, extra)) as T;
  const c = mod[cls] as { create?: (o: unknown) => Promise<T> } | undefined;
  if (c && typeof c.create === 'function') return c.create({ session, ...extra });
  throw new Error(`${what}: module exports neither ${factory}() nor ${cls}.create() (exports: ${Object.keys(mod).join(', ')})`);
}

/** A detector by name; `options` go to the class's create() (e.g. `{ minScore }`). */
export async function loadDetector(name: DetectorName, session: SessionOptions = {}, options: Record<string, unknown> = {}): Promise<FaceDetector> {
  switch (name) {
    case 'blazeface':
      return make('blazeface', (await import('../../src/infer/blazeface.ts')) as Module, 'createBlazeFaceDetector', 'BlazeFaceDetector', session, options);
    case 'ssd_mobilenetv1':
      return make('ssd_mobilenetv1', (await import('../../src/infer/ssd.ts')) as Module, 'createSsdMobilenetV1Detector', 'SsdMobilenetV1Detector', session, options);
    case 'tiny_face_detector':
      return make('tiny_face_detector', (await import('../../src/infer/tinyface.ts')) as Module, 'createTinyFaceDetector', 'TinyFaceDetector', session, options);
    default:
      throw new Error(`detector: unknown ${JSON.stringify(name)}`);
  }
}

/** An age/gender estimator by name; `options` go to the class's create() (e.g. `{ flip: false }`). */
export async function loadAgeGender(name: AgeGenderName, session: SessionOptions = {}, options: Record<string, unknown> = {}): Promise<AgeGenderEstimator> {
  switch (name) {
    case 'age_gender':
      return make('age_gender', (await import('../../src/infer/agegender.ts')) as Module, 'createFaceApiAgeGender', 'FaceApiAgeGender', session, options);
    case 'faceres':
      return make('faceres', (await import('../../src/infer/faceres.ts')) as Module, 'createFaceresAgeGender', 'FaceresDescriber', session, options);
    default:
      throw new Error(`age/gender model: unknown ${JSON.stringify(name)}`);
  }
}

export async function loadDescriber(session: SessionOptions = {}): Promise<FaceDescriber> {
  return make('faceres', (await import('../../src/infer/faceres.ts')) as Module, 'createFaceresDescriber', 'FaceresDescriber', session);
}

/** P(male) from an estimate, whichever gender it reports. */
export function pMale(attrs: { gender: string; genderScore: number }): number {
  return attrs.gender === 'male' ? attrs.genderScore : 1 - attrs.genderScore;
}
