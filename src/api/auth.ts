/**
 * Who may do what. With a token (`CROWDLENS_API_TOKEN`): every change needs `Authorization: Bearer <token>`, and
 * so do reads (REST GETs, /metrics, the Socket.IO handshake) unless `CROWDLENS_PUBLIC_READ=true`. Tokens are
 * compared in constant time (SHA-256 of both sides, then crypto.timingSafeEqual, so neither the content nor the
 * length leaks through timing). Without a token the API may listen on loopback only and allows everything there;
 * it then also refuses requests whose Host header is not a loopback name, so a web page cannot reach it by DNS
 * rebinding.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** The API's access rule. */
export interface AccessPolicy {
  /** Whether a token is configured. */
  readonly tokenRequired: boolean;
  readonly publicRead: boolean;
  /** Whether `presented` (a raw token, or undefined) may change things. */
  canWrite(presented: string | undefined): boolean;
  /** Whether `presented` may read. */
  canRead(presented: string | undefined): boolean;
  /** Whether `presented` is the configured token (false when none is configured). */
  matches(presented: string | undefined): boolean;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Builds the access policy; `token` undefined means open (loopback only, see {@link checkListenAddress}). */
export function createAccessPolicy(options: { token?: string | undefined; publicRead?: boolean }): AccessPolicy {
  const expected = options.token === undefined ? null : digest(options.token);
  const publicRead = options.publicRead ?? false;
  const matches = (presented: string | undefined): boolean => expected !== null && presented !== undefined && timingSafeEqual(digest(presented), expected);
  return {
    tokenRequired: expected !== null,
    publicRead,
    matches,
    canWrite: (presented) => expected === null || matches(presented),
    canRead: (presented) => expected === null || publicRead || matches(presented),
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m ? m[1] : undefined;
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as `[::1]` and IPv4-mapped `::ffff:127.x.x.x`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0+:){7}0*1$/.test(h);
  return false;
}

/** The host part of a Host header (`name:port`, `[v6]:port`). */
export function hostOfHeader(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  const colon = header.lastIndexOf(':');
  return colon > 0 && header.indexOf(':') === colon ? header.slice(0, colon) : header;
}

/** Refusal to start: listening beyond loopback without a token. */
export class ListenPolicyError extends Error {
  override readonly name = 'ListenPolicyError';
}

/**
 * Throws {@link ListenPolicyError} when `host` is not loopback and no token is configured; returns the one
 * warning line to log when the API runs without a token.
 */
export function checkListenAddress(host: string, tokenConfigured: boolean): string | null {
  if (tokenConfigured) return null;
  if (!isLoopbackHost(host)) {
    throw new ListenPolicyError(
      `refusing to listen on ${host} without an API token: anyone who can reach it could change cameras. Set CROWDLENS_API_TOKEN (e.g. \`export CROWDLENS_API_TOKEN=$(openssl rand -hex 32)\`) or listen on 127.0.0.1 (--host / CROWDLENS_HOST).`,
    );
  }
  return `no CROWDLENS_API_TOKEN set: the API allows every request, and listens on loopback (${host}) only`;
}
