/** The two publications' plan and names, and which tables can publish updates and deletes. */
import { describe, expect, it } from 'vitest';
import { planPublications, publicationNames } from './publications.js';
import { hasUsableIdentity, type TableRow } from './table-list.js';

const row = (
  table: string,
  replident: string,
  hasPrimaryKey: boolean,
  hasIdentityIndex = false,
): TableRow => ({
  oid: 1,
  schema: 'public',
  table,
  replident,
  hasPrimaryKey,
  hasIdentityIndex,
  partitioned: false,
  owned: true,
});

describe('publications', () => {
  it('puts tables with a usable identity in the full publication, the others in the insert-only one', () => {
    const pk = row('pk', 'd', true);
    const noPk = row('nopk', 'd', false);
    const full = row('full', 'f', false);
    const index = row('index', 'i', false, true);
    const indexGone = row('indexgone', 'i', false, false);
    const nothing = row('nothing', 'n', true);
    expect([pk, noPk, full, index, indexGone, nothing].map(hasUsableIdentity)).toEqual([
      true,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(planPublications([pk, noPk, full, nothing])).toEqual({
      full: [pk, full],
      insertOnly: [noPk, nothing],
    });
    expect(publicationNames('sluice')).toEqual(['sluice', 'sluice_ins']);
  });
});
