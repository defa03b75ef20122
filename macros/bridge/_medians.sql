{#- For the cartridge bridge only (not a public macro): per {database, schema, identifier, column}, how many rows
    hold a number other than zero (`n`) and the median of their absolute values, as one line of JSON. The
    bridge's magnitude check compares a new measure with the existing ones of its grain on these: nulls and
    zeros say nothing of a unit, and signs differ between a payment and a refund. -#}
{% macro _medians(columns) %}
    {{ return(adapter.dispatch('_medians', 'cartridge')(columns)) }}
{% endmacro %}

{% macro default___medians(columns) %}
    {%- if columns is string or columns is mapping or columns is not iterable -%}
        {{ exceptions.raise_compiler_error("cartridge._medians: `columns` must be a list of {database, schema, identifier, column}") }}
    {%- endif -%}
    {%- set found = [] -%}
    {%- for wanted in columns -%}
        {%- set relation = adapter.get_relation(
            database=wanted.get('database') or target.database,
            schema=wanted['schema'],
            identifier=wanted['identifier']) -%}
        {%- if relation is not none and execute -%}
            {%- set column = adapter.quote(wanted['column']) -%}
            {%- set query -%}
                select count(*) as n, {{ cartridge._median_of('abs(' ~ column ~ ')') }} as median
                from {{ relation }}
                where {{ column }} is not null and {{ column }} <> 0
            {%- endset -%}
            {%- set row = run_query(query).rows[0] -%}
            {%- do found.append({'schema': wanted['schema'], 'identifier': wanted['identifier'],
                                 'column': wanted['column'], 'n': row[0] | int,
                                 'median': none if row[1] is none else row[1] | float}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if execute -%}
        {{ print(tojson({'medians': found})) }}
    {%- endif -%}
{% endmacro %}

{% macro _median_of(expression) %}
    {{ return(adapter.dispatch('_median_of', 'cartridge')(expression)) }}
{% endmacro %}

{% macro default___median_of(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro bigquery___median_of(expression) -%}
    approx_quantiles({{ expression }}, 2)[offset(1)]
{%- endmacro %}
