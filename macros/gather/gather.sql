{#- Print one JSON document (schemas/gather.v1.schema.json) with the relations, columns and keys of the given raw schemas. -#}
{% macro gather(schemas, select=none, exclude=none) -%}
  {{ return(adapter.dispatch('gather', 'cartridge')(schemas, select, exclude)) }}
{%- endmacro %}

{% macro default__gather(schemas, select=none, exclude=none) -%}
  {#- Schema names are case-sensitive in the warehouse, so duplicates are dropped case-sensitively too. -#}
  {%- set schemas = cartridge._check_name_list('gather', 'schemas', schemas, required=true)
      | unique(case_sensitive=true) | list -%}
  {%- set select = cartridge._check_name_list('gather', 'select', select) -%}
  {%- set exclude = cartridge._check_name_list('gather', 'exclude', exclude) -%}
  {%- if execute -%}
    {%- set found = [] -%}
    {%- for schema in schemas -%}
      {%- do found.extend(cartridge._gather_schema(schema)) -%}
    {%- endfor -%}
    {%- do cartridge._require_select_matches(select, found, schemas) -%}
    {%- set document = {
        'cartridge_gather_version': 1,
        'adapter_type': adapter.type(),
        'database': target.database,
        'schemas': schemas,
        'relations': cartridge._filter_relations(found, select, exclude),
    } -%}
    {{ print(tojson(document)) }}
  {%- endif -%}
{%- endmacro %}
