"""seeds/README.md documents exactly the contract the code enforces."""

from __future__ import annotations

import re
from pathlib import Path

from orchestration.contract import FILE_TAG_PATTERN, SOURCES
from orchestration.raw_load import MAX_RECORD_LINES


def test_seeds_readme_documents_every_file_and_column(repo_root: Path) -> None:
    readme = (repo_root / "seeds" / "README.md").read_text()
    for source in SOURCES:
        section = readme.split(f"### `{source.file_name}`", 1)
        assert len(section) == 2, f"no section for {source.file_name}"
        body = section[1].split("\n### ", 1)[0]
        required = "required" if source.required else "optional"
        assert body.startswith(f" ({required})"), source.file_name
        documented = re.findall(r"^\| `([a-z_]+)` \| ([^|]+?) \|", body, flags=re.MULTILINE)
        assert documented == [(c.name, c.type) for c in source.columns], source.file_name


def test_seeds_readme_documents_the_file_pattern_and_the_record_bound(repo_root: Path) -> None:
    readme = (repo_root / "seeds" / "README.md").read_text()
    assert "`<stem>.<ext>`" in readme and "`<stem>_<tag>.<ext>`" in readme
    assert FILE_TAG_PATTERN == r"[A-Za-z0-9._-]+", "the README describes the tag characters: update it too"
    assert "letters,\ndigits, `-`, `_` and `.`" in readme
    assert f"at most {MAX_RECORD_LINES} lines" in readme and f"at most {MAX_RECORD_LINES} lines further" in readme
    for source in SOURCES:  # one source's files never match another's pattern
        others = [s for s in SOURCES if s is not source and s.matches(source.file_name)]
        stem, ext = source.file_name.split(".", 1)
        assert not others and not any(s.matches(f"{stem}_x.{ext}") for s in SOURCES if s is not source)


def test_readme_quick_start_is_the_two_commands(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "seeds/README.md" in readme


def test_dbt_sources_declare_every_contract_column(repo_root: Path) -> None:
    import yaml

    sources_yml = yaml.safe_load((repo_root / "dbt_project/models/staging/_shop__sources.yml").read_text())
    tables = {t["name"]: t for t in sources_yml["sources"][0]["tables"]}
    for source in SOURCES:
        documented = [c["name"] for c in tables[source.name]["columns"]]
        assert documented == [*source.column_names, "_source_file", "_line_number", "_loaded_at"], source.name
        assert all(c.get("description") for c in tables[source.name]["columns"]), source.name


def test_dbt_money_type_is_the_contract_money_type(repo_root: Path) -> None:
    """Staging casts money to the type the contract promises (one number of decimals, in two languages)."""
    from orchestration.contract import MONEY_DECIMALS, MONEY_TYPE

    macros = (repo_root / "dbt_project/macros/money.sql").read_text()
    body = macros.split("{% macro money_type() -%}", 1)[1].split("{%- endmacro %}", 1)[0]
    assert body.strip().replace(" ", "") == MONEY_TYPE
    readme = (repo_root / "seeds" / "README.md").read_text()
    assert f"at most {MONEY_DECIMALS} decimals" in readme


def test_dbt_value_bounds_are_the_contract_bounds(repo_root: Path) -> None:
    import yaml

    from orchestration.contract import MAX_ORDER_QUANTITY

    project = yaml.safe_load((repo_root / "dbt_project/dbt_project.yml").read_text())
    assert project["vars"]["max_order_quantity"] == MAX_ORDER_QUANTITY
