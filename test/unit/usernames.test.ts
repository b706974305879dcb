import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordProblem } from '../../src/exchange/records.js';
import { normalizeUsername, usernameKey, usernameProblem, usernameShapeProblem } from '../../src/exchange/usernames.js';

const ZWNJ = '\u200C';

describe('usernames: what is accepted', () => {
  it.each([
    ['john'],
    ['J.Doe-99'],
    ['a_b'],
    ['...'], // the old ASCII rule allowed it; every name it allowed is still allowed
    ['مریم_۱۲'], // Persian letters with Persian digits
    ['مریم_12'], // ... or with ASCII digits
    ['سارا.rahimi'], // Persian with Latin: scripts that do not pass for each other
    [`نیم${ZWNJ}فاصله`], // ZWNJ between two Persian letters, as Persian writes it
    ['مُحَمَّد'], // Arabic letters with harakat (combining marks)
    ['Ελένη'], // Greek alone
    ['Дмитрий'], // Cyrillic alone
    ['देवनागरी'], // letters with vowel signs (spacing marks)
    ['山田たろう'], // Han with Hiragana
    ['김철수kim'], // Hangul with Latin
    ['Zoë'],
  ])('%s', (name) => {
    expect(usernameProblem(name)).toBeUndefined();
    expect(usernameShapeProblem(normalizeUsername(name))).toBeUndefined();
  });

  it('checks and stores the NFKC form: full-width letters, ligatures and decomposed accents are their plain letters', () => {
    expect(normalizeUsername('ｊｏｈｎ')).toBe('john');
    expect(normalizeUsername('ﬁona')).toBe('fiona');
    expect(normalizeUsername('Zoe\u0308')).toBe('Zoë');
    expect(usernameProblem('ｊｏ')).toMatch(/3 to 64 characters long \(it has 2\)/);
  });
});

describe('usernames: what is refused, and why', () => {
  it.each([
    ['jo', /must be 3 to 64 characters long/],
    ['j'.repeat(65), /must be 3 to 64 characters long/],
    ['x'.repeat(10_000), /must be 3 to 64 characters long/],
    ['ab\u0007c', /control character \(U\+0007\)/],
    ['john doe', /contains a space \(U\+0020\)/],
    ['john\u00A0doe', /contains a space \(U\+0020\)/], // a no-break space is a space once normalised
    ['john\u3000doe', /contains a space/],
    ['jo\u200Dhn', /invisible character \(U\+200D\)/], // zero-width joiner
    ['jo\u200Bhn', /invisible character \(U\+200B\)/], // zero-width space
    ['john\u202E', /invisible character \(U\+202E\)/], // right-to-left override
    ['jo\u00ADhn', /invisible character \(U\+00AD\)/], // soft hyphen
    ['jo\u3164hn', /invisible character/], // Hangul filler, a "letter" that shows nothing
    [`jo${ZWNJ}hn`, /zero-width non-joiner \(U\+200C\) outside an Arabic-script word/],
    [`${ZWNJ}مریم`, /zero-width non-joiner/],
    [`مریم${ZWNJ}`, /zero-width non-joiner/],
    ['مــریم', /tatweel/],
    ['pаypal', /mixes Latin and Cyrillic letters, which look alike/], // Cyrillic "а"
    ['αpple', /mixes Latin and Greek letters/],
    ['مریمשלום', /mixes letters of Arabic and Hebrew scripts/],
    ['ab.\u0301x', /combining mark \(U\+0301\) that is on no letter/],
    ['john@example', /contains "@" \(U\+0040\)/],
    ['john\u02B9s', /"ʹ" \(U\+02B9\), a letter of no one script/], // a modifier letter prime
    ['مریم۱1', /mixes digits of different systems/],
    ['مریم١۱', /mixes digits of different systems/], // Arabic-Indic one beside Persian one
    ['john۱۲', /Arabic digits beside letters of another script/],
  ])('%j', (name, reason) => {
    expect(usernameProblem(name)).toMatch(reason);
  });
});

describe('usernames: one account whatever the case or form', () => {
  it('folds case and compatibility forms to one key, and drops ZWNJ', () => {
    expect(new Set(['john', 'JOHN', 'John', 'ｊｏｈｎ', 'ＪＯＨＮ']).size).toBe(5);
    expect(new Set(['john', 'JOHN', 'John', 'ｊｏｈｎ', 'ＪＯＨＮ'].map(usernameKey))).toEqual(new Set(['john']));
    expect(usernameKey('STRASSE')).toBe(usernameKey('straße'));
    expect(usernameKey('ΟΔΥΣΣΕΥΣ')).toBe(usernameKey('οδυσσευς'));
    expect(usernameKey(`نیم${ZWNJ}فاصله`)).toBe(usernameKey('نیمفاصله'));
    expect(usernameKey('Zoe\u0308')).toBe(usernameKey('ZOË'));
  });

  it('the key is stable, and the same for every case and normalisation form of an accepted name', () => {
    const nameChar = fc.constantFrom(...'aAbZzß0_.-éÉمریمسارا۱۲ΑαΣσςДдİıǅ山たカ김'.split(''), 'e\u0301', 'ﬁ', 'Ａ');
    const name = fc.array(nameChar, { minLength: 3, maxLength: 20 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(name, (n) => {
        const key = usernameKey(n);
        expect(usernameKey(key)).toBe(key);
        expect(usernameKey(n.toUpperCase())).toBe(key);
        expect(usernameKey(n.toLowerCase())).toBe(key);
        for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD'] as const) expect(usernameKey(n.normalize(form))).toBe(key);
      }),
      { numRuns: 500 },
    );
  });

  it('any string: the exchange carries every name the Response side accepts, and a verdict never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 70 }), fc.string({ unit: 'grapheme' })), (s) => {
        const problem = usernameProblem(s);
        if (problem === undefined) expect(usernameShapeProblem(normalizeUsername(s))).toBeUndefined();
        else expect(problem).toEqual(expect.any(String));
      }),
      { numRuns: 2000 },
    );
  });

  it('every name the old ASCII rule allowed is still allowed, stored as it was', () => {
    const ascii = fc.stringMatching(/^[A-Za-z0-9_.-]{3,64}$/);
    fc.assert(
      fc.property(ascii, (n) => {
        expect(usernameProblem(n)).toBeUndefined();
        expect(normalizeUsername(n)).toBe(n);
      }),
      { numRuns: 500 },
    );
  });
});

describe('usernames in exchange records', () => {
  const user = (username: string) => ({
    id: '00000000-0000-4000-8000-000000000001',
    username,
    email: null,
    is_active: true,
    is_admin: false,
    profile_type_id: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    deleted_at: null,
    version: 1,
    hashed_password: `$2b$04$${'a'.repeat(53)}`,
    password_version: 1,
    password_changed_at: '2026-01-01T00:00:00.000Z',
  });

  it('accepts names of any script, 64 characters even outside the BMP', () => {
    for (const n of ['مریم_۱۲', 'سارا.rahimi', `نیم${ZWNJ}فاصله`, 'john', '𠀀'.repeat(64)]) {
      expect(recordProblem('users', user(n)), n).toBeUndefined();
    }
  });

  it('refuses a name that is not in NFKC form, too long, or holds an invisible or control character', () => {
    expect(recordProblem('users', user('ｊｏｈｎ'))).toMatch(/^\/username is not in NFKC form/);
    expect(recordProblem('users', user('j'.repeat(65)))).toMatch(/^\/username/);
    expect(recordProblem('users', user('jo\u200Dhn'))).toMatch(/^\/username contains .*U\+200D/);
    expect(recordProblem('users', user('jo\nhn'))).toMatch(/^\/username contains .*U\+000A/);
  });
});
