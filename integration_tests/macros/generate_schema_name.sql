{#- Land every node in exactly the schema it names (`raw_it`, not `<target schema>_raw_it`),
    so the expected documents do not depend on the profile. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
