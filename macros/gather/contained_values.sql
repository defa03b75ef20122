{#- Print, as one line of JSON, for each candidate foreign key how many distinct non-null values the column
    holds and how many of them the referenced column holds too:
    `[{"schema", "identifier", "column", "ref_schema", "ref_identifier", "ref_column", "distinct_count",
    "contained_count"}, ...]`. One statement for every edge (a `union all` of one row per edge). The bridge
    asks it for foreign keys that only a role name suggests (`billing_customer_id` → `customer.id`) and
    takes an edge when the parent's key holds (nearly) all of the child's values. The two columns are
    compared as they are, or as text with `as_text: true` (the bridge asks so for a text column named after
    a table whose key is an integer: a cast is only safe when every value is a key). -#}
{% macro contained_values(edges) -%}
  {{ return(adapter.dispatch('contained_values', 'cartridge')(edges)) }}
{%- endmacro %}

{% macro default__contained_values(edges) -%}
  {%- if edges is string or edges is mapping or edges is not iterable -%}
    {{ exceptions.raise_compiler_error(
        "cartridge.contained_values: argument 'edges' must be a list of {schema, identifier, column, "
        ~ "ref_identifier, ref_column}, got " ~ cartridge._show(edges)) }}
  {%- endif -%}
  {%- set selects = [] -%}
  {%- set results = [] -%}
  {%- for edge in edges -%}
    {%- if edge is not mapping -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.contained_values: each edge needs schema, identifier, column, ref_identifier and "
          ~ "ref_column, got " ~ cartridge._show(edge)) }}
    {%- endif -%}
    {%- for required in ['schema', 'identifier', 'column', 'ref_identifier', 'ref_column'] -%}
      {%- if edge.get(required) is not string -%}
        {{ exceptions.raise_compiler_error(
            "cartridge.contained_values: each edge needs a string '" ~ required ~ "', got "
            ~ cartridge._show(edge)) }}
      {%- endif -%}
    {%- endfor -%}
    {%- set child = {'database': edge.get('database'), 'schema': edge['schema'],
        'identifier': edge['identifier']} -%}
    {%- set parent = {'database': edge.get('ref_database', edge.get('database')),
        'schema': edge.get('ref_schema') or edge['schema'], 'identifier': edge['ref_identifier']} -%}
    {%- if edge.get('as_text') is not none and edge.get('as_text') is not boolean -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.contained_values: 'as_text' must be true or false, got " ~ cartridge._show(edge)) }}
    {%- endif -%}
    {%- set column = cartridge._quote_identifier(edge['column']) -%}
    {%- set ref_column = cartridge._quote_identifier(edge['ref_column']) -%}
    {%- if edge.get('as_text') -%}
      {#- Columns of two type families (text holding integers' digits): compared as text, which never fails. -#}
      {%- set column = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
      {%- set ref_column = 'cast(' ~ ref_column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    {%- endif -%}
    {%- do selects.append(
        'select ' ~ loop.index0 ~ ' as edge_index, count(*) as distinct_count, '
        ~ 'count(parent_values.value) as contained_count\nfrom (select distinct ' ~ column ~ ' as value from '
        ~ cartridge._quoted_relation(child) ~ ' where ' ~ column ~ ' is not null) as child_values\n'
        ~ 'left join (select distinct ' ~ ref_column ~ ' as value from ' ~ cartridge._quoted_relation(parent)
        ~ ') as parent_values on child_values.value = parent_values.value') -%}
    {%- do results.append({'schema': edge['schema'], 'identifier': edge['identifier'], 'column': edge['column'],
        'ref_schema': parent['schema'], 'ref_identifier': edge['ref_identifier'],
        'ref_column': edge['ref_column'], 'distinct_count': 0, 'contained_count': 0}) -%}
  {%- endfor -%}
  {%- if selects and execute -%}
    {%- for row in run_query(selects | join('\nunion all\n')).rows -%}
      {%- do results[row[0] | int].update({'distinct_count': row[1] | int, 'contained_count': row[2] | int}) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if execute -%}
    {{ print(tojson(results)) }}
  {%- endif -%}
{%- endmacro %}
