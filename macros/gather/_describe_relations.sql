{#- Spark: the relations of one database (schema) with their columns, as {database: its name as Spark keeps it,
    relations: [{identifier, type, comment, columns: [{name, data_type, comment}]}] sorted by identifier}; none
    when the database does not exist. Spark has no information_schema, and its one batched listing (`show table
    extended ... like '*'`) prints each schema as a tree of Catalyst type names (`integer`, `long`) without
    column comments, and with names that cannot always be told from their types. So: one `show tables`, then
    one `describe table extended` per relation, which gives the exact names, the SQL type names (`int`,
    `bigint`, `decimal(10,2)`), the comments, the relation's type and its comment. With the session method each describe is an in-process catalog lookup.
    Spark keeps database and table names in lower case and resolves them case-insensitively, so `schema` is
    matched up to case. -#}
{% macro _describe_relations(schema) -%}
  {%- set ns = namespace(database=none) -%}
  {%- for row in run_query('show databases').rows if ns.database is none -%}
    {%- if row[0] | lower == schema | lower -%}
      {%- set ns.database = row[0] -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if ns.database is none -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set relations = [] -%}
  {%- set listed = run_query('show tables in ' ~ cartridge._quote_identifier(ns.database)).rows -%}
  {%- for row in listed | sort(attribute='1', case_sensitive=true) if not cartridge._as_bool(row[2]) -%}
    {%- set relation = {'identifier': row[1], 'type': 'table', 'comment': none, 'columns': []} -%}
    {%- set quoted = cartridge._quote_identifier(ns.database) ~ '.' ~ cartridge._quote_identifier(row[1]) -%}
    {#- Column rows come first and end at an empty row or a `# ...` section header (partitioning, details);
        the detailed section holds `Type` (MANAGED, EXTERNAL, VIEW, ...) and the relation's `Comment`. -#}
    {%- set section = namespace(columns=true) -%}
    {%- for line in run_query('describe table extended ' ~ quoted).rows -%}
      {%- set name = line[0] -%}
      {%- if section.columns and (name is none or name == '' or name.startswith('#')) -%}
        {%- set section.columns = false -%}
      {%- elif section.columns -%}
        {%- do relation['columns'].append({'name': name, 'data_type': line[1], 'comment': line[2]}) -%}
      {%- elif name == 'Type' -%}
        {%- set kind = line[1] | string | upper -%}
        {%- do relation.update({'type': 'materialized_view' if 'MATERIALIZED' in kind
            else ('view' if 'VIEW' in kind else 'table')}) -%}
      {%- elif name == 'Comment' -%}
        {%- do relation.update({'comment': line[1]}) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do relations.append(relation) -%}
  {%- endfor -%}
  {{ return({'database': ns.database, 'relations': relations}) }}
{%- endmacro %}
