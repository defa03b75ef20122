{#- The relations of one schema as gather entries, from rows every adapter version shapes alike:
    relation_rows (identifier, type, comment);
    column_rows (identifier, name, data_type, position, nullable, comment);
    key_rows (identifier, 'p' or 'f', columns as JSON, ref_schema, ref_identifier, ref_columns as JSON).
    An empty comment becomes null: DuckDB keeps '' where PostgreSQL drops the comment. An empty target database
    (Spark has none) becomes null too. -#}
{% macro _assemble_relations(schema, relation_rows, column_rows, key_rows) -%}
  {%- set by_name = {} -%}
  {%- set relations = [] -%}
  {%- for row in relation_rows -%}
    {%- set relation = {
        'database': target.database or none, 'schema': schema, 'identifier': row[0],
        'type': row[1], 'comment': row[2] or none, 'columns': [],
        'primary_key': [], 'foreign_keys': []} -%}
    {%- do by_name.update({row[0]: relation}) -%}
    {%- do relations.append(relation) -%}
  {%- endfor -%}
  {%- for row in column_rows if row[0] in by_name -%}
    {%- do by_name[row[0]]['columns'].append({
        'name': row[1], 'data_type': row[2], 'position': row[3] | int,
        'nullable': cartridge._as_bool(row[4]), 'comment': row[5] or none}) -%}
  {%- endfor -%}
  {%- for row in key_rows if row[0] in by_name -%}
    {%- if row[1] == 'p' -%}
      {%- do by_name[row[0]].update({'primary_key': fromjson(row[2])}) -%}
    {%- else -%}
      {%- do by_name[row[0]]['foreign_keys'].append({
          'columns': fromjson(row[2]), 'ref_schema': row[3], 'ref_identifier': row[4],
          'ref_columns': fromjson(row[5])}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(relations) }}
{%- endmacro %}

{#- A catalog's yes/no as a boolean: information_schema spells it 'YES'/'NO', catalogs with booleans use them. -#}
{% macro _as_bool(value) -%}
  {%- if value is boolean -%}
    {{ return(value) }}
  {%- endif -%}
  {{ return((value | string | upper) in ('YES', 'TRUE', 'Y', '1')) }}
{%- endmacro %}

{#- `value` as a single-quoted SQL string literal, escaped as the adapter reads one. -#}
{% macro _string_literal(value) -%}
  {{ return(adapter.dispatch('_string_literal', 'cartridge')(value)) }}
{%- endmacro %}

{% macro default___string_literal(value) -%}
  {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{#- Spark (Databricks too, through dispatch), BigQuery and Snowflake read a backslash in a literal as an escape,
    so a doubled quote after one would end the literal; Spark even reads 'a''b' as two adjacent literals. -#}
{% macro spark___string_literal(value) -%}
  {{ return("'" ~ (value | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") }}
{%- endmacro %}

{% macro bigquery___string_literal(value) -%}
  {{ return(cartridge.spark___string_literal(value)) }}
{%- endmacro %}

{% macro snowflake___string_literal(value) -%}
  {{ return(cartridge.spark___string_literal(value)) }}
{%- endmacro %}

{#- Fail with a compiler error when `schema` does not exist in the target database. -#}
{% macro _require_schema(schema) -%}
  {%- set sql -%}
    select count(*) from information_schema.schemata
    where schema_name = {{ cartridge._string_literal(schema) }}
      and catalog_name = {{ cartridge._string_literal(target.database) }}
  {%- endset -%}
  {%- if (run_query(sql).rows[0][0] | int) == 0 -%}
    {{ exceptions.raise_compiler_error(
        "cartridge.gather: argument 'schemas': schema " ~ cartridge._show(schema)
        ~ " does not exist in database " ~ cartridge._show(target.database)
        ~ " (schema names are matched exactly, case included)") }}
  {%- endif -%}
{%- endmacro %}

{#- `name` as a quoted identifier. It goes through adapter.quote, which wraps it in the adapter's quote mark but
    does not escape that mark inside the name; doubling it first is how ANSI (and backtick) dialects escape it. -#}
{% macro _quote_identifier(name) -%}
  {%- set mark = adapter.quote('')[0] -%}
  {{ return(adapter.quote(name | replace(mark, mark ~ mark))) }}
{%- endmacro %}

{#- A gathered relation as a fully quoted name: database (when the adapter has one: Spark's is empty), schema,
    identifier. -#}
{% macro _quoted_relation(relation) -%}
  {%- set parts = [] -%}
  {%- for part in [relation['database'], relation['schema'], relation['identifier']] if part -%}
    {%- do parts.append(cartridge._quote_identifier(part)) -%}
  {%- endfor -%}
  {{ return(parts | join('.')) }}
{%- endmacro %}

{#- Run a schema's relation, column and key queries and assemble their rows; a schema with no
    relation must exist (else a compiler error names it) and gives an empty list. -#}
{% macro _gather_from_catalog(schema, relations_sql, columns_sql, keys_sql) -%}
  {%- set relation_rows = run_query(relations_sql).rows -%}
  {%- if relation_rows | length == 0 -%}
    {%- do cartridge._require_schema(schema) -%}
    {{ return([]) }}
  {%- endif -%}
  {{ return(cartridge._assemble_relations(
      schema, relation_rows, run_query(columns_sql).rows, run_query(keys_sql).rows)) }}
{%- endmacro %}
