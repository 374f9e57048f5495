/**
 * The deployment files (Dockerfile, docker-compose.yml, deploy/) against the code they deploy. No
 * Docker engine or Kubernetes runs here, so the files are parsed and their invariants checked
 * against the real thing: every SLUICE_* variable is one the config parsers read (and the settings
 * parse), images are pinned, ports and probe paths are served by a real connector and read-model
 * API (the Dockerfile's HEALTHCHECK command itself runs against them), and the NATS cluster
 * configuration forms a 3-node JetStream cluster when three nats-servers start from it on loopback.
 * (R3 behaviour under failures is cluster.test.ts's subject.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_ENV, loadConfig } from '../../connector/config.js';
import { startHttpServer } from '../../connector/observability/http-server.js';
import { parseReadModelsConfig, READ_MODELS_ENV } from '../../consumers/read-models/config.js';
import { analyzeModel } from '../../consumers/read-models/sql-analysis.js';
import { loadSqlParser } from '../../consumers/read-models/sql-parser.js';
import { startQueryApi } from '../../consumers/query-api/index.js';
import { shopReadModels } from '../../examples/shop/read-models.js';
import {
  closeAll,
  CLUSTER_STARTUP_TIMEOUT_MS,
  eventually,
  freePort,
  startNats,
  type NatsServer,
} from '../harness/index.js';
import { startEnv, type SluiceEnv } from './env.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v ?? {}) as Obj;

// ---------------------------------------------------------------------------------------------
// Parsing

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions: comments dropped, continuation lines joined; `stage` = FROM index. */
function dockerfile(text: string): (Instruction & { stage: number })[] {
  const out: (Instruction & { stage: number })[] = [];
  let stage = -1;
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (cur === '' && (line === '' || line.startsWith('#'))) continue;
    cur += (cur ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(cur)!;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage += 1;
    out.push({ op, args: m[2]!, stage });
    cur = '';
  }
  return out;
}

/** `${NAME:-default}` and `${NAME}` as docker compose interpolates them, from `env`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\{(\w+)(?::-([^}]*))?\}/g,
    (_, name: string, dflt?: string) => env[name] ?? dflt ?? '',
  );
}

/** KEY=VALUE lines of an env file. */
function envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** An image reference pinned to a version: `name:<tag with a digit>`, never `latest`. */
function expectPinned(image: string, where: string): void {
  const tag = /:([^/:@]+)$/.exec(image)?.[1];
  expect(tag, `${where}: image ${image} has no tag`).toBeDefined();
  expect(tag, `${where}: image ${image} is not pinned to a version`).toMatch(/\d/);
  expect(tag).not.toMatch(/latest/);
}

/** The statements of a nats-server config file, flattened (`cluster.routes`). */
function natsConf(text: string): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  const path: string[] = [];
  let list: { key: string; items: string[] } | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    if (list) {
      if (line === ']') {
        out.set(list.key, list.items);
        list = null;
      } else list.items.push(line);
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /^(\w+)\s*\{$/.exec(line))) path.push(m[1]!);
    else if (line === '}') path.pop();
    else if ((m = /^(\w+)\s*:\s*\[$/.exec(line))) list = { key: [...path, m[1]!].join('.'), items: [] };
    else if ((m = /^(\w+)\s*:\s*(.+)$/.exec(line))) out.set([...path, m[1]!].join('.'), m[2]!);
    else throw new Error(`nats.conf: cannot read the line "${line}"`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The files

const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
const docker = dockerfile(read('Dockerfile'));
const compose = obj(parse(read('docker-compose.yml'), { merge: true }));
const services = obj(compose.services) as Record<string, Obj>;
const clusterEnv = envFile(read('deploy/compose/cluster.env'));
const kustomization = obj(parse(read('deploy/kubernetes/kustomization.yaml')));
const k8s = (kustomization.resources as string[]).flatMap((f) =>
  parseAllDocuments(read(join('deploy/kubernetes', f))).map((d) => obj(d.toJS())),
);
const k8sObject = (kind: string, name: string): Obj => {
  const o = k8s.find((d) => d.kind === kind && obj(d.metadata).name === name);
  if (!o) throw new Error(`deploy/kubernetes has no ${kind} ${name}`);
  return o;
};
const natsConfText = read('deploy/kubernetes/nats.conf');
const conf = natsConf(natsConfText);

/** The connector's defaults, from its own parser. */
const connectorDefaults = loadConfig({
  env: { SLUICE_DATABASE_URL: 'postgres://u@h/d', SLUICE_NATS_URL: 'nats://h:4222' },
});
const readModelDefaults = parseReadModelsConfig(
  {},
  { SLUICE_NATS_URL: 'nats://h:4222', SLUICE_READ_DATABASE_URL: 'postgres://u@h/d' },
);

/** Environment of a compose service with the variables interpolated from `env` (defaults otherwise). */
function serviceEnv(name: string, env: Record<string, string> = {}): Record<string, string> {
  const e = obj(services[name]?.environment) as Record<string, string | number>;
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, interpolate(String(v), env)]));
}

/** Services running the Sluice image, by the subcommand they run. */
const sluiceServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
const connectorServices = sluiceServices.filter(([, s]) => (s.command as string[])[0] === 'run');
const readModelServices = sluiceServices.filter(
  ([, s]) => (s.command as string[]).join(' ') === 'read-models run',
);

/** The one SLUICE_* variable the CLI reads besides the parsers' maps: the config file path. */
const CLI_ENV = ['SLUICE_CONFIG'];

// ---------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const froms = docker.filter((i) => i.op === 'FROM');
  const last = froms.length - 1;
  const final = docker.filter((i) => i.stage === last);
  const one = (op: string) => final.filter((i) => i.op === op).at(-1)?.args;

  it('builds in a node:20 stage and runs in a small stage from pinned images', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) {
      const image = f.args.split(/\s+/)[0]!;
      expectPinned(image, 'Dockerfile');
      expect(image).toMatch(/^node:20\.\d+\.\d+-\w+-slim$/);
    }
  });

  it('copies every folder the build compiles, and .dockerignore does not hide one', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const copied = docker.filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/)[0]);
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const dir of build.include) {
      expect(copied, `the build stage does not COPY ${dir}`).toContain(dir);
      expect(ignored, `.dockerignore hides ${dir}`).not.toContain(dir);
    }
  });

  it('installs production dependencies only, runs as a non-root user, starts sluice run', () => {
    const runs = final.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    const user = one('USER');
    expect(user, 'the runtime stage sets no USER').toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    expect(JSON.parse(one('ENTRYPOINT')!)).toEqual(['node', pkg.bin.sluice]);
    expect(JSON.parse(one('CMD')!)).toEqual(['run']);
  });

  it('exposes the HTTP port SLUICE_HTTP_PORT sets, which is the connector default', () => {
    const env = one('ENV')!;
    const port = /SLUICE_HTTP_PORT=(\d+)/.exec(env)?.[1];
    expect(Number(port)).toBe(connectorDefaults.httpPort);
    expect(one('EXPOSE')).toBe(port);
  });
});

describe('docker-compose.yml', () => {
  it('pins every image it pulls, and mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.build === undefined) expectPinned(String(s.image), `service ${name}`);
      for (const v of (s.volumes as string[] | undefined) ?? []) {
        const host = v.split(':')[0]!;
        if (host.startsWith('.'))
          expect(existsSync(resolve(ROOT, host)), `${name} mounts ${host}`).toBe(true);
      }
      const deps = Array.isArray(s.depends_on) ? (s.depends_on as string[]) : Object.keys(obj(s.depends_on));
      for (const dep of deps) expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
    }
  });

  it('runs PostgreSQL with wal_level=logical and the settings of deploy/postgresql.conf.sample', () => {
    const command = (services.postgres!.command as string[]).join(' ');
    const sample = read('deploy/postgresql.conf.sample')
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').replace(/\s+/g, ''))
      .filter(Boolean);
    expect(sample).toContain('wal_level=logical');
    for (const setting of sample) expect(command).toContain(`-c ${setting}`);
  });

  it('has a connector and a read-model daemon with its own read database', () => {
    expect(connectorServices.map(([n]) => n)).toEqual(['connector']);
    expect(readModelServices.map(([n]) => n)).toEqual(['read-models']);
    const source = serviceEnv('connector').SLUICE_DATABASE_URL!;
    const reads = serviceEnv('read-models').SLUICE_READ_DATABASE_URL!;
    expect(new URL(reads).host).not.toBe(new URL(source).host);
    expect(services).toHaveProperty(new URL(reads).hostname);
    expect(services).toHaveProperty(new URL(source).hostname);
  });

  it.each([
    ['single node', {}],
    ['cluster.env', clusterEnv],
  ])('sets only SLUICE_* variables the parsers read, to values they accept (%s)', (_, env) => {
    for (const [name] of connectorServices) {
      const e = serviceEnv(name, env);
      for (const k of Object.keys(e).filter((k) => k.startsWith('SLUICE_')))
        expect([...Object.keys(CONFIG_ENV), ...CLI_ENV], `${name} sets ${k}`).toContain(k);
      const cfg = loadConfig({ env: e });
      expect(obj(services[name]!.ports ?? []) && (services[name]!.ports as string[])).toContain(
        `127.0.0.1:${cfg.httpPort}:${cfg.httpPort}`,
      );
    }
    for (const [name, s] of readModelServices) {
      const e = serviceEnv(name, env);
      for (const k of Object.keys(e).filter((k) => k.startsWith('SLUICE_')))
        expect([...Object.keys(READ_MODELS_ENV), ...CLI_ENV], `${name} sets ${k}`).toContain(k);
      // The config file it mounts at SLUICE_CONFIG, parsed as the daemon does.
      const mount = (s.volumes as string[]).find((v) => v.split(':')[1] === e.SLUICE_CONFIG)!;
      const file = obj(parse(read(mount.split(':')[0]!)));
      const cfg = parseReadModelsConfig(file, e);
      expect(cfg.readModels.length).toBeGreaterThan(0);
      expect(s.ports as string[]).toContain(`127.0.0.1:${cfg.readModelsHttpPort}:${cfg.readModelsHttpPort}`);
    }
    for (const k of Object.keys(env).filter((k) => k.startsWith('SLUICE_')))
      expect(Object.keys(CONFIG_ENV), `cluster.env sets ${k}`).toContain(k);
  });

  it('keeps read models of the supported SQL, the same as the shop example defines', async () => {
    await loadSqlParser();
    const cfg = parseReadModelsConfig(obj(parse(read('deploy/compose/read-models.yaml'))), {
      SLUICE_NATS_URL: 'nats://h:4222',
      SLUICE_READ_DATABASE_URL: 'postgres://u@h/d',
    });
    const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
    for (const m of cfg.readModels) {
      analyzeModel(m.sql, m.key);
      const shop = shopReadModels.find((s) => s.name === m.name);
      expect(shop, `read model ${m.name} is not one of examples/shop/read-models.ts`).toBeDefined();
      expect(m.key).toEqual(shop!.key);
      expect(norm(m.sql)).toBe(norm(shop!.sql));
    }
  });

  it('profile cluster: 3 NATS nodes from deploy/kubernetes/nats.conf, routed to each other, R3 streams', () => {
    const nodes = Object.entries(services).filter(([, s]) =>
      (s.profiles as string[] | undefined)?.includes('cluster'),
    );
    expect(nodes).toHaveLength(3);
    const routes = conf.get('cluster.routes') as string[];
    const urls = clusterEnv.SLUICE_NATS_URL!.split(',');
    for (const [name, s] of nodes) {
      expect(s.command).toEqual(['--config', '/etc/nats/nats.conf']);
      expect(s.volumes as string[]).toContain('./deploy/kubernetes/nats.conf:/etc/nats/nats.conf:ro');
      expect(obj(s.environment).NATS_SERVER_NAME).toBe(name);
      const aliases = obj(obj(obj(s.networks).default)).aliases as string[];
      // Each node's route name resolves to it, and every node lists the routes of the other two.
      const own = routes.filter((r) => aliases.includes(new URL(r).hostname));
      expect(own, `${name} is not among the routes`).toHaveLength(1);
      expect(routes.filter((r) => !own.includes(r))).toHaveLength(2);
      expect(urls).toContain(`nats://${name}:4222`);
    }
    expect(clusterEnv.COMPOSE_PROFILES).toBe('cluster');
    expect(loadConfig({ env: serviceEnv('connector', clusterEnv) }).streams.replicas).toBe(3);
  });

  it('profile monitoring: Prometheus scrapes both /metrics, Grafana gets the Sluice dashboard', () => {
    const prom = obj(parse(read('deploy/prometheus/prometheus.yml')));
    const jobs = (prom.scrape_configs as Obj[]).map((j) => ({
      path: j.metrics_path ?? '/metrics',
      targets: (j.static_configs as Obj[]).flatMap((c) => c.targets as string[]),
    }));
    const connectorPort = loadConfig({ env: serviceEnv('connector') }).httpPort;
    const rmEnv = serviceEnv('read-models');
    const rmPort = parseReadModelsConfig({}, rmEnv).readModelsHttpPort;
    expect(jobs).toContainEqual({ path: '/metrics', targets: [`connector:${connectorPort}`] });
    expect(jobs).toContainEqual({ path: '/metrics', targets: [`read-models:${rmPort}`] });
    expect(services.prometheus!.profiles).toEqual(['monitoring']);
    expect(services.grafana!.profiles).toEqual(['monitoring']);
    const mounts = services.grafana!.volumes as string[];
    expect(mounts).toContain(
      './deploy/grafana/sluice-connector.json:/var/lib/grafana/dashboards/sluice-connector.json:ro',
    );
    const provider = obj(parse(read('deploy/grafana/provisioning/dashboards/sluice.yml')));
    expect(obj((provider.providers as Obj[])[0]!.options).path).toBe('/var/lib/grafana/dashboards');
    const ds = obj(parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')));
    expect((ds.datasources as Obj[])[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    expect(JSON.parse(read('deploy/grafana/sluice-connector.json'))).toHaveProperty('panels');
  });
});

describe('deploy/kubernetes', () => {
  const deployment = k8sObject('Deployment', 'sluice-connector');
  const podSpec = obj(obj(obj(deployment.spec).template).spec);
  const container = (podSpec.containers as Obj[])[0]!;
  const settings = obj(k8sObject('ConfigMap', 'sluice').data) as Record<string, string>;
  const secret = obj(k8sObject('Secret', 'sluice').stringData) as Record<string, string>;

  it('runs the connector with 2 replicas from a pinned image, as a non-root user', () => {
    expect(obj(deployment.spec).replicas).toBe(2);
    expectPinned(String(container.image), 'Deployment sluice-connector');
    expect(JSON.stringify(container.args)).toBe('["run"]');
    expect(obj(podSpec.securityContext)).toMatchObject({ runAsNonRoot: true });
    expect(obj(podSpec.securityContext).runAsUser).not.toBe(0);
  });

  it('takes its settings from the ConfigMap and the database URL from the Secret; the parser accepts them', () => {
    for (const k of Object.keys(settings))
      expect(Object.keys(CONFIG_ENV), `ConfigMap sets ${k}`).toContain(k);
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'sluice' } }]);
    expect(container.env).toContainEqual({
      name: 'SLUICE_DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'sluice', key: 'SLUICE_DATABASE_URL' } },
    });
    const cfg = loadConfig({ env: { ...settings, SLUICE_DATABASE_URL: secret.SLUICE_DATABASE_URL } });
    expect(cfg.streams.replicas).toBe(3);
    // Two replicas need leader election; a standby is Ready, so updates may roll.
    expect(cfg.ha).toBe('on');
    expect(obj(deployment.spec).strategy).toMatchObject({ type: 'RollingUpdate' });
    const creds = (podSpec.volumes as Obj[]).find((v) => obj(v.secret).secretName === 'sluice-nats');
    expect(obj(creds?.secret).optional).toBe(true);
    k8sObject('Secret', 'sluice-nats');
  });

  it('probes /healthz and /readyz and serves /metrics on the port SLUICE_HTTP_PORT sets', () => {
    const port = Number(settings.SLUICE_HTTP_PORT);
    const named = (container.ports as Obj[]).find((p) => p.containerPort === port);
    expect(named, `no container port ${port}`).toBeDefined();
    expect(obj(container.livenessProbe).httpGet).toEqual({ path: '/healthz', port: named!.name });
    expect(obj(container.readinessProbe).httpGet).toEqual({ path: '/readyz', port: named!.name });
    const service = k8sObject('Service', 'sluice-connector-metrics');
    const labels = obj(obj(obj(deployment.spec).template).metadata).labels;
    expect(obj(service.spec).selector).toEqual(labels);
    expect(obj(service.spec).publishNotReadyAddresses).toBe(true);
    expect((obj(service.spec).ports as Obj[])[0]).toMatchObject({ port, targetPort: named!.name });
  });

  it('runs NATS as a 3-node StatefulSet whose pod names are the routes of nats.conf', () => {
    const sts = k8sObject('StatefulSet', 'nats');
    const spec = obj(sts.spec);
    expect(spec.replicas).toBe(3);
    const svc = k8sObject('Service', String(spec.serviceName));
    expect(obj(svc.spec).clusterIP).toBe('None');
    const routes = (conf.get('cluster.routes') as string[]).map((r) => new URL(r).host);
    const routePort = /:(\d+)$/.exec(String(conf.get('cluster.listen')))![1];
    expect(routes.sort()).toEqual([0, 1, 2].map((i) => `nats-${i}.${String(spec.serviceName)}:${routePort}`));
    const pod = obj(obj(spec.template).spec);
    const nats = (pod.containers as Obj[])[0]!;
    expectPinned(String(nats.image), 'StatefulSet nats');
    expect(nats.image).toBe(services['nats-0']!.image);
    expect(nats.env).toContainEqual({
      name: 'NATS_SERVER_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    expect(conf.get('server_name')).toBe('$NATS_SERVER_NAME');
    // The config is the ConfigMap kustomize generates from nats.conf, mounted where --config reads it.
    const generated = (kustomization.configMapGenerator as Obj[]).find((g) => g.name === 'nats-config');
    expect(generated?.files).toEqual(['nats.conf']);
    const volume = (pod.volumes as Obj[]).find((v) => obj(v.configMap).name === 'nats-config')!;
    const mount = (nats.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
    expect(nats.args).toEqual(['--config', `${String(mount.mountPath)}/nats.conf`]);
    expect(obj(pod.securityContext)).toMatchObject({ runAsNonRoot: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Against real servers

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await closeAll();
});

const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
};

describe('the endpoints the files point at', () => {
  let env: SluiceEnv;
  let port: number;

  beforeAll(async () => {
    env = await startEnv();
    cleanups.push(() => env.close());
    await env.sql('CREATE TABLE item (id int PRIMARY KEY, name text)');
    const running = env.startConnector();
    // The HTTP server `sluice run` starts, on the port the image's SLUICE_HTTP_PORT would name.
    port = await freePort();
    const server = await startHttpServer(port, running.connector);
    cleanups.push(() => server.close());
    await eventually(() => running.connector.status.state === 'streaming', {
      timeout: 60_000,
      message: 'the connector to stream',
    });
  });

  it("the Dockerfile's HEALTHCHECK passes against sluice run's /healthz, and fails when nothing answers", async () => {
    const hc = docker.filter((i) => i.op === 'HEALTHCHECK').at(-1)!.args;
    const argv = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    expect(argv[0]).toBe('node');
    // Asynchronously: the HTTP server it calls runs in this process.
    const run = (p: number) =>
      new Promise<number | null>((done) => {
        const child = spawn(process.execPath, argv.slice(1), {
          env: { ...process.env, SLUICE_HTTP_PORT: String(p) },
          stdio: 'ignore',
        });
        child.once('exit', (code) => done(code));
      });
    expect(await run(port)).toBe(0);
    expect(await run(await freePort())).toBe(1);
  });

  it('sluice run serves the probe paths and /metrics of the Deployment and Prometheus', async () => {
    const container = (
      obj(obj(obj(k8sObject('Deployment', 'sluice-connector').spec).template).spec).containers as Obj[]
    )[0]!;
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      const path = String(obj(obj(probe).httpGet).path);
      expect((await get(`http://127.0.0.1:${port}${path}`)).status, path).toBe(200);
    }
    const metrics = await get(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^sluice_/m);
  });

  it("the read-model daemon's query API serves /healthz and /metrics", async () => {
    const api = await startQueryApi({
      readDatabaseUrl: env.dbUrl,
      readModelsSchema: readModelDefaults.readModelsSchema,
      readModels: [],
      fenceTimeoutMs: 1000,
      port: 0,
    });
    cleanups.push(() => api.close());
    expect((await get(`${api.url}/healthz`)).status).toBe(200);
    expect((await get(`${api.url}/metrics`)).status).toBe(200);
  });
});

describe('deploy/kubernetes/nats.conf', () => {
  it('forms a 3-node JetStream cluster that places R3 streams, and answers the StatefulSet probes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-nats-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const names = ['nats-0', 'nats-1', 'nats-2'];
    const routePorts = await Promise.all(names.map(() => freePort()));
    const httpPorts = await Promise.all(names.map(() => freePort()));
    // The file as it is, with the pod DNS names and ports mapped onto loopback ports.
    const files = names.map((name, i) => {
      let text = natsConfText
        .replace('$NATS_SERVER_NAME', `"${name}"`)
        .replace(/^listen: .*$/m, 'listen: 127.0.0.1:-1')
        .replace(/^http: .*$/m, `http: 127.0.0.1:${httpPorts[i]}`)
        // The harness gives the store with -sd, which nats-server refuses next to store_dir.
        .replace(/store_dir: .*$/m, '')
        .replace(/(cluster \{[\s\S]*?listen: ).*$/m, `$1127.0.0.1:${routePorts[i]}`);
      names.forEach(
        (n, j) => (text = text.replace(`nats://${n}.nats:6222`, `nats://127.0.0.1:${routePorts[j]}`)),
      );
      expect(text).not.toMatch(/\.nats:|0\.0\.0\.0/);
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, text);
      return file;
    });
    // The harness's own -a/-p/-n/-sd flags take precedence over the file's listen, name and store.
    const nodes: NatsServer[] = await Promise.all(
      files.map((f) => startNats({ args: ['-c', f], startupTimeoutMs: CLUSTER_STARTUP_TIMEOUT_MS })),
    );
    const nc = await connect({ servers: nodes.map((n) => n.url) });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    await eventually(
      async () => {
        await jsm.streams.add({ name: 'DEPLOY_R3', subjects: ['deploy.r3'], num_replicas: 3 });
        return true;
      },
      { timeout: 60_000, interval: 500, message: 'the cluster to place an R3 stream' },
    );
    const info = await jsm.streams.info('DEPLOY_R3');
    expect((info.cluster?.replicas ?? []).length + 1).toBe(3);
    for (let i = 0; i < 3; i += 1) {
      const routez = JSON.parse((await get(`http://127.0.0.1:${httpPorts[i]}/routez`)).body) as {
        num_routes: number;
        routes: { remote_id: string }[];
      };
      // One route to each of the other two nodes (its own entry in routes is ignored).
      expect(new Set(routez.routes.map((r) => r.remote_id)).size, `routes of node ${i}`).toBe(2);
    }
    const sts = obj(obj(obj(k8sObject('StatefulSet', 'nats').spec).template).spec);
    const container = (sts.containers as Obj[])[0]!;
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const path = String(obj(obj(container[probe]).httpGet).path);
      for (const p of httpPorts)
        await eventually(async () => (await get(`http://127.0.0.1:${p}${path}`)).status === 200, {
          timeout: 30_000,
          message: `${path} of the node on ${p} to answer 200`,
        });
    }
    await jsm.streams.delete('DEPLOY_R3');
  });
});
