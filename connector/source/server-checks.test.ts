/** The server checks with plain facts: the first problem stops Sluice, named with its fix. */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { checkServer, type ServerFacts } from './server-checks.js';

const ok: ServerFacts = {
  versionNum: 150004,
  version: '15.4',
  walLevel: 'logical',
  maxReplicationSlots: 10,
  maxWalSenders: 10,
  usedSlots: 0,
  isSuperuser: false,
  canReplicate: true,
  canCreateInDb: true,
  user: 'sluice',
  database: 'shop',
};

describe('checkServer', () => {
  it('accepts a server Sluice can run on', () => {
    expect(() => checkServer(ok)).not.toThrow();
    expect(() => checkServer({ ...ok, canReplicate: false, isSuperuser: true })).not.toThrow();
  });

  it.each([
    [{ versionNum: 130011, version: '13.11' }, ErrorCodes.pgVersion, /PostgreSQL 13.11 is too old/],
    [{ walLevel: 'replica' }, ErrorCodes.walLevel, /wal_level is replica/],
    [{ canReplicate: false }, ErrorCodes.privileges, /role sluice may not use logical replication/],
  ] as const)('refuses %o', (facts, code, message) => {
    expect(() => checkServer({ ...ok, ...facts })).toThrow(
      expect.objectContaining({ code, message: expect.stringMatching(message) }),
    );
  });
});
