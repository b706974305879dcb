import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { en } from '../../web/i18n/en.js';
import { fa } from '../../web/i18n/fa.js';

/*
 * The console's messages: the two catalogues have the same keys and placeholders, the Persian one has no
 * English left in it, and no user-visible text is written into the components (web/src) instead of a
 * catalogue — found by parsing each .tsx/.ts file with the TypeScript compiler, not by a regex.
 */
const WEB_SRC = path.resolve(import.meta.dirname, '../../web/src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.tsx?$/.test(p) ? [p] : [];
  });
}

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
// Shown as it is in both languages: each language's own name on the switch, and the empty-value dash.
const SAME_IN_BOTH = new Set(['lang.en', 'lang.fa', 'common.none']);
// In English a task state is Celery's own word (the Persian console shows it beside the Persian one).
const CELERY_STATES = ['PENDING', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE'];
// Attributes a person reads (or hears): their literal values must come from a catalogue.
const READ_ATTRIBUTES = new Set(['aria-label', 'title', 'placeholder', 'alt', 'label']);

interface Finding {
  file: string;
  line: number;
  text: string;
}

/** JSX text with a letter in it, read attributes given a literal, and prose-like string literals. */
function literalsIn(file: string): Finding[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Finding[] = [];
  const add = (node: ts.Node, text: string) =>
    found.push({
      file: path.relative(WEB_SRC, file),
      line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      text,
    });
  const visit = (node: ts.Node) => {
    if (ts.isJsxText(node) && /\p{L}/u.test(node.text)) add(node, node.text.trim());
    if (ts.isJsxAttribute(node) && node.initializer && ts.isStringLiteral(node.initializer)) {
      const name = node.name.getText(source);
      if (READ_ATTRIBUTES.has(name) && /\p{L}/u.test(node.initializer.text)) add(node, node.initializer.text);
      if (name === 'style') add(node, 'a style attribute (the CSP refuses inline styles)');
    }
    if (
      (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) &&
      !ts.isImportDeclaration(node.parent) &&
      !ts.isJsxAttribute(node.parent) &&
      // Prose: two words of letters with a space between (keys, paths, class names have none).
      /\p{L}{2,}[,.:;!?]?\s+\p{L}{2,}/u.test(node.text)
    ) {
      add(node, node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('the console’s messages', () => {
  it('has the same keys in English and Persian, none empty', () => {
    expect(Object.keys(fa).sort()).toEqual(Object.keys(en).sort());
    for (const [key, text] of Object.entries(fa)) expect(text.trim(), key).not.toBe('');
  });

  it('has the same placeholders in both languages', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(fa[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it("names task states in Celery's words in English", () => {
    for (const state of CELERY_STATES) expect(en[`state.${state}` as keyof typeof en]).toBe(state);
  });

  it('has no English left in the Persian catalogue, and every Persian message differs from the English', () => {
    for (const [key, text] of Object.entries(fa)) {
      if (SAME_IN_BOTH.has(key)) continue;
      expect(text.replace(/\{\w+\}/g, ''), key).not.toMatch(/[A-Za-z]/);
      expect(text, key).not.toBe(en[key as keyof typeof en]);
    }
  });

  it('finds a JSX text literal when one is there (the scan can fail)', () => {
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-scan-')), 'x.tsx');
    try {
      fs.writeFileSync(tmp, 'export const X = () => <p aria-label="Close it">Hello there</p>;\n');
      expect(literalsIn(tmp).map((f) => f.text)).toEqual(['Close it', 'Hello there']);
    } finally {
      fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
    }
  });

  it('writes no user-visible text in web/src: every string comes from a catalogue', () => {
    const found = files(WEB_SRC).flatMap(literalsIn);
    expect(found).toEqual([]);
  });

  it('uses only message keys the catalogues have', () => {
    const used = files(WEB_SRC).flatMap((f) =>
      [...fs.readFileSync(f, 'utf8').matchAll(/\bt\(\s*'([\w.]+)'/g)].map((m) => m[1] as string),
    );
    expect(used.length).toBeGreaterThan(50);
    for (const key of used) expect(Object.hasOwn(en, key), key).toBe(true);
  });
});
