'use strict';
// monolith_ps.v1.Tensor <-> plain JavaScript values (docs/tensor-encoding.md):
// raw little-endian bytes, a dtype code and a row-major shape.
//
// Ids are int64 and travel as BigInt here, since JavaScript numbers hold
// integers exactly only up to 2^53. Rows come back as arrays of numbers
// (float32 and float16 values are exact as doubles).

const DTYPE = Object.freeze({
  DTYPE_UNSPECIFIED: 0,
  DTYPE_FLOAT32: 1,
  DTYPE_FLOAT16: 2,
  DTYPE_INT64: 3,
  DTYPE_INT32: 4,
  DTYPE_FLOAT64: 5,
});

const ITEMSIZE = Object.freeze({1: 4, 2: 2, 3: 8, 4: 4, 5: 8});

function dtypeCode(dtype) {
  const code = typeof dtype === 'number' ? dtype : DTYPE[dtype];
  if (!(code in ITEMSIZE)) {
    throw new Error(`unknown dtype ${dtype}`);
  }
  return code;
}

function dtypeName(dtype) {
  const code = dtypeCode(dtype);
  return Object.keys(DTYPE).find((name) => DTYPE[name] === code);
}

/** Ids (numbers, decimal strings or BigInts) -> int64 Tensor of shape [n]. */
function int64Tensor(ids) {
  const data = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => data.writeBigInt64LE(BigInt.asIntN(64, BigInt(id)), 8 * i));
  return {dtype: DTYPE.DTYPE_INT64, shape: [String(ids.length)], data};
}

/** Rows (n arrays of dim numbers) -> float32 Tensor of shape [n, dim]. */
function float32Tensor(rows, dim) {
  const data = Buffer.alloc(4 * rows.length * dim);
  rows.forEach((row, i) => {
    if (row.length !== dim) {
      throw new Error(`row ${i} has ${row.length} values, expected ${dim}`);
    }
    row.forEach((v, j) => data.writeFloatLE(v, 4 * (i * dim + j)));
  });
  return {dtype: DTYPE.DTYPE_FLOAT32, shape: [String(rows.length), String(dim)], data};
}

/** IEEE 754 binary16 bits -> number. */
function halfToNumber(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) {
    return sign * mantissa * 2 ** -24;
  }
  if (exponent === 0x1f) {
    return mantissa ? NaN : sign * Infinity;
  }
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const READERS = {
  1: (buf, k) => buf.readFloatLE(4 * k),
  2: (buf, k) => halfToNumber(buf.readUInt16LE(2 * k)),
  3: (buf, k) => buf.readBigInt64LE(8 * k),
  4: (buf, k) => buf.readInt32LE(4 * k),
  5: (buf, k) => buf.readDoubleLE(8 * k),
};

/**
 * A decoded Tensor: {dtype (name), shape (numbers), values (flat, row-major),
 * data (the raw bytes)}. Throws when data does not match shape and dtype.
 */
function decodeTensor(tensor, field = 'tensor') {
  const code = dtypeCode(tensor.dtype);
  const shape = (tensor.shape || []).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = tensor.data || Buffer.alloc(0);
  if (data.length !== count * ITEMSIZE[code]) {
    throw new Error(`${field}: shape [${shape}] of ${dtypeName(code)} needs ` +
      `${count * ITEMSIZE[code]} bytes, got ${data.length}`);
  }
  const read = READERS[code];
  const values = new Array(count);
  for (let k = 0; k < count; k++) {
    values[k] = read(data, k);
  }
  return {dtype: dtypeName(code), shape, values, data};
}

/** A decoded [n, dim] tensor's values as n arrays of dim. */
function toRows(decoded) {
  const [n, dim] = decoded.shape;
  const rows = [];
  for (let i = 0; i < n; i++) {
    rows.push(decoded.values.slice(i * dim, (i + 1) * dim));
  }
  return rows;
}

module.exports = {
  DTYPE, ITEMSIZE, dtypeCode, dtypeName, int64Tensor, float32Tensor, halfToNumber,
  decodeTensor, toRows,
};
