{#- Return `value` when it is a boolean, or fail naming the argument and the value. -#}
{% macro _check_bool(macro_name, argument, value) -%}
  {%- if value is not boolean -%}
    {{ exceptions.raise_compiler_error(
        "cartridge." ~ macro_name ~ ": argument '" ~ argument ~ "' must be true or false, got "
        ~ cartridge._show(value)) }}
  {%- endif -%}
  {{ return(value) }}
{%- endmacro %}

{#- Return `value` when it is none or a whole number of at least `minimum`, or fail naming the argument
    and the value. Booleans are refused although Python counts them as integers. -#}
{% macro _check_count(macro_name, argument, value, minimum) -%}
  {%- if value is none or value is undefined -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if value is boolean or value is not integer or value < minimum -%}
    {{ exceptions.raise_compiler_error(
        "cartridge." ~ macro_name ~ ": argument '" ~ argument ~ "' must be a whole number of at least "
        ~ minimum ~ ", got " ~ cartridge._show(value)) }}
  {%- endif -%}
  {{ return(value) }}
{%- endmacro %}
