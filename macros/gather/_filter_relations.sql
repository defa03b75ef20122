{#- Keep the relations whose identifier matches a `select` glob (all when empty) and no `exclude` glob. -#}
{% macro _filter_relations(relations, select, exclude) -%}
  {%- set kept = [] -%}
  {%- for relation in relations -%}
    {%- set name = relation['identifier'] -%}
    {%- if (not select or cartridge._glob_match(name, select)) and not cartridge._glob_match(name, exclude) -%}
      {%- do kept.append(relation) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(kept) }}
{%- endmacro %}

{#- True when `name` matches one of the shell-style globs (`*`, `?`), case-sensitively. -#}
{% macro _glob_match(name, globs) -%}
  {%- for glob in globs -%}
    {%- set pattern = modules.re.escape(glob) | replace('\\*', '.*') | replace('\\?', '.') -%}
    {%- if modules.re.fullmatch(pattern, name, modules.re.DOTALL) -%}
      {{ return(true) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(false) }}
{%- endmacro %}
