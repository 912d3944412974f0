import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKind, type AddressKind } from '../../src/http/address-kind.js';

function expectKinds(cases: Record<string, AddressKind>): void {
  for (const [address, kind] of Object.entries(cases)) {
    assert.equal(addressKind(address), kind, address);
  }
}

describe('which addresses a fetch on a stranger\'s behalf may reach (address-kind.ts)', () => {
  it('IPv4: loopback, private, link-local (cloud metadata), CGNAT, unspecified, multicast, broadcast, documentation and reserved ranges, at their edges', () => {
    expectKinds({
      '127.0.0.1': 'loopback',
      '127.255.255.254': 'loopback',
      '10.0.0.1': 'private',
      '10.255.255.255': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      '169.254.169.254': 'link-local',
      '100.64.0.1': 'shared (carrier-grade NAT)',
      '100.127.255.255': 'shared (carrier-grade NAT)',
      '0.0.0.0': 'unspecified',
      '0.1.2.3': 'unspecified',
      '224.0.0.1': 'multicast',
      '239.255.255.250': 'multicast',
      '255.255.255.255': 'reserved',
      '240.0.0.1': 'reserved',
      '192.0.0.8': 'reserved',
      '198.18.0.1': 'reserved',
      '198.19.255.255': 'reserved',
      '192.0.2.10': 'documentation',
      '198.51.100.7': 'documentation',
      '203.0.113.200': 'documentation',
    });
  });

  it('IPv4: public addresses just outside those ranges are public', () => {
    expectKinds({
      '8.8.8.8': 'public',
      '1.1.1.1': 'public',
      '9.255.255.255': 'public',
      '11.0.0.0': 'public',
      '100.63.255.255': 'public',
      '100.128.0.0': 'public',
      '126.255.255.255': 'public',
      '128.0.0.0': 'public',
      '169.253.255.255': 'public',
      '172.15.255.255': 'public',
      '172.32.0.0': 'public',
      '192.167.255.255': 'public',
      '192.169.0.0': 'public',
      '198.17.255.255': 'public',
      '198.20.0.0': 'public',
      '223.255.255.255': 'public',
      '160.79.104.10': 'public',
    });
  });

  it('IPv6: loopback, unspecified, unique-local, link-local, site-local, multicast, documentation, reserved', () => {
    expectKinds({
      '::1': 'loopback',
      '0:0:0:0:0:0:0:1': 'loopback',
      '[::1]': 'loopback',
      '::': 'unspecified',
      'fc00::1': 'unique-local',
      'fd12:3456:789a::1': 'unique-local',
      'fe80::1': 'link-local',
      'fe80::1%eth0': 'link-local',
      'febf:ffff::1': 'link-local',
      'fec0::1': 'private',
      'ff02::1': 'multicast',
      'ff0e::101': 'multicast',
      '2001:db8::1': 'documentation',
      '3fff::1': 'documentation',
      '100::1': 'reserved',
      '2001::1': 'reserved', // Teredo
      '2002:7f00:1::1': 'reserved', // 6to4 around 127.0.0.1
      '::7f00:1': 'reserved', // IPv4-compatible ::127.0.0.1
      '4000::1': 'reserved',
      '1::': 'reserved',
      '5f00::1': 'reserved',
      '64:ff9b:1::a00:1': 'private',
    });
  });

  it('IPv4-mapped and NAT64 addresses are judged by the IPv4 address inside, in either spelling', () => {
    expectKinds({
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:7f00:1': 'loopback',
      '0:0:0:0:0:ffff:7f00:1': 'loopback',
      '::ffff:10.0.0.1': 'private',
      '::ffff:169.254.169.254': 'link-local',
      '::ffff:a9fe:a9fe': 'link-local',
      '::ffff:0.0.0.0': 'unspecified',
      '::ffff:8.8.8.8': 'public',
      '64:ff9b::127.0.0.1': 'loopback',
      '64:ff9b::a9fe:a9fe': 'link-local',
      '64:ff9b::192.168.0.1': 'private',
      '64:ff9b::8.8.8.8': 'public',
    });
  });

  it('IPv6: global unicast is public', () => {
    expectKinds({
      '2606:4700:4700::1111': 'public',
      '2a00:1450:4001:80b::200e': 'public',
      '2001:4860:4860::8888': 'public',
      '3ffe::1': 'public',
    });
  });

  it('names and malformed text are not IP addresses (the caller resolves names first)', () => {
    expectKinds({
      localhost: 'not an IP address',
      'claude.ai': 'not an IP address',
      '127.1': 'not an IP address',
      '0x7f.0.0.1': 'not an IP address',
      '1.2.3.256': 'not an IP address',
      '::ffff:1.2.3': 'not an IP address',
      '': 'not an IP address',
    });
  });
});
