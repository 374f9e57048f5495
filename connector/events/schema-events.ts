/**
 * The schema event: published on `<P>.schema.<schema>.<table>` in the deltas stream at the
 * position where a table's shape takes a new schemaVersion (the Relation message before the first
 * change under it), so consumers see DDL in commit order with the row changes around it.
 *
 * Its content comes only from the registry's records (the version and the one in effect before
 * it), never from what this session happened to see, so a replay rebuilds it byte for byte.
 */
import { diffVersions } from '../../schemas/compatibility.js';
import type { SchemaEventData } from '../../schemas/events.js';
import { columnsOf, keyOf } from '../../schemas/registry.js';
import { schemaSubject } from '../../schemas/subjects.js';
import { formatLsn, formatVersion } from '../../schemas/versions.js';
import type { OutMessage, TableInfo } from '../ports.js';

/** Where in the source's commit order the schema event sits. */
export interface SchemaEventPlace {
  readonly xid: number;
  readonly commitLsn: bigint;
  readonly idx: number;
  /** Commit time, ISO 8601 UTC with microseconds. */
  readonly time: string;
}

/** The message announcing `t.schemaEntry` at `place`. */
export function schemaEventMessage(
  prefix: string,
  source: string,
  t: TableInfo,
  place: SchemaEventPlace,
): OutMessage {
  const entry = t.schemaEntry;
  const previous = t.schemaPrevious;
  const version = formatVersion(place.commitLsn, place.idx);
  const diff = previous ? diffVersions(previous, entry) : null;
  const data: SchemaEventData = {
    table: t.name,
    schemaVersion: entry.version,
    previousVersion: previous?.version ?? null,
    change: entry.renamedFrom ? 'rename' : previous ? 'alter' : 'create',
    ...(entry.renamedFrom ? { renamedFrom: entry.renamedFrom } : {}),
    columns: columnsOf(entry),
    key: keyOf(entry),
    changes: diff ? diff.changes.map((c) => ({ ...c })) : [],
    compatible: diff ? diff.compatible : true,
    version,
    tx: { id: place.xid, lsn: formatLsn(place.commitLsn), commitTime: place.time, seq: place.idx },
  };
  const id = `${source}:${version}:schema`;
  const body = {
    specversion: '1.0',
    id,
    source: `sluice/${source}`,
    type: 'io.sluice.schema',
    time: place.time,
    subject: t.name,
    dataschema: t.dataschema,
    datacontenttype: 'application/json',
    data,
  };
  return { subject: schemaSubject(prefix, t.schema, t.table), id, body: JSON.stringify(body) };
}
