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

{#- Fail when a `select` glob matches no relation at all: a typo there would silently gather nothing. -#}
{% macro _require_select_matches(select, relations, schemas) -%}
  {%- set names = relations | map(attribute='identifier') | list -%}
  {%- for glob in select -%}
    {%- set ns = namespace(found=false) -%}
    {%- for name in names if not ns.found -%}
      {%- set ns.found = cartridge._glob_match(name, [glob]) -%}
    {%- endfor -%}
    {%- if not ns.found -%}
      {{ exceptions.raise_compiler_error(
          "cartridge.gather: argument 'select': glob " ~ cartridge._show(glob)
          ~ " matches no relation in schemas " ~ cartridge._show(schemas) ~ " (globs are case-sensitive)") }}
    {%- endif -%}
  {%- endfor -%}
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
