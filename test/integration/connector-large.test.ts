/**
 * Rows whose events exceed the NATS server's max_payload: stored whole in the large-event object
 * store, published as reference events in order — never dropped, never a crash loop.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/index.js';
import { startEnv, waitForDeltas, type SluiceEnv, type DeltaLike, type FactLike } from './env.js';
import { fetchLargeEvent } from '../../consumers/large-events.js';
import { FactEvent, DeltaEvent } from '../../schemas/events.js';

let env: SluiceEnv;
let confDir: string;

beforeAll(async () => {
  confDir = mkdtempSync(join(tmpdir(), 'sluice-natsconf-'));
  const conf = join(confDir, 'small.conf');
  writeFileSync(conf, 'max_payload: 32768\n');
  env = await startEnv({ natsArgs: ['-c', conf] });
  await env.sql(`CREATE TABLE blobs (id int PRIMARY KEY, title text, body text)`);
});

afterAll(async () => {
  await env?.close();
  rmSync(confDir, { recursive: true, force: true });
});

const data = <T>(m: { data: unknown }): T => (m.data as { data: T }).data;

describe('events larger than max_payload', () => {
  it('publishes a reference event and stores the whole event in the object store', async () => {
    const big = 'x'.repeat(60_000) + '😀';
    let c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    await eventually(
      () => c.connector.status.state === 'streaming' || Promise.reject(new Error('not streaming')),
    );
    await env.sql(`INSERT INTO blobs VALUES (1, 'small', 'tiny'), (2, 'big', $1), (3, 'after', 'tiny')`, [
      big,
    ]);
    await env.sql(`UPDATE blobs SET title = 'renamed' WHERE id = 2`);
    const deltas = await waitForDeltas(env, 4);
    // in order, the big one as a reference
    expect(deltas.map((m) => m.subject)).toEqual([
      'cdc.delta.public.blobs.insert.1',
      'cdc.delta.public.blobs.insert.2',
      'cdc.delta.public.blobs.insert.3',
      'cdc.delta.public.blobs.update.2',
    ]);
    const ref = deltas[1]!;
    DeltaEvent.parse(ref.data);
    expect(data<DeltaLike & { dataref?: unknown }>(ref).dataref).toMatchObject({ store: 'CDC_LARGE' });
    const full = JSON.parse(await fetchLargeEvent(env.nc, new TextDecoder().decode(ref.raw))) as {
      data: DeltaLike;
    };
    expect(full.data.changes.body).toEqual({ new: big });
    expect(full.data.version).toBe(data<DeltaLike>(ref).version);
    // the update of the big row is small (only the title changed)
    expect(data<DeltaLike>(deltas[3]!).changes).toEqual({ title: { old: 'big', new: 'renamed' } });

    // After a restart the previous row is read back through the reference.
    await c.stop();
    await env.sql(`UPDATE blobs SET title = 'third' WHERE id = 2`);
    c = env.startConnector({ SLUICE_SNAPSHOT: 'never' });
    const more = await waitForDeltas(env, 2, 'cdc.delta.public.blobs.update.2');
    expect(data<DeltaLike>(more[1]!).changes).toEqual({ title: { old: 'renamed', new: 'third' } });
    const facts = await env.facts();
    const fact = facts.find((m) => m.subject === 'cdc.fact.public.blobs.2')!;
    FactEvent.parse(fact.data);
    const fullFact = JSON.parse(await fetchLargeEvent(env.nc, new TextDecoder().decode(fact.raw))) as {
      data: FactLike;
    };
    expect(fullFact.data.row).toEqual({ id: 2, title: 'third', body: big });
    await c.stop();
  });
});
