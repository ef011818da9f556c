/**
 * Which camera URLs the service accepts: the schemes ingest supports (src/ingest's parser decides), and video
 * files only inside the media directory. A relative path is taken relative to the media directory; an absolute
 * path or a `file:` URL must lie inside it, `..` and symlinks included (the check runs on the real path).
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseSourceUrl, type ParsedSource } from '../ingest/index.ts';
import { maskUrl } from '../shared/redact.ts';
import { FieldError, type UrlPolicy } from '../shared/service.ts';

/** The media-directory URL policy, plus what ingest should get for a stored URL. */
export interface MediaUrlPolicy extends UrlPolicy {
  /** The media directory, absolute. */
  readonly mediaDir: string;
  /** What to hand to ingest for a stored URL: relative file paths become absolute under the media directory. */
  resolve(url: string): string;
}

/** True when `url` is a file path rather than a URL with a scheme (the rule src/ingest applies). */
function isPath(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]+:/i.test(url);
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** Creates the policy for `mediaDir` (resolved against the working directory). */
export function createUrlPolicy(mediaDir: string): MediaUrlPolicy {
  const root = path.resolve(mediaDir);
  const resolve = (url: string): string => (isPath(url) && !path.isAbsolute(url) ? path.join(root, url) : url);

  return {
    mediaDir: root,
    resolve,
    async check(url, field) {
      let parsed: ParsedSource;
      try {
        parsed = parseSourceUrl(resolve(url), field);
      } catch (err) {
        throw new FieldError(field, (err as Error).message);
      }
      if (parsed.kind !== 'file') return;
      const file = parsed.filePath as string;
      const where = `CROWDLENS_MEDIA_DIR (${root})`;
      // Lexical first, so "../../etc/passwd" is refused without touching the disk.
      if (!inside(root, path.resolve(file))) throw new FieldError(field, `${field}: files must be inside ${where} (got ${JSON.stringify(maskUrl(url))})`);
      let realRoot: string;
      let realFile: string;
      try {
        realRoot = await realpath(root);
      } catch (err) {
        throw new FieldError(field, `${field}: the media directory ${root} is not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      try {
        realFile = await realpath(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new FieldError(field, `${field}: ${code === 'ENOENT' ? 'file not found' : `file not readable (${code ?? (err as Error).message})`}: ${path.relative(root, file)} in ${where}`);
      }
      // A symlink inside the media directory that points out of it is refused too.
      if (!inside(realRoot, realFile)) throw new FieldError(field, `${field}: ${path.relative(root, file)} resolves outside ${where} (symlinks may not leave it)`);
      const info = await stat(realFile);
      if (!info.isFile()) throw new FieldError(field, `${field}: not a regular file: ${path.relative(root, file)} in ${where}`);
    },
  };
}
