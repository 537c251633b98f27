{#- Data tests scoped to the rows an incremental run refreshed (DECISIONS.md "Tests that scale").

    A test of an incremental model names its scope in `config: where:` with a placeholder:
      __refreshed_rows__          the rows refreshed since the test last passed (row-level tests:
                                  not_null, accepted values and ranges, expressions, relationships);
      __refreshed_keys__(a, b)    every row of the table sharing (a, b) with such a row, so that a
                                  uniqueness test still compares the new keys with the whole history.
    "Since the test last passed" comes from the pipeline record (pipeline.dbt_node_results, written
    after each Dagster dbt build): every row refreshed after the end of the last build in which this
    very test passed. Rows of a build where it failed, was skipped or was not selected are therefore
    tested again. The scope applies only when the var scope_tests_to_refreshed_rows is true (the
    orchestrator sets it on incremental runs) and the run is not a --full-refresh; without a record
    of a pass, or otherwise, the test reads the whole table. This replaces dbt's get_where_subquery:
    a plain `where` keeps working as in dbt. -#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = (config.get('where', '') or '') | trim -%}
    {%- if not where -%}
        {% do return(relation) %}
    {%- endif -%}
    {%- set scoped_keys = where.startswith('__refreshed_keys__(') -%}
    {%- if where == '__refreshed_rows__' or scoped_keys -%}
        {%- set since = comptoir.test_last_passed_at() -%}
        {%- if since is none -%}
            {% do return(relation) %}
        {%- endif -%}
        {%- if scoped_keys -%}
            {%- set keys = where[19:-1].split(',') | map('trim') | list -%}
            {%- set where -%}
                exists (
                    select 1 from {{ relation }} as refreshed_rows
                    where refreshed_rows.refreshed_at > {{ since }}
                    {%- for key in keys %}
                        and refreshed_rows.{{ key }} = scoped_rows.{{ key }}
                    {%- endfor %}
                )
            {%- endset -%}
        {%- else -%}
            {%- set where = 'refreshed_at > ' ~ since -%}
        {%- endif -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} as scoped_rows where {{ where }}) dbt_subquery
    {%- endset -%}
    {% do return(filtered) %}
{%- endmacro %}


{#- When the running test last passed, as a timestamp literal; none when its rows must all be read. -#}
{% macro test_last_passed_at() -%}
    {%- set enabled = var('scope_tests_to_refreshed_rows', false) in [true, 'true', 'True', 1, '1'] -%}
    {%- if not execute or not enabled or flags.FULL_REFRESH -%}
        {% do return(none) %}
    {%- endif -%}
    {%- set record = adapter.get_relation(database=target.database, schema='pipeline', identifier='dbt_node_results') -%}
    {%- if record is none -%}
        {% do return(none) %}
    {%- endif -%}
    {%- set query -%}
        select cast(max(completed_at) as {{ dbt.type_string() }})
        from {{ record }}
        where unique_id = '{{ model.unique_id }}' and status = 'pass'
    {%- endset -%}
    {%- set passed_at = run_query(query).columns[0].values()[0] -%}
    {% do return("cast('" ~ passed_at ~ "' as timestamp)" if passed_at else none) %}
{%- endmacro %}
