/**
 * The dashboard's assets, served from memory: `index.html`, `dashboard.css` and `favicon.svg` as they are in this
 * folder, and `dashboard.js`, the page's TypeScript (`page/main.ts`, with Chart.js and socket.io-client from
 * node_modules) bundled by esbuild on first use and cached for the life of the process. No build step and no
 * generated files: a fresh clone's `npm start` serves the page, and the page can never be older than the server
 * and the shared types it was compiled against. Nothing is loaded from another origin (CSP `script-src 'self'`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../shared/logger.ts';

/** This folder: the page's static files and its sources (`page/`). */
export const DASHBOARD_DIR = path.dirname(fileURLToPath(import.meta.url));

/** One served file. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Strong ETag (content hash). */
  readonly etag: string;
}

/** The served files by URL path. */
export type DashboardAssets = ReadonlyMap<string, Asset>;

const STATIC_FILES: readonly (readonly [urlPath: string, file: string, type: string])[] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard.css', 'dashboard.css', 'text/css; charset=utf-8'],
  ['/favicon.svg', 'favicon.svg', 'image/svg+xml'],
];

function asset(body: Buffer | string, type: string): Asset {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { body: buf, type, etag: `"${createHash('sha256').update(buf).digest('base64url').slice(0, 27)}"` };
}

/** True when `dir` holds a dashboard (an index.html and the page's entry point). */
export function hasDashboard(dir: string): boolean {
  return existsSync(path.join(dir, 'index.html')) && existsSync(path.join(dir, 'page', 'main.ts'));
}

/** Bundles `dir/page/main.ts` for browsers: one minified ES module plus its source map. */
export async function bundlePage(dir: string): Promise<{ js: string; map: string; inputs: string[] }> {
  // Loaded on first use: the API's tests and `crowdlens run` never pay for it.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(dir, 'page', 'main.ts')],
    bundle: true,
    write: false,
    outdir: 'out',
    entryNames: 'dashboard',
    format: 'esm',
    platform: 'browser',
    // Browsers from 2022 on (Chrome/Edge 94, Firefox 93, Safari 15.4): what phones and tablets in use run.
    target: ['es2022'],
    minify: true,
    sourcemap: 'external',
    metafile: true,
    legalComments: 'eof',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
    absWorkingDir: dir,
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js || !map) throw new Error('esbuild produced no dashboard.js');
  return { js: js.text, map: map.text, inputs: Object.keys(result.metafile.inputs) };
}

const cache = new Map<string, Promise<DashboardAssets>>();

/** The dashboard's files of `dir`, built once per process (a failed build is retried on the next call). */
export function dashboardAssets(dir: string): Promise<DashboardAssets> {
  let built = cache.get(dir);
  if (!built) {
    built = (async () => {
      const files = new Map<string, Asset>();
      for (const [urlPath, file, type] of STATIC_FILES) files.set(urlPath, asset(await readFile(path.join(dir, file)), type));
      const { js, map } = await bundlePage(dir);
      files.set('/dashboard.js', asset(js, 'text/javascript; charset=utf-8'));
      files.set('/dashboard.js.map', asset(map, 'application/json; charset=utf-8'));
      return files;
    })();
    cache.set(dir, built);
    built.catch(() => {
      if (cache.get(dir) === built) cache.delete(dir);
    });
  }
  return built;
}

/** URL paths the dashboard serves. */
export const DASHBOARD_PATHS: readonly string[] = [...STATIC_FILES.map(([p]) => p), '/index.html', '/dashboard.js', '/dashboard.js.map'];

/**
 * Registers the dashboard's routes on `app` (GET and HEAD). Answers 304 to a matching If-None-Match; the files
 * are revalidated on every load (`no-cache`), so a restarted server with a new page is picked up at once.
 */
export function registerDashboard(app: FastifyInstance, dir: string, log: Logger, options: { prebuild?: boolean } = {}): void {
  if (options.prebuild) {
    dashboardAssets(dir).catch((err: unknown) => log.error({ err }, 'dashboard build failed'));
  }
  for (const urlPath of DASHBOARD_PATHS) {
    app.get(urlPath, { schema: { hide: true } as object }, async (req, reply) => {
      let files: DashboardAssets;
      try {
        files = await dashboardAssets(dir);
      } catch (err) {
        req.log.error({ err }, 'dashboard build failed');
        return reply.code(500).type('text/plain; charset=utf-8').send(`crowdlens: the dashboard could not be built: ${(err as Error).message}\n`);
      }
      const file = files.get(urlPath === '/index.html' ? '/' : urlPath) as Asset;
      reply.header('etag', file.etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
      return reply.type(file.type).send(file.body);
    });
  }
}
