"""Software prefetch for numba kernels that visit rows in random order.

A row update is long enough that the CPU cannot run ahead to the next row's
cache misses by itself; issuing prefetches a few rows ahead overlaps them.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

DISTANCE = 8
_LINE_ITEMS = 16


def _prefetch_codegen(write: bool):
    def codegen(context, builder, signature, args):
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, value=args[0])
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, list(args[1:]),
                                       wraparound=False)
        byte_ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [byte_ptr, i32(1 if write else 0), i32(3), i32(1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch_read(typingctx, arr, index):
    """Hints that ``arr[index]`` (1-d) will be read soon."""
    return types.void(arr, index), _prefetch_codegen(False)


@intrinsic
def prefetch_read2(typingctx, arr, row, col):
    """Hints that ``arr[row, col]`` will be read soon."""
    return types.void(arr, row, col), _prefetch_codegen(False)


@intrinsic
def prefetch_write2(typingctx, arr, row, col):
    """Hints that ``arr[row, col]`` will be written soon."""
    return types.void(arr, row, col), _prefetch_codegen(True)


@numba.njit(inline="always")
def prefetch_row_read(arr, r):
    """Prefetches every cache line of row ``r`` of a 2-d 4-byte array, for reading."""
    width = arr.shape[1]
    if width > 0:
        for c in range(0, width - 1, _LINE_ITEMS):
            prefetch_read2(arr, r, c)
        prefetch_read2(arr, r, width - 1)


@numba.njit(inline="always")
def prefetch_row_write(arr, r):
    """Prefetches every cache line of row ``r`` of a 2-d 4-byte array, for writing."""
    width = arr.shape[1]
    if width > 0:
        for c in range(0, width - 1, _LINE_ITEMS):
            prefetch_write2(arr, r, c)
        prefetch_write2(arr, r, width - 1)
