{#- Print what the package's portable catalog path (dbt's own get_catalog) finds in one schema for the graph,
    so the tests can check it against the adapter's own catalog path. -#}
{% macro catalog_schema_portably(schema) -%}
  {%- if execute -%}
    {{ print(tojson(cartridge.default___catalog_relations(target.database, schema))) }}
  {%- endif -%}
{%- endmacro %}
