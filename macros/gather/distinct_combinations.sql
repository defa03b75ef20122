{#- Print, as one line of JSON, how many distinct combinations of the given columns each relation holds:
    `[{"schema", "identifier", "counts": [[columns, count], ...]}, ...]`. One statement per relation, a
    scalar subquery per combination over `select distinct` (portable, unlike `count(distinct (a, b))`). The
    bridge asks it for the composite keys it considers; a count equal to the row count (and no nulls) makes
    the combination unique on the data. -#}
{% macro distinct_combinations(relations) -%}
  {{ return(adapter.dispatch('distinct_combinations', 'cartridge')(relations)) }}
{%- endmacro %}

{% macro default__distinct_combinations(relations) -%}
  {%- if relations is string or relations is mapping or relations is not iterable -%}
    {{ exceptions.raise_compiler_error(
        "cartridge.distinct_combinations: argument 'relations' must be a list of {schema, identifier, "
        ~ "combinations}, got " ~ cartridge._show(relations)) }}
  {%- endif -%}
  {%- set results = [] -%}
  {%- for relation in relations -%}
    {%- if relation is not mapping or relation.get('identifier') is none or relation.get('schema') is none
        or relation.get('combinations') is none -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.distinct_combinations: each relation needs schema, identifier and combinations, got "
          ~ cartridge._show(relation)) }}
    {%- endif -%}
    {%- set target_relation = {'database': relation.get('database'), 'schema': relation['schema'],
        'identifier': relation['identifier']} -%}
    {%- set items = [] -%}
    {%- for combination in relation['combinations'] -%}
      {%- set quoted = [] -%}
      {%- for column in combination -%}
        {%- do quoted.append(cartridge._quote_identifier(column)) -%}
      {%- endfor -%}
      {%- do items.append('(select count(*) from (select distinct ' ~ quoted | join(', ') ~ ' from '
          ~ cartridge._quoted_relation(target_relation) ~ ') as combination_' ~ loop.index ~ ')') -%}
    {%- endfor -%}
    {%- set counts = [] -%}
    {%- if items and execute -%}
      {%- set row = run_query('select ' ~ items | join(',\n  ')).rows[0] -%}
      {%- for combination in relation['combinations'] -%}
        {%- do counts.append([combination, row[loop.index0] | int]) -%}
      {%- endfor -%}
    {%- endif -%}
    {%- do results.append({'schema': relation['schema'], 'identifier': relation['identifier'],
        'counts': counts}) -%}
  {%- endfor -%}
  {%- if execute -%}
    {{ print(tojson(results)) }}
  {%- endif -%}
{%- endmacro %}
