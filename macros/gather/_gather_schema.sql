{#- The relations of one schema with their columns and keys, from a fixed number of queries per schema. -#}
{% macro _gather_schema(schema) -%}
  {{ return(adapter.dispatch('_gather_schema', 'cartridge')(schema)) }}
{%- endmacro %}

{#- Portable version: information_schema, which has no comments and no key columns everywhere. -#}
{% macro default___gather_schema(schema) -%}
  {%- set literal = cartridge._string_literal(schema) -%}
  {%- set database = cartridge._string_literal(target.database) -%}
  {%- set relations_sql -%}
    select table_name, table_type
    from information_schema.tables
    where table_schema = {{ literal }} and table_catalog = {{ database }}
    order by table_name
  {%- endset -%}
  {%- set columns_sql -%}
    select table_name, column_name, data_type, ordinal_position, is_nullable
    from information_schema.columns
    where table_schema = {{ literal }} and table_catalog = {{ database }}
    order by table_name, ordinal_position
  {%- endset -%}
  {%- set relation_rows = run_query(relations_sql).rows -%}
  {%- if relation_rows | length == 0 -%}
    {%- do cartridge._require_schema(schema) -%}
  {%- endif -%}
  {%- set by_name = {} -%}
  {%- set relations = [] -%}
  {%- for row in relation_rows -%}
    {%- set relation = cartridge._new_relation(schema, row[0], 'view' if 'VIEW' in (row[1] | upper) else 'table', none) -%}
    {%- do by_name.update({row[0]: relation}) -%}
    {%- do relations.append(relation) -%}
  {%- endfor -%}
  {%- for row in run_query(columns_sql).rows if row[0] in by_name -%}
    {%- do by_name[row[0]]['columns'].append({
        'name': row[1], 'data_type': row[2], 'position': row[3] | int,
        'nullable': (row[4] | string | upper) in ('YES', 'TRUE'), 'comment': none}) -%}
  {%- endfor -%}
  {{ return(relations) }}
{%- endmacro %}

{#- PostgreSQL: pg_catalog gives exact types (with precision), comments, and declared primary and foreign keys. -#}
{% macro postgres___gather_schema(schema) -%}
  {%- set literal = cartridge._string_literal(schema) -%}
  {%- set relations_sql -%}
    select c.relname,
           case c.relkind when 'v' then 'view' when 'm' then 'materialized_view' else 'table' end,
           obj_description(c.oid, 'pg_class')
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = {{ literal }} and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and not c.relispartition
    order by c.relname
  {%- endset -%}
  {%- set columns_sql -%}
    select c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
           row_number() over (partition by c.oid order by a.attnum),
           not a.attnotnull, col_description(c.oid, a.attnum)
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = {{ literal }} and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and a.attnum > 0 and not a.attisdropped
    order by c.relname, a.attnum
  {%- endset -%}
  {%- set keys_sql -%}
    select c.relname, k.contype,
           (select array_to_json(array_agg(a.attname order by u.ord))::text
              from unnest(k.conkey) with ordinality u(attnum, ord)
              join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum),
           rn.nspname, rc.relname,
           (select array_to_json(array_agg(a.attname order by u.ord))::text
              from unnest(k.confkey) with ordinality u(attnum, ord)
              join pg_catalog.pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum)
    from pg_catalog.pg_constraint k
    join pg_catalog.pg_class c on c.oid = k.conrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join pg_catalog.pg_class rc on rc.oid = k.confrelid
    left join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
    where n.nspname = {{ literal }} and k.contype in ('p', 'f')
    order by c.relname, k.conname
  {%- endset -%}
  {%- set relation_rows = run_query(relations_sql).rows -%}
  {%- if relation_rows | length == 0 -%}
    {%- do cartridge._require_schema(schema) -%}
    {{ return([]) }}
  {%- endif -%}
  {%- set by_name = {} -%}
  {%- set relations = [] -%}
  {%- for row in relation_rows -%}
    {%- set relation = cartridge._new_relation(schema, row[0], row[1], row[2]) -%}
    {%- do by_name.update({row[0]: relation}) -%}
    {%- do relations.append(relation) -%}
  {%- endfor -%}
  {%- for row in run_query(columns_sql).rows -%}
    {%- do by_name[row[0]]['columns'].append({
        'name': row[1], 'data_type': row[2], 'position': row[3] | int,
        'nullable': row[4], 'comment': row[5]}) -%}
  {%- endfor -%}
  {%- for row in run_query(keys_sql).rows if row[0] in by_name -%}
    {%- if row[1] == 'p' -%}
      {%- do by_name[row[0]].update({'primary_key': fromjson(row[2])}) -%}
    {%- else -%}
      {%- do by_name[row[0]]['foreign_keys'].append({
          'columns': fromjson(row[2]), 'ref_schema': row[3], 'ref_identifier': row[4],
          'ref_columns': fromjson(row[5])}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(relations) }}
{%- endmacro %}
