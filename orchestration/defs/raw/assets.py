"""One asset per source: load its landing files into DuckDB schema `raw` (see orchestration.raw_load)."""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.contract import SOURCES, Source
from orchestration.dbt.args import is_full_refresh
from orchestration.defs.resources import WarehouseResource
from orchestration.raw_load import LoadResult, RawFileError, load_source


class RawLoadConfig(Config):
    """`full_refresh`: reload every file into a new table instead of appending what is new."""

    full_refresh: bool = False


def _description(source: Source) -> str:
    need = "required" if source.required else "optional (left empty when no file is there)"
    return (
        f"`{source.file_pattern}` loaded as text, {source.grain}; {need}. New files and lines are appended, "
        "changed or removed files rewritten (raw.load_files, raw.load_log). Unparsable lines go to raw.load_rejects."
    )


def load_metadata(result: LoadResult) -> dict[str, object]:
    """What a raw-load materialization records: totals, and each file's action and state."""
    metadata: dict[str, object] = {
        "file": MetadataValue.path(str(result.path)),
        "landing_folder": MetadataValue.path(str(result.folder)),
        "file_present": result.present,
        "files": MetadataValue.json(
            {
                f.name: {
                    "action": f.action.value, "sha256": f.sha256, "size_bytes": f.size_bytes, "lines": f.lines,
                    "rows_loaded": f.rows_loaded, "rows_rejected": f.rows_rejected,
                    "rows_added": f.rows_added, "rejects_added": f.rejects_added,
                }
                for f in result.files
            }
        ),
        "history_rewritten": result.history_rewritten,
        "rows_in_file": result.file_rows,
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "rows_added": sum(f.rows_added for f in result.files),
        "dagster/row_count": result.rows_loaded,
    }
    if result.checksum:
        metadata["sha256"] = result.checksum
    if result.reject_reasons:
        metadata["reject_reasons"] = MetadataValue.json(result.reject_reasons)
    return metadata


def build_raw_asset(source: Source) -> AssetsDefinition:
    @asset(
        name=source.name,
        key_prefix="raw",
        group_name="raw",
        description=_description(source),
        kinds={"duckdb"},
        tags={"layer": "raw"},
    )
    def _raw_asset(
        context: AssetExecutionContext, config: RawLoadConfig, warehouse: WarehouseResource
    ) -> MaterializeResult:
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        try:
            with warehouse.connect() as con:
                # The warehouse_full_refresh job and `comptoir build --full-refresh` reload every file too.
                full_refresh = config.full_refresh or is_full_refresh(context.run.tags)
                result = load_source(con, source, warehouse.seeds_path, loaded_at, full_refresh=full_refresh)
        except RawFileError as error:
            # A bad landing file is the user's to fix: say which and why, without a stack trace.
            raise Failure(description=str(error), allow_retries=False) from error
        # The loader's own log line (a managed Python logger) says what was loaded, in Dagster and on the terminal.
        return MaterializeResult(metadata=load_metadata(result))

    return _raw_asset


raw_assets: list[AssetsDefinition] = [build_raw_asset(source) for source in SOURCES]
