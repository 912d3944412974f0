const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isUuidV4(value: string): boolean {
  return V4.test(value);
}

export function isUuidV7(value: string): boolean {
  return V7.test(value);
}

/** Milliseconds since the epoch encoded in a v7 UUID's first 48 bits. */
export function uuidV7Time(value: string): number {
  return parseInt(value.replace(/-/g, '').slice(0, 12), 16);
}
