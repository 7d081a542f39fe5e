'use strict';
// A Node.js client of monolith_ps.v1.ParameterServer, loading the contract
// straight from ../../proto. It does what worker.PSClient does for pull, push
// and table info: routes every id to shard mix64(id) % N, sends one RPC per
// shard carrying every table, and puts the rows back in request order.

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const {int64Tensor, float32Tensor, decodeTensor, toRows, ITEMSIZE, dtypeCode} = require('./tensor');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const DEADLINE_MS = 30000;
const MAX_MESSAGE_BYTES = 1 << 30;

function loadContract(protoRoot = PROTO_ROOT) {
  const definition = protoLoader.loadSync('monolith_ps/v1/parameter_server.proto', {
    includeDirs: [protoRoot],
    keepCase: true, // field names as in the .proto (pull_dtype, not pullDtype)
    longs: String, // int64 scalars as decimal strings: exact beyond 2^53
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).monolith_ps.v1;
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64's finalizer over an id's 64-bit two's-complement value (docs/tensor-encoding.md). */
function mix64(id) {
  let x = BigInt.asUintN(64, BigInt(id));
  x ^= x >> 30n;
  x = (x * 0xBF58476D1CE4E5B9n) & MASK64;
  x ^= x >> 27n;
  x = (x * 0x94D049BB133111EBn) & MASK64;
  return x ^ (x >> 31n);
}

function shardOf(id, numShards) {
  return Number(mix64(id) % BigInt(numShards));
}

class PSClientError extends Error {
  constructor(address, method, err) {
    const status = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) || err.code;
    super(`${address} ${method}: ${status}: ${err.details || err.message}`);
    this.code = err.code;
    this.status = status;
  }
}

/** Ids of one table split by shard; `positions[s]` are their places in the request. */
function route(ids, numShards) {
  const shardIds = Array.from({length: numShards}, () => []);
  const positions = Array.from({length: numShards}, () => []);
  ids.forEach((id, i) => {
    const big = BigInt.asIntN(64, BigInt(id));
    const s = shardOf(big, numShards);
    shardIds[s].push(big);
    positions[s].push(i);
  });
  return {shardIds, positions};
}

/**
 * Channel credentials as the Python client's SecurityConfig makes them:
 * plaintext without tlsCa; TLS verifying the server against tlsCa (PEM file),
 * presenting tlsClientCert/tlsClientKey for mutual TLS when given; and the
 * shared token as "authorization: Bearer <token>" metadata (TLS only).
 */
function channelCredentials({tlsCa, tlsClientCert, tlsClientKey, token} = {}) {
  if (!tlsCa) {
    if (token) {
      throw new Error('a token needs TLS: give tlsCa too');
    }
    return grpc.credentials.createInsecure();
  }
  if (Boolean(tlsClientCert) !== Boolean(tlsClientKey)) {
    throw new Error('tlsClientCert and tlsClientKey go together');
  }
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const tls = grpc.credentials.createSsl(read(tlsCa), read(tlsClientKey), read(tlsClientCert));
  if (!token) {
    return tls;
  }
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}

class PSClient {
  /**
   * addresses: one "host:port" per PS shard, in shard order. security: see
   * channelCredentials, plus tlsServerName (checked against the server
   * certificate instead of the address's host).
   */
  constructor(addresses, {deadlineMs = DEADLINE_MS, protoRoot = PROTO_ROOT, security = {}} = {}) {
    if (!addresses.length) {
      throw new Error('at least one PS address is needed');
    }
    const v1 = loadContract(protoRoot);
    const options = {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    };
    if (security.tlsServerName) {
      options['grpc.ssl_target_name_override'] = security.tlsServerName;
    }
    const credentials = channelCredentials(security);
    this.addresses = addresses;
    this.deadlineMs = deadlineMs;
    this.stubs = addresses.map((a) => new v1.ParameterServer(a, credentials, options));
  }

  get numPs() {
    return this.addresses.length;
  }

  close() {
    this.stubs.forEach((stub) => stub.close());
  }

  call(shard, method, request) {
    const deadline = Date.now() + this.deadlineMs;
    return new Promise((resolve, reject) => {
      this.stubs[shard][method](request, {deadline}, (err, reply) => {
        if (err) {
          reject(new PSClientError(this.addresses[shard], method, err));
        } else {
          resolve(reply);
        }
      });
    });
  }

  /**
   * Rows of idsByTable[table] (numbers, decimal strings or BigInts) in request
   * order: {table: {dtype, shape: [n, dim], rows, data}}. dtype is the table's
   * pull dtype (DTYPE_FLOAT32 or DTYPE_FLOAT16); data holds the rows' raw
   * little-endian bytes. Ids without a row come back as zeros.
   */
  async pull(idsByTable) {
    const tables = Object.keys(idsByTable);
    const routes = tables.map((t) => route(idsByTable[t], this.numPs));
    const requests = Array.from({length: this.numPs}, () => []);
    routes.forEach((r, t) => {
      let sent = false;
      r.shardIds.forEach((ids, s) => {
        if (ids.length) {
          requests[s].push({t, ids});
          sent = true;
        }
      });
      if (!sent) {
        requests[0].push({t, ids: []}); // still asked, so an unknown table is an error
      }
    });
    const replies = await Promise.all(requests.map((parts, s) => parts.length
      ? this.call(s, 'Pull', {tables: parts.map((p) => ({table: tables[p.t], ids: int64Tensor(p.ids)}))})
      : null));

    const out = {};
    requests.forEach((parts, s) => {
      parts.forEach((p, k) => {
        const table = tables[p.t];
        const decoded = decodeTensor(replies[s].embeddings[k], `Pull ${table}`);
        const [n, dim] = decoded.shape;
        if (n !== p.ids.length) {
          throw new Error(`${this.addresses[s]} Pull: ${n} rows for ${p.ids.length} ids of ${table}`);
        }
        const total = idsByTable[table].length;
        const rowBytes = dim * ITEMSIZE[dtypeCode(decoded.dtype)];
        if (!out[table]) {
          out[table] = {dtype: decoded.dtype, shape: [total, dim], rows: new Array(total),
            data: Buffer.alloc(total * rowBytes)};
        }
        const rows = toRows(decoded);
        routes[p.t].positions[s].forEach((pos, j) => {
          out[table].rows[pos] = rows[j];
          decoded.data.copy(out[table].data, pos * rowBytes, j * rowBytes, (j + 1) * rowBytes);
        });
      });
    });
    return out;
  }

  /**
   * Applies gradients: grads[table] is n rows of dim numbers for
   * idsByTable[table]. Returns {table: {applied, filtered, created}} summed
   * over shards (distinct ids per shard).
   */
  async push(idsByTable, grads, {timestampS = 0, globalStep = 0} = {}) {
    const tables = Object.keys(idsByTable);
    const requests = Array.from({length: this.numPs}, () => []);
    tables.forEach((table) => {
      const rows = grads[table];
      if (!rows || rows.length !== idsByTable[table].length) {
        throw new Error(`table ${table}: need one gradient row per id`);
      }
      const dim = rows.length ? rows[0].length : 0;
      const r = route(idsByTable[table], this.numPs);
      r.shardIds.forEach((ids, s) => {
        if (ids.length) {
          const shardRows = r.positions[s].map((i) => rows[i]);
          requests[s].push({table, ids: int64Tensor(ids), gradients: float32Tensor(shardRows, dim)});
        }
      });
    });
    const replies = await Promise.all(requests.map((parts, s) => parts.length
      ? this.call(s, 'Push', {tables: parts, timestamp_s: String(timestampS),
        global_step: String(globalStep)})
      : null));
    const out = {};
    tables.forEach((table) => {
      out[table] = {applied: 0, filtered: 0, created: 0};
    });
    replies.forEach((reply) => {
      (reply ? reply.results : []).forEach((r) => {
        out[r.table].applied += Number(r.applied);
        out[r.table].filtered += Number(r.filtered);
        out[r.table].created += Number(r.created);
      });
    });
    return out;
  }

  /**
   * Configuration of one table (or every table when table is '') with rows
   * and bytes summed over shards: {name: {dim, pull_dtype, optimizer, ...}}.
   */
  async tableInfo(table = '') {
    const replies = await Promise.all(
      this.stubs.map((_, s) => this.call(s, 'GetTableInfo', {table})));
    const out = {};
    replies.forEach((reply) => reply.tables.forEach((info) => {
      const c = info.config;
      const entry = out[c.name] || (out[c.name] = {
        name: c.name,
        dim: Number(c.dim),
        pull_dtype: c.pull_dtype,
        optimizer: {type: c.optimizer.type, ...c.optimizer.hyperparameters},
        initializer: {type: c.initializer.type, ...c.initializer.parameters},
        expire_after_s: Number(c.expire_after_s),
        occurrence_threshold: Number(c.occurrence_threshold),
        slots: info.slots.map((slot) => ({name: slot.name, width: Number(slot.width)})),
        num_shards: Number(info.num_shards),
        rows: 0,
        bytes: 0,
      });
      entry.rows += Number(info.rows);
      entry.bytes += Number(info.bytes);
    }));
    return out;
  }
}

module.exports = {
  PSClient, PSClientError, channelCredentials, loadContract, mix64, shardOf, PROTO_ROOT,
};
