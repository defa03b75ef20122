{#- For the cartridge bridge only (not a public macro): which of the given relations exist, as one line of
    JSON, and with `drop: true` drop them. The bridge uses it to record what a run's build will create and
    to drop it again when the run is rolled back or undone. Each relation is {database, schema, identifier}.
    A drop never cascades (dbt's `adapter.drop_relation` does): a relation that something else depends on, such
    as a user's own view over a generated model, makes the drop fail and stays, and the bridge reports it. -#}
{% macro _relations(relations, drop=false) %}
    {{ return(adapter.dispatch('_relations', 'cartridge')(relations, drop)) }}
{% endmacro %}

{% macro default___relations(relations, drop) %}
    {%- if relations is string or relations is mapping or relations is not iterable -%}
        {{ exceptions.raise_compiler_error("cartridge._relations: `relations` must be a list of {database, schema, identifier}") }}
    {%- endif -%}
    {%- set found = [] -%}
    {%- for wanted in relations -%}
        {%- set relation = adapter.get_relation(
            database=wanted.get('database') or target.database,
            schema=wanted['schema'],
            identifier=wanted['identifier']) -%}
        {%- if relation is not none -%}
            {%- do found.append({'database': wanted.get('database'), 'schema': wanted['schema'],
                                 'identifier': wanted['identifier'], 'type': relation.type}) -%}
            {%- if drop -%}
                {%- call statement('cartridge_drop') -%}
                    drop {{ (relation.type or 'table') | replace('_', ' ') }} if exists {{ relation }}
                {%- endcall -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if drop and found -%}
        {#- run-operation never commits: make sure a transaction is open, then commit the drops. -#}
        {%- do run_query("select 1 as cartridge_commit") -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {%- if execute -%}
        {{ print(tojson({'relations': found})) }}
    {%- endif -%}
{% endmacro %}
