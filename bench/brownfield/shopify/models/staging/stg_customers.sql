select
    id as customer_id,
    state as customer_state,
    created_at as signed_up_at
from {{ source('shopify', 'customer') }}
