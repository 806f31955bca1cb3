#!/bin/sh
# Runs the gpu check once on a machine with an NVIDIA GPU and prints the result: one check per
# GPU (gpu:0, ...) through `keepwatch check --json`. Builds nothing: run `npm run build` first.
# Exits non-zero unless every result is ok or warning and its main values are numbers.
set -eu
cd "$(dirname "$0")/.."
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf 'checks:\n  - { name: gpu, type: gpu }\n' > "$cfg"
nvidia-smi --version || true
out=$(node dist/agent/cli.js check --config "$cfg" --json) || true
printf '%s\n' "$out"
printf '%s' "$out" | node -e '
let s = "";
process.stdin.on("data", (d) => (s += d)).on("end", () => {
  const bad = [];
  let results = [];
  try { results = JSON.parse(s); } catch { bad.push("no JSON from keepwatch check"); }
  if (!results.length) bad.push("no result");
  for (const r of results) {
    if (!["ok", "warning"].includes(r.statusText)) bad.push(`${r.check}: ${r.statusText}: ${r.message}`);
    const v = r.values ?? {};
    for (const k of ["utilizationPercent", "memoryUsedPercent", "memoryTotalBytes", "temperatureC", "powerW", "powerLimitW", "smClockMHz"]) {
      if (typeof v[k] !== "number" || !Number.isFinite(v[k])) bad.push(`${r.check}: ${k} is ${JSON.stringify(v[k])}, not a number`);
    }
    for (const [k, x] of Object.entries(v)) if (typeof x === "number" && !Number.isFinite(x)) bad.push(`${r.check}: ${k} is not finite`);
    if (typeof v.throttleReasons !== "string") bad.push(`${r.check}: no throttleReasons`);
  }
  if (bad.length) { console.error("FAIL: " + bad.join("; ")); process.exit(1); }
  console.error(`OK: ${results.length} GPU check(s)`);
});'
