#!/usr/bin/env node
// Compiles tests/it/fixtures/taiko/TaikoEmitters.sol with solcjs (the npm package `solc`,
// installed into tools/ by scripts/services.sh) and writes, per contract,
//   <Contract>.bin          creation bytecode (hex, no 0x, one line)
//   <Contract>.runtime.bin  runtime bytecode (hex, no 0x, one line; for anvil_setCode)
//   <Contract>.abi.json     the ABI (pretty-printed JSON)
// into OUT_DIR (default: the fixtures directory itself). Offline; deterministic: the
// compiler version is pinned (SOLC_VERSION) and the source is passed under a fixed name.
//
// Usage: node scripts/compile-taiko-contracts.js [OUT_DIR]
// Env:   SOLCJS  path of the solc package (default: <repo>/tools/node_modules/solc)
'use strict';

const fs = require('fs');
const path = require('path');

const SOLC_VERSION = '0.8.30';
const ROOT = path.resolve(__dirname, '..');
const SRC_DIR = path.join(ROOT, 'tests', 'it', 'fixtures', 'taiko');
const SOURCE = 'TaikoEmitters.sol';
// Contracts whose artifacts are written (the libraries have no code of their own).
const CONTRACTS = [
  'PacayaInbox',
  'ForcedInclusionStore',
  'TaikoWrapper',
  'PreconfSlasher',
  'ShastaInbox',
  'SignalService',
  'BondManager',
  'TaikoAnchor',
  'Multicall',
];

function die(msg) {
  process.stderr.write(`compile-taiko-contracts: ${msg}\n`);
  process.exit(1);
}

const solcPath = process.env.SOLCJS || path.join(ROOT, 'tools', 'node_modules', 'solc');
let solc;
try {
  solc = require(solcPath);
} catch (e) {
  die(`solcjs not found at ${solcPath} (run scripts/services.sh, which installs solc@${SOLC_VERSION}): ${e.message}`);
}
const version = solc.version();
if (version.split('+')[0] !== SOLC_VERSION) {
  die(`solcjs at ${solcPath} is ${version}, want ${SOLC_VERSION} (run scripts/services.sh)`);
}

const outDir = path.resolve(process.argv[2] || SRC_DIR);
fs.mkdirSync(outDir, { recursive: true });

const input = {
  language: 'Solidity',
  sources: { [SOURCE]: { content: fs.readFileSync(path.join(SRC_DIR, SOURCE), 'utf8') } },
  settings: {
    // Cancun: runs on anvil's default and Prague nodes alike.
    evmVersion: 'cancun',
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    // No metadata hash in the bytecode: artifacts depend on the code only, not on comments.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) process.stderr.write(e.formattedMessage || e.message);
if (errors.length > 0) die(`${errors.length} compile error(s)`);

const compiled = output.contracts[SOURCE];
for (const name of CONTRACTS) {
  const c = compiled[name];
  if (!c) die(`contract ${name} missing from the output`);
  const bin = c.evm.bytecode.object;
  const runtime = c.evm.deployedBytecode.object;
  if (!bin || !runtime) die(`contract ${name} has no bytecode`);
  fs.writeFileSync(path.join(outDir, `${name}.bin`), `${bin}\n`);
  fs.writeFileSync(path.join(outDir, `${name}.runtime.bin`), `${runtime}\n`);
  fs.writeFileSync(path.join(outDir, `${name}.abi.json`), `${JSON.stringify(c.abi, null, 2)}\n`);
}
process.stdout.write(`compile-taiko-contracts: solcjs ${version}, ${CONTRACTS.length} contracts -> ${outDir}\n`);
