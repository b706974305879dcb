/**
 * What a username may be, and when two usernames are the same account. Both networks use these: the
 * Response side to accept a name and keep names unique, the Request side to find the account a login
 * names, and the exchange to check the names it carries. Pure functions of strings.
 *
 * The rule (README, "Usernames"):
 * - A name is stored in Unicode NFKC form: full-width, ligature and other compatibility forms become
 *   their plain letters and digits before anything else is checked.
 * - 3 to 64 characters (code points, after NFKC): letters and digits of any script, combining marks
 *   on a letter (Arabic harakat, Indic vowel signs), and "_", "." and "-".
 * - Refused: control characters, spaces, and invisible characters (format characters and other
 *   default-ignorable code points: zero-width joiner, bidi controls, soft hyphen, Hangul fillers ...),
 *   and the Arabic tatweel, which only stretches a word. One exception: the zero-width non-joiner
 *   (U+200C), which Persian writes inside words ("نیم‌فاصله"), is allowed between two Arabic-script
 *   letters. It is left out of the comparison key, so two names that differ only by it are one name.
 * - Scripts that look alike are not mixed (after Unicode TS #39's "moderately restrictive" level): the
 *   letters of a name come from one script; or from Latin and one other script that is not Cyrillic,
 *   Greek, Cherokee, Coptic or Lisu (so "سارا.rahimi" is accepted, "pаypal" with a Cyrillic "а" is not);
 *   or from the Chinese, Japanese and Korean combinations (Han with Hiragana and Katakana, with Bopomofo,
 *   or with Hangul, each optionally with Latin).
 * - Digits are ASCII 0-9, or the digits of the letters' own script when every letter is of that
 *   script ("مریم_۱۲"); never two digit systems in one name (Arabic-Indic "١" beside Persian "۱").
 * - Unique without regard to case: `usernameKey` is the name in NFKC, folded to lower case, without
 *   ZWNJ. `JOHN`, `John` and `ｊｏｈｎ` are all `john`.
 */

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 64;

const ZWNJ = '\u200C';
const TATWEEL = '\u0640';

/** The form a username is stored and shown in: Unicode NFKC. */
export const normalizeUsername = (name: string): string => name.normalize('NFKC');

/**
 * The comparison key of a username: two names are one account exactly when their keys are equal.
 * NFKC, then a full case fold (upper then lower case, so "ß" matches "SS" and "ς" matches "Σ"), then NFKC
 * again (folding can leave a sequence that composes), without ZWNJ.
 */
export function usernameKey(name: string): string {
  return name.normalize('NFKC').replaceAll(ZWNJ, '').toUpperCase().toLowerCase().normalize('NFKC');
}

const code = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
const is = (re: RegExp, ch: string) => re.test(ch);
const LETTER = /^\p{L}$/u;
const MARK = /^\p{M}$/u;
const DIGIT = /^\p{Nd}$/u;
const CONTROL = /^\p{Cc}$/u;
const SPACE = /^\p{White_Space}$/u;
const INVISIBLE = /^[\p{Cf}\p{Default_Ignorable_Code_Point}]$/u;
const PUNCTUATION = /^[_.-]$/;

/**
 * Unicode 15's scripts, by the names JavaScript's `\p{Script=…}` knows. A name this Node does not know
 * is skipped (older Unicode data), and a letter of a script missing here is refused as one of no script.
 */
const SCRIPTS = `Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali
Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham
Cherokee Chorasmian Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra
Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati
Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic
Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi
Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian
Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui
Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari
Nandinagari New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic
Old_North_Arabian Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage
Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan
Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri
Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan
Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square`.split(/\s+/);

let scriptTests: { name: string; script: RegExp; extensions: RegExp }[] | undefined;
function scriptRegexps() {
  scriptTests ??= SCRIPTS.flatMap((name) => {
    try {
      return [
        { name, script: new RegExp(`^\\p{Script=${name}}$`, 'u'), extensions: new RegExp(`^\\p{scx=${name}}$`, 'u') },
      ];
    } catch {
      return [];
    }
  });
  return scriptTests;
}

const scriptCache = new Map<number, string | undefined>();
/**
 * The script a letter, mark or digit belongs to; undefined for one shared by all scripts (ASCII digits,
 * most combining marks, modifier letters such as the prime "ʹ"). A shared letter that Unicode lists for a
 * few scripts (the Japanese "ー", the apostrophe "ʼ") counts as the first of them it names.
 */
function scriptOf(ch: string): string | undefined {
  const cp = ch.codePointAt(0) as number;
  if (scriptCache.has(cp)) return scriptCache.get(cp);
  const tests = scriptRegexps();
  let found = tests.find((t) => t.script.test(ch))?.name;
  if (found === undefined && is(LETTER, ch)) found = tests.find((t) => t.extensions.test(ch))?.name;
  if (scriptCache.size < 10_000) scriptCache.set(cp, found);
  return found;
}

/** The first code point of the run of ten decimal digits `ch` belongs to: which digit system it is. */
function digitZero(ch: string): number {
  const cp = ch.codePointAt(0) as number;
  let start = cp;
  while (is(DIGIT, String.fromCodePoint(start - 1))) start--;
  return cp - ((cp - start) % 10);
}

/** Scripts whose letters pass for Latin ones: never mixed with Latin in one name. */
const LATIN_LOOKALIKES = new Set(['Cyrillic', 'Greek', 'Cherokee', 'Coptic', 'Lisu']);
/** The script sets a name may use beside single scripts (UTS #39, moderately restrictive). */
const CJK_SETS = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

function mixedScriptsProblem(scripts: ReadonlySet<string>): string | undefined {
  if (scripts.size <= 1) return undefined;
  const list = [...scripts];
  if (CJK_SETS.some((allowed) => list.every((s) => allowed.has(s)))) return undefined;
  const [a, b] = list as [string, string];
  if (scripts.size === 2 && scripts.has('Latin')) {
    const other = a === 'Latin' ? b : a;
    if (!LATIN_LOOKALIKES.has(other)) return undefined;
    return `mixes Latin and ${other} letters, which look alike`;
  }
  return `mixes letters of ${list.slice(0, -1).join(', ')} and ${list.at(-1)} scripts; a name may mix Latin with one other script only`;
}

/**
 * Why `name` cannot be a new username, or undefined when it can. `name` is checked in NFKC form (the
 * form it is stored in). The reason reads after the word "username", e.g. "contains a space (U+0020)".
 */
export function usernameProblem(input: string): string | undefined {
  // Bounded before anything is normalised, so a huge input costs nothing.
  if (input.length > USERNAME_MAX * 8) return `must be ${USERNAME_MIN} to ${USERNAME_MAX} characters long`;
  const chars = Array.from(normalizeUsername(input));
  if (chars.length < USERNAME_MIN || chars.length > USERNAME_MAX) {
    return `must be ${USERNAME_MIN} to ${USERNAME_MAX} characters long (it has ${chars.length})`;
  }
  const letterScripts = new Set<string>();
  const digitSystems = new Map<number, string | undefined>();
  for (const [i, ch] of chars.entries()) {
    const cp = ch.codePointAt(0) as number;
    if (is(CONTROL, ch)) return `contains a control character (${code(cp)})`;
    if (is(SPACE, ch)) return `contains a space (${code(cp)})`;
    if (ch === ZWNJ) {
      const before = lastBase(chars, i);
      const after = chars[i + 1];
      const joinsArabic = before !== undefined && after !== undefined && is(LETTER, after);
      if (!joinsArabic || scriptOf(before) !== 'Arabic' || scriptOf(after) !== 'Arabic') {
        return `contains the invisible zero-width non-joiner (U+200C) outside an Arabic-script word`;
      }
      continue;
    }
    if (is(INVISIBLE, ch)) return `contains an invisible character (${code(cp)})`;
    if (ch === TATWEEL) return 'contains the Arabic tatweel (U+0640), which only stretches letters';
    if (is(LETTER, ch)) {
      // A letter of no script is a modifier ("ʹ", "ˈ"): punctuation in disguise.
      const script = scriptOf(ch);
      if (script === undefined) return `contains "${ch}" (${code(cp)}), a letter of no one script`;
      letterScripts.add(script);
    } else if (is(MARK, ch)) {
      if (lastBase(chars, i + 1) === undefined) return `has a combining mark (${code(cp)}) that is on no letter`;
      const script = scriptOf(ch);
      if (script !== undefined) letterScripts.add(script);
    } else if (is(DIGIT, ch)) {
      digitSystems.set(digitZero(ch), scriptOf(ch));
    } else if (!PUNCTUATION.test(ch)) {
      return `contains "${ch}" (${code(cp)}); a username has letters, digits, "_", "." and "-" only`;
    }
  }
  const mixed = mixedScriptsProblem(letterScripts);
  if (mixed) return mixed;
  if (digitSystems.size > 1) return 'mixes digits of different systems (such as "1" and "۱")';
  const [digitScript] = digitSystems.values();
  if (digitScript !== undefined && [...letterScripts].some((s) => s !== digitScript)) {
    return `has ${digitScript} digits beside letters of another script; use the digits 0-9`;
  }
  return undefined;
}

/** The letter that the marks ending at `chars[end - 1]` sit on, or undefined when they sit on none. */
function lastBase(chars: readonly string[], end: number): string | undefined {
  for (let i = end - 1; i >= 0; i--) {
    const ch = chars[i] as string;
    if (is(LETTER, ch)) return ch;
    if (!is(MARK, ch)) return undefined;
  }
  return undefined;
}

/**
 * Why `name` cannot travel in an exchange record, or undefined when it can. Looser than
 * `usernameProblem` on purpose: the script and digit rules are the Response side's to apply when a name
 * is made, and a Request side with older Unicode data must not refuse a file over a letter it does not
 * know. What the Request side relies on is checked: the stored form (NFKC), the length, and no control
 * or invisible character but ZWNJ.
 */
export function usernameShapeProblem(name: string): string | undefined {
  if (name !== normalizeUsername(name)) return 'is not in NFKC form';
  const chars = Array.from(name);
  if (chars.length < 1 || chars.length > USERNAME_MAX) return `must be 1 to ${USERNAME_MAX} characters long`;
  const bad = chars.find((ch) => ch !== ZWNJ && (is(CONTROL, ch) || is(SPACE, ch) || is(INVISIBLE, ch)));
  return bad === undefined
    ? undefined
    : `contains a control, space or invisible character (${code(bad.codePointAt(0) as number)})`;
}
