/** Why a source faulted. Permanent codes fail the source at once; transient ones reconnect (live sources). */
export type IngestErrorCode =
  | 'BAD_URL' // unsupported scheme, malformed URL
  | 'FILE_NOT_FOUND'
  | 'NOT_VIDEO' // input has no video stream, or is not media at all
  | 'INVALID_DATA' // corrupt or truncated media
  | 'UNAUTHORIZED' // 401/403
  | 'NOT_FOUND' // 404 on a network source
  | 'PROTOCOL' // protocol not on the whitelist / not compiled in
  | 'FFMPEG' // ffmpeg itself unusable (missing binary, bad option)
  | 'CONNECTION_REFUSED'
  | 'DNS' // host name did not resolve: could be a typo or a DNS outage, so retried
  | 'TIMEOUT' // socket I/O timeout
  | 'WATCHDOG' // no frame for `watchdogMs`
  | 'STREAM_ENDED' // live stream closed (server gone, ffmpeg exited)
  | 'DECODE'; // ffmpeg exited non-zero for another reason

const PERMANENT: ReadonlySet<IngestErrorCode> = new Set(['BAD_URL', 'FILE_NOT_FOUND', 'NOT_VIDEO', 'INVALID_DATA', 'UNAUTHORIZED', 'NOT_FOUND', 'PROTOCOL', 'FFMPEG']);

/** A source fault. The message is already scrubbed of credentials. */
export class IngestError extends Error {
  override readonly name: string = 'IngestError';
  /** True when retrying cannot help. */
  readonly permanent: boolean;
  constructor(
    readonly code: IngestErrorCode,
    message: string,
    /** Overrides the code's default, e.g. a live source that has streamed before retries even a 404. */
    permanent?: boolean,
  ) {
    super(message);
    this.permanent = permanent ?? PERMANENT.has(code);
  }
}

/** Patterns in ffmpeg's stderr, most specific first. */
const RULES: readonly [RegExp, IngestErrorCode, string][] = [
  [/No such file or directory/i, 'FILE_NOT_FOUND', 'file not found'],
  [/401 Unauthorized|403 Forbidden|authorization failed/i, 'UNAUTHORIZED', 'authorization failed'],
  [/404 Not Found/i, 'NOT_FOUND', 'not found on server'],
  [/Format not on whitelist/i, 'NOT_VIDEO', 'not a supported video file format'],
  [/Protocol not found|not on whitelist|Unsupported protocol/i, 'PROTOCOL', 'protocol not allowed or not supported'],
  [/matches no streams|does not contain any stream|Output file #0 does not contain/i, 'NOT_VIDEO', 'input has no video stream'],
  [/moov atom not found|Invalid data found when processing input|could not find codec parameters|Invalid NAL unit size|error while decoding/i, 'INVALID_DATA', 'corrupt or unsupported media'],
  [/Unrecognized option|Option not found|Error parsing options|Invalid argument/i, 'FFMPEG', 'ffmpeg rejected its arguments'],
  [/Connection refused/i, 'CONNECTION_REFUSED', 'connection refused'],
  [/Failed to resolve hostname|Name or service not known|Temporary failure in name resolution/i, 'DNS', 'host name did not resolve'],
  [/timed out|Connection timeout/i, 'TIMEOUT', 'connection timed out'],
];

/**
 * Turns an ffmpeg exit into an {@link IngestError}. `lines` are recent (already scrubbed) stderr lines.
 * Returns undefined for a clean exit (code 0) of a non-live source.
 */
export function classifyExit(lines: readonly string[], code: number | null, signal: string | null, live: boolean): IngestError | undefined {
  const detail = lines.filter((l) => /error|fail|invalid|refused|not found|unauthorized|forbidden|timed out|resolve|no such|matches no|does not contain|whitelist/i.test(l)).slice(-3);
  const tail = detail.length > 0 ? detail : lines.slice(-2);
  for (const [re, errCode, summary] of RULES) {
    if (lines.some((l) => re.test(l))) return new IngestError(errCode, `${summary}: ${tail.join(' | ')}`);
  }
  if (code === 0 && !signal) return live ? new IngestError('STREAM_ENDED', 'stream ended (ffmpeg exited 0)') : undefined;
  const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
  return new IngestError(live ? 'STREAM_ENDED' : 'DECODE', `ffmpeg ${how}${tail.length ? `: ${tail.join(' | ')}` : ''}`);
}
