{#- The root project's models, seeds, snapshots and sources (ephemeral models have no relation), sorted by
    unique_id, each with the relation the warehouse holds for it: `exists`, its type and real columns, or
    `exists: false`, type null and no columns when it is not built. One catalog query per distinct schema. -#}
{% macro _gather_graph() -%}
  {%- set nodes = [] -%}
  {%- set quoting_of = {} -%}
  {%- for node in graph.nodes.values()
      if node.package_name == project_name and node.resource_type in ('model', 'seed', 'snapshot')
      and node.config.materialized != 'ephemeral' -%}
    {%- do nodes.append({
        'unique_id': node.unique_id, 'resource_type': node.resource_type, 'name': node.name,
        'source_name': none, 'database': node.database, 'schema': node.schema, 'identifier': node.alias}) -%}
  {%- endfor -%}
  {%- for source in graph.sources.values() if source.package_name == project_name -%}
    {%- do nodes.append({
        'unique_id': source.unique_id, 'resource_type': 'source', 'name': source.name,
        'source_name': source.source_name, 'database': source.database, 'schema': source.schema,
        'identifier': source.identifier}) -%}
    {%- do quoting_of.update({source.unique_id: source.quoting or {}}) -%}
  {%- endfor -%}
  {%- set catalogs = {} -%}
  {%- for node in nodes -%}
    {%- set key = tojson([node['database'], node['schema']]) -%}
    {%- if key not in catalogs -%}
      {%- do catalogs.update({key: cartridge._catalog_relations(node['database'], node['schema'])}) -%}
    {%- endif -%}
    {%- set relation = cartridge._match_relation(
        catalogs[key], node['schema'], node['identifier'], quoting_of.get(node['unique_id'], {})) -%}
    {%- do node.update({
        'exists': relation is not none,
        'type': relation['type'] if relation is not none else none,
        'columns': relation['columns'] if relation is not none else []}) -%}
  {%- endfor -%}
  {{ return({'project_name': project_name, 'nodes': nodes | sort(attribute='unique_id', case_sensitive=true)}) }}
{%- endmacro %}

{#- The catalog relation dbt means by schema and identifier: the one spelled exactly so, or else the only one
    spelled so up to case in the parts the warehouse resolves case-insensitively (see _folds_case). None when
    not found. `quoting` is a source's own quoting config (empty for other nodes). -#}
{% macro _match_relation(relations, schema, identifier, quoting) -%}
  {%- set fold_schema = cartridge._folds_case(schema, 'schema', quoting.get('schema')) -%}
  {%- set fold_identifier = cartridge._folds_case(identifier, 'identifier', quoting.get('identifier')) -%}
  {%- set folded = [] -%}
  {%- for relation in relations -%}
    {%- if relation['schema'] == schema and relation['identifier'] == identifier -%}
      {{ return(relation) }}
    {%- elif (relation['schema'] == schema or fold_schema and relation['schema'] | lower == schema | lower)
        and (relation['identifier'] == identifier
             or fold_identifier and relation['identifier'] | lower == identifier | lower) -%}
      {%- do folded.append(relation) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(folded[0] if folded | length == 1 else none) }}
{%- endmacro %}

{#- Whether the warehouse may hold `name` (a schema or identifier) spelled in another case: when dbt does not quote
    it (the source's `quoting`, else the project's), the warehouse folds it (PostgreSQL to lower case, Snowflake
    to upper case). -#}
{% macro _folds_case(name, part, quoted) -%}
  {{ return(adapter.dispatch('_folds_case', 'cartridge')(name, part, quoted)) }}
{%- endmacro %}

{% macro default___folds_case(name, part, quoted) -%}
  {%- if quoted is not none -%}
    {{ return(not quoted) }}
  {%- endif -%}
  {{ return(adapter.quote_as_configured(name, part) == name) }}
{%- endmacro %}

{#- DuckDB resolves every name case-insensitively, quoted or not. -#}
{% macro duckdb___folds_case(name, part, quoted) -%}
  {{ return(true) }}
{%- endmacro %}

{#- Spark resolves database, table and column names case-insensitively (spark.sql.caseSensitive is off by
    default) and stores database and table names in lower case. -#}
{% macro spark___folds_case(name, part, quoted) -%}
  {{ return(true) }}
{%- endmacro %}

{#- The relations of one schema, whose name is matched case-insensitively (see _match_relation), in one query, as
    [{schema, identifier, type, columns: [{name, data_type, position}]}]. Empty when the schema does not exist. -#}
{% macro _catalog_relations(database, schema) -%}
  {{ return(adapter.dispatch('_catalog_relations', 'cartridge')(database, schema)) }}
{%- endmacro %}

{#- Portable version: dbt's own dispatched get_catalog, which every adapter implements for `dbt docs generate`. -#}
{% macro default___catalog_relations(database, schema) -%}
  {%- set information_schema = api.Relation.create(database=database, schema=schema).information_schema() -%}
  {%- set rows = [] -%}
  {%- for row in get_catalog(information_schema, [schema]).rows -%}
    {%- set table_type = row['table_type'] | string | upper -%}
    {%- do rows.append([
        row['table_schema'], row['table_name'],
        'materialized_view' if 'MATERIALIZED' in table_type else ('view' if 'VIEW' in table_type else 'table'),
        row['column_name'], row['column_type'], row['column_index']]) -%}
  {%- endfor -%}
  {{ return(cartridge._assemble_catalog(rows | sort(attribute='5') | sort(attribute='1') | sort(attribute='0'))) }}
{%- endmacro %}

{#- PostgreSQL: pg_catalog, as for the raw schemas (exact types with precision, partitions through their parent).
    It only sees the current database, the only one a PostgreSQL connection can read. -#}
{% macro postgres___catalog_relations(database, schema) -%}
  {%- if database is not none and database | lower != target.database | lower -%}
    {{ return([]) }}
  {%- endif -%}
  {%- set sql -%}
    select n.nspname, c.relname,
           case c.relkind when 'v' then 'view' when 'm' then 'materialized_view' else 'table' end,
           a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnum
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where lower(n.nspname) = lower({{ cartridge._string_literal(schema) }})
      and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
    order by n.nspname, c.relname, a.attnum
  {%- endset -%}
  {{ return(cartridge._assemble_catalog(run_query(sql).rows)) }}
{%- endmacro %}

{#- DuckDB: the duckdb_* catalog functions, as for the raw schemas; they cover every attached database. -#}
{% macro duckdb___catalog_relations(database, schema) -%}
  {%- set sql -%}
    with relations as (
      select database_name, schema_name, table_name as name, 'table' as type from duckdb_tables()
      where not internal and not temporary
      union all
      select database_name, schema_name, view_name, 'view' from duckdb_views()
      where not internal and not temporary
    )
    select r.schema_name, r.name, r.type, c.column_name, c.data_type, c.column_index
    from relations r
    left join duckdb_columns() c
      on c.database_name = r.database_name and c.schema_name = r.schema_name and c.table_name = r.name
    where lower(r.database_name) = lower({{ cartridge._string_literal(database or target.database) }})
      and lower(r.schema_name) = lower({{ cartridge._string_literal(schema) }})
    order by r.schema_name, r.name, c.column_index
  {%- endset -%}
  {{ return(cartridge._assemble_catalog(run_query(sql).rows)) }}
{%- endmacro %}

{#- Spark: the same describe as for the raw schemas, so that a node's columns and types read exactly as a
    gathered relation's (dbt-spark's get_catalog reports Catalyst type names: `integer`, `long`). -#}
{% macro spark___catalog_relations(database, schema) -%}
  {%- set rows = [] -%}
  {%- set described = cartridge._describe_relations(schema) or {'database': schema, 'relations': []} -%}
  {%- for relation in described['relations'] -%}
    {%- for column in relation['columns'] or [none] -%}
      {%- do rows.append([described['database'], relation['identifier'], relation['type'],
          column['name'] if column else none, column['data_type'] if column else none, loop.index]) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(cartridge._assemble_catalog(rows)) }}
{%- endmacro %}

{#- Catalog rows (schema, identifier, type, column name, data type, column order), sorted by schema, identifier
    and column order, as relations with their columns numbered from 1. A relation without columns comes as one
    row with a null column name. -#}
{% macro _assemble_catalog(rows) -%}
  {%- set relations = [] -%}
  {%- set ns = namespace(current=none) -%}
  {%- for row in rows -%}
    {%- if ns.current is none or ns.current['schema'] != row[0] or ns.current['identifier'] != row[1] -%}
      {%- set ns.current = {'schema': row[0], 'identifier': row[1], 'type': row[2], 'columns': []} -%}
      {%- do relations.append(ns.current) -%}
    {%- endif -%}
    {%- if row[3] is not none -%}
      {%- do ns.current['columns'].append({
          'name': row[3], 'data_type': row[4], 'position': ns.current['columns'] | length + 1}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(relations) }}
{%- endmacro %}
