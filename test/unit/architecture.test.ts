import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm;

/** Each source file's imports: relative ones resolved to files under src/, packages by name. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = fs.readFileSync(file, 'utf8');
  const local: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] as string;
    if (spec.startsWith('.')) local.push(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
    else packages.push(spec);
  }
  return { local, packages };
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const area = (f: string) => path.relative(SRC, f).split(path.sep)[0];
const rel = (f: string) => path.relative(SRC, f);

describe('architecture', () => {
  it('keeps the networks apart: response/ never imports request/, nor the other way round', () => {
    const crossings = files.flatMap((f) =>
      (graph.get(f)?.local ?? [])
        .filter(
          (to) =>
            (area(f) === 'response' && area(to) === 'request') || (area(f) === 'request' && area(to) === 'response'),
        )
        .map((to) => `${rel(f)} -> ${rel(to)}`),
    );
    expect(crossings).toEqual([]);
  });

  it('keeps exchange/ pure: no HTTP, queue or database code, and nothing of the networks', () => {
    const banned = /^(fastify|@fastify\/|bullmq|ioredis|kysely|pg|better-sqlite3)/;
    const bad = files
      .filter((f) => area(f) === 'exchange')
      .flatMap((f) => {
        const { local, packages } = graph.get(f) ?? { local: [], packages: [] };
        return [
          ...packages.filter((p) => banned.test(p)).map((p) => `${rel(f)} imports ${p}`),
          ...local.filter((to) => area(to) !== 'exchange').map((to) => `${rel(f)} -> ${rel(to)}`),
        ];
      });
    expect(bad).toEqual([]);
  });

  it('has no circular imports', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (f: string, stack: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'visiting');
      for (const to of graph.get(f)?.local ?? []) if (graph.has(to)) visit(to, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('keeps modules readable in one sitting (under 400 lines)', () => {
    const long = files.filter((f) => fs.readFileSync(f, 'utf8').split('\n').length > 400).map(rel);
    expect(long).toEqual([]);
  });
  const routeFiles = files.filter((f) => f.endsWith('.routes.ts'));
  const code = (f: string) =>
    fs
      .readFileSync(f, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');

  it('keeps SQL out of route files: no kysely import, no query builder or sql template', () => {
    const sqlLike = /\b(selectFrom|insertInto|updateTable|deleteFrom)\(|\bsql`/;
    const bad = routeFiles.flatMap((f) => [
      ...(graph.get(f)?.packages ?? []).filter((p) => p === 'kysely').map(() => `${rel(f)} imports kysely`),
      ...(sqlLike.test(code(f)) ? [`${rel(f)} writes SQL`] : []),
    ]);
    expect(routeFiles.length).toBeGreaterThan(5);
    expect(bad).toEqual([]);
  });

  it('lets use cases open transactions: no repository calls .transaction()', () => {
    const repositories = files.filter((f) => f.endsWith('.repository.ts'));
    expect(repositories.length).toBeGreaterThan(5);
    expect(repositories.filter((f) => /\.transaction\(/.test(code(f))).map(rel)).toEqual([]);
  });

  it('maps refusals in one place: no route file answers a 4xx itself', () => {
    expect(routeFiles.filter((f) => /\.status\(\s*4\d\d\s*\)/.test(code(f))).map(rel)).toEqual([]);
  });
});
