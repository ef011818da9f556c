/**
 * Credential masking. Camera URLs carry user:password (and sometimes tokens in the query);
 * every place that prints a URL or an error that may contain one goes through here.
 */

const SECRET_QUERY_KEYS = /^(pass(word)?|pwd|token|key|secret|auth|signature|sig|access_token|api_key)$/i;

/** Returns `url` with userinfo and secret-looking query values replaced by `***`. Non-URLs are scrubbed with {@link redactText}. */
export function maskUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL (a file path, or garbage): still scrub anything credential-shaped inside it.
    return redactText(url);
  }
  if (parsed.username) parsed.username = '***';
  if (parsed.password) parsed.password = '***';
  for (const k of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_KEYS.test(k)) parsed.searchParams.set(k, '***');
  }
  // URL encodes '*' in userinfo as-is, but searchParams re-encodes; normalise for readability.
  return parsed.toString().replace(/%2A/g, '*');
}

/** Scrubs `scheme://user:pass@` and secret query parameters out of arbitrary text (ffmpeg stderr, error messages). */
export function redactText(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/\s@]+)@/gi, '$1***@')
    .replace(/([?&](?:pass(?:word)?|pwd|token|key|secret|auth|signature|sig|access_token|api_key)=)[^&\s"']*/gi, '$1***');
}
