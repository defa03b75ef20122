{#- Add profile statistics to one gathered relation, in place: `profile: {row_count}` on the relation and
    `profile: {null_count, distinct_count, min, max, top_values}` on each column. Values read from the table
    stay under these `profile` keys, apart from the schema metadata, so the bridge can keep them local.

    One statement per table: a single SELECT of aggregates over `profiled` (the table, or its first rows):
    count(*), then per column count(c); count(distinct c) unless equality on the type is not portable (json,
    arrays, structs, ...); min/max for numbers, dates and times (and text named like a time, which may hold
    timestamps); and for text the values with their counts
    when there are at most `top_values_limit` of them. PostgreSQL and DuckDB aggregate those values into one
    JSON cell, a scalar subquery in the same SELECT guarded by the distinct count (PostgreSQL only runs it
    when the guard holds). Other adapters have no common way to aggregate rows into one value, so they read
    the values of their low-cardinality text columns with one second, grouped statement (`portable` forces
    that path, for the tests). A table of more than 200 columns takes one statement per 200 columns:
    PostgreSQL refuses a select list of more than 1664 entries.

    Sampling is `limit sample_limit` through dbt's dispatched limit macro, so the first rows the warehouse
    returns, not a random sample: random sampling (TABLESAMPLE, order by random()) is spelled differently on
    every warehouse and ordering reads the whole table, which sampling is there to avoid. `row_count` then
    counts the rows profiled, at most the limit. -#}
{% macro _profile_relation(relation, sample_limit, top_values_limit, portable=false) -%}
  {%- set rows_sql = 'select * from ' ~ cartridge._quoted_relation(relation) -%}
  {%- if sample_limit is not none -%}
    {%- set rows_sql = get_limit_subquery_sql(rows_sql, sample_limit) -%}
  {%- endif -%}
  {%- set columns = relation['columns'] -%}
  {%- set ns = namespace(row_count=0) -%}
  {%- set chunk = 200 -%}
  {%- set portable_top = [] -%}
  {%- for start in range(0, [columns | length, 1] | max, chunk) -%}
    {%- set items = ['count(*)'] -%}
    {%- set slots = [] -%}
    {%- for column in columns[start:start + chunk] -%}
      {%- set slot = cartridge._profile_slot(column, items, top_values_limit, portable) -%}
      {%- do slots.append(slot) -%}
    {%- endfor -%}
    {#- Only the adapters with an inline top-values subquery (PostgreSQL, DuckDB, which both accept these
        keywords) read `profiled` more than once. A limit without an order may return other rows each time it
        runs, so a sample is read once (materialized); a whole table is read again for each low-cardinality
        text column rather than copied aside: PostgreSQL would spill the copy to disk (≈20% slower, 1M rows). -#}
    {%- set materialization = '' -%}
    {%- if slots | selectattr('top', 'defined') | list | length > 0 -%}
      {%- set materialization = 'not materialized ' if sample_limit is none else 'materialized ' -%}
    {%- endif -%}
    {%- set sql -%}
      with profiled as {{ materialization }}(
        {{ rows_sql }}
      )
      select {{ items | join(',\n        ') }}
      from profiled
    {%- endset -%}
    {%- set row = run_query(sql).rows[0] -%}
    {%- set ns.row_count = row[0] | int -%}
    {%- for slot in slots -%}
      {%- set profile = cartridge._column_profile(slot, row, ns.row_count, top_values_limit) -%}
      {%- do slot['column'].update({'profile': profile}) -%}
      {%- if slot['portable_top'] is defined and profile['distinct_count'] <= top_values_limit -%}
        {%- do portable_top.append(slot['column']) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- if portable_top -%}
    {%- do cartridge._top_values_portably(rows_sql, portable_top) -%}
  {%- endif -%}
  {%- do relation.update({'profile': {'row_count': ns.row_count}}) -%}
{%- endmacro %}

{#- Append the aggregates profiling `column` to the select list `items`; return where each one sits. -#}
{% macro _profile_slot(column, items, top_values_limit, portable) -%}
  {%- set kind = cartridge._profile_kind(column['data_type']) -%}
  {%- set quoted = cartridge._quote_identifier(column['name']) -%}
  {%- set slot = {'column': column, 'non_null': items | length} -%}
  {%- do items.append('count(' ~ quoted ~ ')') -%}
  {%- if kind is not none -%}
    {%- do slot.update({'distinct': items | length}) -%}
    {%- do items.append('count(distinct ' ~ quoted ~ ')') -%}
  {%- endif -%}
  {#- Text named like a point in time (`created_at`, `_fivetran_synced`) gets min and max too: when both read
      as ISO timestamps, staging may cast the column. Other text could hold long values, so it gets none. -#}
  {%- set timely = kind == 'text' and modules.re.search('(^|_)(at|on|date|time|timestamp|ts|datetime)$|ed$', column['name'] | lower) -%}
  {%- if kind in ('number', 'temporal') or timely -%}
    {%- do slot.update({'min': items | length, 'max': items | length + 1}) -%}
    {%- do items.extend(['min(' ~ quoted ~ ')', 'max(' ~ quoted ~ ')']) -%}
  {%- endif -%}
  {%- if kind == 'text' and top_values_limit > 0 -%}
    {%- set top_sql = none if portable else cartridge._top_values_sql(quoted, top_values_limit) -%}
    {%- if top_sql is none -%}
      {%- do slot.update({'portable_top': true}) -%}
    {%- else -%}
      {%- do slot.update({'top': items | length}) -%}
      {%- do items.append('case when count(distinct ' ~ quoted ~ ') <= ' ~ top_values_limit
          ~ ' then ' ~ top_sql ~ ' end') -%}
    {%- endif -%}
  {%- endif -%}
  {{ return(slot) }}
{%- endmacro %}

{#- One column's profile from the aggregates `row` holds at the places `slot` names. -#}
{% macro _column_profile(slot, row, row_count, top_values_limit) -%}
  {%- set distinct_count = (row[slot['distinct']] | int) if slot['distinct'] is defined else none -%}
  {%- set top_values = none -%}
  {%- if slot['top'] is defined and distinct_count <= top_values_limit -%}
    {%- set top_values = cartridge._sorted_top_values(fromjson(row[slot['top']] or '[]')) -%}
  {%- endif -%}
  {{ return({
      'null_count': row_count - (row[slot['non_null']] | int),
      'distinct_count': distinct_count,
      'min': cartridge._json_value(row[slot['min']]) if slot['min'] is defined else none,
      'max': cartridge._json_value(row[slot['max']]) if slot['max'] is defined else none,
      'top_values': top_values}) }}
{%- endmacro %}

{#- What a column's type allows profiling to compute: 'number' and 'temporal' (distinct, min, max), 'text'
    (distinct, top values), 'boolean' (distinct), or none (nulls only: json has no equality on PostgreSQL,
    and collections, structs and spatial types compare differently everywhere). Matches the type names of
    PostgreSQL, DuckDB, information_schema and the common warehouses. -#}
{% macro _profile_kind(data_type) -%}
  {%- set type = data_type | lower | trim -%}
  {%- set re = modules.re -%}
  {%- if re.search('[\\]>)]\\s*\\[', type) or type.endswith(']') -%}
    {{ return(none) }}
  {%- elif re.match('(u?(tiny|small|medium|big|huge)?int(eger)?\\d*|numeric|decimal|number|bignumeric|bigdecimal|real|float\\d*|double( precision)?)\\b', type) -%}
    {{ return('number') }}
  {%- elif re.match('(date|datetime\\d?|smalldatetime|datetimeoffset|time|timetz|timestamp|timestamptz)(\\b|_)', type) -%}
    {{ return('temporal') }}
  {%- elif re.match('(character varying|varchar|nvarchar|character|char|nchar|bpchar|text|ntext|string|citext|name|uuid|enum)\\b', type) -%}
    {{ return('text') }}
  {%- elif type in ('boolean', 'bool') -%}
    {{ return('boolean') }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}

{#- A value read from the warehouse as a JSON value: numbers as JSON numbers (whole ones exact, the others
    as floats), non-finite numbers as the strings "NaN", "Infinity", "-Infinity" (JSON has no such number),
    dates and timestamps as ISO 8601 strings, anything else as its text. -#}
{% macro _json_value(value) -%}
  {%- if value is none or value is boolean or value is string -%}
    {{ return(value) }}
  {%- elif value is number -%}
    {%- set text = value | string | lower -%}
    {%- if 'nan' in text -%}
      {{ return('NaN') }}
    {%- elif text in ('inf', 'infinity') -%}
      {{ return('Infinity') }}
    {%- elif text in ('-inf', '-infinity') -%}
      {{ return('-Infinity') }}
    {%- endif -%}
    {#- int() of a Decimal is exact at any size; `value % 1` fails beyond 28 digits. -#}
    {%- set whole = value | int -%}
    {{ return(whole if value == whole else (value | float)) }}
  {%- elif value.isoformat is defined -%}
    {{ return(value.isoformat()) }}
  {%- endif -%}
  {{ return(value | string) }}
{%- endmacro %}
