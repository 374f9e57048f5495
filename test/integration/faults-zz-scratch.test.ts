import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEnv, liveFacts, type SluiceEnv } from './env.js';
import {
  checkStreams,
  factDifferences,
  seedShopWithAudit,
  shopConnectorEnv,
  startTraffic,
  waitCaughtUp,
  waitSnapshotsDone,
  waitStreaming,
  auditCounts,
} from './faults-helpers.js';
let env: SluiceEnv;
beforeAll(async () => {
  env = await startEnv();
  await seedShopWithAudit(env, { customers: 100, products: 20, orders: 50 });
});
afterAll(async () => {
  await env?.close();
});
it('detects', async () => {
  const c = env.spawnConnector(shopConnectorEnv());
  await waitStreaming(c);
  const t = startTraffic(env, { rate: 300, seed: 1 });
  await new Promise((r) => setTimeout(r, 2000));
  await t.stop();
  await waitSnapshotsDone(env);
  await waitCaughtUp(env);
  const s = await checkStreams(env);
  console.log(s.changesByTableOp, await auditCounts(env));
  expect(await factDifferences(env, liveFacts(s.facts))).toEqual([]);
  await c.kill('SIGKILL');
  await env.sql(`UPDATE products SET price = price + 1 WHERE sku = (SELECT min(sku) FROM products)`);
  await env.sql(`UPDATE customers SET updated_at = updated_at + interval '1 microsecond' WHERE id = 1`);
  await env.sql(`DELETE FROM audit_log WHERE ctid = (SELECT min(ctid) FROM audit_log)`);
  await env.sql(
    `INSERT INTO inventory SELECT id, 5 FROM products WHERE id NOT IN (SELECT product_id FROM inventory) LIMIT 1`,
  );
  await env.sql(`DELETE FROM payments WHERE id = (SELECT min(id::text)::uuid FROM payments)`);
  console.log(await factDifferences(env, liveFacts(s.facts)));
  console.log(await auditCounts(env));
});
