{#- Every row satisfies a boolean expression over the model's columns (rows where it is null pass).
    Same name and argument as dbt_utils' test. -#}
{% test expression_is_true(model, expression) %}
    {{ return(adapter.dispatch('test_expression_is_true', 'cartridge')(model, expression)) }}
{% endtest %}

{% macro default__test_expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endmacro %}
