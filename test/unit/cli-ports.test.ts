import { test } from 'node:test';
import assert from 'node:assert/strict';
import { displayablePorts } from '../../src/cli/commands/ps.js';

type P = { IP?: string; PrivatePort: number; PublicPort?: number; Type: string };
const ports = (xs: P[]) => xs as unknown as Parameters<typeof displayablePorts>[0];

test('ps PORTS as docker\'s DisplayablePorts: ranges, exposed and same-port groups first, then host mappings', () => {
  // -p 9300-9302:9300-9302 --expose 400-402 (the API lists them in any order)
  assert.equal(displayablePorts(ports([
    { IP: '0.0.0.0', PrivatePort: 9301, PublicPort: 9301, Type: 'tcp' }, { PrivatePort: 402, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 9300, PublicPort: 9300, Type: 'tcp' }, { PrivatePort: 400, Type: 'tcp' },
    { IP: '0.0.0.0', PrivatePort: 9302, PublicPort: 9302, Type: 'tcp' }, { PrivatePort: 401, Type: 'tcp' },
  ])), '400-402/tcp, 0.0.0.0:9300-9302->9300-9302/tcp');
  // -p 127.0.0.1:9100-9102:100-102/udp -p 9200:200 --expose 300
  assert.equal(displayablePorts(ports([
    { IP: '127.0.0.1', PrivatePort: 100, PublicPort: 9100, Type: 'udp' }, { IP: '127.0.0.1', PrivatePort: 101, PublicPort: 9101, Type: 'udp' },
    { IP: '127.0.0.1', PrivatePort: 102, PublicPort: 9102, Type: 'udp' }, { IP: '0.0.0.0', PrivatePort: 200, PublicPort: 9200, Type: 'tcp' },
    { PrivatePort: 300, Type: 'tcp' },
  ])), '300/tcp, 127.0.0.1:9100->100/udp, 127.0.0.1:9101->101/udp, 127.0.0.1:9102->102/udp, 0.0.0.0:9200->200/tcp');
  // a gap starts a new group: the earlier one is printed where the run broke
  assert.equal(displayablePorts(ports([{ PrivatePort: 80, Type: 'tcp' }, { PrivatePort: 81, Type: 'tcp' }, { PrivatePort: 90, Type: 'tcp' }])), '80-81/tcp, 90/tcp');
  assert.equal(displayablePorts(ports([])), '');
});
