/**
 * The REST calls of the page, typed with the shared shapes (src/shared/api.ts; types only, so zod is not
 * bundled). The API token is entered once and kept in sessionStorage: this tab only, gone when it closes.
 */
import type { ApiError, Camera, CameraCreate, CameraDemographics, CameraPatch, CameraStatus } from '../../../shared/api.ts';

const TOKEN_KEY = 'crowdlens.apiToken';
/** Where the token lives when sessionStorage is blocked (privacy settings): until a reload. */
let memoryToken: string | null = null;

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return memoryToken;
  }
}

export function setToken(token: string | null): void {
  memoryToken = token;
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Kept in memory only (see getToken).
    memoryToken = token;
  }
}

/** A failed call: the HTTP status and the API's error body (`field` names the offending field). */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.message);
  }
}

function isApiError(v: unknown): v is ApiError {
  return typeof v === 'object' && v !== null && typeof (v as { error?: unknown }).error === 'string' && typeof (v as { message?: unknown }).message === 'string';
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), cache: 'no-store' });
  } catch (err) {
    throw new ApiCallError(0, { error: 'INTERNAL', message: `cannot reach the crowdlens service (${(err as Error).message})` });
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) throw new ApiCallError(res.status, isApiError(json) ? json : { error: 'INTERNAL', message: `${res.status} ${res.statusText}: ${text.slice(0, 200)}` });
  return json as T;
}

export const api = {
  cameras: (): Promise<Camera[]> => call('GET', '/api/cameras'),
  create: (input: CameraCreate): Promise<Camera> => call('POST', '/api/cameras', input),
  update: (id: string, patch: CameraPatch): Promise<Camera> => call('PATCH', `/api/cameras/${encodeURIComponent(id)}`, patch),
  remove: (id: string): Promise<void> => call('DELETE', `/api/cameras/${encodeURIComponent(id)}`),
  status: (id: string): Promise<CameraStatus> => call('GET', `/api/cameras/${encodeURIComponent(id)}/status`),
  demographics: (id: string): Promise<CameraDemographics> => call('GET', `/api/cameras/${encodeURIComponent(id)}/demographics`),
};

/** The annotated preview of a camera; `off`: the service runs without CROWDLENS_PREVIEW; `none`: no recent frame. */
export type PreviewResult = { kind: 'image'; blob: Blob; capturedAtMs: number; faces: number; blurred: boolean } | { kind: 'off' } | { kind: 'none'; message: string } | { kind: 'error'; error: ApiCallError };

export async function fetchPreview(id: string): Promise<PreviewResult> {
  const token = getToken();
  let res: Response;
  try {
    res = await fetch(`/api/cameras/${encodeURIComponent(id)}/preview.jpg`, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  } catch (err) {
    return { kind: 'error', error: new ApiCallError(0, { error: 'INTERNAL', message: (err as Error).message }) };
  }
  if (res.ok) {
    return {
      kind: 'image',
      blob: await res.blob(),
      capturedAtMs: Number(res.headers.get('x-crowdlens-captured-at-ms') ?? Date.now()),
      faces: Number(res.headers.get('x-crowdlens-faces') ?? 0),
      blurred: res.headers.get('x-crowdlens-blurred') !== 'false',
    };
  }
  const body: unknown = await res.json().catch(() => null);
  const err = isApiError(body) ? body : { error: 'INTERNAL' as const, message: `${res.status}` };
  if (res.status === 404 && err.field === 'preview') return { kind: 'off' };
  if (res.status === 503) return { kind: 'none', message: err.message };
  return { kind: 'error', error: new ApiCallError(res.status, err) };
}
