select
    cast(id as integer) as order_id,
    cast(1 as integer) as "Line No",
    cast(customer_id as integer) as customer_id,
    cast(amount as numeric(10, 2)) as amount
from {{ ref('orders') }}
