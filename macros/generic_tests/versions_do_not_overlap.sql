{#- The versions of one entity in a type-2 model do not overlap: none starts before an earlier one of the same
    entity has ended (a null end has not ended), and no two start at the same time. Each failing row is a pair. -#}
{% test versions_do_not_overlap(model, entity_key, valid_from, valid_to) %}
    {{ return(adapter.dispatch('test_versions_do_not_overlap', 'cartridge')(model, entity_key, valid_from, valid_to)) }}
{% endtest %}

{% macro default__test_versions_do_not_overlap(model, entity_key, valid_from, valid_to) %}
    {%- if entity_key is string or entity_key | length < 1 -%}
        {{ exceptions.raise_compiler_error("cartridge.versions_do_not_overlap: entity_key must be a list of column names, got " ~ entity_key) }}
    {%- endif %}
select
    {% for column in entity_key %}earlier.{{ column }}, {% endfor %}
    earlier.{{ valid_from }} as first_start,
    later.{{ valid_from }} as second_start
from {{ model }} as earlier
inner join {{ model }} as later
    on {% for column in entity_key %}earlier.{{ column }} = later.{{ column }} and {% endfor %}earlier.{{ valid_from }} < later.{{ valid_from }}
where earlier.{{ valid_to }} is null or later.{{ valid_from }} < earlier.{{ valid_to }}

union all

select
    {% for column in entity_key %}{{ column }}, {% endfor %}
    {{ valid_from }} as first_start,
    {{ valid_from }} as second_start
from {{ model }}
group by {% for column in entity_key %}{{ column }}, {% endfor %}{{ valid_from }}
having count(*) > 1
{% endmacro %}
