import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goTimeJson } from '../../src/common/go-time.js';

test("goTimeJson: Go's RFC 3339 with nanoseconds, trailing zeros dropped", () => {
  assert.equal(goTimeJson(0n), '1970-01-01T00:00:00Z');
  assert.equal(goTimeJson(1_765_000_000_497_123_456n), '2025-12-06T05:46:40.497123456Z');
  assert.equal(goTimeJson(1_765_000_000_500_000_000n), '2025-12-06T05:46:40.5Z');
  assert.equal(goTimeJson(-1n), '1969-12-31T23:59:59.999999999Z');
});
