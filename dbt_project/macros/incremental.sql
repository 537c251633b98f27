{#- Incremental builds (DECISIONS.md "Incremental builds").

    Every incremental model carries `refreshed_at`: the start of the dbt run that last (re)computed
    the row (run_started_at). A model downstream reads the upstream rows refreshed after its own
    latest refreshed_at (its watermark), so a run that failed half-way is caught up by the next one.
    Plain ANSI SQL: the literals below work on DuckDB and Spark alike. -#}

{#- This run's marker, written into refreshed_at. -#}
{% macro batch_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}


{#- The greatest value of a timestamp column of `relation` as a literal (read when the model runs),
    so that a filter `col > <literal>` can skip whole row groups by their min/max statistics, which
    a scalar subquery cannot. An empty table gives a date before any data. -#}
{% macro max_timestamp_literal(relation, column) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select cast(max(" ~ column ~ ") as " ~ dbt.type_string() ~ ") from " ~ relation) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    cast('{{ value or "1900-01-01 00:00:00" }}' as timestamp)
{%- endmacro %}


{#- A null-safe, unambiguous text key over several expressions, for delete+insert on a natural key
    whose parts may be null: each part is written as <length>:<text>, a null part as '-'. -#}
{% macro dedup_key(parts) -%}
    {%- for part in parts -%}
        coalesce(cast(length({{ part }}) as {{ dbt.type_string() }}) || ':' || {{ part }}, '-')
        {%- if not loop.last %} || {% endif -%}
    {%- endfor -%}
{%- endmacro %}


{#- A pre-hook for incremental models whose rows can vanish: delete the rows of every `key` that
    has an `upstream` row refreshed since this table's last refresh, before the model's rows for
    those keys are appended. (delete+insert deletes only the keys present in the new rows, so an
    order whose lines all became guest lines would keep its stale row.) -#}
{% macro delete_rows_of_refreshed_keys(key, upstream) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key }} in (
            select {{ key }} from {{ upstream }}
            where refreshed_at > {{ comptoir.max_timestamp_literal(this, 'refreshed_at') }}
        )
    {%- endif -%}
{%- endmacro %}


{#- dbt's should_full_refresh, plus: an incremental model is rebuilt in full when the raw history it
    reads was rewritten since its last refresh (a landing file replaced or removed: raw.load_log
    says so), or when it predates incremental builds (no refreshed_at column). Appending new rows
    cannot express rows that disappeared; a rebuild can. -#}
{% macro should_full_refresh() %}
    {%- set full_refresh = config.get('full_refresh') -%}
    {%- if full_refresh is none -%}
        {%- set full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if not full_refresh and execute and model.config.materialized == 'incremental' -%}
        {#- asked several times per model by the materialization: the answer is kept on the node -#}
        {%- if model.get('comptoir_history_rewritten') is none -%}
            {%- do model.update({'comptoir_history_rewritten': comptoir.history_rewritten()}) -%}
        {%- endif -%}
        {%- set full_refresh = model['comptoir_history_rewritten'] -%}
    {%- endif -%}
    {% do return(full_refresh) %}
{% endmacro %}


{% macro history_rewritten() %}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if existing is none -%}
        {% do return(false) %}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
    {%- if 'refreshed_at' not in columns -%}
        {% do log(this ~ " predates incremental builds (no refreshed_at): rebuilt in full", info=true) %}
        {% do return(true) %}
    {%- endif -%}
    {#- the raw sources upstream of this model -#}
    {%- set sources = [] -%}
    {%- set seen = [] -%}
    {%- set todo = [model.unique_id] -%}
    {%- for unique_id in todo -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- for parent in (node.depends_on.nodes if node else []) if parent not in seen -%}
            {%- do seen.append(parent) -%}
            {%- if parent.startswith('source.') -%}
                {%- set source_node = graph.sources[parent] -%}
                {%- if source_node.source_name == 'shop' -%}{%- do sources.append(source_node) -%}{%- endif -%}
            {%- else -%}
                {%- do todo.append(parent) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not sources -%}
        {% do return(false) %}
    {%- endif -%}
    {%- set load_log = adapter.get_relation(
        database=this.database, schema=sources[0].schema, identifier='load_log') -%}
    {%- if load_log is none -%}
        {% do return(false) %}
    {%- endif -%}
    {%- set query -%}
        select source, min(action), count(*)
        from {{ load_log }}
        where
            action in ('replaced', 'removed')
            and source in ({%- for s in sources %}'{{ s.name }}'{{ ', ' if not loop.last }}{% endfor -%})
            and loaded_at > (select max(refreshed_at) from {{ this }})
        group by source
    {%- endset -%}
    {%- set rewritten = run_query(query) -%}
    {%- if rewritten.rows | length > 0 -%}
        {% do log(this ~ ": the raw history of " ~ (rewritten.columns[0].values() | join(', '))
            ~ " was rewritten (a file replaced or removed): rebuilt in full", info=true) %}
        {% do return(true) %}
    {%- endif -%}
    {% do return(false) %}
{% endmacro %}


{#- The raw rows a base model judges: every row on a full build; on an incremental run the rows
    loaded after the model's latest loaded_at, plus every earlier raw row that shares a dedup_key
    with one of them (found through the model's own stored keys, so that no key is computed over
    the whole history), with their dedup_key. -#}
{% macro raw_rows_to_judge(relation, key_parts) -%}
    {%- set key = comptoir.dedup_key(key_parts) -%}
    select
        raw_rows.*,
        {{ key }} as dedup_key
    from {{ relation }} as raw_rows
    {%- if is_incremental() %}
        {%- set watermark = comptoir.max_timestamp_literal(this, 'loaded_at') %}
    where
        raw_rows._loaded_at > {{ watermark }}
        or exists (
            select 1
            from {{ this }} as judged
            where
                judged.source_file = raw_rows._source_file
                and judged.source_line = raw_rows._line_number
                and judged.dedup_key in (
                    select {{ key }} from {{ relation }} where _loaded_at > {{ watermark }}
                )
        )
    {%- endif %}
{%- endmacro %}


{#- dq_quarantine's pre-hook: delete the rows of every base row judged again since the quarantine's
    last refresh (the model then appends those still quarantined). -#}
{% macro delete_quarantine_of_refreshed_rows() -%}
    {%- if is_incremental() -%}
        {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
        delete from {{ this }} as quarantined
        where exists (
            {%- for source_name, base_model in [
                ('orders', 'base_shop__orders'), ('customers', 'base_shop__customers'),
                ('products', 'base_shop__products'), ('inventory', 'base_shop__inventory'),
                ('web_sessions', 'base_shop__web_sessions'), ('email_events', 'base_shop__email_events'),
            ] %}
            select 1 from {{ ref(base_model) }} as judged
            where
                quarantined.source = '{{ source_name }}'
                and judged.refreshed_at > {{ watermark }}
                and judged.source_file = quarantined.source_file
                and judged.source_line = quarantined.source_line
            {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}
