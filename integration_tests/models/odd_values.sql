{#- Values and types profiling must survive: json (no equality on PostgreSQL), an array, non-finite floats,
    text that looks like a number, a column name holding a double quote, and an all-null column. -#}
select
    cast(1 as integer) as id,
    cast('{"a": 1}' as json) as doc,
    array[1, 2] as numbers,
    cast('NaN' as double precision) as ratio,
    cast('005' as varchar(10)) as code,
    cast(true as boolean) as flag,
    cast(null as varchar(10)) as "say ""hi"""
union all
select
    cast(2 as integer),
    cast(null as json),
    null,
    cast('-Infinity' as double precision),
    cast('005' as varchar(10)),
    cast(null as boolean),
    cast(null as varchar(10))
