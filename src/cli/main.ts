/**
 * `crowdlens <command> [options]`: dispatches to one module per command, imported only when that
 * command runs (so `analyze` never loads ffmpeg or the tracker, and a broken command cannot break the others).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';

/** A command module: `main(argv)` gets the arguments after the command name and returns the exit code. */
export interface CommandModule {
  main(argv: string[]): Promise<number>;
}

interface Command {
  readonly summary: string;
  readonly load: () => Promise<CommandModule>;
}

/** The commands, in help order. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  start: { summary: 'the service: REST API, dashboard, live Socket.IO, /metrics and every registered camera (all roles; with REDIS_URL over Redis)', load: () => import('./start.ts') },
  api: { summary: 'scale-out: an API node (REST, dashboard, Socket.IO over Redis)', load: () => import('./api.ts') },
  ingest: { summary: 'scale-out: an ingest process (owns cameras by lease, tracks their people)', load: () => import('./ingest.ts') },
  worker: { summary: 'scale-out: an inference worker (face models on frames from the queue)', load: () => import('./worker.ts') },
  analyze: { summary: 'faces, age and gender in image files and folders (--json, --annotate DIR)', load: () => import('./analyze.ts') },
  run: { summary: 'the live pipeline on a camera URL or video file: people, age/gender, demographics', load: () => import('./run.ts') },
  track: { summary: 'run the IoU tracker on MOTChallenge detections (det.txt) and write MOT results', load: () => import('./track.ts') },
  'mot-eval': { summary: 'score MOTChallenge tracks against ground truth (CLEAR-MOT, IDF1)', load: () => import('./mot-eval.ts') },
};

function packageVersion(): string {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Top-level usage text. */
export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: crowdlens <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  this text; "crowdlens <command> --help" for a command's options`,
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  print the version',
    '',
    'Configuration: defaults < JSON file (--config FILE or CROWDLENS_CONFIG) < CROWDLENS_* env < flags.',
    'Try: crowdlens start   (then open the dashboard URL it prints)',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    (first === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return first === undefined ? 2 : 0;
  }
  if (first === 'help') {
    const cmd = rest[0];
    if (cmd !== undefined && Object.hasOwn(COMMANDS, cmd)) return runCommand(cmd, ['--help']);
    process.stdout.write(`${usage()}\n`);
    return cmd === undefined ? 0 : unknown(cmd);
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`crowdlens ${packageVersion()}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, first)) return unknown(first);
  return runCommand(first, rest);
}

function unknown(cmd: string): number {
  process.stderr.write(`crowdlens: unknown command ${JSON.stringify(cmd)} (commands: ${Object.keys(COMMANDS).join(', ')}; see "crowdlens --help")\n`);
  return 2;
}

async function runCommand(name: string, argv: string[]): Promise<number> {
  const command = COMMANDS[name] as Command;
  try {
    const mod = await command.load();
    return await mod.main(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`crowdlens ${name}: ${err.message}\n`);
      return 2;
    }
    // Unexpected failure: one structured line (the logger scrubs credentials from URLs in messages).
    createLogger().fatal({ err, command: name }, `crowdlens ${name} failed: ${(err as Error).message}`);
    return 1;
  }
}

/** Process entry: runs the CLI and sets the exit code. Used by bin/crowdlens.js and `tsx src/cli/main.ts`. */
export function start(argv: string[]): void {
  // `crowdlens analyze --json ... | head` closes stdout early: that is the reader's choice, not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`crowdlens: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

// Run only when executed as the entry point (tests import `run` and `usage`).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) start(process.argv.slice(2));
