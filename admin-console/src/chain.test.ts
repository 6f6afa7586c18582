// @vitest-environment node
import { eventHash, verifyChain, type ChainEvent } from './chain';

// Vectors from escrowgrid.eventlog.hashing.event_hash (Python), so both sides agree byte for byte.
const STREAM = '12345678-1234-5678-1234-567812345678';
const FIRST: ChainEvent = {
  version: 1,
  topic: 'escrowgrid.domain.position:Position.Created',
  stateBytes: 'eyJhbW91bnQiOnsiX3R5cGVfIjoiZGVjaW1hbF9zdHIiLCJfZGF0YV8iOiIyNTAwMDAuMDAifX0=',
  metaBytes: 'eyJhY3Rpb24iOiJwb3NpdGlvbi5vcGVuIiwibm90ZSI6ImNhZsOpIiwicmVxdWVzdElkIjoici0xIn0=',
  prevHash: null,
  hash: 'd087b9940b7544cfa8610b46a44247e2b565eea488d1986eb78f72b7a9c13a7e',
};
const SECOND: ChainEvent = {
  version: 2,
  topic: 'escrowgrid.domain.position:Position.Moved',
  stateBytes: btoa('{}'),
  metaBytes: btoa('{}'),
  prevHash: FIRST.hash,
  hash: '8a93be8bf01bf7b23c936f74392adce34e7174a3956171d9c77c198f9303c0f6',
};

describe('hash chain', () => {
  it('computes the same hash as the service', async () => {
    expect(await eventHash(null, STREAM, FIRST)).toBe(FIRST.hash);
  });
  it('verifies an intact chain', async () => {
    const checked = await verifyChain(STREAM, [FIRST, SECOND]);
    expect(checked.map((c) => c.verdict)).toEqual(['verified', 'verified']);
  });
  it('marks the tampered event broken', async () => {
    const tampered = { ...SECOND, stateBytes: btoa('{"x":1}') };
    const checked = await verifyChain(STREAM, [FIRST, tampered]);
    expect(checked.map((c) => c.verdict)).toEqual(['verified', 'broken']);
    expect(checked[1]?.problem).toMatch(/content/);
  });
  it('marks a broken link', async () => {
    const relinked = { ...SECOND, prevHash: '00'.repeat(32) };
    const checked = await verifyChain(STREAM, [FIRST, relinked]);
    expect(checked[1]?.verdict).toBe('broken');
  });
});
