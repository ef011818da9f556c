import { pino, type Logger, type LoggerOptions } from 'pino';
import { redactText } from './redact.ts';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerConfig {
  /** pino level; default `info` (`CROWDLENS_LOG_LEVEL`). */
  readonly level?: string;
  /** Where to write; default stderr, so stdout stays free for `--json` output. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * Structured JSON logger. String values pass through {@link redactText} so a camera URL with
 * credentials can never reach a log line, whoever logged it.
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? process.env['CROWDLENS_LOG_LEVEL'] ?? 'info',
    base: { app: 'crowdlens' },
    formatters: {
      log(obj) {
        return scrub(obj) as Record<string, unknown>;
      },
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  return pino(options, (config.destination ?? process.stderr) as pino.DestinationStream);
}

function scrub(value: unknown, depth = 0): unknown {
  if (depth > 6) return value;
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return { type: value.name, message: redactText(value.message), stack: value.stack ? redactText(value.stack) : undefined };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
    return out;
  }
  return value;
}
