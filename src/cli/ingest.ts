/** `crowdlens ingest`: see ./role.ts. */
import { runRole } from './role.ts';

export function main(argv: string[]): Promise<number> {
  return runRole('ingest', argv);
}
