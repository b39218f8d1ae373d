// Offline checks of the Kubernetes manifests under deploy/k8s (deploy/README.md):
//  - each overlay (edge, cluster) renders with `kubectl kustomize`;
//  - every rendered object validates against its schema: core kinds with kubernetes-models,
//    Argo Workflows kinds with @kubernetes-models/argo-workflows, Argo Events with
//    tests/argo/argo_events.schema.json, Strimzi with strimzi.schema.json (ajv); a kind without a
//    schema fails;
//  - no Secret is rendered (Secrets are referenced, never included); the references inside an
//    overlay resolve (ConfigMaps, PVCs, Services -> pods and their named ports, PDBs -> pods);
//  - every aiot container: restricted security context, resources, probes for HTTP servers,
//    Prometheus annotations; its command line is accepted by the aiot CLI (`aiot --dry-run ...`
//    with the container's environment, AIOT_CONFIG pointing at the ConfigMap's aiot.yaml, secret
//    values replaced by dummies); the ConfigMap's aiot.yaml passes `aiot config check`;
//  - the Argo objects equal a fresh `aiot pipeline export --argo` (generate-argo.sh), the train
//    step runs on the accelerator nodes, Kafka on the dedicated=Kafka nodes, default-deny exists;
//  - the cluster's split (each process's effective configuration, `aiot config show` with its
//    environment): the broker hosts the bridge, the predictor replicas form a Kafka consumer
//    group, the platform runs `aiot up` without broker and predictor; every Kafka topic named has a
//    KafkaTopic and every bootstrap_servers is Strimzi's bootstrap Service;
//  - broken copies are refused by each validator, so that the checks can fail.
//   node validate_k8s.mjs --aiot BIN --deploy DIR/deploy/k8s --out DIR [--kubectl kubectl]
// Exit 0: all passed; 1: a check failed; 77: the npm packages or kubectl are missing (1 then when
// AIOT_REQUIRE_PEERS=1).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
if (!args.aiot || !args.deploy || !args.out) {
  console.error("usage: node validate_k8s.mjs --aiot BIN --deploy deploy/k8s --out DIR [--kubectl kubectl]");
  process.exit(2);
}
const kubectl = args.kubectl || "kubectl";
const required = process.env.AIOT_REQUIRE_PEERS === "1";
function missing(what) {
  console.log(`${required ? "FAIL" : "SKIP"}: ${what}`);
  process.exit(required ? 1 : 77);
}

let YAML, Ajv, argo;
const core = {};
try {
  YAML = await import("yaml");
  Ajv = (await import("ajv")).default;
  argo = await import("@kubernetes-models/argo-workflows/argoproj.io/v1alpha1");
  for (const g of ["v1", "apps/v1", "networking.k8s.io/v1", "policy/v1", "batch/v1"]) {
    core[g] = await import(`kubernetes-models/${g}`);
  }
} catch (e) {
  missing(`npm packages missing in ${here} (scripts/setup.sh --test): ${e.message}`);
}
if (spawnSync(kubectl, ["version", "--client"]).status !== 0) missing(`${kubectl} not found`);

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(JSON.parse(fs.readFileSync(path.join(here, "../argo/argo_events.schema.json"), "utf8")), "events");
ajv.addSchema(JSON.parse(fs.readFileSync(path.join(here, "strimzi.schema.json"), "utf8")), "strimzi");
const ajvKinds = {
  "argoproj.io/v1alpha1/EventSource": ajv.getSchema("events#/$defs/EventSource"),
  "argoproj.io/v1alpha1/Sensor": ajv.getSchema("events#/$defs/Sensor"),
  "kafka.strimzi.io/v1beta2/Kafka": ajv.getSchema("strimzi#/$defs/Kafka"),
  "kafka.strimzi.io/v1beta2/KafkaNodePool": ajv.getSchema("strimzi#/$defs/KafkaNodePool"),
  "kafka.strimzi.io/v1beta2/KafkaTopic": ajv.getSchema("strimzi#/$defs/KafkaTopic"),
};

let passed = 0, failed = 0;
function check(what, fn) {
  try {
    const note = fn();
    passed++;
    console.log(`ok   ${what}${typeof note === "string" ? ` (${note})` : ""}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${what}: ${e.message}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}
const copy = (o) => JSON.parse(JSON.stringify(o));
const id = (o) => `${o.kind}/${o.metadata?.name}`;

// Validates one object against its kind's schema; throws with the validator's message.
function validate(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (ajvKinds[key]) {
    if (!ajvKinds[key](obj)) throw new Error(ajv.errorsText(ajvKinds[key].errors));
    return;
  }
  if (obj.apiVersion === "argoproj.io/v1alpha1" && argo[obj.kind]) return new argo[obj.kind](obj).validate();
  const group = core[obj.apiVersion];
  if (group && group[obj.kind]) return new group[obj.kind](obj).validate();
  throw new Error(`no schema for ${key}`);
}

function render(overlay) {
  const text = execFileSync(kubectl, ["kustomize", path.join(args.deploy, overlay)], { encoding: "utf8" });
  return YAML.parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(d.errors[0].message);
    return d.toJS();
  });
}

function podTemplates(objects) {
  return objects.filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind))
    .map((o) => ({ owner: o, template: o.spec.template }));
}

function matches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
}

// The container's environment for `aiot --dry-run`: literal values, dummies for secrets, and
// AIOT_CONFIG at the ConfigMap's aiot.yaml written to `configFile`.
function containerEnv(container, configFile) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AIOT_")));
  for (const e of container.env || []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = e.name.endsWith("_TOKENS") ? "check=dummy-token-0123456789"
        : e.name.endsWith("_ROLES") ? "check=admin" : "dummy-secret";
    }
  }
  if (env.AIOT_CONFIG) env.AIOT_CONFIG = configFile;
  return env;
}

function dryRun(argv, env) {
  const r = spawnSync(args.aiot, ["--dry-run", ...argv], { env, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim(), status: r.status };
}

function checkConfigMap(overlay, objects, out) {
  const cms = objects.filter((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("aiot-config"));
  let file;
  check(`${overlay}: one aiot-config ConfigMap whose aiot.yaml passes aiot config check`, () => {
    assert(cms.length === 1 && cms[0].data?.["aiot.yaml"], "no aiot-config ConfigMap with aiot.yaml");
    file = path.join(out, `${overlay}-aiot.yaml`);
    fs.writeFileSync(file, cms[0].data["aiot.yaml"]);
    const r = spawnSync(args.aiot, ["config", "check", file], { encoding: "utf8" });
    assert(r.status === 0, `exit ${r.status}: ${r.stdout}${r.stderr}`);
  });
  return file;
}

function checkSecurity(owner, pod, c) {
  const psc = pod.securityContext || {}, sc = c.securityContext || {};
  assert(sc.runAsNonRoot === true || psc.runAsNonRoot === true, "runAsNonRoot");
  assert((sc.runAsUser ?? psc.runAsUser) > 0, "runAsUser is not a non-root uid");
  assert(sc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation is not false");
  assert(sc.capabilities?.drop?.includes("ALL"), "capabilities do not drop ALL");
  assert((sc.seccompProfile ?? psc.seccompProfile)?.type === "RuntimeDefault", "seccompProfile");
  assert(sc.readOnlyRootFilesystem === true, "root filesystem is writable");
  assert(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
    "cpu/memory requests and a memory limit");
  assert(pod.automountServiceAccountToken === false, "service account token mounted");
}

// The effective configuration of a container (`aiot config show` with its environment), as JSON.
function effectiveConfig(container, configFile) {
  const r = spawnSync(args.aiot, ["config", "show"], { env: containerEnv(container, configFile), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`aiot config show: exit ${r.status}: ${r.stdout}${r.stderr}`);
  return YAML.parse(r.stdout);
}

const configs = {};  // overlay -> "Kind/name" -> the effective configuration of its aiot container

function checkWorkloads(overlay, objects, configFile) {
  configs[overlay] = {};
  for (const { owner, template } of podTemplates(objects)) {
    try {
      configs[overlay][id(owner)] = effectiveConfig(template.spec.containers[0], configFile);
    } catch (e) {
      check(`${overlay}: ${id(owner)}: effective configuration`, () => { throw e; });
    }
    const pod = template.spec;
    for (const c of pod.containers) {
      const what = `${overlay}: ${id(owner)} container ${c.name}`;
      check(`${what}: restricted security context, resources`, () => checkSecurity(owner, pod, c));
      const http = (c.ports || []).find((p) => p.name === "http");
      if (http) {
        check(`${what}: probes /healthz and /readyz, Prometheus annotations`, () => {
          assert(c.livenessProbe?.httpGet?.path === "/healthz", "liveness is not /healthz");
          assert(c.readinessProbe?.httpGet?.path === "/readyz", "readiness is not /readyz");
          const a = template.metadata.annotations || {};
          assert(a["prometheus.io/scrape"] === "true" && a["prometheus.io/path"] === "/metrics" &&
            Number(a["prometheus.io/port"]) === http.containerPort, "prometheus.io annotations");
        });
      }
      check(`${what}: command line accepted by aiot`, () => {
        assert(JSON.stringify(c.command) === '["aiot"]', `command ${JSON.stringify(c.command)}`);
        const r = dryRun(c.args || [], containerEnv(c, configFile));
        assert(r.ok, `aiot --dry-run ${(c.args || []).join(" ")}: exit ${r.status}: ${r.out}`);
        return (c.args || []).join(" ");
      });
    }
  }
}

function checkReferences(overlay, objects) {
  const names = (kind) => new Set(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name));
  const configMaps = names("ConfigMap"), claims = names("PersistentVolumeClaim");
  const pods = podTemplates(objects);
  check(`${overlay}: no Secret rendered; every object in namespace aiot`, () => {
    assert(!objects.some((o) => o.kind === "Secret"), "a Secret is part of the manifests");
    const outside = objects.filter((o) => o.kind !== "Namespace" && o.metadata.namespace !== "aiot");
    assert(outside.length === 0, `outside the namespace: ${outside.map(id)}`);
  });
  check(`${overlay}: ConfigMap and PVC references resolve`, () => {
    for (const { owner, template } of pods) {
      const templates = new Set((owner.spec.volumeClaimTemplates || []).map((t) => t.metadata.name));
      for (const v of template.spec.volumes || []) {
        if (v.configMap) assert(configMaps.has(v.configMap.name), `${id(owner)}: no ConfigMap ${v.configMap.name}`);
        if (v.persistentVolumeClaim) assert(claims.has(v.persistentVolumeClaim.claimName), `${id(owner)}: no PVC`);
      }
      for (const c of template.spec.containers) {
        for (const m of c.volumeMounts || []) {
          assert((template.spec.volumes || []).some((v) => v.name === m.name) || templates.has(m.name),
            `${id(owner)}: mount ${m.name} has no volume`);
        }
      }
    }
  });
  check(`${overlay}: every Service and PDB selects a pod template; named target ports exist`, () => {
    for (const s of objects.filter((o) => ["Service", "PodDisruptionBudget"].includes(o.kind))) {
      const selector = s.kind === "Service" ? s.spec.selector : s.spec.selector.matchLabels;
      const target = pods.find((p) => matches(selector, p.template.metadata.labels));
      assert(target, `${id(s)} selects no pod`);
      for (const p of s.kind === "Service" ? s.spec.ports : []) {
        if (typeof p.targetPort === "string") {
          assert(target.template.spec.containers.some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort)),
            `${id(s)}: no container port ${p.targetPort}`);
        }
      }
    }
  });
  check(`${overlay}: default-deny NetworkPolicy for ingress and egress`, () => {
    const deny = objects.find((o) => o.kind === "NetworkPolicy" && Object.keys(o.spec.podSelector).length === 0 &&
      !o.spec.ingress && !o.spec.egress && o.spec.policyTypes.includes("Ingress") && o.spec.policyTypes.includes("Egress"));
    assert(deny, "none");
  });
}

// Argo placeholders filled with the workflow parameters' defaults ("x" when empty or unknown).
function substitute(text, params) {
  return text.replace(/\{\{(?:(?:workflow|inputs)\.parameters\.([A-Za-z0-9_-]+)|[^}]*)\}\}/g,
    (_, p) => (p && params[p] !== undefined && params[p] !== "" ? params[p] : "x"));
}

// The aiot argv of an Argo template container: `aiot ARGS`, or a branch step's
// `sh -c 'SCRIPT "$0" "$@" ...' aiot ARGS` (the script records the exit code).
function aiotArgv(container) {
  const { command = [], args: a = [] } = container;
  if (JSON.stringify(command) === '["aiot"]') return a;
  if (JSON.stringify(command) === '["sh","-c"]' && a[1] === "aiot" && a[0].includes('"$0" "$@"')) return a.slice(2);
  throw new Error(`runs ${JSON.stringify([...command, ...a.slice(0, 2)])}, not aiot`);
}

function checkArgo(objects, out) {
  const wt = objects.find((o) => o.kind === "WorkflowTemplate");
  check("cluster: argo/ equals a fresh `aiot pipeline export --argo` (generate-argo.sh)", () => {
    const fresh = path.join(out, "argo-export");
    execFileSync(path.join(args.deploy, "cluster/generate-argo.sh"), [args.aiot, fresh]);
    const committed = path.join(args.deploy, "cluster/argo");
    const files = fs.readdirSync(fresh).sort();
    assert(JSON.stringify(files) === JSON.stringify(fs.readdirSync(committed).sort()), `files ${files}`);
    for (const f of files) {
      assert(fs.readFileSync(path.join(fresh, f), "utf8") === fs.readFileSync(path.join(committed, f), "utf8"),
        `${f} differs: run deploy/k8s/cluster/generate-argo.sh`);
    }
  });
  check("cluster: the train step runs on accelerator nodes; pipeline pods run as non-root", () => {
    const train = wt.spec.templates.find((t) => t.name === "train");
    assert(train.nodeSelector?.["aiot.io/accelerator"] === "true", "no accelerator nodeSelector");
    assert(train.tolerations?.some((t) => t.key === "aiot.io/accelerator" && t.effect === "NoSchedule"), "no toleration");
    assert(wt.spec.securityContext?.runAsNonRoot === true, "no pod securityContext");
  });
  // `aiot pipeline step` runs the steps; until it exists their command lines cannot be accepted.
  const pipelineHelp = spawnSync(args.aiot, ["pipeline", "--help"], { encoding: "utf8" }).stdout;
  const haveSteps = /^\s+step\s/m.test(pipelineHelp);
  const params = Object.fromEntries(wt.spec.arguments.parameters.map((p) => [p.name, p.value]));
  for (const t of wt.spec.templates.filter((x) => x.container)) {
    if (!haveSteps) {
      check(`cluster: WorkflowTemplate step ${t.name} runs aiot`, () => aiotArgv(t.container).slice(0, 3).join(" "));
      console.log(`SKIP cluster: WorkflowTemplate step ${t.name}: this aiot has no \`pipeline step\` yet ` +
        `(src/pipeline/README.md); its command line is checked once it has`);
      continue;
    }
    check(`cluster: WorkflowTemplate step ${t.name}: command line accepted by aiot`, () => {
      const argv = aiotArgv(t.container).map((a) => substitute(a, params));
      const r = dryRun(argv, Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AIOT_"))));
      assert(r.ok, `aiot --dry-run ${argv.join(" ")}: exit ${r.status}: ${r.out}`);
    });
  }
}

function checkCluster(objects) {
  const one = (kind) => objects.find((o) => o.kind === kind);
  check("cluster: Kafka in KRaft mode with a node pool on dedicated=Kafka nodes", () => {
    const pool = one("KafkaNodePool");
    assert(one("Kafka").metadata.annotations["strimzi.io/kraft"] === "enabled", "not KRaft");
    assert(pool.metadata.labels["strimzi.io/cluster"] === one("Kafka").metadata.name, "pool of another cluster");
    assert(pool.spec.template.pod.tolerations.some((t) => t.key === "dedicated" && t.value === "Kafka"), "no toleration");
    const terms = JSON.stringify(pool.spec.template.pod.affinity.nodeAffinity);
    assert(terms.includes('"key":"dedicated","operator":"In","values":["Kafka"]'), "no node affinity");
  });
  const kafkaTopics = new Set(objects.filter((o) => o.kind === "KafkaTopic").map((o) => o.spec.topicName || o.metadata.name));
  check("cluster: topics for telemetry, control, anomalies, drift and dead letters", () => {
    const topics = objects.filter((o) => o.kind === "KafkaTopic").map((o) => o.metadata.name).sort();
    assert(JSON.stringify(topics) === '["aiot-anomalies","aiot-control","aiot-deadletter","aiot-drift","aiot-telemetry"]', topics);
    const es = one("EventSource");
    assert(Object.values(es.spec.kafka || {}).some((k) => k.topic === "aiot-drift"), "EventSource reads another topic");
  });
  for (const name of ["aiot-broker", "aiot-platform"]) {
    check(`cluster: ${name}'s state is on a Longhorn volume`, () => {
      const sts = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === name);
      assert(sts, "no such StatefulSet");
      assert(sts.spec.volumeClaimTemplates[0].spec.storageClassName === "longhorn", "not longhorn");
    });
  }
  // What each process of the split runs, from its effective configuration (`aiot config show`).
  const cfg = configs.cluster || {};
  const workload = (kind, name) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    assert(o, `no ${kind}/${name}`);
    assert(cfg[`${kind}/${name}`], `no effective configuration of ${kind}/${name}`);
    return { o, c: cfg[`${kind}/${name}`], args: o.spec.template.spec.containers[0].args || [] };
  };
  check("cluster: the broker runs the bridge inside it (bridge.enabled, ack delivered), state on its volume", () => {
    const { c, args: a } = workload("StatefulSet", "aiot-broker");
    assert(a[0] === "broker", `runs ${a[0]}`);
    assert(c.bridge.enabled === true && c.bridge.ack === "delivered", JSON.stringify(c.bridge));
    assert(c.broker.persistence.mode !== "none" && c.broker.persistence.dir.startsWith("/var/lib/aiot/"), "persistence off");
    assert(c.bridge.buffer.dir.startsWith("/var/lib/aiot/"), `bridge buffer ${c.bridge.buffer.dir} not on the volume`);
  });
  check("cluster: the predictor scales by replicas in a Kafka consumer group, results to Kafka and MQTT", () => {
    const { o, c, args: a } = workload("Deployment", "aiot-predictor");
    assert(a[0] === "predictor", `runs ${a[0]}`);
    assert(o.spec.replicas > 1, `replicas ${o.spec.replicas}`);
    assert(c.predictor.source === "kafka" && c.predictor.kafka.group, "not a consumer group member");
    assert(c.predictor.results_to === "both", `results_to ${c.predictor.results_to}`);
    assert(a.includes("--client-id") && a[a.indexOf("--client-id") + 1].includes("$(POD_NAME)"),
      "replicas would share one MQTT client id");
  });
  check("cluster: the platform runs aiot up without broker and predictor; store and datastore read Kafka", () => {
    const { c, args: a } = workload("StatefulSet", "aiot-platform");
    assert(a[0] === "up", `runs ${a[0]}`);
    assert(c.up.broker === false && c.up.predictor === false, JSON.stringify(c.up));
    assert(c.bridge.enabled === false, "bridge.enabled (refused by aiot up without its broker)");
    assert(c.up.mqtt.url.includes("aiot-broker"), `up.mqtt.url ${c.up.mqtt.url}`);
    assert(c.store.source === "kafka" && c.datastore.source === "kafka", "store/datastore not on Kafka");
  });
  check("cluster: every Kafka topic the processes use has a KafkaTopic", () => {
    const used = [];
    const b = cfg["StatefulSet/aiot-broker"]?.bridge, p = cfg["Deployment/aiot-predictor"]?.predictor;
    const up = cfg["StatefulSet/aiot-platform"];
    assert(b && p && up, "configurations missing");
    for (const m of b.mappings) used.push(m.split("->")[1].trim().split(/\s+/)[0]);
    for (const m of b.kafka_to_mqtt) used.push(m.split("->")[0].trim());
    used.push(b.dead_letter_topic, ...p.kafka.topics, p.kafka_anomaly_topic, ...up.store.kafka.topics,
      ...up.datastore.kafka.topics);
    const absent = used.filter((t) => !kafkaTopics.has(t));
    assert(absent.length === 0, `no KafkaTopic for ${absent}`);
    // Strimzi's bootstrap Service of the Kafka cluster, its plain listener.
    const plain = one("Kafka").spec.kafka.listeners.find((l) => l.tls === false);
    const bootstrap = `${one("Kafka").metadata.name}-kafka-bootstrap.aiot.svc:${plain.port}`;
    for (const [what, servers] of [["bridge", b.bootstrap_servers], ["predictor.kafka", p.kafka.bootstrap_servers],
      ["store.kafka", up.store.kafka.bootstrap_servers], ["datastore.kafka", up.datastore.kafka.bootstrap_servers]]) {
      assert(servers === bootstrap, `${what}.bootstrap_servers ${servers}, not ${bootstrap}`);
    }
    return [...new Set(used)].join(", ");
  });
}

// Each broken copy must be refused by the validator that guards it.
function checkBroken(edge, cluster, configFile) {
  const find = (objs, kind) => copy(objs.find((o) => o.kind === kind));
  const broken = [
    ["Deployment whose containers is not a list", () => {
      const o = find(edge, "Deployment"); o.spec.template.spec.containers = "aiot"; validate(o); }],
    ["Service with a port number as a string", () => {
      const o = find(edge, "Service"); o.spec.ports[0].port = "1883"; validate(o); }],
    ["Kafka without listeners", () => { const o = find(cluster, "Kafka"); delete o.spec.kafka.listeners; validate(o); }],
    ["KafkaTopic with a misspelt field", () => { const o = find(cluster, "KafkaTopic"); o.spec.partition = 3; validate(o); }],
    ["KafkaNodePool without the cluster label", () => {
      const o = find(cluster, "KafkaNodePool"); delete o.metadata.labels["strimzi.io/cluster"]; validate(o); }],
    ["container with an unknown flag", () => {
      const r = dryRun(["up", "--simulat", "3"], containerEnv({ env: [{ name: "AIOT_CONFIG", value: "x" }] }, configFile));
      if (!r.ok) throw new Error(r.out);
    }],
    ["aiot.yaml with an unknown key", () => {
      const bad = `${configFile}.bad.yaml`;
      fs.writeFileSync(bad, "broker:\n  listners: []\n");
      const r = spawnSync(args.aiot, ["config", "check", bad], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(r.stdout);
    }],
    ["aiot.yaml without an embedded broker but with an in-process up.mqtt.url", () => {
      const bad = `${configFile}.inproc.yaml`;
      fs.writeFileSync(bad, "up:\n  broker: false\n  mqtt:\n    url: inproc://\n");
      const r = spawnSync(args.aiot, ["config", "check", bad], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(r.stdout);
    }],
  ];
  for (const [what, fn] of broken) {
    check(`refused: ${what}`, () => {
      let refused = false;
      try { fn(); } catch { refused = true; }
      assert(refused, "accepted although broken");
    });
  }
}

fs.mkdirSync(args.out, { recursive: true });
const rendered = {};
for (const overlay of ["edge", "cluster"]) {
  let objects = [];
  check(`${overlay}: kubectl kustomize renders`, () => {
    objects = render(overlay);
    assert(objects.length > 0, "nothing rendered");
    return `${objects.length} objects`;
  });
  rendered[overlay] = objects;
  for (const o of objects) check(`${overlay}: ${o.apiVersion} ${id(o)} is valid`, () => validate(o));
  const configFile = checkConfigMap(overlay, objects, args.out);
  checkReferences(overlay, objects);
  checkWorkloads(overlay, objects, configFile);
}
checkArgo(rendered.cluster, args.out);
checkCluster(rendered.cluster);
checkBroken(rendered.edge, rendered.cluster, path.join(args.out, "edge-aiot.yaml"));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
