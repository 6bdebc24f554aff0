"""`kruntimes.codec`: the one translation between model objects and `kruntimes.io/v1alpha1` dicts.

Decoding (`decode_run`, `run_from_dict`, ...) raises only `ValidationError`,
whatever the input, listing every problem with its wire path. Encoding
(`run_to_dict`, ...) writes compact camelCase dicts. `docs/wire-format.md`
describes the format, the limits and how unknown fields are handled.
"""

from kruntimes.codec.durations import format_duration, parse_duration
from kruntimes.codec.errors import FieldError, ValidationError
from kruntimes.codec.extensions import validate_run_queue
from kruntimes.codec.quantities import parse_quantity
from kruntimes.codec.timestamps import format_timestamp, parse_timestamp
from kruntimes.codec.validation import (
    validate_run,
    validate_run_status,
    validate_run_update,
    validate_runtime,
)
from kruntimes.codec.wire import (
    Decoded,
    decode_run,
    decode_run_queue,
    decode_runtime,
    run_from_dict,
    run_queue_from_dict,
    run_queue_to_dict,
    run_status_from_dict,
    run_status_to_dict,
    run_to_dict,
    runtime_from_dict,
    runtime_to_dict,
)

__all__ = [
    "Decoded",
    "FieldError",
    "ValidationError",
    "decode_run",
    "decode_run_queue",
    "decode_runtime",
    "format_duration",
    "format_timestamp",
    "parse_duration",
    "parse_quantity",
    "parse_timestamp",
    "run_from_dict",
    "run_queue_from_dict",
    "run_queue_to_dict",
    "run_status_from_dict",
    "run_status_to_dict",
    "run_to_dict",
    "runtime_from_dict",
    "runtime_to_dict",
    "validate_run",
    "validate_run_queue",
    "validate_run_status",
    "validate_run_update",
    "validate_runtime",
]
