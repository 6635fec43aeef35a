// validate.js checks FHIR R4 JSON resources against the R4 definitions with
// FHIR.js (npm package fhir). It reads one resource per line on standard
// input and writes one JSON line per resource: {"valid":bool,"messages":[...]}.
// A resource is invalid when FHIR.js reports an error, or an element R4
// does not define ("Unexpected property").
'use strict';
const readline = require('readline');
const { Fhir } = require('fhir');

const fhir = new Fhir();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  let out;
  try {
    const resource = JSON.parse(line);
    if (!resource || typeof resource !== "object" || typeof resource.resourceType !== "string") {
      throw new Error("resourceType: not a FHIR resource");
    }
    const r = fhir.validate(resource, {});
    const messages = (r.messages || []).filter(
      (m) => m.severity === 'error' || (m.severity === 'warning' && /Unexpected property/.test(m.message)));
    out = { valid: messages.length === 0, messages };
  } catch (e) {
    out = { valid: false, messages: [{ severity: 'error', message: String(e && e.message || e) }] };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
