import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { App } from './http.js';

/**
 * The policy of the console's own answers (index.html and its assets), stricter than the API's
 * (platform/security-headers.ts): nothing by default; scripts, styles, fonts and calls from this origin
 * only; no inline script or style attribute (the console uses classes and SVG attributes).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite puts the hashed files here, under the console's root. */
const ASSETS_DIR = 'assets';

export const NOT_BUILT = 'The console is not built: run `npm run build`';

/**
 * Where the built console of a network is: `<repo>/dist/web/<side>/`. This file runs from `src/platform/`
 * (tsx) or `dist/platform/` (built), both two levels below the repository's root.
 */
export function defaultConsoleRoot(side: 'response' | 'request'): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..', 'dist', 'web', side);
}

/**
 * GET / (the console's index.html) and GET /assets/* (its hashed files) from `root`, with the console's
 * policy. The browser routes by the URL's hash (`/#/users`), so no API path is shadowed. index.html is
 * read on every request (it is small, and a rebuild is then served without a restart) and revalidated
 * every time (`no-cache`); a hashed asset never changes under its name, so it is cached for a year. Until
 * the console is built, `/` answers 503 saying how to build it.
 */
export async function registerConsolePages(app: App, root: string): Promise<void> {
  await app.register(async (pages) => {
    // Only this plugin's answers (and its 404s) get the console's policy; the API keeps helmet's.
    pages.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CONSOLE_CSP);
      return payload;
    });

    pages.get('/', { schema: { hide: true } }, async (_req, reply) => {
      let html: Buffer;
      try {
        html = await fs.readFile(path.join(root, 'index.html'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        return reply.status(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT);
      }
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
    });

    await pages.register(fastifyStatic, {
      root: path.join(root, ASSETS_DIR),
      prefix: `/${ASSETS_DIR}/`,
      // Missing until the console is built; `/` says so.
      suppressWarning: true,
      index: false,
      list: false,
      dotfiles: 'deny',
      cacheControl: true,
      maxAge: 31_536_000_000,
      immutable: true,
    });
  });
}
