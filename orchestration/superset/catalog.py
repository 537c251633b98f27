"""What the dashboards can know about the warehouse: columns and types (from the published DuckDB file),
descriptions (from dbt's manifest) and the as-of date. Read-only; plain Python and DuckDB."""

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

# Columns that identify a person: the rule is orchestration/personal.py's (the lake's too). A dataset exposing one
# is refused: read the table through a virtual dataset (`sql: select ... from marts.x`) that leaves them out.
from orchestration.personal import is_pii as is_pii

log = logging.getLogger(__name__)

# Schemas a dataset may read (pipeline: the build's own record, orchestration/run_log.py). Raw, staging and
# intermediate tables never reach Superset.
ALLOWED_SCHEMAS = ("marts", "ml", "pipeline")
FORBIDDEN_SCHEMAS = ("raw", "staging", "intermediate")


# relation references in a virtual dataset's SQL: schema.table (optionally quoted, optionally database-qualified)
_RELATION = re.compile(r'\b(?:from|join)\s+(?:"?\w+"?\.)?"?(\w+)"?\."?(\w+)"?', re.IGNORECASE)
_ANY_SCHEMA_REFERENCE = re.compile(r'\b"?(raw|staging|intermediate)"?\s*\.', re.IGNORECASE)

TEMPORAL_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")


def is_temporal(duckdb_type: str) -> bool:
    return duckdb_type.upper() in TEMPORAL_TYPES or duckdb_type.upper().startswith("TIMESTAMP")


def referenced_relations(sql: str) -> list[tuple[str, str]]:
    """(schema, table) pairs a virtual dataset's SQL reads."""
    return [(schema.lower(), table.lower()) for schema, table in _RELATION.findall(sql)]


def forbidden_references(sql: str) -> list[str]:
    return sorted({match.lower() for match in _ANY_SCHEMA_REFERENCE.findall(sql)})


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    @property
    def temporal(self) -> bool:
        return is_temporal(self.type)


@dataclass
class Warehouse:
    """Read-only view of the published warehouse file."""

    path: Path
    _columns: dict[str, list[Column]] = field(default_factory=dict)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            raise FileNotFoundError(f"no published warehouse at {self.path}: build (and publish) first")
        return duckdb.connect(str(self.path), read_only=True)

    def columns(self, schema: str, table: str) -> list[Column]:
        key = f"{schema}.{table}"
        if key not in self._columns:
            with self._connect() as con:
                rows = con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
            if not rows:
                raise LookupError(f"{key} does not exist in {self.path}")
            self._columns[key] = [Column(str(name), str(kind)) for name, kind in rows]
        return self._columns[key]

    def query_columns(self, sql: str) -> list[Column]:
        """The columns a SELECT returns (a virtual dataset), without running it."""
        with self._connect() as con:
            rows = con.execute(f"describe ({sql})").fetchall()
        return [Column(str(row[0]), str(row[1])) for row in rows]

    def as_of_date(self) -> date | None:
        """The warehouse's as-of date (marts.mart_kpis), None when it cannot be read."""
        try:
            with self._connect() as con:
                row = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()
        except (duckdb.Error, FileNotFoundError) as error:
            log.warning("no as-of date in %s: %s", self.path, error)
            return None
        return row[0] if row and isinstance(row[0], date) else None


@dataclass(frozen=True)
class Relation:
    """A dbt model or source as the manifest describes it."""

    schema: str
    table: str
    dbt_ref: str  # "ref('x')" or "source('ml', 'x')"
    description: str
    columns: dict[str, str]  # column name -> description


def load_manifest(path: Path) -> dict[tuple[str, str], Relation]:
    """Models and sources of dbt's manifest.json by (schema, table); empty when there is no manifest."""
    if not path.exists():
        log.warning("no dbt manifest at %s: datasets get no column descriptions", path)
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    relations: dict[tuple[str, str], Relation] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        table = node.get("alias") or node["name"]
        relations[(node["schema"], table)] = Relation(
            node["schema"], table, f"ref('{node['name']}')", node.get("description") or "",
            {name: column.get("description") or "" for name, column in node.get("columns", {}).items()},
        )
    for source in manifest.get("sources", {}).values():
        table = source.get("identifier") or source["name"]
        relations[(source["schema"], table)] = Relation(
            source["schema"], table, f"source('{source['source_name']}', '{source['name']}')",
            source.get("description") or "",
            {name: column.get("description") or "" for name, column in source.get("columns", {}).items()},
        )
    return relations
