{#- Return `value` as a list of non-empty names (a lone name counts as a list of one), or fail naming the argument and the value. -#}
{% macro _check_name_list(macro_name, argument, value, required=false) -%}
  {%- set where = "cartridge." ~ macro_name ~ ": argument '" ~ argument ~ "'" -%}
  {%- if value is none or value is undefined -%}
    {%- if required -%}
      {{ exceptions.raise_compiler_error(where ~ " is required (a list of names)") }}
    {%- endif -%}
    {{ return([]) }}
  {%- endif -%}
  {%- if value is string -%}
    {%- set value = [value] -%}
  {%- endif -%}
  {%- if value is mapping or value is not iterable -%}
    {{ exceptions.raise_compiler_error(where ~ " must be a list of names, got " ~ cartridge._show(value)) }}
  {%- endif -%}
  {%- for item in value -%}
    {%- if item is not string or item | length == 0 -%}
      {{ exceptions.raise_compiler_error(
          where ~ " must be a list of non-empty names, got " ~ cartridge._show(value)
          ~ " (" ~ cartridge._show(item) ~ " is not a name)") }}
    {%- endif -%}
  {%- endfor -%}
  {%- if required and value | length == 0 -%}
    {{ exceptions.raise_compiler_error(where ~ " must name at least one schema, got []") }}
  {%- endif -%}
  {{ return(value | list) }}
{%- endmacro %}

{#- `value` as JSON for an error message; values JSON cannot hold (a YAML date) as their text. -#}
{% macro _show(value) -%}
  {%- if value is none or value is boolean or value is number or value is string -%}
    {{ return(tojson(value)) }}
  {%- elif value is mapping -%}
    {%- set items = [] -%}
    {%- for key, item in value.items() -%}
      {%- do items.append(tojson(key | string) ~ ": " ~ cartridge._show(item)) -%}
    {%- endfor -%}
    {{ return("{" ~ items | join(", ") ~ "}") }}
  {%- elif value is iterable -%}
    {%- set items = [] -%}
    {%- for item in value -%}
      {%- do items.append(cartridge._show(item)) -%}
    {%- endfor -%}
    {{ return("[" ~ items | join(", ") ~ "]") }}
  {%- endif -%}
  {{ return(tojson(value | string)) }}
{%- endmacro %}
