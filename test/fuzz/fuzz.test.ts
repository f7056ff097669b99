/**
 * Quick fuzz: a few hundred mutated inputs per format. Each must parse or end in a ThawError
 * (never another exception), and the mutations must reach several distinct refusal kinds (so the
 * harness is exercising the parsers, not just one early check). The slowest case is printed, not
 * asserted (no test depends on wall-clock time); the long run counts cases over a second as hangs:
 * `source scripts/env.sh && node test/fuzz/fuzz.ts --long`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FORMATS, fuzzFormat } from './fuzz.ts';

const CASES = Number(process.env.THAW_FUZZ_CASES ?? 600);
const MIN_KINDS: Record<string, number> = { 'safetensors': 6, 'pytorch-zip': 8, 'pytorch-legacy': 8, 'tfjs': 4, 'tfjs-umd': 3 };

for (const format of FORMATS) {
  test(`fuzz ${format}: ${CASES} cases, only ThawErrors`, async () => {
    const s = await fuzzFormat(format, { cases: CASES, seed: 1 });
    assert.is(s.cases, CASES);
    assert.equal(s.crashes, [], `non-ThawError exceptions:\n${s.crashes.map((c) => c.message).join('\n')}`);
    console.log(`  ${format}: slowest case ${s.slowestMs.toFixed(0)} ms`);
    const kinds = Object.keys(s.kinds);
    assert.ok(kinds.length >= MIN_KINDS[format], `only ${kinds.length} error kinds reached: ${kinds.join(', ')}`);
    assert.ok(s.errors > s.cases / 4, `only ${s.errors} of ${s.cases} mutated inputs were refused`);
  });
}

test.run();
