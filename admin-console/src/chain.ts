// The hash chain of escrowgrid/eventlog/hashing.py, recomputed in the browser with WebCrypto:
// sha256(prev_hash or 32 zero bytes + framed(stream id, version u64 BE, topic, state, meta)),
// each framed part prefixed with its length as 4 bytes big endian.

export interface ChainEvent {
  version: number;
  topic: string;
  stateBytes: string; // base64 of the stored state bytes
  metaBytes: string; // base64 of the canonical meta bytes
  prevHash: string | null;
  hash: string;
}

export type Verdict = 'verified' | 'broken' | 'unchecked';

export interface CheckedEvent {
  verdict: Verdict;
  expected: string;
  problem?: string;
}

export function base64ToBytes(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function uuidBytes(uuid: string): Uint8Array {
  return hexToBytes(uuid.replace(/-/g, ''));
}

function framed(parts: Uint8Array[]): Uint8Array {
  const size = parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length, false);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

function versionBytes(version: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(version), false);
  return out;
}

/** The hash an event must carry, given its stream and the previous event's hash. */
export async function eventHash(
  prevHash: Uint8Array | null,
  streamId: string,
  event: Pick<ChainEvent, 'version' | 'topic' | 'stateBytes' | 'metaBytes'>,
): Promise<string> {
  const body = framed([
    uuidBytes(streamId),
    versionBytes(event.version),
    new TextEncoder().encode(event.topic),
    base64ToBytes(event.stateBytes),
    base64ToBytes(event.metaBytes),
  ]);
  const input = new Uint8Array(32 + body.length);
  input.set(prevHash ?? new Uint8Array(32), 0);
  input.set(body, 32);
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', input)));
}

/** Each event checked against its content and its link to the previous one, oldest first. */
export async function verifyChain(streamId: string, events: ChainEvent[]): Promise<CheckedEvent[]> {
  const out: CheckedEvent[] = [];
  let previous: string | null = null;
  let expectedVersion = 1;
  for (const event of events) {
    const expected = await eventHash(
      event.prevHash === null ? null : hexToBytes(event.prevHash),
      streamId,
      event,
    );
    let problem: string | undefined;
    if (event.version !== expectedVersion) problem = `version ${event.version}, expected ${expectedVersion}`;
    else if (event.prevHash !== previous) problem = "previous hash is not the previous event's hash";
    else if (expected !== event.hash) problem = "hash does not match the event's content";
    out.push(problem ? { verdict: 'broken', expected, problem } : { verdict: 'verified', expected });
    previous = event.hash;
    expectedVersion = event.version + 1;
  }
  return out;
}

/** The stored state bytes as text (what was hashed), for display. */
export function decodeText(base64: string): string {
  return new TextDecoder().decode(base64ToBytes(base64));
}
