// convert.js turns FHIR R4 XML into FHIR R4 JSON with FHIR.js, the FHIR-aware
// converter of the npm package fhir. Comments in the XML are dropped
// (FHIR.js keeps them as fhir_comments, which R4 JSON does not have).
//
//   node convert.js IN.xml [IN.xml ...] OUTDIR
//
// writes OUTDIR/<name>.json for each IN.xml, with <name> the file's name
// up to its first space (REFREQ07, SERVREQ01, ...), with "-N" after it for
// part N of a series ("(2 of 3 ..." in the name). XML comments are removed
// before the conversion: FHIR.js cannot read a comment before the root
// element.
'use strict';
const fs = require('fs');
const path = require('path');
const { Fhir } = require('fhir');

function strip(v) {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (k !== 'fhir_comments') out[k] = strip(x);
    }
    return out;
  }
  return v;
}

const args = process.argv.slice(2);
if (args.length < 2) {
  console.error('usage: node convert.js IN.xml [IN.xml ...] OUTDIR');
  process.exit(2);
}
const outDir = args.pop();
const fhir = new Fhir();
for (const file of args) {
  const base = path.basename(file);
  const part = base.match(/\((\d+) of (\d+)/);
  let name = base.split(" ")[0].replace(/\.xml$/, "");
  if (part && part[2] !== "1") name += "-" + part[1];
  const xml = fs.readFileSync(file, "utf8").replace(/<!--[\s\S]*?-->/g, "");
  const json = strip(JSON.parse(fhir.xmlToJson(xml)));
  fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(json, null, 2) + '\n');
  console.log(`${file} -> ${name}.json`);
}
