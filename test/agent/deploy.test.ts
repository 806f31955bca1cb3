import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfigText, type Config } from '../../agent/config/load';
import { parseListen } from '../../agent/config/schema';
import { packageRoot } from '../../agent/paths';

// The generator of deploy/kubernetes/prometheus-operator/prometheusrule.yaml (plain JS, run by `npm run rules:k8s`).
const generator = require('../../scripts/gen-prometheusrule.js') as { OUT: string; ruleFiles: () => string[]; prometheusRule: () => unknown };

// The deployment files (deploy/, dashboards/provisioning/, dashboards/alertmanager.example.yml)
// are checked by reading them: each must parse, and each must agree with what the package,
// the CLI and the Dockerfile say about the binary, its flags, user, port, probes and paths.
// The real tools (systemd-analyze, amtool, promtool) run on them in test/e2e/deploy.test.ts.

const root = packageRoot();
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
const pkg = JSON.parse(read('package.json'));
const cliSource = read('agent/cli.ts');

/** Node's flags as `npm start` passes them; the CLI's shebang and the image use the same. */
const nodeFlags: string[] = pkg.scripts.start.split(' ').filter((w: string) => w.startsWith('--'));

// --- What the Dockerfile's runtime stage says -------------------------------------------------
const dockerLines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const runtime = dockerLines.slice(dockerLines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true) + 1);
const instr = (name: string) => runtime.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());
const dockerEnv = Object.fromEntries(instr('ENV').join(' ').split(/\s+/).filter((w) => w.includes('=')).map((w) => w.split('=', 2)));
const image = {
  user: instr('USER')[0],
  uid: Number(/useradd\b[^&]*--uid (\d+)/.exec(instr('RUN').join(' '))?.[1]),
  gid: Number(/groupadd\b[^&]*--gid (\d+)/.exec(instr('RUN').join(' '))?.[1]),
  workdir: instr('WORKDIR')[0],
  port: Number(instr('EXPOSE')[0]),
  config: dockerEnv.KEEPWATCH_CONFIG as string,
  dataDir: dockerEnv.KEEPWATCH_DATA_DIR as string,
  entrypoint: JSON.parse(instr('ENTRYPOINT')[0]) as string[],
  copied: instr('COPY').filter((l) => l.startsWith('--from=')).map((l) => path.posix.basename(l.split(/\s+/)[1])),
};

/** A Kubernetes quantity (128Mi, 0.5, 50m) as a number of bytes or cores. */
function quantity(q: string | number): number {
  const m = /^([0-9.]+)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const mult: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * mult[m[2] ?? ''];
}

/** Loads a keepwatch config the way the agent does; `env` stands in for the process environment. */
function loadKeepwatch(text: string, file: string, env: NodeJS.ProcessEnv): Config {
  return loadConfigText(text, file, { env });
}

/** The ${VAR} references without a default in a config text (they must be provided). */
function requiredVars(text: string): string[] {
  return [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
}

test('the Dockerfile facts these tests compare against are all there', () => {
  expect(image.user).toBe('keepwatch');
  expect(Number.isInteger(image.uid) && image.uid > 0).toBe(true);
  expect(Number.isInteger(image.gid) && image.gid > 0).toBe(true);
  expect(image.port).toBe(9470);
  expect(image.config).toBe('/etc/keepwatch/keepwatch.yaml');
  expect(image.dataDir).toBe('/var/lib/keepwatch');
  expect(image.entrypoint).toEqual(['node', ...nodeFlags, path.posix.join(image.workdir, pkg.bin.keepwatch)]);
  expect(nodeFlags).toContain('--max-semi-space-size=8');
  expect(cliSource.split('\n')[0]).toBe(`#!/usr/bin/env -S node ${nodeFlags.join(' ')}`);
});

// --- Every YAML file parses -------------------------------------------------------------------
function yamlFiles(dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
    .sort();
}
const ownYaml = [...yamlFiles('deploy'), ...yamlFiles('dashboards/provisioning'), 'dashboards/alertmanager.example.yml'];

test('every YAML file in deploy/ and dashboards/provisioning/ parses cleanly', () => {
  expect(ownYaml).toEqual(expect.arrayContaining([
    'deploy/compose/docker-compose.yml', 'deploy/compose/prometheus.yml', 'deploy/compose/keepwatch.yaml',
    'deploy/kubernetes/kustomization.yaml', 'deploy/kubernetes/base/kustomization.yaml', 'deploy/kubernetes/base/daemonset.yaml',
    'deploy/kubernetes/base/configmap.yaml', 'deploy/kubernetes/base/service.yaml', 'deploy/kubernetes/prometheus-operator/kustomization.yaml',
    'deploy/kubernetes/prometheus-operator/servicemonitor.yaml', 'deploy/kubernetes/prometheus-operator/prometheusrule.yaml',
    'dashboards/provisioning/datasources/keepwatch.yaml', 'dashboards/provisioning/dashboards/keepwatch.yaml',
  ]));
  for (const file of ownYaml) {
    const docs = parseAllDocuments(read(file), { uniqueKeys: true });
    expect([file, docs.length]).toEqual([file, expect.any(Number)]);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      expect([file, doc.errors.map(String), doc.warnings.map(String)]).toEqual([file, [], []]);
      expect([file, typeof doc.toJS()]).toEqual([file, 'object']);
    }
  }
});

// --- systemd ------------------------------------------------------------------------------------
describe('systemd unit', () => {
  const text = read('deploy/systemd/keepwatch.service');
  const comments = text.split('\n').filter((l) => /^\s*[#;]/.test(l)).join('\n');
  const unit: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      section = sec[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    expect([line, eq > 0 && section !== '']).toEqual([line, true]);
    ((unit[section][line.slice(0, eq)] ??= [])).push(line.slice(eq + 1));
  }
  const svc = (key: string) => unit.Service?.[key];
  const one = (key: string) => {
    const v = svc(key);
    expect([key, v?.length]).toEqual([key, 1]);
    return v![0];
  };

  test('has [Unit], [Service] and [Install], enabled for multi-user.target', () => {
    expect(Object.keys(unit).sort()).toEqual(['Install', 'Service', 'Unit']);
    expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
    expect(unit.Unit.After?.join(' ')).toContain('network-online.target');
    expect(one('Type')).toBe('simple');
  });

  test('runs as the dedicated keepwatch user, created with useradd --system', () => {
    expect(one('User')).toBe(image.user);
    expect(one('Group')).toBe(image.user);
    expect(one('DynamicUser')).toBe('no');
    expect(comments).toMatch(new RegExp(`useradd --system .*\\b${image.user}$`, 'm'));
  });

  test('is hardened', () => {
    const want: Record<string, string | RegExp> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: /^(yes|read-only)$/,
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
    };
    for (const [key, value] of Object.entries(want)) {
      const got = one(key);
      if (typeof value === 'string') expect([key, got]).toEqual([key, value]);
      else expect([key, value.test(got)]).toEqual([key, true]);
    }
    expect(one('RestrictAddressFamilies').split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    // The checks read all of /proc; V8's JIT needs writable executable memory.
    expect(svc('ProtectProc')?.some((v) => v !== 'default') ?? false).toBe(false);
    expect(svc('ProcSubset')?.includes('pid') ?? false).toBe(false);
    expect(svc('MemoryDenyWriteExecute')?.includes('yes') ?? false).toBe(false);
    expect(svc('PrivateUsers')?.includes('yes') ?? false).toBe(false);
  });

  test('state and config directories are the ones the image and the config use', () => {
    expect(path.posix.join('/var/lib', one('StateDirectory'))).toBe(image.dataDir);
    expect(path.posix.join('/etc', one('ConfigurationDirectory'))).toBe(path.posix.dirname(image.config));
    expect(one('WorkingDirectory')).toBe(image.dataDir);
    const env = Object.fromEntries(svc('Environment')!.flatMap((v) => v.split(/\s+/)).map((w) => w.split('=', 2)));
    expect(env).toMatchObject({ KEEPWATCH_CONFIG: image.config, KEEPWATCH_DATA_DIR: image.dataDir, NODE_ENV: 'production' });
    // With those variables the embedded default config keeps its state in the StateDirectory.
    const def = loadKeepwatch(read('config/default.yaml'), 'config/default.yaml', env);
    expect(def.agent.dataDir).toBe(image.dataDir);
  });

  test('ExecStart runs the installed CLI with the Node flags of npm start, the shebang and the image', () => {
    const argv = one('ExecStart').split(/\s+/);
    expect(path.posix.isAbsolute(argv[0]) && path.posix.basename(argv[0]) === 'node').toBe(true);
    const script = argv.findIndex((a) => a.endsWith('.js'));
    expect(argv.slice(1, script)).toEqual(nodeFlags);
    // Installed like the image: the runtime WORKDIR, holding what the image copies.
    expect(argv[script]).toBe(path.posix.join(image.workdir, pkg.bin.keepwatch));
    expect(comments).toContain(image.workdir);
    const cp = /cp -r ((?:[\w.-]+ )+)\/opt\/keepwatch\//.exec(comments);
    expect(cp?.[1].trim().split(' ').sort()).toEqual([...image.copied, 'README.md'].sort());
    // `keepwatch run --config <the image's config path>`: run is a CLI command.
    expect(argv.slice(script + 1)).toEqual(['run', '--config', image.config]);
    expect(cliSource).toMatch(/\.command\(\s*'run'/);
  });

  test('Documentation= is a file the install steps copy, in the unit\'s comments and in the README alike', () => {
    const doc = /^file:(\/\S+)$/.exec(unit.Unit.Documentation?.[0] ?? '')?.[1];
    expect(doc).toBe(path.posix.join(image.workdir, 'README.md'));
    const steps = (s: string) => /cp -r ((?:[\w.-]+ )+)\/opt\/keepwatch\//.exec(s)?.[1].trim().split(' ').sort();
    expect(steps(comments)).toContain(path.posix.basename(doc!));
    expect(steps(read('README.md'))).toEqual(steps(comments));
  });

  test('reload is SIGHUP, which the agent handles; stop waits longer than the agent\'s own deadline', () => {
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(cliSource).toContain("process.on('SIGHUP'");
    expect(one('Restart')).toBe('on-failure');
    expect(one('KillSignal')).toBe('SIGTERM');
    const deadlineMs = Number(/const STOP_DEADLINE_MS = ([\d_]+);/.exec(cliSource)![1].replace(/_/g, ''));
    const stop = /^(\d+)(s|min)?$/.exec(one('TimeoutStopSec'))!;
    const stopMs = Number(stop[1]) * (stop[2] === 'min' ? 60_000 : 1000);
    expect(stopMs).toBeGreaterThan(deadlineMs);
    expect(stopMs).toBeLessThanOrEqual(deadlineMs + 30_000);
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(4096);
  });

  test('says that restarting units from L1 needs a polkit rule', () => {
    expect(comments).toMatch(/systemd: UNIT/);
    expect(comments).toContain('org.freedesktop.systemd1.manage-units');
    expect(comments).toMatch(/off unless a config asks for it/);
  });
});

// --- Kubernetes ---------------------------------------------------------------------------------
describe('Kubernetes manifests', () => {
  // deploy/kubernetes applies base/ (the agent alone); its prometheus-operator/ overlay adds the
  // ServiceMonitor and the PrometheusRule. kubectl itself does not run in the tests (Debian has
  // no kubectl package; its kubernetes-client, 1.20, cannot read folders listed in resources):
  // the kustomizations are read here, and every file or folder they list must exist.
  const dir = 'deploy/kubernetes';
  const kustomizationDirs = [dir, `${dir}/base`, `${dir}/prometheus-operator`];
  const kustomization = (d: string) => parseYaml(read(`${d}/kustomization.yaml`));
  /** The documents `kubectl kustomize d` renders, before kustomize's own changes (images). */
  function render(d: string): any[] {
    return (kustomization(d).resources as string[]).flatMap((r) => {
      const rel = path.posix.join(d, r);
      if (!fs.existsSync(path.join(root, rel))) throw new Error(`${d}/kustomization.yaml lists ${r}, which does not exist`);
      if (fs.statSync(path.join(root, rel)).isDirectory()) return render(rel);
      return parseAllDocuments(read(rel)).map((doc: any) => ({ file: rel, ...doc.toJS() }));
    });
  }
  const docs = render(`${dir}/prometheus-operator`);
  const byKind = (kind: string) => {
    const found = docs.filter((d) => d.kind === kind);
    expect([kind, found.length]).toEqual([kind, 1]);
    return found[0];
  };
  const ds = byKind('DaemonSet');
  const cm = byKind('ConfigMap');
  const svc = byKind('Service');
  const sm = byKind('ServiceMonitor');
  const rule = byKind('PrometheusRule');
  const pod = ds.spec.template.spec;
  const container = pod.containers.find((c: any) => c.name === 'keepwatch');
  const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
  const mountAt = (p: string) => container.volumeMounts.find((m: any) => m.mountPath === p);
  const volume = (name: string) => pod.volumes.find((v: any) => v.name === name);

  test.each(kustomizationDirs)('%s/kustomization.yaml lists every manifest in its folder, and only files and kustomizations that exist; none pins a namespace', (d) => {
    const k = kustomization(d);
    expect(k).toMatchObject({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
    expect(k.namespace).toBeUndefined();
    const listed = k.resources as string[];
    for (const r of listed) {
      const abs = path.join(root, d, r);
      expect([r, fs.existsSync(abs)]).toEqual([r, true]);
      if (!fs.statSync(abs).isDirectory()) continue;
      expect([r, fs.existsSync(path.join(abs, 'kustomization.yaml'))]).toEqual([r, true]);
      // kustomize refuses a base whose folder holds the kustomization using it (a cycle): no `../`.
      expect([r, path.relative(abs, path.join(root, d)).startsWith('..')]).toEqual([r, true]);
    }
    const files = fs.readdirSync(path.join(root, d)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    expect(listed.filter((r) => !fs.statSync(path.join(root, d, r)).isDirectory()).sort()).toEqual(files);
    for (const doc of render(d)) {
      expect([doc.file, doc.apiVersion && doc.kind && doc.metadata?.name]).toEqual([doc.file, expect.any(String)]);
      expect([doc.file, doc.metadata.namespace]).toEqual([doc.file, undefined]);
    }
  });

  test('deploy/kubernetes needs no Prometheus Operator CRDs; the prometheus-operator overlay adds the ServiceMonitor and the PrometheusRule to it', () => {
    const kinds = (d: string) => render(d).map((doc) => `${doc.apiVersion} ${doc.kind}`).sort();
    expect(kinds(dir)).toEqual(['apps/v1 DaemonSet', 'v1 ConfigMap', 'v1 Service']);
    expect(kustomization(dir).resources).toEqual(['base']);
    expect(kustomization(`${dir}/prometheus-operator`).resources).toEqual(['../base', 'servicemonitor.yaml', 'prometheusrule.yaml']);
    expect(kinds(`${dir}/prometheus-operator`)).toEqual([
      ...kinds(dir), 'monitoring.coreos.com/v1 PrometheusRule', 'monitoring.coreos.com/v1 ServiceMonitor',
    ].sort());
    expect(ds.apiVersion).toBe('apps/v1');
  });

  test(`${generator.OUT} is current (regenerate with npm run rules:k8s)`, () => {
    expect(rule.file).toBe(generator.OUT);
    const committed = parseYaml(read(generator.OUT));
    expect(committed).toEqual(generator.prometheusRule());
    // spec.groups are the groups of the shipped rule files, every one of them.
    const shipped = fs.readdirSync(path.join(root, 'dashboards', 'prometheus')).filter((f) => f.endsWith('.rules.yml')).sort();
    expect(generator.ruleFiles()).toEqual(shipped.map((f) => `dashboards/prometheus/${f}`));
    const groups = shipped.flatMap((f) => parseYaml(read(`dashboards/prometheus/${f}`)).groups.map((g: any) => g.name));
    expect(rule.spec.groups.map((g: any) => g.name)).toEqual(groups);
    expect(rule.metadata.labels).toEqual(ds.metadata.labels);
  });

  test('the DaemonSet selects its own pods and runs the image with its entrypoint', () => {
    for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) expect([k, podLabels[k]]).toEqual([k, v]);
    expect(container.image).toBe('keepwatch:latest');
    expect(kustomization(`${dir}/base`).images.map((i: any) => i.name)).toContain(container.image.split(':')[0]);
    // No command: the image's ENTRYPOINT starts node with keepwatch's flags. Any override must keep them.
    if (container.command) expect(container.command.slice(0, 1 + nodeFlags.length)).toEqual(['node', ...nodeFlags]);
    expect(container.args).toEqual(['run', '--config', image.config]);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('runs as the image\'s non-root user, read-only, without capabilities', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: image.uid, runAsGroup: image.gid, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.securityContext.capabilities.add).toBeUndefined();
    expect(container.securityContext.privileged ?? false).toBe(false);
    // Read-only root: every place written to is a volume (the store, SQLite's temp files).
    expect(mountAt(image.dataDir)?.readOnly ?? false).toBe(false);
    expect(mountAt('/tmp')).toBeDefined();
    expect(pod.volumes.every((v: any) => v.hostPath === undefined)).toBe(true);
  });

  test('port 9470 is named metrics; liveness is /healthz and readiness /readyz on it', () => {
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: image.port, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(/const STOP_DEADLINE_MS = ([\d_]+);/.exec(cliSource)![1].replace(/_/g, '')));
  });

  test('resources fit the agent: limit 256Mi, requests within the limits', () => {
    const { requests, limits } = container.resources;
    expect(limits.memory).toBe('256Mi');
    for (const r of ['cpu', 'memory']) {
      expect(quantity(requests[r])).toBeGreaterThan(0);
      expect(quantity(requests[r])).toBeLessThanOrEqual(quantity(limits[r]));
    }
    expect(quantity(requests.memory)).toBeGreaterThanOrEqual(100 * 1e6); // above the ~75 MB idle RSS
  });

  test('the ConfigMap is mounted where the image reads its config, the data volume where it keeps state', () => {
    const cfgMount = mountAt(path.posix.dirname(image.config));
    expect(cfgMount.readOnly).toBe(true);
    expect(volume(cfgMount.name).configMap.name).toBe(cm.metadata.name);
    expect(Object.keys(cm.data)).toEqual([path.posix.basename(image.config)]);
    const data = volume(mountAt(image.dataDir).name);
    expect(data.emptyDir ?? data.hostPath).toBeDefined();
  });

  test('the ConfigMap holds a valid keepwatch config that fits the pod', () => {
    const text = cm.data[path.posix.basename(image.config)];
    // Only the pod's environment is available; valueFrom values are filled in by the kubelet.
    const env = Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value ?? `pod-${e.name.toLowerCase()}`]));
    for (const v of requiredVars(text)) expect([v, v in env]).toEqual([v, true]);
    const config = loadKeepwatch(text, cm.file, env);
    expect(config.agent.name).toBe(env.NODE_NAME);
    expect(container.env.find((e: any) => e.name === 'NODE_NAME').valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
    expect(parseListen(config.agent.listen)).toEqual({ host: '0.0.0.0', port: image.port });
    expect(config.agent.dataDir).toBe(image.dataDir);
    expect(config.checks.length).toBeGreaterThan(3);
    // Disk checks watch paths the pod has; http checks of itself use its port.
    const mounts = container.volumeMounts.map((m: any) => m.mountPath);
    for (const c of config.checks.filter((x) => x.type === 'disk')) expect(mounts).toContain(c.spec.mount);
    for (const c of config.checks.filter((x) => x.type === 'http' && /127\.0\.0\.1/.test(String(x.spec.url)))) {
      expect(new URL(String(c.spec.url)).port).toBe(String(image.port));
    }
  });

  test('the headless Service exposes the metrics port of the DaemonSet\'s pods', () => {
    expect(svc.spec.clusterIP).toBe('None');
    for (const [k, v] of Object.entries(svc.spec.selector)) expect([k, podLabels[k]]).toEqual([k, v]);
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port: image.port, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(container.ports.map((p: any) => p.name)).toContain(svc.spec.ports[0].targetPort);
  });

  test('the ServiceMonitor selects the Service by its labels and scrapes its metrics port', () => {
    const svcLabels = svc.metadata.labels as Record<string, string>;
    expect(Object.keys(sm.spec.selector.matchLabels).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect([k, svcLabels[k]]).toEqual([k, v]);
    expect(sm.spec.namespaceSelector).toBeUndefined(); // the Service's own namespace
    const portNames = svc.spec.ports.map((p: any) => p.name);
    expect(sm.spec.endpoints.length).toBeGreaterThan(0);
    for (const ep of sm.spec.endpoints) {
      expect(portNames).toContain(ep.port);
      expect(ep.path).toBe('/metrics');
    }
    // instance = node name = agent name (NODE_NAME is spec.nodeName).
    expect(sm.spec.endpoints[0].relabelings).toContainEqual(expect.objectContaining({ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance' }));
  });
});

// --- docker compose and Grafana provisioning ---------------------------------------------------
describe('docker compose demo', () => {
  const dir = path.join(root, 'deploy', 'compose');
  const compose = parseYaml(read('deploy/compose/docker-compose.yml'));
  const services = compose.services as Record<string, any>;
  const prom = parseYaml(read('deploy/compose/prometheus.yml'));
  /** [source, target] of each volume entry; source relative to deploy/compose/ or a named volume. */
  const mounts = (svc: string): [string, string][] => (services[svc].volumes ?? []).map((v: string) => v.split(':').slice(0, 2) as [string, string]);
  const bind = (svc: string, target: string) => {
    const m = mounts(svc).find(([, t]) => t === target);
    expect([svc, target, m?.[0]]).toEqual([svc, target, expect.stringMatching(/^\.{1,2}\//)]);
    return path.resolve(dir, m![0]);
  };
  const flag = (svc: string, name: string) => (services[svc].command as string[]).find((a) => a.startsWith(`--${name}=`))!.split('=')[1];
  const hostPort = (url: string) => {
    const u = new URL(url.includes('://') ? url : `http://${url}`);
    return { host: u.hostname, port: Number(u.port) };
  };
  const containerPort = (svc: string) => Number(String(services[svc].ports[0]).split(':').pop());

  test('runs keepwatch (built from the repository), Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'grafana', 'keepwatch', 'prometheus']);
    expect(services.prometheus.image).toMatch(/^prom\/prometheus:/);
    expect(services.alertmanager.image).toMatch(/^prom\/alertmanager:/);
    expect(services.grafana.image).toMatch(/^grafana\/grafana:/);
    const context = path.resolve(dir, services.keepwatch.build.context);
    expect(context).toBe(root);
    expect(fs.existsSync(path.join(context, services.keepwatch.build.dockerfile ?? 'Dockerfile'))).toBe(true);
    // The image's entrypoint (node with keepwatch's flags) is kept.
    expect(services.keepwatch.entrypoint).toBeUndefined();
    expect(services.keepwatch.command).toBeUndefined();
    expect(containerPort('keepwatch')).toBe(image.port);
  });

  test('every file or folder it mounts exists, and every named volume is declared', () => {
    let binds = 0;
    for (const name of Object.keys(services)) {
      for (const [source, target] of mounts(name)) {
        expect(path.posix.isAbsolute(target)).toBe(true);
        if (/^\.{1,2}\//.test(source)) {
          binds++;
          expect([name, source, fs.existsSync(path.resolve(dir, source))]).toEqual([name, source, true]);
        } else {
          expect([name, source, Object.keys(compose.volumes ?? {})]).toEqual([name, source, expect.arrayContaining([source])]);
        }
      }
    }
    expect(binds).toBeGreaterThanOrEqual(6);
  });

  test('keepwatch gets the demo config at the image\'s config path and a volume for its state', () => {
    expect(bind('keepwatch', image.config)).toBe(path.join(dir, 'keepwatch.yaml'));
    const data = mounts('keepwatch').find(([, t]) => t === image.dataDir)!;
    expect(Object.keys(compose.volumes)).toContain(data[0]);
  });

  test('deploy/compose/keepwatch.yaml is a valid config that fits the stack', () => {
    const text = read('deploy/compose/keepwatch.yaml');
    expect(requiredVars(text)).toEqual([]);
    const config = loadKeepwatch(text, 'deploy/compose/keepwatch.yaml', {});
    expect(parseListen(config.agent.listen)).toEqual({ host: '0.0.0.0', port: image.port });
    expect(config.agent.dataDir).toBe(image.dataDir);
    // Every http target is the agent itself or a service of the demo, at the port it serves.
    const ports: Record<string, number> = { prometheus: 9090, alertmanager: 9093, grafana: 3000 };
    for (const [svc, port] of Object.entries(ports)) expect([svc, containerPort(svc)]).toEqual([svc, port]);
    const http = config.checks.filter((c) => c.type === 'http').map((c) => hostPort(String(c.spec.url)));
    expect(http.length).toBeGreaterThanOrEqual(4);
    for (const t of http) {
      if (t.host === '127.0.0.1') expect(t.port).toBe(image.port);
      else expect([t.host, t.port]).toEqual([t.host, ports[t.host]]);
    }
    // Its incidents go to the demo's Alertmanager.
    const am = config.notifiers.get('alertmanager')!;
    expect((am.spec.urls as string[]).map(hostPort)).toEqual([{ host: 'alertmanager', port: 9093 }]);
    // Prometheus' relabelling gives its series instance="<agent name>", as on the agent's own alerts.
    const job = prom.scrape_configs.find((j: any) => j.job_name === 'keepwatch');
    const relabel = job.relabel_configs.find((r: any) => r.target_label === 'instance');
    const target = job.static_configs[0].targets[0];
    const instance = target.replace(new RegExp(`^(?:${relabel.regex})$`), relabel.replacement);
    expect(instance).toBe(config.agent.name);
  });

  test('Prometheus scrapes keepwatch every 15s, alerts to Alertmanager and loads the shipped rules', () => {
    expect(bind('prometheus', flag('prometheus', 'config.file'))).toBe(path.join(dir, 'prometheus.yml'));
    const job = prom.scrape_configs.find((j: any) => j.job_name === 'keepwatch');
    expect(job.scrape_interval ?? prom.global.scrape_interval).toBe('15s');
    expect(job.static_configs[0].targets.map(hostPort)).toEqual([{ host: 'keepwatch', port: image.port }]);
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(prom.alerting.alertmanagers[0].static_configs[0].targets.map(hostPort)).toEqual([{ host: 'alertmanager', port: containerPort('alertmanager') }]);
    // rule_files are relative to prometheus.yml; the folder they name is the repository's rules.
    expect(prom.rule_files).toEqual(['rules/*.rules.yml']);
    const configDir = path.posix.dirname(flag('prometheus', 'config.file'));
    const rulesTarget = path.posix.join(configDir, path.posix.dirname(prom.rule_files[0]));
    expect(bind('prometheus', rulesTarget)).toBe(path.join(root, 'dashboards', 'prometheus'));
  });

  test('Alertmanager runs dashboards/alertmanager.example.yml', () => {
    expect(bind('alertmanager', flag('alertmanager', 'config.file'))).toBe(path.join(root, 'dashboards', 'alertmanager.example.yml'));
  });

  test('Grafana gets the provisioning files and the dashboards at the provider\'s path, and the datasource is this Prometheus', () => {
    expect(bind('grafana', '/etc/grafana/provisioning')).toBe(path.join(root, 'dashboards', 'provisioning'));
    const providers = parseYaml(read('dashboards/provisioning/dashboards/keepwatch.yaml'));
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers).toHaveLength(1);
    const p = providers.providers[0];
    expect(p).toMatchObject({ type: 'file', folder: 'keepwatch', options: { path: '/var/lib/grafana/dashboards/keepwatch', foldersFromFilesStructure: false } });
    expect(bind('grafana', p.options.path)).toBe(path.join(root, 'dashboards'));
    const ds = parseYaml(read('dashboards/provisioning/datasources/keepwatch.yaml'));
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })]);
    expect(hostPort(ds.datasources[0].url)).toEqual({ host: 'prometheus', port: containerPort('prometheus') });
  });
});

describe('dashboards/alertmanager.example.yml', () => {
  const am = parseYaml(read('dashboards/alertmanager.example.yml'));
  const intervals = new Map<string, any[]>(am.time_intervals.map((t: any) => [t.name, t.time_intervals]));

  test('defines 8x5 business hours (Mon-Fri 09:00-17:00 in a time zone) and 24x7', () => {
    expect(intervals.get('8x5')).toEqual([
      { weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }], location: expect.stringMatching(/^\w+\/\w+$/) },
    ]);
    expect(intervals.get('24x7')).toBeDefined();
  });

  test('every interval and receiver a route names exists; pagers page, chats chat', () => {
    const receivers = new Map<string, any>(am.receivers.map((r: any) => [r.name, r]));
    const walk = (route: any): any[] => [route, ...(route.routes ?? []).flatMap(walk)];
    const routes = walk(am.route);
    for (const r of routes) {
      if (r.receiver) expect([r.receiver, receivers.has(r.receiver)]).toEqual([r.receiver, true]);
      for (const n of [...(r.active_time_intervals ?? []), ...(r.mute_time_intervals ?? [])]) expect([n, intervals.has(n)]).toEqual([n, true]);
    }
    for (const r of routes.filter((x) => /-pager$/.test(x.receiver ?? ''))) {
      expect(r.active_time_intervals).toEqual(['24x7']);
      expect(r.matchers).toEqual(['severity="critical"']);
      expect(receivers.get(r.receiver).pagerduty_configs).toHaveLength(1);
    }
    for (const r of routes.filter((x) => /-chat$/.test(x.receiver ?? ''))) {
      expect(r.active_time_intervals).toEqual(['8x5']);
      expect(receivers.get(r.receiver).slack_configs).toHaveLength(1);
    }
    expect(am.route.receiver).toBe('default');
  });

  test('KeepwatchAgentDown inhibits the check alerts of its instance', () => {
    expect(am.inhibit_rules).toContainEqual({ source_matchers: ['alertname="KeepwatchAgentDown"'], target_matchers: ['check=~".+"'], equal: ['instance'] });
  });
});
