{#- Data tests scoped to the rows an incremental run refreshed (DECISIONS.md "Tests that scale").

    A test of an incremental model names its scope in `config: where:` with a placeholder:
      __refreshed_rows__          the rows refreshed by this run (row-level tests: not_null,
                                  accepted_values, ranges, expressions, relationships from this side);
      __refreshed_keys__(a, b)    every row of the table sharing (a, b) with a refreshed row, so a
                                  uniqueness test still compares the new keys with the whole history.
    The scope applies only when the orchestrator sets the var scope_tests_to_refreshed_rows (it does
    after a build whose every test passed) and the run is not a --full-refresh; otherwise the test
    reads the whole table. A model rebuilt in full has every row refreshed, so it is tested in full.
    This replaces dbt's get_where_subquery: a plain `where` keeps working as in dbt. -#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {% do return(relation) %}
    {%- endif -%}
    {%- set where = where | trim -%}
    {%- set is_scope = where == '__refreshed_rows__' or where.startswith('__refreshed_keys__(') -%}
    {%- if is_scope and not comptoir.tests_scoped_to_refreshed_rows() -%}
        {% do return(relation) %}
    {%- endif -%}
    {%- if where == '__refreshed_rows__' -%}
        {%- set where = 'refreshed_at >= ' ~ comptoir.batch_started_at() -%}
    {%- elif where.startswith('__refreshed_keys__(') -%}
        {%- set keys = where[19:-1].split(',') | map('trim') | list -%}
        {%- set where -%}
            exists (
                select 1 from {{ relation }} as refreshed_rows
                where refreshed_rows.refreshed_at >= {{ comptoir.batch_started_at() }}
                {%- for key in keys %}
                    and refreshed_rows.{{ key }} = scoped_rows.{{ key }}
                {%- endfor %}
            )
        {%- endset -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} as scoped_rows where {{ where }}) dbt_subquery
    {%- endset -%}
    {% do return(filtered) %}
{%- endmacro %}


{% macro tests_scoped_to_refreshed_rows() -%}
    {% do return(var('scope_tests_to_refreshed_rows', false) in [true, 'true', 'True', 1, '1']
                 and not flags.FULL_REFRESH) %}
{%- endmacro %}
