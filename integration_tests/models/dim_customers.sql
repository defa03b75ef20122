select
    cast(id as integer) as customer_id,
    cast(name as varchar(100)) as full_name,
    cast(country as char(2)) as country_code
from {{ ref('customers') }}
