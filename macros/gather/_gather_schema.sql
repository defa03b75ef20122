{#- The relations of one schema with their columns and keys, from a fixed number of queries per schema.
    Schema and database names enter the SQL only as escaped string literals, never as identifiers. -#}
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
  {%- set relation_rows = [] -%}
  {%- for row in run_query(relations_sql).rows -%}
    {%- set table_type = row[1] | string | upper -%}
    {%- set relation_type = 'materialized_view' if 'MATERIALIZED' in table_type
        else ('view' if 'VIEW' in table_type else 'table') -%}
    {%- do relation_rows.append([row[0], relation_type, none]) -%}
  {%- endfor -%}
  {%- if relation_rows | length == 0 -%}
    {%- do cartridge._require_schema(schema) -%}
    {{ return([]) }}
  {%- endif -%}
  {%- set column_rows = [] -%}
  {%- for row in run_query(columns_sql).rows -%}
    {%- do column_rows.append([row[0], row[1], row[2], row[3], row[4], none]) -%}
  {%- endfor -%}
  {{ return(cartridge._assemble_relations(schema, relation_rows, column_rows, [])) }}
{%- endmacro %}

{#- PostgreSQL: pg_catalog gives exact types (with precision), comments, and declared primary and foreign keys. -#}
{% macro postgres___gather_schema(schema) -%}
  {%- set literal = cartridge._string_literal(schema) -%}
  {#- Partitions are reported through their parent only. -#}
  {%- set relations_filter -%}
    n.nspname = {{ literal }} and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
  {%- endset -%}
  {%- set relations_sql -%}
    select c.relname,
           case c.relkind when 'v' then 'view' when 'm' then 'materialized_view' else 'table' end,
           obj_description(c.oid, 'pg_class')
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where {{ relations_filter }}
    order by c.relname
  {%- endset -%}
  {%- set columns_sql -%}
    select c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
           row_number() over (partition by c.oid order by a.attnum),
           not a.attnotnull, col_description(c.oid, a.attnum)
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where {{ relations_filter }} and a.attnum > 0 and not a.attisdropped
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
    where {{ relations_filter }} and k.contype in ('p', 'f')
    order by c.relname, k.conname
  {%- endset -%}
  {{ return(cartridge._gather_from_catalog(schema, relations_sql, columns_sql, keys_sql)) }}
{%- endmacro %}

{#- DuckDB: information_schema works there, but the duckdb_* catalog functions add table, view and column
    comments and the declared primary and foreign keys. DuckDB only allows a foreign key to a table of the
    same schema, so that schema is the reference's schema. -#}
{% macro duckdb___gather_schema(schema) -%}
  {%- set relations_filter -%}
    database_name = {{ cartridge._string_literal(target.database) }}
    and schema_name = {{ cartridge._string_literal(schema) }}
  {%- endset -%}
  {%- set relations_sql -%}
    select table_name, 'table', comment from duckdb_tables()
    where {{ relations_filter }} and not internal and not temporary
    union all
    select view_name, 'view', comment from duckdb_views()
    where {{ relations_filter }} and not internal and not temporary
    order by 1
  {%- endset -%}
  {%- set columns_sql -%}
    select table_name, column_name, data_type, column_index, is_nullable, comment
    from duckdb_columns()
    where {{ relations_filter }} and not internal
    order by table_name, column_index
  {%- endset -%}
  {%- set keys_sql -%}
    select table_name,
           case constraint_type when 'PRIMARY KEY' then 'p' else 'f' end,
           to_json(constraint_column_names)::varchar,
           schema_name, referenced_table,
           to_json(referenced_column_names)::varchar
    from duckdb_constraints()
    where {{ relations_filter }} and constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')
    order by table_name, constraint_index
  {%- endset -%}
  {{ return(cartridge._gather_from_catalog(schema, relations_sql, columns_sql, keys_sql)) }}
{%- endmacro %}

{#- Spark: no information_schema (see _describe_relations). Columns are reported nullable: describe does not say,
    and Spark tables rarely declare NOT NULL. Spark declares no enforced keys. The schema is reported as Spark
    keeps it (in lower case), whatever case the argument used. -#}
{% macro spark___gather_schema(schema) -%}
  {%- set described = cartridge._describe_relations(schema) -%}
  {%- if described is none -%}
    {{ exceptions.raise_compiler_error(
        "cartridge.gather: argument 'schemas': schema " ~ cartridge._show(schema)
        ~ " does not exist in the Spark catalog (database names are matched up to case)") }}
  {%- endif -%}
  {%- set relation_rows = [] -%}
  {%- set column_rows = [] -%}
  {%- for relation in described['relations'] -%}
    {%- do relation_rows.append([relation['identifier'], relation['type'], relation['comment']]) -%}
    {%- for column in relation['columns'] -%}
      {%- do column_rows.append([
          relation['identifier'], column['name'], column['data_type'], loop.index, true, column['comment']]) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(cartridge._assemble_relations(described['database'], relation_rows, column_rows, [])) }}
{%- endmacro %}
