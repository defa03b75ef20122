select
    id as order_id,
    customer_id,
    name as order_name,
    financial_status,
    total_price,
    created_at as ordered_at
from {{ source('shopify', 'order') }}
