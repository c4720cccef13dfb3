// gen.mjs builds ../list.txt.gz, the list of common passwords and words
// embedded by the Go package github.com/portero-id/portero/identity/commonpasswords.
//
// Usage: cd identity/commonpasswords/gen && npm ci && node gen.mjs
//
// Sources (exact versions pinned in package.json / package-lock.json):
//   @zxcvbn-ts/language-common  dictionary['passwords-common']
//   @zxcvbn-ts/language-es-es   every dictionary it exports: commonWords,
//                               firstnames, lastnames, wikipedia and the
//                               small word sequences (numbers, months, ...)
//
// Every entry is trimmed, NFC-normalised, lower-cased and NFC-normalised
// again (the Go side normalises passwords the same way); entries shorter
// than 4 code points or containing control characters are dropped; the rest
// is deduplicated, sorted by UTF-8 bytes (the order Go's sort.Strings and
// binary search use) and written one per line, gzip level 9.
import { gzipSync, constants } from 'node:zlib';
import { writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

import { dictionary as common } from '@zxcvbn-ts/language-common';
import { dictionary as esES } from '@zxcvbn-ts/language-es-es';

const MIN_RUNES = 4;
const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'list.txt.gz');
const require = createRequire(import.meta.url);

function version(pkg) {
  return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
}

const sources = [['passwords-common', common['passwords-common']]];
for (const [name, words] of Object.entries(esES)) sources.push([name, words]);

function normalise(s) {
  return s.trim().normalize('NFC').toLowerCase().normalize('NFC');
}

const set = new Set();
for (const [name, words] of sources) {
  if (!Array.isArray(words)) throw new Error(`dictionary ${name} is not an array`);
  let kept = 0;
  for (const w of words) {
    if (typeof w !== 'string') continue;
    const n = normalise(w);
    if ([...n].length < MIN_RUNES) continue;
    if (/[\p{Cc}\p{Cs}\u2028\u2029]/u.test(n)) continue;
    if (!set.has(n)) kept++;
    set.add(n);
  }
  console.log(`${name}: ${words.length} entries, ${kept} new`);
}

// Sort by UTF-8 bytes, not UTF-16 code units, to match Go's string order.
const enc = new TextEncoder();
const list = [...set].map((s) => [s, enc.encode(s)]);
list.sort((a, b) => Buffer.compare(a[1], b[1]));

const text = list.map(([s]) => s).join('\n') + '\n';
const gz = gzipSync(Buffer.from(text, 'utf8'), { level: constants.Z_BEST_COMPRESSION });
writeFileSync(out, gz);

console.log(
  `@zxcvbn-ts/language-common@${version('@zxcvbn-ts/language-common')} ` +
    `@zxcvbn-ts/language-es-es@${version('@zxcvbn-ts/language-es-es')}`,
);
console.log(`wrote ${out}: ${list.length} entries, ${Buffer.byteLength(text)} bytes raw, ${gz.length} bytes gzip`);
