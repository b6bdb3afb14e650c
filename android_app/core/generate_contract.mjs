// Contract.kt: the benchmark app's contract types, generated from contract.schema.json.
//
//   npm install                                   # once, at the repository root: quicktype 26.0.0
//   node android_app/core/generate_contract.mjs   # rewrites core/.../Contract.kt
//   node android_app/core/generate_contract.mjs --out FILE   # writes FILE instead (the drift test)
//
// The file is quicktype's plain Kotlin data classes (--just-types: no serialization framework,
// since no JSON library can be fetched for the JVM build; Json.kt and ContractJson.kt read and
// write them) for the schema's object $defs, each named as the schema names it, then one
// constant, CONTRACT_SCHEMA_VERSION, the RunRequest's `schema_version` const. quicktype's version
// and flags are fixed here, so the output depends on the schema alone; tests/test_android_app.py
// generates it again and fails on any difference.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCHEMA = "device_runners/contract.schema.json"; // relative to REPO: no path in the output
const OUTPUT = join(REPO, "android_app/core/src/main/kotlin/org/harnessbench/core/Contract.kt");
const QUICKTYPE_VERSION = "26.0.0"; // package.json pins the same
const TYPES = ["RunRequest", "RunResult", "DeviceInfo", "EnergyInfo", "ThermalInfo", "CheckOutput"];
const FLAGS = ["--lang", "kotlin", "--src-lang", "schema", "--just-types", "--acronym-style", "camel",
               "--package", "org.harnessbench.core", "--quiet"];

function fail(message) {
  process.stderr.write(message + "\n");
  process.exit(1);
}

const quicktype = join(REPO, "node_modules", ".bin", "quicktype");
let installed;
try {
  installed = JSON.parse(readFileSync(join(REPO, "node_modules", "quicktype", "package.json"), "utf8")).version;
} catch {
  fail(`quicktype is not installed (${relative(REPO, quicktype)} is missing): run \`npm install\` at the repository root`);
}
if (installed !== QUICKTYPE_VERSION) {
  fail(`quicktype ${installed} is installed, the contract is generated with ${QUICKTYPE_VERSION}: run \`npm install\``);
}
const sources = TYPES.flatMap((name) => ["--src", `${SCHEMA}#/$defs/${name}`]);
const generated = execFileSync(quicktype, [...FLAGS, ...sources], { cwd: REPO, encoding: "utf8" });
const schema = JSON.parse(readFileSync(join(REPO, SCHEMA), "utf8"));
const version = schema.$defs.RunRequest.properties.schema_version.const;
const text = `// GENERATED from ${SCHEMA} by quicktype ${QUICKTYPE_VERSION}
// (android_app/core/generate_contract.mjs). Do not edit: change the schema, then run
//   npm install && node android_app/core/generate_contract.mjs
// tests/test_android_app.py fails while this file and the schema disagree.

${generated.trimEnd()}

/** The RunRequest's \`schema_version\` const: what the app writes into results and expects. */
const val CONTRACT_SCHEMA_VERSION = ${version}
`;
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? process.argv[outIndex + 1] : OUTPUT;
writeFileSync(out, text);
if (outIndex < 0) process.stdout.write(`wrote ${relative(REPO, out)}\n`);
