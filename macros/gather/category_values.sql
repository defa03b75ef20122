{#- Print, as one line of JSON, the values of the given columns with their counts, most frequent first:
    `[{"schema", "identifier", "values": {column: [{"value", "count"}, ...]}}, ...]`. One grouped statement
    per relation (cartridge._top_values_portably, so every adapter). The bridge asks it after the profile,
    only for the columns the profile showed to hold few distinct values (a status, a type): generate reads
    those values and no others, so the profile itself reads none. -#}
{% macro category_values(relations) -%}
  {{ return(adapter.dispatch('category_values', 'cartridge')(relations)) }}
{%- endmacro %}

{% macro default__category_values(relations) -%}
  {%- if relations is string or relations is mapping or relations is not iterable -%}
    {{ exceptions.raise_compiler_error(
        "cartridge.category_values: argument 'relations' must be a list of {schema, identifier, columns}, got "
        ~ cartridge._show(relations)) }}
  {%- endif -%}
  {%- set results = [] -%}
  {%- for relation in relations -%}
    {%- if relation is not mapping or relation.get('schema') is not string or relation.get('identifier') is not string
        or relation.get('columns') is string or relation.get('columns') is not iterable -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.category_values: each relation needs schema, identifier and columns, got "
          ~ cartridge._show(relation)) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for name in relation['columns'] -%}
      {%- if name is not string -%}
        {{ exceptions.raise_compiler_error(
            "cartridge.category_values: each column must be a name, got " ~ cartridge._show(name)) }}
      {%- endif -%}
      {%- do columns.append({'name': name, 'profile': {}}) -%}
    {%- endfor -%}
    {%- set values = {} -%}
    {%- if columns and execute -%}
      {%- set target_relation = {'database': relation.get('database'), 'schema': relation['schema'],
          'identifier': relation['identifier']} -%}
      {%- do cartridge._top_values_portably('select * from ' ~ cartridge._quoted_relation(target_relation), columns) -%}
      {%- for column in columns -%}
        {%- do values.update({column['name']: column['profile']['top_values']}) -%}
      {%- endfor -%}
    {%- endif -%}
    {%- do results.append({'schema': relation['schema'], 'identifier': relation['identifier'], 'values': values}) -%}
  {%- endfor -%}
  {%- if execute -%}
    {{ print(tojson(results)) }}
  {%- endif -%}
{%- endmacro %}
