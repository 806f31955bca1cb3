#!/usr/bin/env bash
# npm audit of the production dependencies: fails on a high or critical finding. A registry that
# cannot answer audits (a mirror that allows only GET, as the CI network here does: 405) gives no
# verdict either way; that is said loudly and does not pass for a clean audit.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(npm audit --omit=dev --audit-level=high --json 2>/dev/null)
rc=$?
if [ $rc -eq 0 ]; then
  echo "npm audit --omit=dev: no high or critical findings"
  exit 0
fi
if printf '%s' "$out" | node -e '
  let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
    let j; try { j = JSON.parse(s); } catch { process.exit(1); }
    const refused = j && (j.statusCode >= 400 || j.code === "ENOAUDIT" || (j.error && !j.vulnerabilities));
    process.exit(refused && !j.metadata ? 0 : 1);
  });'; then
  echo "npm audit --omit=dev: NOT RUN: the registry refused the audit request ($(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{try{const j=JSON.parse(s);console.log(j.statusCode?`HTTP ${j.statusCode}`:j.code??"error")}catch{console.log("unreadable answer")}})')); no verdict" >&2
  exit 0
fi
npm audit --omit=dev --audit-level=high
exit 1
