import path from 'node:path';
import { defineConfig } from 'vite';

/*
 * One console per network, built separately: `vite build -c web/vite.config.ts --mode response` writes
 * dist/web/response/ (index.html + assets/), `--mode request` dist/web/request/. Each API serves its own
 * folder at `/`. JSX goes through Vite 8's Oxc transform with Preact's automatic runtime, so no Preact
 * plugin is needed.
 */
const WEB = import.meta.dirname;
const ROOT = path.resolve(WEB, '..');

export type ConsoleSide = 'response' | 'request';

export function consoleConfig(side: ConsoleSide) {
  return defineConfig({
    root: path.join(WEB, side),
    base: './',
    publicDir: false,
    logLevel: 'warn',
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    build: {
      outDir: path.join(ROOT, 'dist', 'web', side),
      emptyOutDir: true,
      assetsDir: 'assets',
      // Never data: URLs for fonts or images: the CSP allows fonts from 'self' only.
      assetsInlineLimit: 0,
      target: 'es2022',
      reportCompressedSize: false,
    },
  });
}

export default defineConfig(({ mode }) => {
  if (mode !== 'response' && mode !== 'request') {
    throw new Error(`build the console with --mode response or --mode request (got "${mode}")`);
  }
  return consoleConfig(mode);
});
