import { it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { closeAll, eventually, startNatsCluster, startNats } from './index.js';

it('timing', async () => {
  let t = Date.now();
  const lap = (s: string) => { console.log(s, Date.now() - t); t = Date.now(); };
  const ns = await startNats(); lap('single start');
  await ns.kill(); lap('kill'); await ns.start(); lap('start after kill'); await ns.restart(); lap('restart');
  const cluster = await startNatsCluster(3); lap('cluster start');
  const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  await jsm.streams.add({ name: 'R3', subjects: ['r3.>'], num_replicas: 3 }); lap('add');
  const js = jetstream(nc, { timeout: 2_000 });
  await js.publish('r3.a', 'x', { msgID: 'a' }); lap('pub');
  const leaderName = (await jsm.streams.info('R3')).cluster?.leader;
  const victim = cluster.nodes.find((n) => n.name === leaderName)!;
  await victim.kill(); lap('kill leader');
  await eventually(() => js.publish('r3.b', 'y', { msgID: 'b' })); lap('publish after kill');
  await victim.start(); lap('victim start');
  await eventually(async () => { const r = (await jsm.streams.info('R3')).cluster?.replicas ?? []; return r.length === 2 && r.every((x) => x.current && !x.offline); }); lap('caught up');
  await nc.close();
  await closeAll(); lap('closeAll');
}, 120_000);
