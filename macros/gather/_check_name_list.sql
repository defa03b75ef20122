{#- Return `value` as a list of non-empty strings, or fail naming the argument. -#}
{% macro _check_name_list(argument, value, required=false) -%}
  {%- if value is none -%}
    {%- if required -%}
      {{ exceptions.raise_compiler_error("cartridge: argument '" ~ argument ~ "' is required (a list of names)") }}
    {%- endif -%}
    {{ return([]) }}
  {%- endif -%}
  {%- if value is string -%}
    {%- set value = [value] -%}
  {%- endif -%}
  {%- if value is mapping or value is not iterable -%}
    {{ exceptions.raise_compiler_error("cartridge: argument '" ~ argument ~ "' must be a list of names, got " ~ tojson(value)) }}
  {%- endif -%}
  {%- for item in value -%}
    {%- if item is not string or item | length == 0 -%}
      {{ exceptions.raise_compiler_error("cartridge: argument '" ~ argument ~ "' must hold non-empty names, got " ~ tojson(item)) }}
    {%- endif -%}
  {%- endfor -%}
  {%- if required and value | length == 0 -%}
    {{ exceptions.raise_compiler_error("cartridge: argument '" ~ argument ~ "' must name at least one schema") }}
  {%- endif -%}
  {{ return(value | list) }}
{%- endmacro %}
