import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsModule, type DtlsExports } from '../../../src/dtls/wasm-module.js';
import { ensureTestWasm } from '../../helpers/wasm.js';

/** The test-only exports of tools/mbedtls/fleet_libc_test.c (not in the shipped module). */
interface TestExports extends DtlsExports {
  fleet_test_gmtime(time: bigint, out: number): number;
  fleet_test_format(buffer: number, size: number, which: number, number: bigint, text: number): number;
}

const module = await DtlsModule.load({ wasmPath: await ensureTestWasm() });
const exports = module.exports as TestExports;

function gmtime(seconds: number): number[] | undefined {
  const out = exports.fleet_malloc(8 * 4);
  try {
    if (exports.fleet_test_gmtime(BigInt(seconds), out) !== 0) return undefined;
    return Array.from(new Int32Array(module.bytes().buffer, out, 8));
  } finally {
    exports.fleet_free(out);
  }
}

function expected(seconds: number): number[] {
  const date = new Date(seconds * 1000);
  const startOfYear = new Date(0).setUTCFullYear(date.getUTCFullYear(), 0, 1); // Date.UTC maps years 0..99 to 19xx
  return [
    date.getUTCFullYear() - 1900, date.getUTCMonth(), date.getUTCDate(),
    date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(),
    date.getUTCDay(), Math.floor((date.getTime() - startOfYear) / 86_400_000),
  ];
}

test('gmtime (certificate validity) agrees with Date on edges: epoch, leap days, century rules, before 1970, 2038 and beyond', () => {
  const cases = [
    0, -1, 59, 86_399, 86_400, 951_782_400 /* 2000-02-29 */, 951_868_800 /* 2000-03-01 */,
    4_107_542_400 /* 2100-03-01 */, 4_107_456_000 /* 2100-02-28 */, 2_147_483_647, 2_147_483_648,
    -2_208_988_800 /* 1900-01-01 */, -62_135_596_800 /* 0001-01-01 */, 253_402_300_799 /* 9999-12-31T23:59:59 */,
    1_709_164_800 /* 2024-02-29 */, 1_735_689_599 /* 2024-12-31T23:59:59 */,
  ];
  for (const seconds of cases) assert.equal(gmtime(seconds), expected(seconds), `t=${seconds}`);
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const seconds = Math.floor((seed / 2 ** 32) * 2 ** 36) - 2 ** 35; // about ±1088 years
    assert.equal(gmtime(seconds), expected(seconds), `t=${seconds}`);
  }
});

function format(which: number, number: number, text = 'abc'): string {
  const buffer = exports.fleet_malloc(256);
  const textPointer = module.allocCopy(Buffer.from(text), true);
  try {
    const length = exports.fleet_test_format(buffer, 256, which, BigInt(number), textPointer);
    const bytes = module.bytes();
    const end = bytes.indexOf(0, buffer);
    const written = Buffer.from(bytes.subarray(buffer, end)).toString('latin1');
    assert.is(length, written.length, 'returns the length written');
    return written;
  } finally {
    exports.fleet_free(buffer);
    exports.fleet_free(textPointer);
  }
}

test('the freestanding vsnprintf formats like C99 for the conversions mbedTLS uses', () => {
  assert.is(format(0, 42), '42|   42|42   |00042|+42| 42');
  assert.is(format(0, -7), '-7|   -7|-7   |-0007|-7|-7');
  assert.is(format(0, -2147483648), '-2147483648|-2147483648|-2147483648|-2147483648|-2147483648|-2147483648');
  assert.is(format(1, 255), '255|ff|FF|0xff|377|000000FF|255');
  assert.is(format(1, 5), '5|5|5|0x5|5|00000005|005');
  assert.is(format(1, 0), '0|0|0|0|0|00000000|000');
  assert.is(format(2, -1), '-1|18446744073709551615|4294967295|-1');
  assert.is(format(3, 0, 'hello'), '[hello]|[     hello]|[hello     ]|[hel]|[h]|%');
  assert.is(format(4, 0xbeef), 'EF:BE');
});

test('vsnprintf truncates to the buffer and still returns the full length', () => {
  const buffer = exports.fleet_malloc(8);
  const text = module.allocCopy(Buffer.from('x'), true);
  try {
    const length = exports.fleet_test_format(buffer, 4, 1, 255n, text);
    const bytes = module.bytes();
    assert.is(length, '255|ff|FF|0xff|377|000000FF|255'.length);
    assert.is(Buffer.from(bytes.subarray(buffer, buffer + 4)).toString('latin1'), '255\0');
  } finally {
    exports.fleet_free(buffer);
    exports.fleet_free(text);
  }
});

test.run();
