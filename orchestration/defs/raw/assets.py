"""One asset per landing file: load it into DuckDB schema `raw` (see orchestration.raw_load)."""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.contract import SOURCES, Source
from orchestration.defs.resources import WarehouseResource
from orchestration.raw_load import RawFileError, load_source


def _description(source: Source) -> str:
    need = "required" if source.required else "optional (left empty when the file is absent)"
    return f"`{source.file_name}` loaded as text, {source.grain}; {need}. Unparsable lines go to raw.load_rejects."


def build_raw_asset(source: Source) -> AssetsDefinition:
    @asset(
        name=source.name,
        key_prefix="raw",
        group_name="raw",
        description=_description(source),
        kinds={"duckdb"},
        tags={"layer": "raw"},
    )
    def _raw_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        try:
            with warehouse.connect() as con:
                result = load_source(con, source, warehouse.seeds_path, loaded_at)
        except RawFileError as error:
            # A bad landing file is the user's to fix: say which and why, without a stack trace.
            raise Failure(description=str(error), allow_retries=False) from error
        context.log.info(
            f"raw.{source.name}: {result.rows_loaded} rows loaded, {result.rows_rejected} rejected"
        )
        metadata: dict[str, object] = {
            "file": MetadataValue.path(str(result.path)),
            "file_present": result.present,
            "rows_in_file": result.file_rows,
            "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected,
            "dagster/row_count": result.rows_loaded,
        }
        if result.checksum:
            metadata["sha256"] = result.checksum
        if result.reject_reasons:
            metadata["reject_reasons"] = MetadataValue.json(result.reject_reasons)
        return MaterializeResult(metadata=metadata)

    return _raw_asset


raw_assets: list[AssetsDefinition] = [build_raw_asset(source) for source in SOURCES]
