"""Row admission for a push: occurrence filter, row creation, stamping, touched marks.

One kernel walks the distinct ids of a push in order and decides each id's
row (Monolith's row life cycle, reference/optimizers.md):

- an id with a row is admitted (the filter is bypassed);
- with threshold T > 0, an id without a row is admitted only if its count
  seen before this push, read from a count-min sketch, is >= T; otherwise its
  count is added to the sketch and its gradient dropped;
- an admitted id without a row gets a new row: the initializer fills the
  embedding, slots take their initial values.

Every admitted row is stamped with the push's timestamp and marked touched.
Touched marks are a per-row epoch byte: a row is in the touched set when its
byte equals the current epoch, so clearing the set is ``epoch += 1``.
"""

from __future__ import annotations

import numba
import numpy as np

from ps_server.initializers import init_row
from ps_server.prefetch import DISTANCE
from ps_server.table_kernels import find_slot, prefetch_slot
from services.keys import mix64

SKETCH_DEPTH = 4
SKETCH_MAX = 65535
MAX_EPOCH = 255
_SKETCH_SALT = np.uint64(0x8EBC6AF09C88C6E3)


@numba.njit(inline="always")
def _sketch_seen(sketch, shift, key, count, threshold):
    """True if ``key`` was seen >= threshold times before; else adds ``count``.

    Count-min with conservative update over ``SKETCH_DEPTH`` hashes of one
    (F,) uint16 array; counters saturate at 65535.
    """
    h1 = mix64(np.uint64(key) ^ _SKETCH_SALT)
    h2 = mix64(h1) | np.uint64(1)
    est = SKETCH_MAX
    for i in range(SKETCH_DEPTH):
        est = min(est, np.int64(sketch[np.int64((h1 + np.uint64(i) * h2) >> shift)]))
    if est >= threshold:
        return True
    new = est + min(count, SKETCH_MAX - est)
    for i in range(SKETCH_DEPTH):
        s = np.int64((h1 + np.uint64(i) * h2) >> shift)
        sketch[s] = max(sketch[s], new)
    return False


@numba.njit(nogil=True, cache=True)
def admit(keys, slot_rows, shift, size, room, ids, start, counts, threshold, sketch, sk_shift,
          init_code, init_value, init_min, init_max, init_seed, slot_init,
          emb, slots, last_update, timestamp, flags, epoch, tsize, tcap, out_rows):
    """Decides the row of distinct ids[start:] of a push (see module docstring).

    ids (m,) int64 distinct; counts (m,) int64 (read only when threshold > 0);
    sketch (F,) uint16; slot_init (S,) f32; emb (R, d) f32; slots (R, S) f32;
    last_update (R,) int64; flags (R,) uint8. out_rows (m,) int64 gets each id's
    row, -1 if filtered. Stops before the first id that needs a new row once
    ``size`` reaches ``room`` (the caller grows the table and resumes there).
    Returns (size, created, filtered, touched size, touched dropped, epoch, done).
    """
    created = 0
    filtered = 0
    dropped = 0
    n = ids.shape[0]
    for i in range(start, n):
        if i + DISTANCE < n:
            prefetch_slot(keys, slot_rows, shift, ids[i + DISTANCE])
        k = ids[i]
        h = find_slot(keys, slot_rows, shift, k)
        r = np.int64(slot_rows[h])
        if r < 0:
            if threshold > 0 and not _sketch_seen(sketch, sk_shift, k, counts[i], threshold):
                out_rows[i] = -1
                filtered += 1
                continue
            if size >= room:
                return size, created, filtered, tsize, dropped, epoch, i
            r = size
            size += 1
            created += 1
            keys[h] = k
            slot_rows[h] = r
            init_row(init_code, init_value, init_min, init_max, init_seed, k, emb, r)
            for j in range(slot_init.shape[0]):
                slots[r, j] = slot_init[j]
            flags[r] = 0
        out_rows[i] = r
        last_update[r] = timestamp
        if flags[r] != epoch:
            flags[r] = epoch
            tsize += 1
            if tsize > tcap:
                dropped += tsize
                tsize = 0
                epoch += 1
                if epoch > MAX_EPOCH:
                    flags[:size] = 0
                    epoch = 1
    return size, created, filtered, tsize, dropped, epoch, n
