{#- Print one JSON document (schemas/gather.v1.schema.json) with the relations, columns and keys of the given
    raw schemas, their profile statistics when asked, and the root project's models, seeds, snapshots and
    sources as the warehouse holds them. -#}
{% macro gather(schemas, select=none, exclude=none, profile=false, profile_sample=none, top_values_limit=none, graph=true) -%}
  {{ return(adapter.dispatch('gather', 'cartridge')(schemas, select, exclude, profile, profile_sample, top_values_limit, graph)) }}
{%- endmacro %}

{#- `graph` the argument shadows dbt's `graph` variable in here only; cartridge._gather_graph reads dbt's. -#}
{% macro default__gather(schemas, select=none, exclude=none, profile=false, profile_sample=none, top_values_limit=none, graph=true) -%}
  {#- Schema names are case-sensitive in the warehouse, so duplicates are dropped case-sensitively too. -#}
  {%- set schemas = cartridge._check_name_list('gather', 'schemas', schemas, required=true)
      | unique(case_sensitive=true) | list -%}
  {%- set select = cartridge._check_name_list('gather', 'select', select) -%}
  {%- set exclude = cartridge._check_name_list('gather', 'exclude', exclude) -%}
  {%- set profile = cartridge._check_bool('gather', 'profile', profile) -%}
  {%- set profile_sample = cartridge._check_count('gather', 'profile_sample', profile_sample, 1) -%}
  {%- set top_values_limit = cartridge._check_count('gather', 'top_values_limit', top_values_limit, 0) -%}
  {%- set graph = cartridge._check_bool('gather', 'graph', graph) -%}
  {#- A sampling or top-values setting without `profile: true` would silently profile nothing. -#}
  {%- for argument, value in [('profile_sample', profile_sample), ('top_values_limit', top_values_limit)] -%}
    {%- if value is not none and not profile -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.gather: argument '" ~ argument ~ "' only applies with profile: true, got "
          ~ cartridge._show(value) ~ " with profile: false") }}
    {%- endif -%}
  {%- endfor -%}
  {%- if execute -%}
    {%- set found = [] -%}
    {%- for schema in schemas -%}
      {%- do found.extend(cartridge._gather_schema(schema)) -%}
    {%- endfor -%}
    {%- do cartridge._require_select_matches(select, found, schemas) -%}
    {%- set relations = cartridge._filter_relations(found, select, exclude) -%}
    {%- set document = {
        'cartridge_gather_version': 1,
        'adapter_type': adapter.type(),
        'database': target.database or none,
        'schemas': schemas,
    } -%}
    {%- if profile -%}
      {%- set settings = {
          'sample_limit': profile_sample,
          'top_values_limit': 20 if top_values_limit is none else top_values_limit} -%}
      {%- for relation in relations -%}
        {%- do cartridge._profile_relation(relation, settings['sample_limit'], settings['top_values_limit']) -%}
      {%- endfor -%}
      {%- do document.update({'profile': settings}) -%}
    {%- endif -%}
    {%- do document.update({'relations': relations}) -%}
    {%- if graph -%}
      {%- do document.update({'graph': cartridge._gather_graph()}) -%}
    {%- endif -%}
    {{ print(tojson(document)) }}
  {%- endif -%}
{%- endmacro %}
