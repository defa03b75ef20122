{#- Print the relations of some schemas profiled through the package's portable path (top values from a second,
    grouped statement), so the tests can check it against the adapter's own one-statement path. -#}
{% macro profile_schema_portably(schemas, profile_sample=none) -%}
  {%- if execute -%}
    {%- set relations = [] -%}
    {%- for schema in schemas -%}
      {%- do relations.extend(cartridge._gather_schema(schema)) -%}
    {%- endfor -%}
    {%- for relation in relations -%}
      {%- do cartridge._profile_relation(relation, profile_sample, 20, portable=true) -%}
    {%- endfor -%}
    {{ print(tojson(relations)) }}
  {%- endif -%}
{%- endmacro %}
