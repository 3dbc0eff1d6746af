// /init tells the agent how it started (TSULA_AGENT_SNAPSHOT); the agent reports it in Ping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentStartup } from '../../src/agent/protocol.js';

test('the agent snapshot status from /init', () => {
  assert.deepEqual(parseAgentStartup('used 0123456789abcdef'), { snapshot: 'used', key: '0123456789abcdef' });
  assert.deepEqual(parseAgentStartup('missing 0123456789abcdef'), { snapshot: 'missing', key: '0123456789abcdef' });
  assert.deepEqual(parseAgentStartup('refused 0123456789abcdef exit=14'), { snapshot: 'refused', key: '0123456789abcdef', detail: 'exit=14' });
  assert.deepEqual(parseAgentStartup('off'), { snapshot: 'off', key: '' });
  // an agent run by hand, or by an older /init
  assert.deepEqual(parseAgentStartup(undefined), { snapshot: 'unknown', key: '' });
  assert.deepEqual(parseAgentStartup('weird x'), { snapshot: 'unknown', key: 'x' });
});
