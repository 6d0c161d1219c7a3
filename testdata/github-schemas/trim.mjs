// trim.mjs keeps the part of GitHub's published descriptions that
// specloop's conformance tests check: the operations the product calls
// and the webhooks the emulator sends, with every schema they reference.
// It is run by hand (not in CI) when the vendored versions change:
//
//   npm pack @octokit/openapi@VERSION @octokit/webhooks-schemas@VERSION
//   tar xzf octokit-openapi-*.tgz -C openapi && tar xzf octokit-webhooks-schemas-*.tgz -C webhooks
//   node testdata/github-schemas/trim.mjs openapi/package/generated/api.github.com.json webhooks/package/schema.json
//
// and the README's versions are updated by hand.
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const here = path.dirname(url.fileURLToPath(import.meta.url));
const [openapiFile, webhooksFile] = process.argv.slice(2);

// Every REST operation specloop (or its emulator's users) calls.
const operations = [
  ["get", "/app"],
  ["get", "/app/installations"],
  ["post", "/app/installations/{installation_id}/access_tokens"],
  ["get", "/app/hook/deliveries"],
  ["get", "/app/hook/deliveries/{delivery_id}"],
  ["post", "/app/hook/deliveries/{delivery_id}/attempts"],
  ["get", "/installation/repositories"],
  ["get", "/repos/{owner}/{repo}"],
  ["post", "/repos/{owner}/{repo}/forks"],
  ["get", "/repos/{owner}/{repo}/installation"],
  ["get", "/repos/{owner}/{repo}/git/ref/{ref}"],
  ["get", "/repos/{owner}/{repo}/git/matching-refs/{ref}"],
  ["get", "/repos/{owner}/{repo}/branches/{branch}"],
  ["get", "/repos/{owner}/{repo}/commits/{ref}"],
  ["get", "/repos/{owner}/{repo}/contents/{path}"],
  ["get", "/repos/{owner}/{repo}/collaborators/{username}/permission"],
  ["get", "/repos/{owner}/{repo}/issues"],
  ["post", "/repos/{owner}/{repo}/issues"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}"],
  ["patch", "/repos/{owner}/{repo}/issues/{issue_number}"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"],
  ["delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"],
  ["get", "/repos/{owner}/{repo}/pulls"],
  ["post", "/repos/{owner}/{repo}/pulls"],
  ["get", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["patch", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["post", "/repos/{owner}/{repo}/check-runs"],
  ["get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"],
  ["patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"],
  ["get", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations"],
  ["post", "/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest"],
  ["get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"],
];

// Every webhook the emulator sends, as "event$action" (or the event alone).
const webhooks = [
  "installation$created",
  "issues$opened", "issues$edited", "issues$closed", "issues$reopened", "issues$labeled", "issues$unlabeled",
  "issue_comment$created", "issue_comment$edited",
  "push$event",
  "check_run$created", "check_run$completed", "check_run$rerequested", "check_run$requested_action",
  "check_suite$rerequested",
  "pull_request$opened", "pull_request$closed", "pull_request$reopened", "pull_request$edited",
  "pull_request$labeled", "pull_request$unlabeled", "pull_request$ready_for_review", "pull_request$converted_to_draft",
];

function collect(doc, roots, prefix) {
  const keep = new Set();
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === "object") {
      if (typeof v.$ref === "string" && v.$ref.startsWith(prefix)) {
        const name = v.$ref.slice(prefix.length).split("/")[0];
        if (!keep.has(name)) { keep.add(name); walk(lookup(doc, name)); }
      }
      Object.values(v).forEach(walk);
    }
  };
  roots.forEach(walk);
  return keep;
}

function trimOpenAPI(file) {
  const doc = JSON.parse(fs.readFileSync(file, "utf8"));
  const lookup = (name) => doc.components.schemas[name];
  globalThis.lookup = (_, name) => lookup(name);
  const paths = {};
  const roots = [];
  for (const [method, p] of operations) {
    const op = doc.paths[p]?.[method];
    if (!op) throw new Error(`no operation ${method} ${p}`);
    const responses = {};
    for (const [code, r] of Object.entries(op.responses)) {
      if (!code.startsWith("2")) continue;
      const resolved = r.$ref ? doc.components.responses[r.$ref.split("/").pop()] : r;
      const schema = resolved.content?.["application/json"]?.schema;
      responses[code] = { description: resolved.description, ...(schema ? { content: { "application/json": { schema } } } : {}) };
      if (schema) roots.push(schema);
    }
    paths[p] = { ...paths[p], [method]: { operationId: op.operationId, responses } };
  }
  const names = collect(doc, roots, "#/components/schemas/");
  const schemas = {};
  for (const n of [...names].sort()) schemas[n] = doc.components.schemas[n];
  return { openapi: doc.openapi, info: doc.info, paths, components: { schemas } };
}

function trimWebhooks(file) {
  const doc = JSON.parse(fs.readFileSync(file, "utf8"));
  globalThis.lookup = (_, name) => doc.definitions[name];
  const roots = webhooks.map((w) => {
    if (!doc.definitions[w]) throw new Error(`no webhook ${w}`);
    return { $ref: "#/definitions/" + w };
  });
  const names = collect(doc, roots, "#/definitions/");
  const definitions = {};
  for (const n of [...names].sort()) definitions[n] = doc.definitions[n];
  return { $schema: doc.$schema, definitions };
}

function lookup(doc, name) { return globalThis.lookup(doc, name); }

const write = (name, v) => fs.writeFileSync(path.join(here, name), JSON.stringify(v, null, 1) + "\n");
write("api.github.com.json", trimOpenAPI(openapiFile));
write("webhooks.json", trimWebhooks(webhooksFile));
