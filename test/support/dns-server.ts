import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/** What the server says for one record type of a name: these addresses, or nothing at all (a blackhole, or a middlebox dropping that type). */
export type DnsAnswer = string[] | 'silent';

export interface DnsZone {
  [name: string]: { A?: DnsAnswer; AAAA?: DnsAnswer };
}

const TYPES = { A: 1, AAAA: 28 } as const;

/** The 16 bytes of an IPv6 address written with `::` or in full (no embedded IPv4). */
function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

/**
 * A DNS server on 127.0.0.1 (UDP) answering A and AAAA queries from a zone, for the resolver a
 * test points at it: a name may have only A, only AAAA, both, one answered and the other dropped,
 * or never be answered at all. Names outside the zone get NXDOMAIN. It counts the queries it
 * received, answered or not.
 */
export class DnsServer {
  readonly queries: { name: string; type: number }[] = [];

  private constructor(private readonly socket: dgram.Socket) {}

  static async start(zone: DnsZone): Promise<DnsServer> {
    const socket = dgram.createSocket('udp4');
    const server = new DnsServer(socket);
    socket.on('message', (message, peer) => {
      const reply = server.#answer(zone, message);
      if (reply) socket.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return server;
  }

  /** For dns.Resolver#setServers. */
  get address(): string {
    return `127.0.0.1:${(this.socket.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  #answer(zone: DnsZone, query: Buffer): Buffer | undefined {
    const labels: string[] = [];
    let offset = 12;
    while (query[offset]! > 0) {
      labels.push(query.subarray(offset + 1, offset + 1 + query[offset]!).toString('latin1'));
      offset += 1 + query[offset]!;
    }
    const questionEnd = offset + 5;
    const type = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    this.queries.push({ name, type });
    const entry = zone[name];
    const kind = type === TYPES.A ? 'A' : type === TYPES.AAAA ? 'AAAA' : undefined;
    const answer = kind ? entry?.[kind] : undefined;
    if (answer === 'silent') return undefined;
    const records = (answer ?? []).map((address) => {
      const data = type === TYPES.A ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
      const record = Buffer.alloc(12);
      record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      record.writeUInt16BE(type, 2);
      record.writeUInt16BE(1, 4); // class IN
      record.writeUInt32BE(60, 6); // TTL
      record.writeUInt16BE(data.length, 10);
      return Buffer.concat([record, data]);
    });
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(entry ? 0x8180 : 0x8183, 2); // a response, recursion available; NXDOMAIN for unknown names
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
  }
}
