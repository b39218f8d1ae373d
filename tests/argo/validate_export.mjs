// Offline schema validation of `aiot pipeline export --argo DIR` (src/pipeline/README.md, "Argo
// export"). Runs the export (webhook and Kafka variants), loads every YAML object and validates
// it: WorkflowTemplate, CronWorkflow and the Sensor's Workflow with @kubernetes-models/argo-workflows
// (`new X(obj).validate()`), EventSource and Sensor with argo_events.schema.json (ajv; npm has no
// Argo Events models). Then the references between objects and inside the DAG, and finally
// deliberately broken copies, each of which must be refused.
//   node validate_export.mjs --aiot BUILD/src/cli/aiot --out DIR
// Exit 0: all passed; 1: a check failed; 77: the npm packages are not installed (setup.sh --test),
// 1 then when AIOT_REQUIRE_PEERS=1.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
if (!args.aiot || !args.out) {
  console.error("usage: node validate_export.mjs --aiot BIN --out DIR");
  process.exit(2);
}

let models, YAML, Ajv;
try {
  models = await import("@kubernetes-models/argo-workflows/argoproj.io/v1alpha1");
  YAML = await import("yaml");
  Ajv = (await import("ajv")).default;
} catch (e) {
  // scripts/test.sh sets AIOT_REQUIRE_PEERS: there a missing install step fails, not skips.
  const required = process.env.AIOT_REQUIRE_PEERS === "1";
  console.log(`${required ? "FAIL" : "SKIP"}: npm packages missing in ${here} (scripts/setup.sh --test): ${e.message}`);
  process.exit(required ? 1 : 77);
}

const eventsSchema = JSON.parse(fs.readFileSync(path.join(here, "argo_events.schema.json"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(eventsSchema, "events");
const validateEvents = {
  EventSource: ajv.getSchema("events#/$defs/EventSource"),
  Sensor: ajv.getSchema("events#/$defs/Sensor"),
};

let passed = 0, failed = 0;
function check(what, fn) {
  try {
    fn();
    passed++;
    console.log(`ok   ${what}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${what}: ${e.message}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Validates one object by kind; throws with the schema's message when it is invalid.
function validate(obj) {
  if (obj.kind === "WorkflowTemplate") return new models.WorkflowTemplate(obj).validate();
  if (obj.kind === "CronWorkflow") return new models.CronWorkflow(obj).validate();
  if (obj.kind === "Workflow") return new models.Workflow(obj).validate();
  const v = validateEvents[obj.kind];
  if (!v) throw new Error(`no schema for kind ${obj.kind}`);
  if (!v(obj)) throw new Error(ajv.errorsText(v.errors));
}

function exportTo(dir, extra) {
  fs.rmSync(dir, { recursive: true, force: true });
  execFileSync(args.aiot, ["pipeline", "export", "--argo", dir, "--schedule", "30 2 * * 1-5",
    "--namespace", "mlops", "--model", "fan-mlp", ...extra], { stdio: ["ignore", "pipe", "inherit"] });
  const objects = {};
  for (const f of fs.readdirSync(dir).sort()) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"), { uniqueKeys: true });
    assert(docs.length === 1 && docs[0].errors.length === 0, `${f}: not one YAML document`);
    const obj = docs[0].toJS();
    objects[obj.kind] = obj;
  }
  return objects;
}

// `{{tasks.X.…}}`, `{{inputs.parameters.p}}`, `{{workflow.parameters.p}}` name things that exist.
function checkReferences(wt) {
  const templates = new Map(wt.spec.templates.map((t) => [t.name, t]));
  const wfParams = new Set(wt.spec.arguments.parameters.map((p) => p.name));
  const dag = templates.get(wt.spec.entrypoint).dag;
  const deps = new Map(dag.tasks.map((t) => [t.name,
    (t.depends || "").split(" && ").filter(Boolean).map((d) => d.replace(/\.Succeeded$/, ""))]));
  const ancestors = (name, seen = new Set()) => {
    for (const d of deps.get(name) || []) if (!seen.has(d)) { seen.add(d); ancestors(d, seen); }
    return seen;
  };
  for (const task of dag.tasks) {
    const t = templates.get(task.template);
    assert(t, `task ${task.name}: no template ${task.template}`);
    for (const d of deps.get(task.name)) assert(deps.has(d), `task ${task.name}: unknown dependency ${d}`);
    const text = JSON.stringify([task.when, task.arguments]);
    for (const [, ref] of text.matchAll(/\{\{tasks\.([a-z0-9-]+)\./g)) {
      assert(ancestors(task.name).has(ref), `task ${task.name} refers to ${ref}, not an ancestor`);
    }
    const declared = new Set((t.inputs?.parameters || []).map((p) => p.name));
    const passedIn = new Set((task.arguments?.parameters || []).map((p) => p.name));
    assert([...declared].every((p) => passedIn.has(p)), `task ${task.name}: an input parameter is not passed`);
    for (const [, p] of JSON.stringify(t.container).matchAll(/\{\{inputs\.parameters\.([A-Za-z0-9_-]+)\}\}/g)) {
      assert(declared.has(p), `template ${t.name}: {{inputs.parameters.${p}}} is not declared`);
    }
    for (const [, p] of JSON.stringify([t, task]).matchAll(/\{\{workflow\.parameters\.([A-Za-z0-9_-]+)\}\}/g)) {
      assert(wfParams.has(p), `template ${t.name}: workflow parameter ${p} is not declared`);
    }
  }
}

function checkExport(label, objects) {
  for (const kind of ["WorkflowTemplate", "CronWorkflow", "EventSource", "Sensor"]) {
    check(`${label}: ${kind} is valid`, () => {
      assert(objects[kind], `no ${kind} written`);
      validate(objects[kind]);
    });
  }
  const wt = objects.WorkflowTemplate, es = objects.EventSource, sensor = objects.Sensor;
  check(`${label}: DAG references resolve`, () => checkReferences(wt));
  check(`${label}: CronWorkflow runs the WorkflowTemplate`, () =>
    assert(objects.CronWorkflow.spec.workflowSpec.workflowTemplateRef.name === wt.metadata.name, "wrong template"));
  check(`${label}: Sensor listens to the EventSource and submits a valid Workflow`, () => {
    const dep = sensor.spec.dependencies[0];
    assert(dep.eventSourceName === es.metadata.name, `eventSourceName ${dep.eventSourceName}`);
    const events = { ...(es.spec.webhook || {}), ...(es.spec.kafka || {}) };
    assert(dep.eventName in events, `event ${dep.eventName} is not in the EventSource`);
    const trigger = sensor.spec.triggers[0].template.argoWorkflow;
    const wf = trigger.source.resource;
    validate(wf);
    assert(wf.spec.workflowTemplateRef.name === wt.metadata.name, "the Workflow names another template");
    for (const p of trigger.parameters) {
      const target = p.dest.split(".").reduce((o, k) => (o === undefined ? o : o[k]), wf);
      assert(target !== undefined, `parameter dest ${p.dest} is not in the Workflow`);
    }
     const declared = new Set(wt.spec.arguments.parameters.map((p) => p.name));
    for (const p of wf.spec.arguments.parameters) {
      assert(declared.has(p.name), `the Workflow passes ${p.name}, not a parameter of the template`);
    }
  });
}

// Broken copies: each must be refused by its validator (so this test can fail).
function checkBroken(objects) {
  const copy = (o) => JSON.parse(JSON.stringify(o));
  const broken = [
    ["WorkflowTemplate whose container args is not a list", () => {
      const o = copy(objects.WorkflowTemplate); o.spec.templates[1].container.args = "train"; return o; }],
    ["WorkflowTemplate with a DAG task without a name", () => {
      const o = copy(objects.WorkflowTemplate); delete o.spec.templates[0].dag.tasks[0].name; return o; }],
    ["CronWorkflow without schedules", () => {
      const o = copy(objects.CronWorkflow); delete o.spec.schedules; return o; }],
    ["EventSource whose webhook port is a number", () => {
      const o = copy(objects.EventSource); o.spec.webhook.drift.port = 12000; return o; }],
    ["Sensor dependency without eventSourceName", () => {
      const o = copy(objects.Sensor); delete o.spec.dependencies[0].eventSourceName; return o; }],
  ];
  for (const [what, make] of broken) {
    check(`refused: ${what}`, () => {
      let refused = false;
      try { validate(make()); } catch { refused = true; }
      assert(refused, "validated although broken");
    });
  }
}

const webhook = exportTo(path.join(args.out, "webhook"), []);
checkExport("webhook", webhook);
checkBroken(webhook);
checkExport("kafka", exportTo(path.join(args.out, "kafka"), ["--kafka", "kafka-0:9092,kafka-1:9092"]));
// pipeline.triggers.drift.since_event: the Sensor also passes the event's time as `since`.
const sinceEvent = exportTo(path.join(args.out, "since-event"),
  ["--kafka", "kafka-0:9092", "--set", "pipeline.triggers.drift.since_event=true"]);
checkExport("since_event", sinceEvent);
check("since_event: the Sensor passes the drift event's window.to as the Workflow's since", () => {
  const trigger = sinceEvent.Sensor.spec.triggers[0].template.argoWorkflow;
  const wfArgs = trigger.source.resource.spec.arguments.parameters;
  const at = wfArgs.findIndex((a) => a.name === "since");
  const p = trigger.parameters.find((x) => x.dest === `spec.arguments.parameters.${at}.value`);
  assert(p, "no Sensor parameter writes since");
  assert(p.src.dataTemplate.includes(".Input.body.window.to") && p.src.value === "0", JSON.stringify(p.src));
  const plain = exportTo(path.join(args.out, "kafka"), ["--kafka", "kafka-0:9092"]);
  assert(!plain.Sensor.spec.triggers[0].template.argoWorkflow.source.resource.spec.arguments.parameters
    .some((a) => a.name === "since"), "since passed although since_event is off");
});
check("bad schedule: export exits 2 with the reason", () => {
  let status = 0, stderr = "";
  try {
    execFileSync(args.aiot, ["pipeline", "export", "--argo", path.join(args.out, "bad"), "--schedule", "0 24 * * *"],
      { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) { status = e.status; stderr = String(e.stderr); }
  assert(status === 2 && stderr.includes("hour"), `exit ${status}: ${stderr}`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
