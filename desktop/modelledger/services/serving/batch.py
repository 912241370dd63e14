"""Batch scoring of a file: CSV or Parquet in, CSV or Parquet out, streamed in record batches
so memory stays bounded whatever the file's size.

The output is written to a temporary file beside the target and renamed over it only when
every row is scored, so a failure or a kill leaves no partial output. Its columns: the input's
row key (when one is named), ``prediction``, ``probability_<class>`` for a classifier, the
version (``name/3``) and the time of the run. Each run is audited with the version, the
input's SHA-256, the output and the row count.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from modelledger.core.domain import Actor, ModelVersion
from modelledger.core.errors import InvalidInputError
from modelledger.services.changes.events import ChangeBus, ChangeEvent
from modelledger.services.changes.unit_of_work import Clock, audited_write
from modelledger.services.registry.service import RegistryService
from modelledger.services.serving import references
from modelledger.services.serving.payloads import FeatureSchema, Rows
from modelledger.services.serving.references import ModelReference
from modelledger.services.serving.served import (
    ServedVersion,
    hand_matrices_quietly,
    loaded_version,
)
from modelledger.storage.artifacts import file_sha256
from modelledger.storage.database import Database
from modelledger.storage.tables import utc_now

BATCH_SCORED = "batch.scored"
DEFAULT_CHUNK_ROWS = 262_144  # ~60 MB of float64 for 30 features: fast, and far below 1 GiB
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)


@dataclass(frozen=True)
class BatchResult:
    version: ModelVersion
    output: Path
    rows: int
    input_sha256: str
    seconds: float


def _file_kind(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise InvalidInputError(f"The {role} {path.name} must be a .csv or .parquet file.")


def score_file(database: Database, registry: RegistryService, actor: Actor, bus: ChangeBus,
               reference_text: str, input_path: Path, output_path: Path, *,
               key_column: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
               progress: Callable[[int], None] | None = None,
               clock: Clock = utc_now) -> BatchResult:
    """Score every row of ``input_path`` with the version ``reference_text`` means now."""
    started = time.perf_counter()
    input_kind = _file_kind(input_path, "input")
    output_kind = _file_kind(output_path, "output")
    if not input_path.is_file():
        raise InvalidInputError(f"There is no input file {input_path}.")
    if not output_path.parent.is_dir():
        raise InvalidInputError(f"The output's folder {output_path.parent} does not exist.")
    reference = ModelReference.parse(reference_text)
    hand_matrices_quietly()
    version = database.read(lambda conn: references.resolve(conn, reference))
    served = loaded_version(registry, reference, version)
    reader = _open_reader(input_path, input_kind, served.schema, key_column, chunk_rows)

    fingerprint: dict[str, str] = {}
    hashing = threading.Thread(  # hashlib lets go of the GIL: the hash costs no scoring time
        target=lambda: fingerprint.setdefault("sha256", file_sha256(input_path)), daemon=True)
    hashing.start()
    scored_at = clock()
    temporary = output_path.with_name(f".{output_path.name}.{uuid.uuid4().hex[:8]}.partial")
    rows = 0
    try:
        with _writer(temporary, output_kind) as write:
            for batch in reader:
                write(_scored(batch, served, key_column, scored_at))
                rows += batch.num_rows
                if progress is not None:
                    progress(rows)
        if rows == 0:
            raise InvalidInputError(f"{input_path.name} has no rows to score.")
        hashing.join()
        os.replace(temporary, output_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    result = BatchResult(version, output_path, rows, fingerprint["sha256"],
                         time.perf_counter() - started)
    _audit(database, actor, bus, clock, reference, input_path, result)
    return result


def _audit(database: Database, actor: Actor, bus: ChangeBus, clock: Clock,
           reference: ModelReference, input_path: Path, result: BatchResult) -> None:
    subject = f"{result.version.model_name}/{result.version.version_number}"

    def unit(conn, audit, now):
        audit.append(BATCH_SCORED, "version", subject, after={
            "reference": str(reference), "input": str(input_path.resolve()),
            "input_sha256": result.input_sha256, "output": str(result.output.resolve()),
            "rows": result.rows})

    audited_write(database, actor, bus, unit,
                  lambda _: ChangeEvent("version", subject, "scored"), clock=clock)


# -- reading ------------------------------------------------------------------------------------

def _open_reader(path: Path, kind: str, schema: FeatureSchema, key_column: str | None,
                 chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of the columns needed, after checking they are all there (and numeric where
    the model needs numbers)."""
    import pyarrow.lib

    needed = list(schema.names)
    if key_column is not None and key_column not in needed:
        needed.append(key_column)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            _check_columns(path, parquet.schema_arrow, schema, key_column)
            batches = parquet.iter_batches(batch_size=chunk_rows, columns=needed)
        else:
            import pyarrow.csv as pacsv

            # CSV is read in blocks of bytes: about chunk_rows rows of ~16 characters a value.
            block_size = max(1 << 16, chunk_rows * 16 * len(needed))
            read_options = pacsv.ReadOptions(block_size=block_size)
            with pacsv.open_csv(path, read_options=read_options) as probe:
                _check_columns(path, probe.schema, schema, key_column, csv=True)
            types = {name: pa.float64() for name, numeric in
                     zip(schema.names, schema.numeric, strict=True) if numeric}
            batches = pacsv.open_csv(path, read_options=read_options,
                                     convert_options=pacsv.ConvertOptions(
                                         include_columns=needed, column_types=types))
    except (pyarrow.lib.ArrowInvalid, OSError) as error:
        raise InvalidInputError(f"{path.name} cannot be read as {kind.upper()}: {error}") \
            from None
    return _batches_with_clear_errors(path, batches)


def _batches_with_clear_errors(path: Path, batches) -> Iterator[pa.RecordBatch]:
    import pyarrow.lib

    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pyarrow.lib.ArrowInvalid, OSError) as error:
            raise InvalidInputError(f"{path.name} has a value that cannot be read: "
                                    f"{error}") from None
        yield batch


def _check_columns(path: Path, arrow_schema: pa.Schema, schema: FeatureSchema,
                   key_column: str | None, *, csv: bool = False) -> None:
    present = set(arrow_schema.names)
    missing = [name for name in schema.names if name not in present]
    if missing:
        shown = ", ".join(f"'{name}'" for name in missing[:5])
        raise InvalidInputError(f"{path.name} has no column {shown}"
                                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}"
                                f": the model needs {len(schema.names)} columns.")
    if key_column is not None and key_column not in present:
        raise InvalidInputError(f"{path.name} has no key column '{key_column}'.")
    if csv:
        return  # CSV columns are converted to numbers as they are read; a bad value is named
    for name, numeric in zip(schema.names, schema.numeric, strict=True):
        kind = arrow_schema.field(name).type
        if numeric and not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                            or pa.types.is_boolean(kind) or pa.types.is_decimal(kind)
                            or pa.types.is_null(kind)):
            raise InvalidInputError(f"Column '{name}' of {path.name} holds {kind}, but the "
                                    "model needs numbers there.")


# -- scoring and writing ------------------------------------------------------------------------

def _scored(batch: pa.RecordBatch, served: ServedVersion, key_column: str | None,
            scored_at: datetime) -> pa.Table:
    names = list(served.schema.names)
    if served.schema.all_numeric:
        matrix = np.empty((batch.num_rows, len(names)), dtype=np.float64, order="F")
        for index, name in enumerate(names):
            matrix[:, index] = batch.column(name).to_numpy(zero_copy_only=False)
        rows = Rows(names, matrix=matrix)
    else:
        rows = Rows(names, frame=batch.select(names).to_pandas())
    try:
        predictions, probabilities = _predictions_and_probabilities(served, rows)
    except (ValueError, TypeError) as error:
        raise InvalidInputError(f"The model could not score the input: {error}") from None
    estimator = served.estimator
    columns: dict[str, pa.Array] = {}
    if key_column is not None:
        columns[key_column] = batch.column(key_column)
    columns["prediction"] = pa.array(np.asarray(predictions))
    if probabilities is not None:
        for index, label in enumerate(estimator.classes_):
            columns[f"probability_{label}"] = pa.array(probabilities[:, index])
    count = batch.num_rows
    columns["model_version"] = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(count, dtype=np.int32)), pa.array([served.header]))
    moment = np.datetime64(scored_at.replace(tzinfo=None), "us")
    columns["scored_at"] = pa.array(np.full(count, moment), type=pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def _predictions_and_probabilities(served: ServedVersion, rows: Rows):
    """``predict`` and, for a classifier, ``predict_proba``. A pipeline's transforms run once
    for both (as each would run them: the final step is given what they produce), which is
    half the time of a scaled linear model's two calls."""
    import sklearn
    from sklearn.pipeline import Pipeline

    estimator = served.estimator
    features = rows.matrix if served.takes_matrix else rows.frame
    # A matrix checked finite once here need not be checked again by every step (each check
    # is a pass over the chunk); one with NaN or inf is left to the estimator to judge.
    finite = served.takes_matrix and bool(np.isfinite(features).all())
    with sklearn.config_context(assume_finite=finite):
        final = estimator
        if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
            features = estimator[:-1].transform(features)
            final = estimator.steps[-1][1]
        predictions = final.predict(features)
        probabilities = None
        if hasattr(final, "predict_proba") and hasattr(final, "classes_"):
            probabilities = final.predict_proba(features)
    return predictions, probabilities


@contextlib.contextmanager
def _writer(path: Path, kind: str):
    """A function that appends a table to ``path``, closed (and flushed) on leaving."""
    writer = None

    def write(table: pa.Table) -> None:
        nonlocal writer
        if kind == "csv":
            table = table.set_column(
                table.schema.get_field_index("model_version"), "model_version",
                table.column("model_version").cast(pa.string()))
        if writer is None:
            if kind == "parquet":
                import pyarrow.parquet as pq

                # Dictionary pages only for the one repeated column: trying them on millions
                # of distinct probabilities cost as much as the rest of the write.
                writer = pq.ParquetWriter(path, table.schema, use_dictionary=["model_version"])
            else:
                import pyarrow.csv as pacsv

                writer = pacsv.CSVWriter(path, table.schema)
        writer.write_table(table)

    try:
        yield write
    finally:
        if writer is not None:
            writer.close()
