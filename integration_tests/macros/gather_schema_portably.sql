{#- Print what the package's portable (information_schema) path finds in one schema, so the tests can
    check it against the adapter's own catalog path on adapters that have one. -#}
{% macro gather_schema_portably(schema) -%}
  {%- if execute -%}
    {{ print(tojson(cartridge.default___gather_schema(schema))) }}
  {%- endif -%}
{%- endmacro %}
