{#- Print one JSON document with the relations, columns and keys of the given raw schemas. -#}
{% macro gather(schemas, select=none, exclude=none) -%}
  {{ return(adapter.dispatch('gather', 'cartridge')(schemas, select, exclude)) }}
{%- endmacro %}

{% macro default__gather(schemas, select=none, exclude=none) -%}
  {%- set schemas = cartridge._check_name_list('schemas', schemas, required=true) -%}
  {%- set select = cartridge._check_name_list('select', select) -%}
  {%- set exclude = cartridge._check_name_list('exclude', exclude) -%}
  {%- if execute -%}
    {%- set relations = [] -%}
    {%- for schema in schemas -%}
      {%- set found = cartridge._gather_schema(schema) -%}
      {%- set kept = cartridge._filter_relations(found, select, exclude) -%}
      {%- if select and not kept -%}
        {{ exceptions.raise_compiler_error("cartridge.gather: select " ~ tojson(select) ~ " matches no relation in schema '" ~ schema ~ "'") }}
      {%- endif -%}
      {%- do relations.extend(kept) -%}
    {%- endfor -%}
    {%- set document = {
        'cartridge_gather_version': 1,
        'adapter_type': adapter.type(),
        'database': target.database,
        'schemas': schemas,
        'relations': relations,
    } -%}
    {{ print(tojson(document)) }}
  {%- endif -%}
{%- endmacro %}
