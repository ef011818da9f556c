import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { maskUrl, redactText } from '../shared/redact.ts';
import { IngestError } from './errors.ts';

/** Kind of input, which decides ffmpeg options, the protocol whitelist and whether an exit is a fault. */
export type SourceKind = 'file' | 'rtsp' | 'rtsps' | 'http' | 'hls';

/** A validated source location. */
export interface ParsedSource {
  readonly kind: SourceKind;
  /** What ffmpeg gets as `-i` (a `file:` path for files so a colon in a name is never read as a protocol). */
  readonly input: string;
  /** Absolute file path for `file` sources. */
  readonly filePath?: string;
  /** The URL with credentials masked, safe for logs, status and errors. */
  readonly masked: string;
  /** Literal secrets (password, username, secret query values) to scrub from any text, e.g. ffmpeg's stderr. */
  readonly secrets: readonly string[];
  /** Network sources are live: every ffmpeg exit is a fault. */
  readonly live: boolean;
}

/** Thrown for a URL that can never work; the message names the field and the masked value. */
export class SourceUrlError extends IngestError {
  override readonly name = 'SourceUrlError';
  constructor(message: string) {
    super('BAD_URL', message);
  }
}

const ALLOWED_SCHEMES = ['file:', 'rtsp:', 'rtsps:', 'http:', 'https:'] as const;
const SECRET_KEYS = /^(pass(word)?|pwd|token|key|secret|auth|signature|sig|access_token|api_key)$/i;

/** `-protocol_whitelist` per kind: only what that input needs, and never `file` for network sources. */
export const PROTOCOL_WHITELIST: Readonly<Record<SourceKind, string>> = {
  file: 'file',
  rtsp: 'rtsp,rtp,udp,tcp',
  rtsps: 'rtsp,rtsps,rtp,udp,tcp,tls',
  http: 'http,https,tcp,tls,crypto',
  hls: 'http,https,tcp,tls,crypto',
};

function secretsOf(url: URL): string[] {
  const out = new Set<string>();
  const add = (v: string): void => {
    if (v.length < 3) return; // replacing 1-2 character strings everywhere would shred messages
    out.add(v);
    try {
      out.add(decodeURIComponent(v));
    } catch {
      out.add(v); // malformed %-escape: the raw form is already added
    }
  };
  add(url.password);
  add(url.username);
  for (const [k, v] of url.searchParams) if (SECRET_KEYS.test(k)) add(v);
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Validates `url` (field name `field` in errors) against the scheme allow-list: a file path, `file:`,
 * `rtsp:`, `rtsps:`, `http:`, `https:` (HLS when the path ends in `.m3u8`). Does not touch the network or disk.
 */
export function parseSourceUrl(url: string, field = 'url'): ParsedSource {
  if (typeof url !== 'string' || url.trim() === '') throw new SourceUrlError(`${field}: expected a file path or URL (got ${JSON.stringify(url)})`);
  if (/[\0\r\n]/.test(url)) throw new SourceUrlError(`${field}: control characters are not allowed (got ${JSON.stringify(redactText(url))})`);
  // A scheme needs 2+ characters so Windows-style "C:\..." is never mistaken for one.
  const looksLikeUrl = /^[a-z][a-z0-9+.-]+:/i.test(url);
  if (!looksLikeUrl) {
    const filePath = isAbsolute(url) ? url : resolvePath(url);
    return { kind: 'file', input: `file:${filePath}`, filePath, masked: filePath, secrets: [], live: false };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SourceUrlError(`${field}: not a valid URL (got ${JSON.stringify(maskUrl(url))})`);
  }
  const masked = maskUrl(url);
  const scheme = parsed.protocol.toLowerCase();
  if (!(ALLOWED_SCHEMES as readonly string[]).includes(scheme)) {
    throw new SourceUrlError(`${field}: unsupported scheme "${scheme}" (allowed: a file path, ${ALLOWED_SCHEMES.join(' ')}) (got ${JSON.stringify(masked)})`);
  }
  if (scheme === 'file:') {
    if (parsed.hostname && parsed.hostname !== 'localhost') throw new SourceUrlError(`${field}: file URLs must be local (got ${JSON.stringify(masked)})`);
    const filePath = fileURLToPath(parsed);
    return { kind: 'file', input: `file:${filePath}`, filePath, masked: filePath, secrets: [], live: false };
  }
  if (!parsed.hostname) throw new SourceUrlError(`${field}: missing host (got ${JSON.stringify(masked)})`);
  const secrets = secretsOf(parsed);
  if (scheme === 'rtsp:' || scheme === 'rtsps:') {
    return { kind: scheme === 'rtsp:' ? 'rtsp' : 'rtsps', input: url, masked, secrets, live: true };
  }
  const kind: SourceKind = /\.m3u8$/i.test(parsed.pathname) ? 'hls' : 'http';
  return { kind, input: url, masked, secrets, live: true };
}

/** Scrubs credentials from free text: URL userinfo and secret query values, plus the literal secrets of one source. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = redactText(text);
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
