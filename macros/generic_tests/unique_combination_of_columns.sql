{#- A grain of several columns is unique: no combination of their values appears twice.
    Same name and argument as dbt_utils' test, so a project can switch prefixes without other edits. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'cartridge')(model, combination_of_columns)) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, combination_of_columns) %}
    {%- if combination_of_columns is string or combination_of_columns | length < 1 -%}
        {{ exceptions.raise_compiler_error("cartridge.unique_combination_of_columns: combination_of_columns must be a list of column names, got " ~ combination_of_columns) }}
    {%- endif -%}
    {%- set columns = combination_of_columns | join(', ') %}
select {{ columns }}, count(*) as cartridge_duplicates
from {{ model }}
group by {{ columns }}
having count(*) > 1
{% endmacro %}
