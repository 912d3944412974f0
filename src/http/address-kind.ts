import { isIPv4, isIPv6 } from 'node:net';

/**
 * What an IP address is, for deciding whether this server may connect to it on a stranger's
 * behalf. Only `public` addresses are on the internet proper; every other kind reaches this
 * machine, its networks, or nothing (IANA special-purpose registries, RFC 6890 and successors).
 */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared (carrier-grade NAT)'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'documentation'
  | 'reserved'
  | 'not an IP address';

type Range = readonly [prefix: string, bits: number, kind: AddressKind | 'embedded IPv4'];

const IPV4_RANGES: readonly Range[] = [
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 itself reaches this machine on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // cloud metadata services live here (169.254.169.254)
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'], // former 6to4 relay anycast
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // includes the broadcast address 255.255.255.255
];

/** Checked in order: the first range that contains the address decides. */
const IPV6_RANGES: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0', 96, 'embedded IPv4'], // IPv4-mapped: the IPv4 address is what a socket reaches
  ['64:ff9b::', 96, 'embedded IPv4'], // NAT64 well-known prefix: translated to that IPv4 address
  ['64:ff9b:1::', 48, 'private'], // NAT64 local-use prefix
  ['::', 96, 'reserved'], // deprecated IPv4-compatible addresses
  ['100::', 64, 'reserved'], // discard-only
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo among them
  ['2002::', 16, 'reserved'], // 6to4: embeds an IPv4 address of any kind
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'], // deprecated site-local
  ['ff00::', 8, 'multicast'],
  ['2000::', 3, 'public'], // global unicast; anything outside it is not allocated
  ['::', 0, 'reserved'],
];

function ipv4Number(address: string): bigint {
  return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** The 128-bit value of an IPv6 address (embedded dotted IPv4 and zone ids allowed). */
function ipv6Number(address: string): bigint {
  // The URL parser is the strictest IPv6 parser at hand; it also rewrites a dotted tail to hex.
  const canonical = new URL(`http://[${address.split('%')[0]}]`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function within(value: bigint, prefix: bigint, bits: number, width: number): boolean {
  const shift = BigInt(width - bits);
  return value >> shift === prefix >> shift;
}

const V4 = IPV4_RANGES.map(([prefix, bits, kind]) => [ipv4Number(prefix), bits, kind] as const);
const V6 = IPV6_RANGES.map(([prefix, bits, kind]) => [ipv6Number(prefix), bits, kind] as const);

function ipv4Kind(value: bigint): AddressKind {
  const range = V4.find(([prefix, bits]) => within(value, prefix, bits, 32));
  return (range?.[2] as AddressKind | undefined) ?? 'public';
}

/** The kind of an IPv4 or IPv6 address as DNS or a URL gives it (IPv6 with or without brackets). */
export function addressKind(address: string): AddressKind {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(bare)) return ipv4Kind(ipv4Number(bare));
  if (!isIPv6(bare)) return 'not an IP address';
  const value = ipv6Number(bare);
  const range = V6.find(([prefix, bits]) => within(value, prefix, bits, 128))!;
  return range[2] === 'embedded IPv4' ? ipv4Kind(value & 0xffffffffn) : range[2];
}
