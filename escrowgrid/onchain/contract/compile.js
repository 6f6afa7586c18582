// Compiles EscrowLedger.sol with the pinned solc-js and prints {abi, bytecode, compiler} as JSON.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "EscrowLedger.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "EscrowLedger.sol": { content: source } },
  settings: {
    // paris: no PUSH0, so the bytecode runs on every EVM the tests and older chains use
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { EscrowLedger: ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) process.stderr.write(e.formattedMessage + "\n");
  process.exit(1);
}
const c = output.contracts["EscrowLedger.sol"].EscrowLedger;
process.stdout.write(
  JSON.stringify({ compiler: solc.version(), abi: c.abi, bytecode: "0x" + c.evm.bytecode.object }, null, 2) + "\n"
);
