{#- A relation entry of the gather document, before its columns are added. -#}
{% macro _new_relation(schema, identifier, relation_type, comment) -%}
  {{ return({
      'database': target.database, 'schema': schema, 'identifier': identifier,
      'type': relation_type, 'comment': comment, 'columns': [],
      'primary_key': [], 'foreign_keys': []}) }}
{%- endmacro %}

{#- `value` as a single-quoted SQL string literal. -#}
{% macro _string_literal(value) -%}
  {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{#- Fail with a compiler error when `schema` does not exist in the target database. -#}
{% macro _require_schema(schema) -%}
  {%- set sql -%}
    select count(*) from information_schema.schemata where schema_name = {{ cartridge._string_literal(schema) }}
  {%- endset -%}
  {%- if (run_query(sql).rows[0][0] | int) == 0 -%}
    {{ exceptions.raise_compiler_error("cartridge.gather: schemas: schema '" ~ schema ~ "' does not exist in database '" ~ target.database ~ "'") }}
  {%- endif -%}
{%- endmacro %}
