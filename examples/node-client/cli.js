#!/usr/bin/env node
'use strict';
// Command line over client.js; prints one JSON document on stdout.
//
//   node cli.js --ps HOST:PORT[,HOST:PORT...] pull '{"user": [3, 7, "9007199254740993"]}'
//   node cli.js --ps ... push '{"user": {"ids": [3, 7], "gradients": [[0.1, 0.2], [0.3, 0.4]]}}'
//        [--timestamp-s S] [--global-step N]
//   node cli.js --ps ... info [TABLE]
//
// TLS and the token take the flags the Python CLIs take: --tls-ca PEM (turns
// TLS on), --tls-client-cert PEM --tls-client-key PEM (mutual TLS),
// --tls-server-name NAME, --auth-token-file FILE (default: $MONOLITH_PS_TOKEN).
//
// Ids may be numbers or decimal strings (strings keep int64 ids beyond 2^53
// exact). Exit codes: 0 done, 1 the PS refused or could not be reached (one
// line on stderr), 2 usage.

const fs = require('fs');

const {PSClient} = require('./client');

const TOKEN_ENV = 'MONOLITH_PS_TOKEN';

const USAGE = 'usage: cli.js --ps HOST:PORT[,...] [--deadline-ms MS] [--tls-ca PEM ' +
  '[--tls-client-cert PEM --tls-client-key PEM] [--tls-server-name NAME] [--auth-token-file FILE]] ' +
  '(pull IDS_JSON | push PUSH_JSON [--timestamp-s S] [--global-step N] | info [TABLE])';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {ps: null, deadlineMs: 30000, timestampS: 0, globalStep: 0, security: {}, tokenFile: null};
  const securityFlags = {
    '--tls-ca': 'tlsCa', '--tls-client-cert': 'tlsClientCert', '--tls-client-key': 'tlsClientKey',
    '--tls-server-name': 'tlsServerName',
  };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        throw new UsageError(`${arg} needs a value`);
      }
      return argv[++i];
    };
    if (arg === '--ps') {
      opts.ps = value().split(',').filter(Boolean);
    } else if (arg === '--deadline-ms') {
      opts.deadlineMs = Number(value());
    } else if (arg === '--timestamp-s') {
      opts.timestampS = Number(value());
    } else if (arg === '--global-step') {
      opts.globalStep = Number(value());
    } else if (arg in securityFlags) {
      opts.security[securityFlags[arg]] = value();
    } else if (arg === '--auth-token-file') {
      opts.tokenFile = value();
    } else if (arg === '-h' || arg === '--help') {
      throw new UsageError('');
    } else {
      rest.push(arg);
    }
  }
  if (!opts.ps || !opts.ps.length) {
    throw new UsageError('--ps is required');
  }
  const [command, ...args] = rest;
  if (!['pull', 'push', 'info'].includes(command)) {
    throw new UsageError(command ? `unknown command ${command}` : 'a command is required');
  }
  return {opts, command, args};
}

function parseJson(text, what) {
  if (text === undefined) {
    throw new UsageError(`${what} is required`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what}: ${err.message}`);
  }
}

async function run(client, command, args, opts) {
  if (command === 'pull') {
    const ids = parseJson(args[0], 'IDS_JSON');
    const rows = await client.pull(ids);
    const out = {};
    for (const [table, r] of Object.entries(rows)) {
      out[table] = {dtype: r.dtype, shape: r.shape, rows: r.rows, data_hex: r.data.toString('hex')};
    }
    return out;
  }
  if (command === 'push') {
    const spec = parseJson(args[0], 'PUSH_JSON');
    const ids = {};
    const grads = {};
    for (const [table, t] of Object.entries(spec)) {
      ids[table] = t.ids;
      grads[table] = t.gradients;
    }
    return client.push(ids, grads, {timestampS: opts.timestampS, globalStep: opts.globalStep});
  }
  return client.tableInfo(args[0] || '');
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message ? `cli.js: ${err.message}\n` : ''}${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  const {opts, command, args} = parsed;
  let client;
  try {
    const token = opts.tokenFile ? fs.readFileSync(opts.tokenFile, 'ascii').trim()
      : process.env[TOKEN_ENV] || null;
    client = new PSClient(opts.ps, {deadlineMs: opts.deadlineMs, security: {...opts.security, token}});
  } catch (err) {
    process.stderr.write(`cli.js: ${err.message}\n`);
    return 2;
  }
  try {
    const result = await run(client, command, args, opts);
    process.stdout.write(JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? String(v) : v)));
    process.stdout.write('\n');
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cli.js: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`cli.js: ${err.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
