"""Training data: Batch and Ragged, the synthetic click stream, the Criteo reader, packing."""

from worker.data.batch import Batch, rebatch
from worker.data.config import Split, SyntheticConfig
from worker.data.criteo import CriteoConfig, CriteoReader, parse_criteo
from worker.data.ffm import generate_ffm_batch, generate_ffm_example, slot_to_key
from worker.data.ids import make_fids, slot_of
from worker.data.nested import NestedArrays
from worker.data.packing import (
    merge_dicts,
    pack_arrays,
    pack_typed_keyed_arrays,
    split_by_dtype,
    unpack_arrays,
    unpack_typed_keyed_arrays,
)
from worker.data.ragged import Ragged, value_rowids
from worker.data.synthetic import SyntheticStream
from worker.data.truth import GroundTruth

__all__ = [
    "Batch",
    "CriteoConfig",
    "CriteoReader",
    "GroundTruth",
    "NestedArrays",
    "Ragged",
    "Split",
    "SyntheticConfig",
    "SyntheticStream",
    "generate_ffm_batch",
    "generate_ffm_example",
    "make_fids",
    "merge_dicts",
    "pack_arrays",
    "pack_typed_keyed_arrays",
    "parse_criteo",
    "rebatch",
    "slot_of",
    "slot_to_key",
    "split_by_dtype",
    "unpack_arrays",
    "unpack_typed_keyed_arrays",
    "value_rowids",
]
