/**
 * What the long-running commands (`crowdlens start`, `crowdlens api | ingest | worker`) do first: parse their
 * arguments, answer --help, and load the one validated configuration from flags, env and an optional file.
 */
import { ConfigError, loadConfig, type Config } from '../shared/config.ts';
import { redactText } from '../shared/redact.ts';

/** A command's parsed arguments: --help, or flags for the config schema (dotted keys) and a config file. */
export type CommandArgs = { help: true } | { help: false; flags: Record<string, unknown>; config: string | undefined };

/**
 * The command's configuration, or its exit status when it is done already: 0 after --help (the usage printed),
 * 2 on bad arguments or configuration (the error written to stderr, credentials masked, with a pointer to --help).
 */
export function commandConfig(command: string, usage: string, argv: string[], parse: (argv: string[]) => CommandArgs): Config | number {
  let args: CommandArgs;
  try {
    args = parse(argv);
  } catch (err) {
    process.stderr.write(`crowdlens ${command}: ${redactText((err as Error).message)}\nTry "crowdlens ${command} --help".\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    return loadConfig({ flags: args.flags, ...(args.config ? { file: args.config } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`crowdlens ${command}: ${redactText(err.message)}\n`);
      return 2;
    }
    throw err;
  }
}
