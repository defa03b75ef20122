{#-
    One row per day, week (from Monday) or month between two dates: `period_start` (a date, the period's first
    day), `period_end` (the next period's first day) and `period_last_day` (the period's own last day, the
    date a month-end balance is reported at). The first row is the period holding `start_date`, the
    last the period holding `end_date`, both included; null bounds give no row. `start_date` and `end_date` are
    SQL expressions (a date, a timestamp, a scalar subquery), written into the query as they are.
-#}
{% macro period_spine(period, start_date, end_date) %}
    {%- if period not in ("day", "week", "month") -%}
        {{ exceptions.raise_compiler_error("cartridge.period_spine: period must be day, week or month, not " ~ period) }}
    {%- endif -%}
    {{ return(adapter.dispatch("period_spine", "cartridge")(period, start_date, end_date)) }}
{% endmacro %}

{#- PostgreSQL: generate_series over timestamps, in the select list so that its bounds may be subqueries. -#}
{% macro default__period_spine(period, start_date, end_date) %}
select
    cast(period_start as date) as period_start,
    cast(period_start + interval '1 {{ period }}' as date) as period_end,
    cast(period_start + interval '1 {{ period }}' - interval '1 day' as date) as period_last_day
from (
    select generate_series(
        date_trunc('{{ period }}', cast({{ start_date }} as timestamp)),
        date_trunc('{{ period }}', cast({{ end_date }} as timestamp)),
        interval '1 {{ period }}'
    ) as period_start
) as series
{% endmacro %}

{#- DuckDB: generate_series gives a list there; unnest makes it rows. -#}
{% macro duckdb__period_spine(period, start_date, end_date) %}
select
    cast(period_start as date) as period_start,
    cast(period_start + interval 1 {{ period }} as date) as period_end,
    cast(period_start + interval 1 {{ period }} - interval 1 day as date) as period_last_day
from (
    select unnest(generate_series(
        date_trunc('{{ period }}', cast({{ start_date }} as timestamp)),
        date_trunc('{{ period }}', cast({{ end_date }} as timestamp)),
        interval 1 {{ period }}
    )) as period_start
) as series
{% endmacro %}

{#- Spark: sequence over dates, exploded; a month is added with add_months (an interval of a month is not a day count). -#}
{% macro spark__period_spine(period, start_date, end_date) %}
{%- set step = "interval 1 month" if period == "month" else ("interval 7 days" if period == "week" else "interval 1 day") -%}
select
    period_start,
    {% if period == "month" %}add_months(period_start, 1){% else %}date_add(period_start, {{ 7 if period == "week" else 1 }}){% endif %} as period_end,
    {% if period == "month" %}date_sub(add_months(period_start, 1), 1){% else %}date_add(period_start, {{ 6 if period == "week" else 0 }}){% endif %} as period_last_day
from (
    select explode(sequence(
        cast(date_trunc('{{ period }}', cast({{ start_date }} as timestamp)) as date),
        cast(date_trunc('{{ period }}', cast({{ end_date }} as timestamp)) as date),
        {{ step }}
    )) as period_start
) as series
{% endmacro %}
