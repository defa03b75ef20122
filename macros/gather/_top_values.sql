{#- A scalar subquery over `profiled` giving, as JSON text, the non-null values of the quoted column with
    their counts (`[{"v": value, "n": count}, ...]`, at most `limit` of them); none when the adapter has no
    way to aggregate rows into one value, and cartridge._top_values_portably reads them instead. -#}
{% macro _top_values_sql(quoted, limit) -%}
  {{ return(adapter.dispatch('_top_values_sql', 'cartridge')(quoted, limit)) }}
{%- endmacro %}

{#- Row-to-JSON aggregation is spelled differently on every warehouse (json_agg, array_agg + to_json,
    ARRAY_AGG(OBJECT_CONSTRUCT()), TO_JSON_STRING(ARRAY_AGG(STRUCT())), ...): none by default. -#}
{% macro default___top_values_sql(quoted, limit) -%}
  {{ return(none) }}
{%- endmacro %}

{#- PostgreSQL: json_agg. -#}
{% macro postgres___top_values_sql(quoted, limit) -%}
  {%- set sql -%}
    (select json_agg(json_build_object('v', v, 'n', n))::text
     from (select {{ quoted }} as v, count(*) as n from profiled
           where {{ quoted }} is not null group by {{ quoted }} limit {{ limit }}) as top_values)
  {%- endset -%}
  {{ return(sql) }}
{%- endmacro %}

{#- DuckDB: a list of structs, as JSON. -#}
{% macro duckdb___top_values_sql(quoted, limit) -%}
  {%- set sql -%}
    (select to_json(list({'v': v, 'n': n}))::varchar
     from (select {{ quoted }} as v, count(*) as n from profiled
           where {{ quoted }} is not null group by {{ quoted }} limit {{ limit }}) as top_values)
  {%- endset -%}
  {{ return(sql) }}
{%- endmacro %}

{#- The values of the given text columns with their counts, from one statement of grouped SELECTs joined by
    UNION ALL, into each column's `profile.top_values`. Only called for columns already known to hold few
    distinct values, so every group is kept. With sampling, this statement reads the first rows again: the
    same rows on the warehouses we know, though a limit without an order does not promise it. -#}
{% macro _top_values_portably(rows_sql, columns) -%}
  {%- set selects = [] -%}
  {%- for column in columns -%}
    {%- set quoted = cartridge._quote_identifier(column['name']) -%}
    {%- do selects.append(
        'select ' ~ loop.index0 ~ ' as column_index, cast(' ~ quoted ~ ' as ' ~ dbt.type_string() ~ ') as v, count(*) as n'
        ~ ' from profiled where ' ~ quoted ~ ' is not null group by ' ~ quoted) -%}
  {%- endfor -%}
  {%- set sql -%}
    with profiled as (
      {{ rows_sql }}
    )
    {{ selects | join('\nunion all\n') }}
  {%- endset -%}
  {%- set found = {} -%}
  {%- for row in run_query(sql).rows -%}
    {%- do found.setdefault(row[0] | int, []).append({'v': row[1], 'n': row[2]}) -%}
  {%- endfor -%}
  {%- for column in columns -%}
    {%- do column['profile'].update({'top_values': cartridge._sorted_top_values(found.get(loop.index0, []))}) -%}
  {%- endfor -%}
{%- endmacro %}

{#- `[{v, n}]` as `[{value, count}]`, most frequent first, ties by value (code point order, the same on every
    adapter whatever its collation). -#}
{% macro _sorted_top_values(pairs) -%}
  {%- set values = [] -%}
  {%- for pair in pairs -%}
    {%- do values.append({'value': pair['v'] | string, 'count': pair['n'] | int}) -%}
  {%- endfor -%}
  {{ return(values | sort(attribute='value', case_sensitive=true) | sort(attribute='count', reverse=true)) }}
{%- endmacro %}
